# -*- test-case-name: tests.test_observer -*-
"""
A result that many callers may wait for, each with its own L{Deferred}.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

_T = TypeVar("_T")


class OneShotObserver(Generic[_T]):
    """
    Like txtorcon's C{SingleObserver}: L{when_fired} hands each caller a
    fresh L{Deferred}, so no caller's callbacks change what another sees.
    """

    def __init__(self) -> None:
        self._waiting: list[Deferred[_T]] = []
        self._result: Any = None
        self.fired = False

    def when_fired(self) -> Deferred[_T]:
        """
        A new L{Deferred} that fires with the result (or fails with the
        failure) given to L{fire}.
        """
        if self.fired:
            if isinstance(self._result, Failure):
                return fail(self._result)
            return succeed(self._result)
        d: Deferred[_T] = Deferred()
        self._waiting.append(d)
        return d

    def fire(self, result: _T | Failure) -> None:
        """
        Fire every waiting and future L{Deferred} with C{result}; later
        calls do nothing.
        """
        if self.fired:
            return
        self.fired = True
        self._result = result
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)
