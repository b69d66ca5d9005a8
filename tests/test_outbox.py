"""
Tests for L{socketnet._outbox}: the client's bounded queue of messages
waiting for an authorized session.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from socketnet import _frames
from functools import partial

from socketnet._outbox import Outbox
from socketnet.errors import QueueFull, RemoteError, ReplyTimeout, SessionClosed


def put(outbox: Outbox, data: Any, timeout: float | None) -> Deferred[Any]:
    """
    Queue a request carrying C{data}, as L{ClientSession.request} does.
    """
    return outbox.put_request(partial(_frames.message, data), timeout)


class FakeSession:
    """
    Records what an L{Outbox} sends on it; each request returns an unfired
    L{Deferred} the test fires.

    @ivar sent: C{("message", frame)} and C{("request", data, timeout)}
        tuples, in the order they were sent.
    @ivar replies: the L{Deferred} returned for each request, in order.
    @ivar cancelled: the data of each request whose L{Deferred} was
        cancelled.
    @ivar fail_with: when set, C{request} returns a L{Deferred} that has
        already failed with it.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.replies: list[Deferred[Any]] = []
        self.cancelled: list[Any] = []
        self.fail_with: Exception | None = None

    def _write_app(self, frame: bytes) -> None:
        if not isinstance(frame, bytes):
            raise TypeError(f"frames are bytes, not {frame!r}")
        self.sent.append(("message", frame))

    def _request_frame(self, build: Any, timeout: float | None) -> Deferred[Any]:
        data = _frames.decode(build(1))["data"]
        self.sent.append(("request", data, timeout))
        if self.fail_with is not None:
            return fail(self.fail_with)
        d: Deferred[Any] = Deferred(lambda d: self.cancelled.append(data))
        self.replies.append(d)
        return d


class OutboxTests(SynchronousTestCase):
    """
    L{Outbox} keeps messages and requests in order until a session takes
    them, within a limit, with each request's timeout running from when it
    was queued.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.outbox = Outbox(self.clock, limit=3)
        self.session = FakeSession()

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_defaultLimit(self) -> None:
        """
        The default limit is 1000 entries.
        """
        self.assertEqual(Outbox(self.clock).limit, 1000)

    def test_negativeLimit(self) -> None:
        """
        A negative limit raises L{ValueError} naming it.
        """
        e = self.assertRaises(ValueError, Outbox, self.clock, limit=-1)
        self.assertIn("-1", str(e))

    def test_flushInOrder(self) -> None:
        """
        C{flush} sends messages and requests on the session in the order
        they were queued, requests without a session timeout, and leaves
        the outbox empty.
        """
        m1, m2 = _frames.message("one"), _frames.message("two")
        self.outbox.put_message(m1)
        r1 = put(self.outbox, {"q": 1}, 10)
        self.outbox.put_message(m2)
        self.assertEqual(len(self.outbox), 3)
        self.outbox.flush(self.session)
        self.assertEqual(
            self.session.sent,
            [("message", m1), ("request", {"q": 1}, None), ("message", m2)],
        )
        self.assertEqual(len(self.outbox), 0)
        self.assertNoResult(r1)
        self.session.replies[0].callback("ok")
        self.successResultOf(r1)

    def test_flushEmpty(self) -> None:
        """
        Flushing an empty outbox sends nothing.
        """
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [])

    def test_flushOnce(self) -> None:
        """
        What one C{flush} sent is not sent again by the next.
        """
        self.outbox.put_message(b"m")
        self.outbox.flush(self.session)
        self.outbox.flush(FakeSession())
        self.assertEqual(self.session.sent, [("message", b"m")])

    def test_limit(self) -> None:
        """
        Once C{limit} entries wait, both kinds of put raise L{QueueFull}
        whose message names the limit, and nothing more is queued.
        """
        self.outbox.put_message(b"1")
        self.outbox.put_message(b"2")
        d = put(self.outbox, "3", None)
        e = self.assertRaises(QueueFull, self.outbox.put_message, b"4")
        self.assertIn("limit 3", str(e))
        e = self.assertRaises(QueueFull, put, self.outbox, "5", 10)
        self.assertIn("limit 3", str(e))
        self.assertEqual(len(self.outbox), 3)
        self.outbox.flush(self.session)
        self.assertEqual([entry[1] for entry in self.session.sent], [b"1", b"2", "3"])
        self.session.replies[0].callback(None)
        self.successResultOf(d)

    def test_limitFreedByFlush(self) -> None:
        """
        After a flush, the outbox accepts up to C{limit} entries again.
        """
        for i in range(3):
            self.outbox.put_message(b"%d" % i)
        self.outbox.flush(self.session)
        for i in range(3):
            self.outbox.put_message(b"%d" % i)
        self.assertEqual(len(self.outbox), 3)

    def test_limitZero(self) -> None:
        """
        With a limit of 0, nothing may wait.
        """
        outbox = Outbox(self.clock, limit=0)
        e = self.assertRaises(QueueFull, outbox.put_message, b"m")
        self.assertIn("limit 0", str(e))
        self.assertRaises(QueueFull, put, outbox, "r", 5)
        self.assertEqual(len(outbox), 0)

    def test_putRequestNotJSON(self) -> None:
        """
        C{put_request} with data JSON cannot carry raises at once and
        queues nothing: L{TypeError} for foreign objects, L{ValueError}
        for NaN.
        """
        self.assertRaises(TypeError, put, self.outbox, object(), 5)
        self.assertRaises(TypeError, put, self.outbox, {"b": b"bytes"}, None)
        self.assertRaises(ValueError, put, self.outbox, float("nan"), 5)
        self.assertEqual(len(self.outbox), 0)
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [])

    def test_queuedTimeout(self) -> None:
        """
        A request still queued when its timeout runs out fails with
        L{ReplyTimeout}, not before, and leaves the queue.
        """
        d = put(self.outbox, "slow", 5)
        self.outbox.put_message(b"m")
        self.clock.advance(4.5)
        self.assertNoResult(d)
        self.assertEqual(len(self.outbox), 2)
        self.clock.advance(0.5)
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(len(self.outbox), 1)
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [("message", b"m")])

    def test_timeoutRunsFromPut(self) -> None:
        """
        A request's timeout counts from when it was queued: once flushed,
        it still fails with L{ReplyTimeout} at that time, and the
        session's request is cancelled.
        """
        d = put(self.outbox, "q", 5)
        self.clock.advance(3)
        self.outbox.flush(self.session)
        self.clock.advance(1.5)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(self.session.cancelled, ["q"])

    def test_cancelQueued(self) -> None:
        """
        Cancelling a queued request fails it with L{CancelledError},
        removes it from the queue and stops its timer; it is never sent.
        """
        d1 = put(self.outbox, "first", 5)
        d2 = put(self.outbox, "second", 5)
        d1.cancel()
        self.failureResultOf(d1, CancelledError)
        self.assertEqual(len(self.outbox), 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [("request", "second", None)])
        self.session.replies[0].callback(2)
        self.assertEqual(self.successResultOf(d2), 2)

    def test_cancelAfterFlush(self) -> None:
        """
        Cancelling a request after it was flushed cancels the session's
        L{Deferred} for it, and the caller gets L{CancelledError}.
        """
        d = put(self.outbox, "q", 5)
        self.outbox.flush(self.session)
        d.cancel()
        self.assertEqual(self.session.cancelled, ["q"])
        self.failureResultOf(d, CancelledError)
        self.assertEqual(len(self.outbox), 0)

    def test_flushedResult(self) -> None:
        """
        The reply to a flushed request reaches the caller's L{Deferred},
        and its timer is cancelled.
        """
        d = put(self.outbox, "q", 5)
        self.outbox.flush(self.session)
        self.assertNoResult(d)
        self.session.replies[0].callback({"answer": 42})
        self.assertEqual(self.successResultOf(d), {"answer": 42})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flushedFailure(self) -> None:
        """
        The failure of a flushed request reaches the caller's L{Deferred}
        as the same exception.
        """
        d = put(self.outbox, "q", None)
        self.outbox.flush(self.session)
        error = RemoteError("ValueError", "nope")
        self.session.replies[0].errback(error)
        self.assertIs(self.failureResultOf(d, RemoteError).value, error)

    def test_flushedFailsAtOnce(self) -> None:
        """
        A session whose request fails at once fails the caller's
        L{Deferred} during the flush, and later entries are still sent.
        """
        d = put(self.outbox, "q", 5)
        self.outbox.put_message(b"after")
        self.session.fail_with = SessionClosed("gone")
        self.outbox.flush(self.session)
        self.failureResultOf(d, SessionClosed)
        self.assertEqual(self.session.sent[-1], ("message", b"after"))

    def test_flushedRepliesInAnyOrder(self) -> None:
        """
        Each flushed request gets its own reply, whatever order the
        replies come in.
        """
        d1 = put(self.outbox, 1, None)
        d2 = put(self.outbox, 2, None)
        self.outbox.flush(self.session)
        self.session.replies[1].callback("two")
        self.assertNoResult(d1)
        self.session.replies[0].callback("one")
        self.assertEqual(
            (self.successResultOf(d1), self.successResultOf(d2)), ("one", "two")
        )

    def test_close(self) -> None:
        """
        C{close(error)} fails every waiting request with C{error}, stops
        their timers, drops waiting messages, and empties the outbox.
        """
        self.outbox.put_message(b"m")
        d1 = put(self.outbox, "a", 5)
        d2 = put(self.outbox, "b", None)
        error = SessionClosed("client stopped")
        self.outbox.close(error)
        self.assertIs(self.failureResultOf(d1, SessionClosed).value, error)
        self.assertIs(self.failureResultOf(d2, SessionClosed).value, error)
        self.assertEqual(len(self.outbox), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [])

    def test_putAfterClose(self) -> None:
        """
        After C{close(error)}, both kinds of put raise C{error} itself and
        queue nothing.
        """
        error = SessionClosed("client stopped")
        self.outbox.close(error)
        self.assertIs(self.assertRaises(SessionClosed, self.outbox.put_message, b"m"), error)
        self.assertIs(
            self.assertRaises(SessionClosed, put, self.outbox, "r", 5), error
        )
        self.assertEqual(len(self.outbox), 0)

    def test_closeBeforeFull(self) -> None:
        """
        A closed outbox that is also full raises the close error, not
        L{QueueFull}.
        """
        outbox = Outbox(self.clock, limit=0)
        error = SessionClosed()
        outbox.close(error)
        self.assertIs(self.assertRaises(SessionClosed, outbox.put_message, b"m"), error)

    def test_closeLeavesFlushed(self) -> None:
        """
        C{close} does not touch requests already flushed: they follow the
        session's L{Deferred}.
        """
        d = put(self.outbox, "q", None)
        self.outbox.flush(self.session)
        self.outbox.close(SessionClosed())
        self.assertNoResult(d)
        self.session.replies[0].callback("still")
        self.assertEqual(self.successResultOf(d), "still")

    def test_reopen(self) -> None:
        """
        After C{reopen}, a closed outbox accepts and flushes entries again.
        """
        self.outbox.close(SessionClosed())
        self.outbox.reopen()
        self.outbox.put_message(b"m")
        d = put(self.outbox, "r", 5)
        self.outbox.flush(self.session)
        self.assertEqual(self.session.sent, [("message", b"m"), ("request", "r", None)])
        self.session.replies[0].callback(1)
        self.assertEqual(self.successResultOf(d), 1)

    def test_reopenWhenOpen(self) -> None:
        """
        C{reopen} on an open outbox keeps what waits.
        """
        self.outbox.put_message(b"m")
        self.outbox.reopen()
        self.assertEqual(len(self.outbox), 1)
