"""
Tests for L{socketnet._replies}: L{PendingReplies}, L{with_timeout} and
L{check_timeout}.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from socketnet._replies import PendingReplies, check_timeout, with_timeout
from socketnet.errors import RemoteError, ReplyTimeout, SessionClosed


class PendingRepliesTests(SynchronousTestCase):
    """
    L{PendingReplies} keeps one L{Deferred} per request, fires it with the
    reply, and fails it on timeout or when the session ends.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.pending = PendingReplies(self.clock)

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_idsFromOne(self) -> None:
        """
        C{allocate} hands out ids 1, 2, 3, ..., each once.
        """
        self.assertEqual([self.pending.allocate() for _ in range(5)], [1, 2, 3, 4, 5])

    def test_idsPerInstance(self) -> None:
        """
        Each L{PendingReplies} counts its ids on its own.
        """
        self.pending.allocate()
        self.assertEqual(PendingReplies(self.clock).allocate(), 1)

    def test_resolve(self) -> None:
        """
        C{resolve} fires the request's L{Deferred} with the reply's data and
        forgets the request.
        """
        request_id = self.pending.allocate()
        d = self.pending.wait(request_id, 10)
        self.assertNoResult(d)
        self.assertEqual(len(self.pending), 1)
        self.pending.resolve(request_id, {"answer": 42})
        self.assertEqual(self.successResultOf(d), {"answer": 42})
        self.assertEqual(len(self.pending), 0)
        self.assertEqual(self.pending.late_replies, 0)

    def test_resolveNone(self) -> None:
        """
        A reply with C{None} data fires the L{Deferred} with C{None}.
        """
        d = self.pending.wait(self.pending.allocate(), None)
        self.pending.resolve(1, None)
        self.assertIsNone(self.successResultOf(d))

    def test_resolveMatchesId(self) -> None:
        """
        A reply fires only the request with its id, whatever the order.
        """
        d1 = self.pending.wait(self.pending.allocate(), 10)
        d2 = self.pending.wait(self.pending.allocate(), 10)
        self.pending.resolve(2, "two")
        self.assertNoResult(d1)
        self.assertEqual(self.successResultOf(d2), "two")
        self.pending.resolve(1, "one")
        self.assertEqual(self.successResultOf(d1), "one")

    def test_reject(self) -> None:
        """
        C{reject} fails the request's L{Deferred} with L{RemoteError}
        carrying the peer's error name and message.
        """
        d = self.pending.wait(self.pending.allocate(), 10)
        self.pending.reject(1, "ValueError", "bad input")
        error = self.failureResultOf(d, RemoteError).value
        self.assertEqual(error.name, "ValueError")
        self.assertEqual(error.message, "bad input")
        self.assertEqual(str(error), "ValueError: bad input")
        self.assertEqual(len(self.pending), 0)

    def test_timeout(self) -> None:
        """
        With no reply, the L{Deferred} fails with L{ReplyTimeout} once the
        clock reaches the timeout, not before, and the request is
        forgotten.
        """
        d = self.pending.wait(self.pending.allocate(), 5)
        self.clock.advance(4.5)
        self.assertNoResult(d)
        self.assertEqual(len(self.pending), 1)
        self.clock.advance(0.25)
        self.assertNoResult(d)
        self.clock.advance(0.25)
        failure = self.failureResultOf(d, ReplyTimeout)
        self.assertIn("5 seconds", str(failure.value))
        self.assertEqual(len(self.pending), 0)

    def test_noTimeout(self) -> None:
        """
        With a timeout of C{None} the request waits for ever and schedules
        no timer.
        """
        d = self.pending.wait(self.pending.allocate(), None)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10**9)
        self.assertNoResult(d)
        self.pending.resolve(1, "late but fine")
        self.assertEqual(self.successResultOf(d), "late but fine")

    def test_replyCancelsTimer(self) -> None:
        """
        A reply before the timeout cancels the timer; the L{Deferred} keeps
        its result when the clock moves on.
        """
        d = self.pending.wait(self.pending.allocate(), 5)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.pending.resolve(1, "ok")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.successResultOf(d), "ok")

    def test_lateReplyAfterTimeout(self) -> None:
        """
        A reply that comes after the timeout is dropped and counted.
        """
        d = self.pending.wait(self.pending.allocate(), 1)
        self.clock.advance(1)
        self.failureResultOf(d, ReplyTimeout)
        self.pending.resolve(1, "too late")
        self.pending.reject(1, "E", "too late")
        self.assertEqual(self.pending.late_replies, 2)

    def test_cancel(self) -> None:
        """
        Cancelling a request's L{Deferred} fails it with L{CancelledError},
        forgets the request and its timer; a later reply is dropped,
        counted in C{late_replies} and logged at debug.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        d1 = self.pending.wait(self.pending.allocate(), 5)
        d2 = self.pending.wait(self.pending.allocate(), 5)
        self.assertEqual(len(self.pending), 2)
        d1.cancel()
        self.failureResultOf(d1, CancelledError)
        self.assertEqual(len(self.pending), 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

        self.pending.resolve(1, "late")
        self.assertEqual(self.pending.late_replies, 1)
        self.assertNoResult(d2)
        debug = [e for e in logged if e["log_level"] == LogLevel.debug]
        self.assertEqual(len(debug), 1)
        self.assertEqual(debug[0]["request_id"], 1)
        self.assertEqual(debug[0]["count"], 1)

        self.pending.resolve(2, "fine")
        self.assertEqual(self.successResultOf(d2), "fine")

    def test_unknownReply(self) -> None:
        """
        A reply to an id that never waited is dropped and counted.
        """
        self.pending.resolve(99, "what")
        self.pending.reject(100, "E", "what")
        self.assertEqual(self.pending.late_replies, 2)
        self.assertEqual(len(self.pending), 0)

    def test_failAll(self) -> None:
        """
        C{fail_all} fails every waiting request with the given error and
        cancels their timers.
        """
        deferreds = [self.pending.wait(self.pending.allocate(), t) for t in (5, None, 7)]
        error = SessionClosed("gone", 1006)
        self.pending.fail_all(error)
        for d in deferreds:
            self.assertIs(self.failureResultOf(d, SessionClosed).value, error)
        self.assertEqual(len(self.pending), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_waitAfterFailAll(self) -> None:
        """
        After C{fail_all}, C{wait} returns a L{Deferred} that has already
        failed with the same error, and keeps nothing.
        """
        error = SessionClosed("gone")
        self.pending.fail_all(error)
        d = self.pending.wait(self.pending.allocate(), 5)
        self.assertIs(self.failureResultOf(d, SessionClosed).value, error)
        self.assertEqual(len(self.pending), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_replyAfterFailAll(self) -> None:
        """
        A reply to a request that C{fail_all} failed is dropped.
        """
        d = self.pending.wait(self.pending.allocate(), 5)
        self.pending.fail_all(SessionClosed())
        self.failureResultOf(d, SessionClosed)
        self.pending.resolve(1, "late")
        self.assertEqual(self.pending.late_replies, 1)

    def test_failAllEmpty(self) -> None:
        """
        C{fail_all} with nothing waiting does nothing but remember the
        error.
        """
        self.pending.fail_all(SessionClosed())
        self.assertEqual(len(self.pending), 0)
        self.failureResultOf(self.pending.wait(1, None), SessionClosed)

    def test_everythingSettled(self) -> None:
        """
        After a mix of replies, errors, timeouts, cancels and C{fail_all},
        no timer is left on the clock.
        """
        p = self.pending
        resolved = p.wait(p.allocate(), 3)
        rejected = p.wait(p.allocate(), 3)
        timed_out = p.wait(p.allocate(), 1)
        cancelled = p.wait(p.allocate(), 3)
        closed = p.wait(p.allocate(), 3)
        p.resolve(1, "a")
        p.reject(2, "E", "b")
        self.clock.advance(1)
        cancelled.cancel()
        p.fail_all(SessionClosed())
        self.successResultOf(resolved)
        self.failureResultOf(rejected, RemoteError)
        self.failureResultOf(timed_out, ReplyTimeout)
        self.failureResultOf(cancelled, CancelledError)
        self.failureResultOf(closed, SessionClosed)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class WithTimeoutTests(SynchronousTestCase):
    """
    L{with_timeout} fails a L{Deferred} with L{ReplyTimeout} unless it
    fires in time.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_returnsSame(self) -> None:
        """
        L{with_timeout} returns the L{Deferred} it was given.
        """
        d: Deferred[object] = Deferred()
        self.assertIs(with_timeout(d, 1, self.clock), d)
        d.callback(None)

    def test_firesInTime(self) -> None:
        """
        A L{Deferred} that fires in time keeps its result and its timer is
        cancelled.
        """
        d: Deferred[str] = with_timeout(Deferred(), 2, self.clock)
        self.clock.advance(1.5)
        d.callback("ok")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.successResultOf(d), "ok")

    def test_timesOut(self) -> None:
        """
        A L{Deferred} that has not fired when the clock reaches the timeout
        fails with L{ReplyTimeout}, and its canceller runs.
        """
        cancelled: list[object] = []
        d: Deferred[str] = with_timeout(Deferred(cancelled.append), 2.5, self.clock)
        self.clock.advance(2)
        self.assertNoResult(d)
        self.assertEqual(cancelled, [])
        self.clock.advance(0.5)
        failure = self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(str(failure.value), "no reply within 2.5 seconds")
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_none(self) -> None:
        """
        A timeout of C{None} schedules nothing.
        """
        d: Deferred[str] = with_timeout(Deferred(), None, self.clock)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertNoResult(d)
        d.callback("x")

    def test_cancelNotTimeout(self) -> None:
        """
        Cancelling before the timeout gives L{CancelledError}, not
        L{ReplyTimeout}, and cancels the timer.
        """
        d: Deferred[str] = with_timeout(Deferred(), 2, self.clock)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class CheckTimeoutTests(SynchronousTestCase):
    """
    L{check_timeout} accepts C{None} and positive numbers only.
    """

    def test_refused(self) -> None:
        """
        Zero, negative numbers and NaN raise L{ValueError} naming the value.
        """
        for value in [0, 0.0, -1, -0.5, float("-inf"), float("nan")]:
            e = self.assertRaises(ValueError, check_timeout, value)
            self.assertIn(repr(value), str(e))

    def test_accepted(self) -> None:
        """
        C{None} and positive numbers are accepted.
        """
        for value in [None, 1, 0.001, 30.0, 10**6]:
            self.assertIsNone(check_timeout(value))
