# -*- test-case-name: tests.test_integration,tests.test_router_fastpath -*-
"""
The server's bookkeeping: its authorized sessions by client id, and the
requests it has routed, with their deadlines.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, Callable, Iterator

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from ._session import ServerSession


class SessionRegistry:
    """
    Authorized sessions of this server process, by client id.  Read-only
    to applications: sessions enter when authorized and leave when closed.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, ServerSession] = {}

    def get(self, client_id: str) -> ServerSession | None:
        """
        The authorized session of C{client_id}, or C{None}.
        """
        return self._by_id.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[ServerSession]:
        return iter(list(self._by_id.values()))

    def _add(self, session: ServerSession) -> ServerSession | None:
        """
        Register C{session} under its id; return the session it displaces.
        """
        assert session.id is not None
        old = self._by_id.get(session.id)
        self._by_id[session.id] = session
        return old

    def _remove(self, session: ServerSession) -> None:
        if session.id is not None and self._by_id.get(session.id) is session:
            del self._by_id[session.id]


class RoutedRequest:
    """
    A request this node routed out: who asked, and how many recipients
    have failed so far.

    @ivar session: the session that asked, or C{None} when the server
        did; C{deferred} then fires with the answer.
    @ivar expected: how many recipients the broker says got it, or
        C{None} until it has said.
    """

    __slots__ = ("session", "request", "deferred", "expected", "failures", "last_error")

    def __init__(self, session: ServerSession | None, request: int, deferred: Deferred[Any] | None):
        self.session = session
        self.request = request
        self.deferred = deferred
        self.expected: int | None = None
        self.failures = 0
        self.last_error: dict[str, str] | None = None


class Deadlines:
    """
    When each of many keys expires, with one timer for all of them
    instead of one L{IDelayedCall} each.

    Keys wait in a heap in expiry order; a key discarded before its
    deadline stays in the heap until it reaches the top or the heap is
    compacted.  The timer runs at the earliest deadline, and after a
    sweep not sooner than C{grain} later: a key expires at its deadline
    or up to C{grain} after it, never before.  When no key is left, the
    timer ends within C{grain}; L{stop} ends it at once.

    @ivar grain: the shortest time between two sweeps, in seconds.
    """

    grain = 1.0

    _log = Logger()

    def __init__(self, clock: IReactorTime, expire: Callable[[str], object]):
        """
        @param expire: called with each key whose deadline has passed,
            once; the key has been discarded by then.
        """
        self._clock = clock
        self._expire = expire
        self._heap: list[tuple[float, int, str]] = []
        self._live: set[str] = set()
        self._added = 0
        self._call: IDelayedCall | None = None
        self._at = 0.0  # when _call runs

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def add(self, key: str, seconds: float) -> None:
        """
        Expire C{key} once C{seconds} have passed, unless it is discarded
        first.  A key is added once.
        """
        deadline = self._clock.seconds() + seconds
        self._live.add(key)
        self._added += 1
        heap = self._heap
        heappush(heap, (deadline, self._added, key))
        if len(heap) > 2 * len(self._live) + 64:
            heap[:] = [entry for entry in heap if entry[2] in self._live]
            heapify(heap)
        if self._call is None:
            self._call = self._clock.callLater(seconds, self._sweep)
            self._at = deadline
        elif self._at > deadline + self.grain:
            self._call.reset(seconds)
            self._at = deadline

    def discard(self, key: str) -> None:
        """
        C{key} no longer expires.
        """
        live = self._live
        live.discard(key)
        if not live and self._call is not None:
            # Idle: rather than cancel a timer the next key would start
            # again, let it end at the next sweep, within a grain.
            now = self._clock.seconds()
            if self._at > now + self.grain:
                self._call.reset(self.grain)
                self._at = now + self.grain

    def stop(self) -> None:
        """
        Forget every key and end the timer now.
        """
        self._live.clear()
        self._heap.clear()
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _sweep(self) -> None:
        self._call = None
        now = self._clock.seconds()
        heap, live = self._heap, self._live
        due = []
        while heap and heap[0][0] <= now:
            key = heappop(heap)[2]
            if key in live:
                live.discard(key)
                due.append(key)
        for key in due:
            try:
                self._expire(key)
            except Exception:
                self._log.failure("expiring {key} failed", key=key)
        while heap and heap[0][2] not in live:
            heappop(heap)
        if heap and self._call is None:
            now = self._clock.seconds()
            delay = max(heap[0][0] - now, self.grain)
            self._call = self._clock.callLater(delay, self._sweep)
            self._at = now + delay


__all__ = ["SessionRegistry", "RoutedRequest", "Deadlines"]
