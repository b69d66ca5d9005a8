# -*- test-case-name: tests.test_encryption -*-
"""
A dedicated thread pool for CPU-heavy work (RSA), so that it never runs
on the reactor thread.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool


class BlockingPool:
    """
    C{run(fn, *args)} calls C{fn} on one of C{threads} threads of its own
    and returns a L{Deferred} of the result.  RSA holds the GIL, so more
    threads add no throughput; one keeps the reactor's pauses short.
    """

    def __init__(self, reactor: Any, threads: int = 1, name: str = "socketnet-rsa"):
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name=name)
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
