# -*- test-case-name: tests.test_outbox -*-
"""
The client's bounded queue of messages waiting for an authorized session.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from .errors import QueueFull
from ._replies import with_timeout


class _QueuedRequest:
    """
    A request waiting in the outbox; once sent, it follows the session's
    own L{Deferred} for the reply.
    """

    def __init__(self, outbox: Outbox, build: Callable[[int], bytes]):
        self.build = build
        self._outbox = outbox
        self._sent: Deferred[Any] | None = None
        self.deferred: Deferred[Any] = Deferred(self._cancel)

    def _cancel(self, deferred: Deferred[Any]) -> None:
        if self._sent is None:
            self._outbox._forget(self)
        else:
            self._sent.cancel()

    def send_on(self, session: Any) -> None:
        self._sent = session._request_frame(self.build, None)
        self._sent.addBoth(self._settle)

    def _settle(self, result: Any) -> None:
        if not self.deferred.called:
            self.deferred.callback(result)


class Outbox:
    """
    Frames and requests that wait, in order, for the next authorized
    session.

    @ivar limit: how many entries may wait at once.
    """

    def __init__(self, clock: IReactorTime, limit: int = 1000):
        if limit < 0:
            raise ValueError(f"outbox limit must not be negative, not {limit!r}")
        self._clock = clock
        self.limit = limit
        self._entries: deque[bytes | _QueuedRequest] = deque()
        self._closed: BaseException | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def _admit(self) -> None:
        if self._closed is not None:
            raise self._closed.with_traceback(None)
        if len(self._entries) >= self.limit:
            raise QueueFull(
                f"{len(self._entries)} messages already wait for an authorized "
                f"session (limit {self.limit})"
            )

    def put_message(self, frame: bytes) -> None:
        """
        Queue an encoded C{message} frame.

        @raise QueueFull: when the outbox is full.
        @raise SessionClosed: when the client has stopped for good.
        """
        self._admit()
        self._entries.append(frame)

    def put_request(self, build: Callable[[int], bytes], timeout: float | None) -> Deferred[Any]:
        """
        Queue a request whose frame is C{build(request_id)}; its timeout
        runs from now.

        @raise TypeError: if the frame cannot be encoded as JSON.
        @raise QueueFull: when the outbox is full.
        @raise SessionClosed: when the client has stopped for good.
        """
        build(1)  # fail now, not when it is finally sent
        self._admit()
        entry = _QueuedRequest(self, build)
        self._entries.append(entry)
        return with_timeout(entry.deferred, timeout, self._clock)

    def _forget(self, entry: _QueuedRequest) -> None:
        try:
            self._entries.remove(entry)
        except ValueError:
            pass

    def flush(self, session: Any) -> None:
        """
        Send everything waiting on C{session}, oldest first.
        """
        entries, self._entries = self._entries, deque()
        for entry in entries:
            if isinstance(entry, bytes):
                session._write_app(entry)
            else:
                entry.send_on(session)

    def close(self, error: BaseException) -> None:
        """
        Stop for good: fail waiting requests with C{error}, drop waiting
        messages, and refuse anything new with C{error}.
        """
        self._closed = error
        entries, self._entries = self._entries, deque()
        for entry in entries:
            if not isinstance(entry, bytes):
                entry.deferred.errback(error)

    def reopen(self) -> None:
        """
        Accept messages again (the client is connecting anew).
        """
        self._closed = None


__all__ = ["Outbox"]
