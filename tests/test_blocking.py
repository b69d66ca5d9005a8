"""
Tests for L{socketnet._blocking}: the thread pool for RSA.
"""

from __future__ import annotations

import os
import threading

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from socketnet._blocking import BlockingPool, lower_thread_priority


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


_LINUX = os.path.exists("/proc/thread-self")


class LowerThreadPriorityTests(TestCase):
    def _in_thread(self, niceness: int) -> tuple[int, int, bool]:
        seen: list[tuple[int, int, bool]] = []

        def work() -> None:
            before = _nice()
            lowered = lower_thread_priority(niceness)
            seen.append((before, _nice(), lowered))

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return seen[0]

    def test_lowers_only_the_calling_thread(self) -> None:
        """
        On Linux the thread's nice value goes up by C{niceness} (at most
        to 19) and the process's other threads keep theirs; elsewhere
        nothing changes, since it would lower the whole process.
        """
        main = _nice()
        before, after, lowered = self._in_thread(5)
        self.assertEqual(lowered, _LINUX)
        self.assertEqual(after, min(19, before + 5) if _LINUX else before)
        self.assertEqual(_nice(), main)

    def test_zero_does_nothing(self) -> None:
        before, after, lowered = self._in_thread(0)
        self.assertFalse(lowered)
        self.assertEqual(after, before)


class BlockingPoolTests(TestCase):
    def test_runs_off_the_reactor_thread_at_lower_priority(self) -> None:
        """
        C{run} calls the function on the pool's thread, whose nice value
        is C{niceness} above the reactor thread's (on Linux), and fires
        with its result.
        """
        pool = BlockingPool(reactor, niceness=7)
        self.addCleanup(pool.stop)
        reactor_thread, reactor_nice = threading.get_ident(), _nice()

        def where() -> tuple[bool, int]:
            return threading.get_ident() != reactor_thread, _nice()

        d: Deferred = pool.run(where)

        def check(result: tuple[bool, int]) -> None:
            off_reactor, nice = result
            self.assertTrue(off_reactor)
            self.assertEqual(nice, min(19, reactor_nice + 7) if _LINUX else reactor_nice)

        return d.addCallback(check)

    def test_failure(self) -> None:
        """
        An exception in the function fails the L{Deferred}.
        """
        pool = BlockingPool(reactor)
        self.addCleanup(pool.stop)
        return self.assertFailure(pool.run(lambda: 1 / 0), ZeroDivisionError)
