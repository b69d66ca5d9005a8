# -*- test-case-name: tests.test_timerwheel -*-
"""
Tests for L{socketnet._timerwheel}: many timers on one delayed call of a
L{Clock}.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from socketnet._timerwheel import TimerWheel, resolution_for


class Member:
    """
    A wheel member that records when it was woken, and runs C{then} (if
    set) when it is.

    @ivar woken: clock times of each wake, in order.
    """

    def __init__(self, clock: Clock, then: Callable[[], Any] | None = None) -> None:
        self.clock = clock
        self.then = then
        self.woken: list[float] = []

    def wake(self) -> None:
        self.woken.append(self.clock.seconds())
        if self.then is not None:
            self.then()


class ResolutionTests(SynchronousTestCase):
    """
    Tests for L{resolution_for}.
    """

    def test_power_of_two_below_an_eighth(self) -> None:
        """
        The resolution is the largest power of two no more than an eighth
        of the period.
        """
        self.assertEqual(resolution_for(1.0), 0.125)
        self.assertEqual(resolution_for(4.0), 0.5)
        self.assertEqual(resolution_for(0.9), 0.0625)
        self.assertEqual(resolution_for(0.01), 2.0**-10)
        for period in [0.001, 0.3, 1.0, 2.5, 7.9]:
            with self.subTest(period=period):
                resolution = resolution_for(period)
                self.assertLessEqual(resolution, period / 8)
                self.assertGreater(resolution * 2, period / 8)
                self.assertEqual(math.frexp(resolution)[0], 0.5)

    def test_at_most_one_second(self) -> None:
        """
        However long the period, the resolution is at most one second, or
        C{most} when given.
        """
        self.assertEqual(resolution_for(10.0), 1.0)
        self.assertEqual(resolution_for(86400.0), 1.0)
        self.assertEqual(resolution_for(86400.0, most=4.0), 4.0)
        self.assertEqual(resolution_for(10.0, divisions=2), 1.0)

    def test_bad_resolution(self) -> None:
        """
        A resolution that is not a positive power of two raises
        L{ValueError}.
        """
        for resolution in [0, 0.0, -0.5, 0.1, 3.0, float("nan"), float("inf")]:
            with self.subTest(resolution=resolution):
                self.assertRaises(ValueError, TimerWheel, Clock(), resolution)


class TimerWheelTests(SynchronousTestCase):
    """
    Tests for L{TimerWheel}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.wheel = TimerWheel(self.clock, 0.5)

    def member(self, then: Callable[[], Any] | None = None) -> Member:
        return Member(self.clock, then)

    def test_nothing_while_empty(self) -> None:
        """
        A wheel with no member has no delayed call.
        """
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.wheel), 0)

    def test_woken_on_the_tick(self) -> None:
        """
        A member due on a tick is woken exactly then, and once.
        """
        member = self.member()
        self.wheel.schedule(member, 3.0)
        self.clock.advance(2.5)
        self.assertEqual(member.woken, [])
        self.clock.advance(0.5)
        self.assertEqual(member.woken, [3.0])
        self.clock.advance(10)
        self.assertEqual(member.woken, [3.0])

    def test_rounded_up_never_early(self) -> None:
        """
        A member due between two ticks is woken at the next tick: not
        before its due time, and less than one resolution after it.
        """
        member = self.member()
        self.clock.advance(0.3)
        self.wheel.schedule(member, 1.1)
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.5)
        self.clock.advance(1.1 - 0.3)
        self.assertEqual(member.woken, [])
        self.clock.advance(call.getTime() - self.clock.seconds())
        self.assertEqual(member.woken, [1.5])

    def test_one_delayed_call_for_all(self) -> None:
        """
        However many members, due at however many times, the wheel keeps
        one delayed call, and each member is woken at its own tick.
        """
        members = [self.member() for _ in range(1000)]
        for n, member in enumerate(members):
            self.wheel.schedule(member, 1 + n * 0.01)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.wheel), 1000)
        self.clock.pump([0.5] * 25)
        for n, member in enumerate(members):
            self.assertEqual(member.woken, [math.ceil((1 + n * 0.01) / 0.5) * 0.5])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.wheel), 0)

    def test_same_tick_same_run(self) -> None:
        """
        Members due within the same tick are woken together, by one call.
        """
        members = [self.member() for _ in range(3)]
        for when, member in zip([1.1, 1.3, 1.5], members):
            self.wheel.schedule(member, when)
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.5)
        self.clock.advance(1.5)
        self.assertEqual([m.woken for m in members], [[1.5]] * 3)

    def test_earlier_member_moves_the_call(self) -> None:
        """
        A member due before the earliest one moves the delayed call
        earlier; a later one leaves it.
        """
        late, early, later = self.member(), self.member(), self.member()
        self.wheel.schedule(late, 5.0)
        self.wheel.schedule(early, 2.0)
        self.wheel.schedule(later, 7.0)
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 2.0)
        self.clock.advance(2.0)
        self.assertEqual((early.woken, late.woken), ([2.0], []))
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 5.0)

    def test_cancel(self) -> None:
        """
        A cancelled member is not woken; the last cancel removes the
        delayed call.
        """
        kept, gone = self.member(), self.member()
        kept_tick = self.wheel.schedule(kept, 2.0)
        gone_tick = self.wheel.schedule(gone, 2.0)
        self.wheel.cancel(gone, gone_tick)
        self.assertEqual(len(self.wheel), 1)
        self.clock.advance(2.0)
        self.assertEqual((kept.woken, gone.woken), ([2.0], []))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # Cancelling after the wake, or with no tick, does nothing.
        self.wheel.cancel(kept, kept_tick)
        self.wheel.cancel(kept, None)
        self.assertEqual(len(self.wheel), 0)

    def test_cancel_last_removes_call(self) -> None:
        """
        Cancelling every member leaves no delayed call, even when their
        buckets were still to come.
        """
        members = [self.member() for _ in range(5)]
        ticks = [self.wheel.schedule(m, 1.0 + n) for n, m in enumerate(members)]
        for member, tick in zip(members, ticks):
            self.wheel.cancel(member, tick)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.wheel), 0)
        # The wheel still works afterwards.
        again = self.member()
        self.wheel.schedule(again, 1.0)
        self.clock.advance(1.0)
        self.assertEqual(again.woken, [1.0])

    def test_cancel_other_while_running(self) -> None:
        """
        A member may cancel another one due in the same tick while the
        wheel runs: the cancelled one is not woken.
        """
        ticks: dict[str, Any] = {}
        members: dict[str, Member] = {}

        def cancel_other(name: str) -> Callable[[], None]:
            def then() -> None:
                other = "b" if name == "a" else "a"
                self.wheel.cancel(members[other], ticks[other])

            return then

        for name in "ab":
            members[name] = self.member(cancel_other(name))
            ticks[name] = self.wheel.schedule(members[name], 1.0)
        self.clock.advance(1.0)
        self.assertEqual(sorted(len(m.woken) for m in members.values()), [0, 1])
        self.assertEqual(len(self.wheel), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_reschedule_from_wake(self) -> None:
        """
        A member that schedules itself again from C{wake} for a time that
        has already been reached is woken at the next tick, not in the
        same run.
        """
        member = self.member(lambda: self.wheel.schedule(member, self.clock.seconds()))
        self.wheel.schedule(member, 1.0)
        self.clock.advance(1.0)
        self.assertEqual(member.woken, [1.0])
        self.clock.advance(0.5)
        self.assertEqual(member.woken, [1.0, 1.5])

    def test_due(self) -> None:
        """
        While a member is woken, L{TimerWheel.due} is true for times up to
        the end of the tick being run and false after it.
        """
        seen: list[tuple[bool, bool, bool]] = []
        member = self.member(
            lambda: seen.append((self.wheel.due(1.2), self.wheel.due(1.5), self.wheel.due(1.51)))
        )
        self.assertFalse(self.wheel.due(0))
        self.clock.advance(1.0)
        self.wheel.schedule(member, 1.2)
        self.clock.advance(0.5)
        self.assertEqual(seen, [(True, True, False)])

    def test_late_reactor_runs_everything_due(self) -> None:
        """
        When the clock jumps past several ticks, one run wakes every
        member due by then.
        """
        members = [self.member() for _ in range(4)]
        for n, member in enumerate(members):
            self.wheel.schedule(member, 1.0 + n)
        self.clock.advance(3.2)
        self.assertEqual([m.woken for m in members], [[3.2], [3.2], [3.2], []])
        self.clock.advance(0.8)
        self.assertEqual(members[3].woken, [4.0])

    def test_past_time(self) -> None:
        """
        A member due in the past is woken at once.
        """
        self.clock.advance(10)
        member = self.member()
        self.wheel.schedule(member, 3.0)
        self.clock.advance(0)
        self.assertEqual(member.woken, [10.0])

    def test_never(self) -> None:
        """
        A member due at infinity is not filed and schedules nothing.
        """
        self.assertIsNone(self.wheel.schedule(self.member(), math.inf))
        self.assertEqual(len(self.wheel), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.wheel.due(math.inf))

    def test_failing_member(self) -> None:
        """
        A member whose C{wake} raises is logged; the others due with it are
        still woken, and the wheel keeps working.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        def fail() -> None:
            raise RuntimeError("boom")

        bad, good = self.member(fail), self.member()
        self.wheel.schedule(bad, 1.0)
        self.wheel.schedule(good, 1.0)
        self.clock.advance(1.0)
        self.assertEqual((bad.woken, good.woken), ([1.0], [1.0]))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(observer), 1)
        self.wheel.schedule(good, 2.0)
        self.clock.advance(1.0)
        self.assertEqual(good.woken, [1.0, 2.0])
