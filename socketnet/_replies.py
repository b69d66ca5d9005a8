# -*- test-case-name: tests.test_replies -*-
"""
Requests waiting for replies, as AMP and XMPP keep them: ids from a
per-session counter, one cancellable L{Deferred} per request, a timeout on
the injected clock, and everything failed at once when the session ends.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from .errors import ReplyTimeout, from_wire


def with_timeout(deferred: Deferred[Any], timeout: float | None, clock: IReactorTime) -> Deferred[Any]:
    """
    Fail C{deferred} with L{ReplyTimeout} unless it fires within C{timeout}
    seconds on C{clock}; C{None} means no timeout.
    """
    if timeout is not None:

        def timed_out(result: Any, seconds: float) -> Failure:
            return Failure(ReplyTimeout(f"no reply within {seconds:g} seconds"))

        deferred.addTimeout(timeout, clock, onTimeoutCancel=timed_out)
    return deferred


def check_timeout(timeout: float | None) -> None:
    """
    @raise ValueError: unless C{timeout} is C{None} or a positive number.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive or None, not {timeout!r}")


class PendingReplies:
    """
    The requests one session has sent and not yet had answered.

    @ivar late_replies: how many replies came for requests that had already
        timed out or been cancelled.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime):
        self._clock = clock
        self._next_id = 1
        self._waiting: dict[int, Deferred[Any]] = {}
        self._closed: BaseException | None = None
        self.late_replies = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def allocate(self) -> int:
        """
        The id for the next request.
        """
        request_id = self._next_id
        self._next_id += 1
        return request_id

    def wait(self, request_id: int, timeout: float | None) -> Deferred[Any]:
        """
        The L{Deferred} the reply to C{request_id} will fire.

        Cancelling it forgets the request; a reply that comes later is
        dropped.  Once the session has ended, it has already failed with
        the error the session ended with.
        """
        if self._closed is not None:
            return fail(self._closed)

        def forget(deferred: Deferred[Any]) -> None:
            self._waiting.pop(request_id, None)

        deferred: Deferred[Any] = Deferred(forget)
        self._waiting[request_id] = deferred
        return with_timeout(deferred, timeout, self._clock)

    def resolve(self, request_id: int, data: Any) -> None:
        """
        The reply to C{request_id} arrived with C{data}.
        """
        deferred = self._pop(request_id)
        if deferred is not None:
            deferred.callback(data)

    def reject(self, request_id: int, name: str, message: str) -> None:
        """
        The peer's handler for C{request_id} failed with an error named
        C{name}: socketnet's own errors keep their type (see
        L{socketnet.errors.WIRE_ERRORS}), others become L{RemoteError}.
        """
        deferred = self._pop(request_id)
        if deferred is not None:
            deferred.errback(from_wire(name, message))

    def _pop(self, request_id: int) -> Deferred[Any] | None:
        deferred = self._waiting.pop(request_id, None)
        if deferred is None:
            self.late_replies += 1
            self._log.debug(
                "dropped a reply to request {request_id}, which is no longer "
                "waiting ({count} so far)",
                request_id=request_id,
                count=self.late_replies,
            )
        return deferred

    def fail_all(self, error: BaseException) -> None:
        """
        Fail every waiting request with C{error}, and every later one at
        once.
        """
        self._closed = error
        waiting, self._waiting = self._waiting, {}
        for deferred in waiting.values():
            deferred.errback(error)


__all__ = ["PendingReplies", "with_timeout", "check_timeout"]
