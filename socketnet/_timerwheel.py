# -*- test-case-name: tests.test_timerwheel -*-
"""
A timer wheel: many timers that share one L{IDelayedCall}.

Each member is filed in a bucket keyed by its due time rounded up to a
whole I{tick} of the wheel's resolution.  One delayed call, armed for the
earliest bucket, wakes every member of every bucket that is due, in one
reactor iteration.  Filing and cancelling cost a dict operation each; the
reactor's timer heap holds one entry per wheel however many members it
has, and none while the wheel is empty.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger


def resolution_for(period: float, *, divisions: int = 8, most: float = 1.0) -> float:
    """
    A wheel resolution for timers of about C{period} seconds: the largest
    power of two no more than C{period / divisions}, and no more than
    C{most}.

    Powers of two keep the rounding exact: due times on the grid (such as
    the whole and half seconds of a test clock) are not moved at all.

    @param period: the shortest delay the wheel will serve, in seconds.
    @param divisions: how many ticks at least fit in C{period}.
    @param most: the coarsest resolution allowed, in seconds.
    @return: the resolution, in seconds.
    """
    _, exponent = math.frexp(min(period / divisions, most))
    return math.ldexp(1.0, exponent - 1)


class TimerWheel:
    """
    Wakes members at their due time, rounded up to the next tick.

    A member is any hashable object with a C{wake()} method.  The wheel
    calls C{wake()} once per L{schedule}, at the first tick at or after
    the due time: never early, and at most one resolution late while the
    reactor keeps up.  A member that wants to be woken again schedules
    itself again, usually from C{wake()}.  A member is filed at most once
    at a time: cancel it before scheduling it for another time.  Members
    due in the same tick are woken in no particular order.

    While the wheel runs, L{due} tells members whether a time has been
    reached, with the same rounding, so that members and wheel agree.

    @ivar resolution: seconds per tick, a power of two.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, resolution: float):
        """
        @param clock: the reactor time the wheel's one delayed call uses.
        @param resolution: seconds per tick; a positive power of two (see
            L{resolution_for}), so that rounding is exact.
        """
        mantissa, _ = math.frexp(resolution)
        if not resolution > 0 or mantissa != 0.5:
            raise ValueError(f"resolution must be a positive power of two, not {resolution!r}")
        self.resolution = resolution
        self._clock = clock
        #: Members by tick; each bucket maps member to C{None}.
        self._buckets: dict[int, dict[Any, None]] = {}
        #: The ticks of the buckets, earliest first; may hold ticks whose
        #: bucket has emptied, skipped when reached.
        self._ticks: list[int] = []
        self._count = 0
        #: Every tick up to this one has been run...
        self._done = -1
        #: ...that is, every time up to this one.
        self._horizon = -resolution
        #: The tick being run, if any.
        self._running: int | None = None
        self._call: IDelayedCall | None = None
        self._armed = 0

    def __len__(self) -> int:
        """
        @return: how many members are filed.
        """
        return self._count

    def due(self, when: float) -> bool:
        """
        @return: whether C{when} falls in a tick already run, or in the
            one being run.
        """
        # ceil(when / resolution) <= done, exactly, since the resolution
        # is a power of two.
        return when <= self._horizon

    def schedule(self, member: Any, when: float) -> int | None:
        """
        Wake C{member} at the first tick at or after C{when}, or as soon as
        possible if that tick has already been run.  C{member} must not be
        filed already.

        @param when: seconds on the clock; infinity means never, and files
            nothing.
        @return: the tick it is filed under, which L{cancel} needs, or
            C{None} if it is not filed.
        """
        if when == math.inf:
            return None
        tick = math.ceil(when / self.resolution)
        if tick <= self._done:
            tick = self._done + 1
        bucket = self._buckets.get(tick)
        if bucket is not None:
            if member not in bucket:
                bucket[member] = None
                self._count += 1
            return tick
        self._buckets[tick] = {member: None}
        self._count += 1
        heappush(self._ticks, tick)
        if self._running is None and (self._call is None or tick < self._armed):
            self._arm()
        return tick

    def cancel(self, member: Any, tick: int | None) -> None:
        """
        Forget C{member}, filed under C{tick}.  Cancelling a member that
        is not filed there (it was woken, or C{tick} is C{None}) does
        nothing.  When the last member goes, so does the delayed call.
        """
        bucket = self._buckets.get(tick)  # type: ignore[arg-type]
        if bucket is None or member not in bucket:
            return
        del bucket[member]
        self._count -= 1
        if not bucket and tick != self._running:
            del self._buckets[tick]  # type: ignore[arg-type]
            if not self._count and self._running is None:
                self._stop()

    def _arm(self) -> None:
        if not self._count:
            self._stop()
            return
        ticks, buckets = self._ticks, self._buckets
        # Skip the ticks whose bucket emptied; there is one left, since a
        # member is filed.
        while ticks[0] not in buckets:
            heappop(ticks)
        tick = ticks[0]
        delay = max(0.0, tick * self.resolution - self._clock.seconds())
        if self._call is None:
            self._call = self._clock.callLater(delay, self._run)
        elif tick != self._armed:
            self._call.reset(delay)
        self._armed = tick

    def _stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self._ticks.clear()
        self._buckets.clear()

    def _run(self) -> None:
        self._call = None
        # Late, run everything due by now; early by a rounding error, run
        # the tick armed for anyway.
        now = math.floor(self._clock.seconds() / self.resolution)
        self._done = done = max(self._armed, now)
        self._horizon = done * self.resolution
        ticks, buckets = self._ticks, self._buckets
        try:
            while ticks and ticks[0] <= done:
                tick = heappop(ticks)
                bucket = buckets.get(tick)
                if bucket is None:
                    continue
                self._running = tick
                # Members may cancel one another while this runs, so take
                # them out one at a time rather than iterate.
                while bucket:
                    member, _ = bucket.popitem()
                    self._count -= 1
                    try:
                        member.wake()
                    except Exception:
                        self._log.failure("timer wheel member {member!r} failed", member=member)
                del buckets[tick]
                self._running = None
        finally:
            self._running = None
            self._arm()
