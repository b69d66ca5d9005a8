# -*- test-case-name: tests.test_blocking -*-
"""
A dedicated thread pool for CPU-heavy work (RSA), so that it never runs
on the reactor thread.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

_log = Logger()


def lower_thread_priority(niceness: int) -> bool:
    """
    Add C{niceness} to the calling thread's nice value (Linux schedules
    threads on their own; elsewhere C{setpriority} would lower the whole
    process, so nothing is done).  Returns whether it was lowered.
    """
    if niceness <= 0 or not hasattr(os, "setpriority") or not os.path.exists("/proc/thread-self"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))
    except OSError as e:
        _log.warn("could not lower the priority of thread {tid}: {error}", tid=tid, error=e)
        return False
    return True


class _NiceThread(threading.Thread):
    """
    A worker thread that lowers its own scheduling priority by
    C{niceness} before it takes any work.
    """

    def __init__(self, niceness: int, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.niceness = niceness

    def run(self) -> None:
        lower_thread_priority(self.niceness)
        super().run()


class BlockingPool:
    """
    C{run(fn, *args)} calls C{fn} on one of C{threads} threads of its own
    and returns a L{Deferred} of the result.

    The threads run C{niceness} steps below the reactor thread's
    scheduling priority (on Linux, where threads have their own): when
    the work in them and the reactor want the same CPU, the reactor gets
    it, and its pauses stay short.  The work still gets every cycle the
    reactor does not want.  C{cryptography} releases the GIL while it
    decrypts, so the decryptions and the reactor run at once when there
    is a second core.
    """

    def __init__(self, reactor: Any, threads: int = 1, name: str = "socketnet-rsa", niceness: int = 10):
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name=name)
        self._pool.threadFactory = partial(_NiceThread, niceness)
        self._trigger: Any = None

    def run(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        if not self._pool.started:
            self._pool.start()
            self._trigger = self._reactor.addSystemEventTrigger("during", "shutdown", self._shutdown)
        return deferToThreadPool(self._reactor, self._pool, fn, *args)

    def _shutdown(self) -> None:
        self._trigger = None
        self.stop()

    def stop(self) -> Deferred[None]:
        """
        Stop the threads (after the work already given to them).
        """
        if self._pool.started:
            self._pool.stop()
            if self._trigger is not None:
                self._reactor.removeSystemEventTrigger(self._trigger)
                self._trigger = None
        return succeed(None)
