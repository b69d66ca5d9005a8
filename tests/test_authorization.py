# -*- test-case-name: tests.test_authorization -*-
"""
Tests for L{socketnet._authorization}: the L{Authorization} value and the
server and client authorization layers, driven with recording fakes for
their neighbours and a L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from socketnet import _frames
from socketnet._authorization import (
    Authorization,
    ClientAuthorizationLayer,
    ServerAuthorizationLayer,
)
from socketnet.closecodes import CloseCode
from socketnet.errors import ProtocolError
from socketnet.interfaces import ILayer

TOKEN = "s3cret-t0ken-value"


class Neighbours:
    """
    Recording fakes for the callables a layer gets from the stack, plus
    the C{on_authorized} callback, all logging to one shared C{events}
    list so tests can check their order.

    @ivar written: frames handed to C{write_down}, in order.
    @ivar delivered: frames handed to C{deliver_up}, in order.
    @ivar closed: C{(code, reason)} pairs handed to C{close}, in order.
    @ivar authorized: arguments handed to C{on_authorized}, in order.
    @ivar events: C{(name, argument)} for all of the above, in order.
    """

    def __init__(self) -> None:
        self.written: list[Any] = []
        self.delivered: list[Any] = []
        self.closed: list[tuple[int, str]] = []
        self.authorized: list[Any] = []
        self.events: list[tuple[str, Any]] = []

    def write_down(self, frame: Any) -> None:
        self.written.append(frame)
        self.events.append(("write", frame))

    def deliver_up(self, frame: Any) -> None:
        self.delivered.append(frame)
        self.events.append(("deliver", frame))

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))
        self.events.append(("close", code))

    def on_authorized(self, value: Any) -> None:
        self.authorized.append(value)
        self.events.append(("authorized", value))


class Verifier:
    """
    A fake verifier that records what it is asked and answers with
    C{answer}: a value, a L{Deferred}, or an exception to raise.
    """

    def __init__(self, answer: Any = True):
        self.answer = answer
        self.calls: list[Authorization] = []

    def __call__(self, authorization: Authorization) -> Any:
        self.calls.append(authorization)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def auth_frame(client_id: str = "alice", token: str = TOKEN, data: Any = None) -> dict[str, Any]:
    """
    A decoded C{auth} frame.
    """
    frame: dict[str, Any] = {"type": "auth", "id": client_id, "token": token}
    if data is not None:
        frame["data"] = data
    return frame


MESSAGE = {"type": "message", "data": "hello"}


class AuthorizationTests(SynchronousTestCase):
    """
    Tests for L{Authorization}.
    """

    def test_fields(self) -> None:
        """
        An authorization keeps its id, token and data; data defaults to
        C{None}.
        """
        a = Authorization("alice", "t", {"room": 1})
        self.assertEqual((a.id, a.token, a.data), ("alice", "t", {"room": 1}))
        self.assertIsNone(Authorization("alice", "t").data)

    def test_valid_ids(self) -> None:
        """
        Ids of 1 to 128 printable characters, including non-ASCII ones,
        are accepted.
        """
        for client_id in ["a", "1", "x" * 128, "alice@example.com", "ключ", "名前", "a-b_c.d:e/f"]:
            with self.subTest(client_id=client_id):
                self.assertEqual(Authorization(client_id, "t").id, client_id)

    def test_id_length(self) -> None:
        """
        An empty id or one longer than 128 characters raises L{ValueError}.
        """
        for client_id in ["", "x" * 129, "x" * 1000]:
            with self.subTest(length=len(client_id)):
                self.assertRaises(ValueError, Authorization, client_id, "t")

    def test_id_not_string(self) -> None:
        """
        An id that is not a string raises L{ValueError}.
        """
        for client_id in [None, 1, b"alice", ["alice"]]:
            with self.subTest(client_id=client_id):
                self.assertRaises(ValueError, Authorization, client_id, "t")

    def test_id_no_white_space(self) -> None:
        """
        An id holding white space of any kind raises L{ValueError}.
        """
        for client_id in ["a b", " a", "a ", "a\tb", "a\nb", "a\rb", "a\u00a0b", "a\u2003b", "a\u3000b"]:
            with self.subTest(client_id=client_id):
                self.assertRaises(ValueError, Authorization, client_id, "t")

    def test_id_no_c0_control_characters(self) -> None:
        """
        An id holding an ASCII control character (C0 or DEL) raises
        L{ValueError}.
        """
        for char in ["\x00", "\x01", "\x1b", "\x1f", "\x7f"]:
            with self.subTest(char=char):
                self.assertRaises(ValueError, Authorization, f"a{char}b", "t")

    def test_id_no_c1_control_characters(self) -> None:
        """
        An id holding a C1 control character (U+0080 to U+009F, e.g. the
        terminal escape CSI U+009B) raises L{ValueError}: they are control
        characters too.
        """
        for char in ["\x80", "\x9b", "\x9f"]:
            with self.subTest(char=ascii(char)):
                self.assertRaises(ValueError, Authorization, f"a{char}b", "t")

    def test_tokens(self) -> None:
        """
        A token may be any string of at most 4096 characters, the empty one
        included.
        """
        for token in ["", "t", "x" * 4096, "spaces are fine"]:
            with self.subTest(length=len(token)):
                self.assertEqual(Authorization("a", token).token, token)

    def test_bad_tokens(self) -> None:
        """
        A token longer than 4096 characters or that is not a string raises
        L{ValueError}.
        """
        for token in ["x" * 4097, None, 1, b"t"]:
            with self.subTest(token=repr(token)[:20]):
                self.assertRaises(ValueError, Authorization, "a", token)

    def test_repr_hides_token(self) -> None:
        """
        The repr names the id and data but never shows the token.
        """
        text = repr(Authorization("alice", TOKEN, {"k": 1}))
        self.assertIn("alice", text)
        self.assertNotIn(TOKEN, text)
        self.assertNotIn("token", text)

    def test_bad_token_error_hides_token(self) -> None:
        """
        The error for an over-long token does not quote the token.
        """
        token = "Z" * 5000
        error = self.assertRaises(ValueError, Authorization, "alice", token)
        self.assertNotIn("Z" * 10, str(error))

    def test_frozen(self) -> None:
        """
        An authorization cannot be changed after it is built.
        """
        a = Authorization("alice", "t")
        with self.assertRaises(AttributeError):
            a.id = "mallory"  # type: ignore[misc]


class ServerAuthorizationLayerTests(SynchronousTestCase):
    """
    Tests for L{ServerAuthorizationLayer}.
    """

    timeout = 10.0

    def build(self, answer: Any = True, start: bool = True) -> tuple[
        ServerAuthorizationLayer, Neighbours, Clock, Verifier
    ]:
        """
        A server authorization layer whose verifier answers C{answer},
        wired to recording neighbours and a fresh clock, started unless
        C{start} is false.
        """
        clock = Clock()
        neighbours = Neighbours()
        verifier = Verifier(answer)
        layer = ServerAuthorizationLayer(
            verifier,
            neighbours.on_authorized,
            self.timeout,
            clock=clock,
            write_down=neighbours.write_down,
            deliver_up=neighbours.deliver_up,
            close=neighbours.close,
        )
        if start:
            layer.start()
        return layer, neighbours, clock, verifier

    def assert_protocol_error(self, layer: ServerAuthorizationLayer, frame: Any, code: int) -> ProtocolError:
        """
        Feeding C{frame} raises a L{ProtocolError} with close code C{code}.
        """
        error = self.assertRaises(ProtocolError, layer.receive, frame)
        self.assertEqual(error.code, code)
        return error

    def test_interface(self) -> None:
        """
        L{ServerAuthorizationLayer} provides L{ILayer}.
        """
        layer, _, _, _ = self.build(start=False)
        self.assertTrue(verifyObject(ILayer, layer))

    def test_start_writes_nothing(self) -> None:
        """
        Starting only arms the deadline: nothing is written, delivered or
        closed.
        """
        layer, neighbours, clock, _ = self.build()
        self.assertEqual(neighbours.events, [])
        self.assertEqual(len(clock.getDelayedCalls()), 1)

    def test_first_frame_must_be_auth(self) -> None:
        """
        A first frame that is not C{auth} raises L{ProtocolError} 4403; it
        is not delivered up and the verifier is not asked.
        """
        for frame in [MESSAGE, {"type": "reply", "request": 1, "data": 1}, {"type": "authorized", "id": "x"}]:
            with self.subTest(frame=frame["type"]):
                layer, neighbours, clock, verifier = self.build()
                error = self.assert_protocol_error(layer, frame, 4403)
                self.assertEqual(error.code, CloseCode.AUTH_REQUIRED)
                self.assertEqual(neighbours.delivered, [])
                self.assertEqual(neighbours.written, [])
                self.assertEqual(verifier.calls, [])

    def test_accepted(self) -> None:
        """
        When the verifier returns C{True}, the layer writes the
        C{authorized} frame and then calls C{on_authorized} with the
        L{Authorization} built from the frame's id, token and data.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame("alice", TOKEN, {"room": "blue"}))
        expected = Authorization("alice", TOKEN, {"room": "blue"})
        self.assertEqual(verifier.calls, [expected])
        self.assertEqual(
            neighbours.events,
            [("write", _frames.authorized("alice")), ("authorized", expected)],
        )
        self.assertEqual(neighbours.written, [b'{"type":"authorized","id":"alice"}'])
        self.assertIsInstance(neighbours.authorized[0], Authorization)
        self.assertEqual(neighbours.closed, [])

    def test_accepted_without_data(self) -> None:
        """
        An auth frame without data gives an authorization whose data is
        C{None}.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame("bob"))
        self.assertEqual(neighbours.authorized, [Authorization("bob", TOKEN, None)])

    def test_frames_delivered_after_authorization(self) -> None:
        """
        Once authorized, later frames are delivered up unchanged, in order.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame())
        frames = [MESSAGE, {"type": "reply", "request": 1, "data": 2}]
        for frame in frames:
            layer.receive(frame)
        self.assertEqual(neighbours.delivered, frames)

    def test_accepted_cancels_deadline(self) -> None:
        """
        Once authorized, the deadline is cancelled: no delayed call is
        left and the connection is never closed for time.
        """
        layer, neighbours, clock, verifier = self.build(True)
        clock.advance(5)
        layer.receive(auth_frame())
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(100)
        self.assertEqual(neighbours.closed, [])

    def test_write_passes_down(self) -> None:
        """
        Frames written from above are passed down unchanged.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame())
        frame = _frames.message(1)
        layer.write(frame)
        self.assertEqual(neighbours.written[-1], frame)

    def assert_refused(self, answer: Any, code: int = 4401) -> Neighbours:
        """
        With a verifier answering C{answer}, an auth frame closes the
        connection with C{code}; nothing is written or delivered,
        C{on_authorized} is not called and no timer is left.
        """
        layer, neighbours, clock, verifier = self.build(answer)
        layer.receive(auth_frame())
        self.assertEqual([c for c, _ in neighbours.closed], [code])
        self.assertEqual(neighbours.written, [])
        self.assertEqual(neighbours.delivered, [])
        self.assertEqual(neighbours.authorized, [])
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(100)
        self.assertEqual(len(neighbours.closed), 1)
        return neighbours

    def test_refused_false(self) -> None:
        """
        A verifier returning C{False} closes with 4401 and its reason.
        """
        neighbours = self.assert_refused(False)
        self.assertEqual(neighbours.closed, [(CloseCode.UNAUTHORIZED, CloseCode.UNAUTHORIZED.reason)])

    def test_refused_not_true(self) -> None:
        """
        A verifier returning anything but C{True}, even a true value such
        as C{1}, a string or a non-empty list, or C{None}, closes with 4401.
        """
        for answer in [1, "yes", [True], None]:
            with self.subTest(answer=answer):
                self.assert_refused(answer)

    def test_refused_raising(self) -> None:
        """
        A verifier that raises closes with 4401.
        """
        self.assert_refused(KeyError("alice"))

    def test_refused_failed_deferred(self) -> None:
        """
        A verifier returning a failed L{Deferred} closes with 4401.
        """
        self.assert_refused(fail(RuntimeError("database down")))

    def test_refused_deferred_false(self) -> None:
        """
        A verifier returning a L{Deferred} that fires C{False} closes with
        4401.
        """
        self.assert_refused(succeed(False))

    def test_accepted_deferred_true(self) -> None:
        """
        A verifier returning a L{Deferred} that has fired C{True} accepts.
        """
        layer, neighbours, clock, verifier = self.build(succeed(True))
        layer.receive(auth_frame())
        self.assertEqual(neighbours.written, [_frames.authorized("alice")])
        self.assertEqual(len(neighbours.authorized), 1)

    def test_refused_with_chosen_code(self) -> None:
        """
        A verifier raising L{ProtocolError} closes with that error's code
        and reason.
        """
        neighbours = self.assert_refused(ProtocolError(4409, "client id already connected"), 4409)
        self.assertEqual(neighbours.closed, [(4409, "client id already connected")])

    def test_refused_with_chosen_code_deferred(self) -> None:
        """
        A verifier whose L{Deferred} fails with L{ProtocolError} closes with
        that error's code.
        """
        self.assert_refused(fail(ProtocolError(4409, "in use")), 4409)

    def test_refused_with_unnamed_code_and_no_reason(self) -> None:
        """
        A verifier failing with a L{ProtocolError} whose code L{CloseCode}
        does not name and whose reason is empty still closes with that
        code (and does not leave the connection open with no deadline).
        """
        answer = fail(ProtocolError(4000, ""))
        # Should the layer raise inside its errback, consume the failure so
        # that it does not surface as an unhandled error in another test.
        self.addCleanup(answer.addErrback, lambda failure: None)
        self.assert_refused(answer, 4000)

    def test_deferred_verifier_accepts_later(self) -> None:
        """
        A verifier's L{Deferred} that fires C{True} later authorizes then,
        and not before.
        """
        d: Deferred[bool] = Deferred()
        layer, neighbours, clock, verifier = self.build(d)
        layer.receive(auth_frame())
        self.assertEqual(neighbours.events, [])
        clock.advance(5)
        d.callback(True)
        self.assertEqual(
            neighbours.events,
            [("write", _frames.authorized("alice")), ("authorized", Authorization("alice", TOKEN))],
        )
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_frames_while_verifying(self) -> None:
        """
        Any frame, an auth frame included, that arrives while the
        verifier's L{Deferred} has not fired raises L{ProtocolError} 4403
        and is not delivered; the verifier is asked only once.
        """
        for frame in [MESSAGE, auth_frame("alice"), auth_frame("mallory")]:
            with self.subTest(frame=frame):
                d: Deferred[bool] = Deferred()
                layer, neighbours, clock, verifier = self.build(d)
                layer.receive(auth_frame())
                self.assert_protocol_error(layer, frame, 4403)
                self.assertEqual(len(verifier.calls), 1)
                self.assertEqual(neighbours.delivered, [])
                layer.destroy(Exception("closed"))

    def test_auth_after_authorization(self) -> None:
        """
        An auth frame after authorization raises L{ProtocolError} 4400 and
        the verifier is not asked again.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame())
        error = self.assert_protocol_error(layer, auth_frame("mallory"), 4400)
        self.assertEqual(error.code, CloseCode.BAD_FRAME)
        self.assertEqual(len(verifier.calls), 1)
        self.assertEqual(len(neighbours.authorized), 1)
        self.assertEqual(neighbours.delivered, [])

    def test_frames_after_refusal(self) -> None:
        """
        After a refusal, frames are not delivered: they raise
        L{ProtocolError} 4403.
        """
        layer, neighbours, clock, verifier = self.build(False)
        layer.receive(auth_frame())
        self.assert_protocol_error(layer, MESSAGE, 4403)
        self.assert_protocol_error(layer, auth_frame(), 4403)
        self.assertEqual(neighbours.delivered, [])
        self.assertEqual(len(verifier.calls), 1)

    def test_deadline(self) -> None:
        """
        Without an auth frame, the connection is closed with 4408 exactly
        at the timeout, not before, and only once.
        """
        layer, neighbours, clock, verifier = self.build()
        clock.advance(9.5)
        self.assertEqual(neighbours.closed, [])
        clock.advance(0.5)
        self.assertEqual(neighbours.closed, [(CloseCode.AUTH_TIMEOUT, CloseCode.AUTH_TIMEOUT.reason)])
        self.assertEqual(neighbours.closed[0][0], 4408)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(100)
        self.assertEqual(len(neighbours.closed), 1)

    def test_auth_after_deadline(self) -> None:
        """
        An auth frame after the deadline closed the connection is refused
        with L{ProtocolError} 4403, without asking the verifier.
        """
        layer, neighbours, clock, verifier = self.build()
        clock.advance(self.timeout)
        self.assert_protocol_error(layer, auth_frame(), 4403)
        self.assertEqual(verifier.calls, [])

    def test_deadline_covers_slow_verifier(self) -> None:
        """
        A verifier whose L{Deferred} is still pending at the timeout does
        not save the connection: it is closed with 4408 at the timeout.
        """
        d: Deferred[bool] = Deferred()
        layer, neighbours, clock, verifier = self.build(d)
        clock.advance(4)
        layer.receive(auth_frame())
        clock.advance(5.5)
        self.assertEqual(neighbours.closed, [])
        clock.advance(0.5)
        self.assertEqual([c for c, _ in neighbours.closed], [4408])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_slow_verifier_accepting_late(self) -> None:
        """
        When a verifier's L{Deferred} fires C{True} after the deadline,
        nothing happens: no C{authorized} frame, no C{on_authorized}, no
        second close, and frames are still not delivered.
        """
        d: Deferred[bool] = Deferred()
        layer, neighbours, clock, verifier = self.build(d)
        layer.receive(auth_frame())
        clock.advance(self.timeout)
        d.callback(True)
        self.assertEqual(neighbours.written, [])
        self.assertEqual(neighbours.authorized, [])
        self.assertEqual(len(neighbours.closed), 1)
        self.assert_protocol_error(layer, MESSAGE, 4403)
        self.assertEqual(neighbours.delivered, [])

    def test_slow_verifier_failing_late(self) -> None:
        """
        When a verifier's L{Deferred} fails after the deadline, nothing
        happens and the failure is not left unhandled.
        """
        d: Deferred[bool] = Deferred()
        layer, neighbours, clock, verifier = self.build(d)
        layer.receive(auth_frame())
        clock.advance(self.timeout)
        d.errback(ProtocolError(4409, "in use"))
        self.assertEqual([c for c, _ in neighbours.closed], [4408])
        self.assertIsNone(self.successResultOf(d))

    def test_destroy_cancels_deadline(self) -> None:
        """
        C{destroy} cancels the deadline: no delayed call is left and the
        connection is not closed afterwards.
        """
        layer, neighbours, clock, verifier = self.build()
        clock.advance(3)
        layer.destroy(Exception("gone"))
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(100)
        self.assertEqual(neighbours.closed, [])

    def test_destroy_cancels_pending_verifier(self) -> None:
        """
        C{destroy} cancels the verifier's pending L{Deferred} and the
        deadline; nothing is written, closed or authorized, and the
        cancellation is not left as an unhandled failure.
        """
        cancelled: list[Deferred[bool]] = []
        d: Deferred[bool] = Deferred(cancelled.append)
        layer, neighbours, clock, verifier = self.build(d)
        layer.receive(auth_frame())
        layer.destroy(Exception("gone"))
        self.assertEqual(cancelled, [d])
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertIsNone(self.successResultOf(d))
        clock.advance(100)
        self.assertEqual(neighbours.events, [])

    def test_destroy_then_verifier_fires(self) -> None:
        """
        A verifier L{Deferred} without a canceller that fires after
        C{destroy} does nothing.
        """
        d: Deferred[bool] = Deferred()
        layer, neighbours, clock, verifier = self.build(d)
        layer.receive(auth_frame())
        layer.destroy(Exception("gone"))
        d.callback(True)  # ignored: the cancelled Deferred already fired
        self.assertEqual(neighbours.events, [])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_destroy_after_authorization(self) -> None:
        """
        C{destroy} after authorization leaves no delayed call.
        """
        layer, neighbours, clock, verifier = self.build(True)
        layer.receive(auth_frame())
        layer.destroy(Exception("gone"))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_refusal_logged_without_token(self) -> None:
        """
        Each kind of refusal is logged, and no logged event, formatted,
        shows the token, even when the verifier's error quotes it.
        """
        answers = [
            False,
            1,
            ValueError(f"bad token {TOKEN}"),
            fail(ValueError(f"bad token {TOKEN}")),
            ProtocolError(4409, "id in use"),
        ]
        for answer in answers:
            with self.subTest(answer=repr(answer)[:30]):
                events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
                layer, neighbours, clock, verifier = self.build(answer)
                layer.receive(auth_frame(token=TOKEN))
                self.assertEqual(len(neighbours.closed), 1)
                self.assertTrue(len(events) >= 1, "the refusal was not logged")
                for event in events:
                    text = formatEvent(event)
                    self.assertNotIn(TOKEN, text)
                    self.assertNotIn(TOKEN, repr(event))


class ClientAuthorizationLayerTests(SynchronousTestCase):
    """
    Tests for L{ClientAuthorizationLayer}.
    """

    authorization = Authorization("alice", TOKEN, {"room": "blue"})

    def build(self, start: bool = True) -> tuple[ClientAuthorizationLayer, Neighbours, Clock]:
        """
        A client authorization layer wired to recording neighbours and a
        fresh clock, started unless C{start} is false.
        """
        clock = Clock()
        neighbours = Neighbours()
        layer = ClientAuthorizationLayer(
            self.authorization,
            neighbours.on_authorized,
            clock=clock,
            write_down=neighbours.write_down,
            deliver_up=neighbours.deliver_up,
            close=neighbours.close,
        )
        if start:
            layer.start()
        return layer, neighbours, clock

    def test_interface(self) -> None:
        """
        L{ClientAuthorizationLayer} provides L{ILayer}.
        """
        layer, _, _ = self.build(start=False)
        self.assertTrue(verifyObject(ILayer, layer))

    def test_start_writes_auth(self) -> None:
        """
        C{start} writes the auth frame with the id, token and data, and
        nothing else.
        """
        layer, neighbours, clock = self.build()
        self.assertEqual(neighbours.written, [_frames.auth("alice", TOKEN, {"room": "blue"})])
        self.assertEqual(
            _frames.decode(neighbours.written[0]),
            {"type": "auth", "id": "alice", "token": TOKEN, "data": {"room": "blue"}},
        )
        self.assertEqual(neighbours.delivered, [])
        self.assertEqual(neighbours.closed, [])

    def test_authorized(self) -> None:
        """
        The C{authorized} frame calls C{on_authorized} with the id and is
        not delivered up.
        """
        layer, neighbours, clock = self.build()
        self.assertFalse(layer.authorized)
        layer.receive({"type": "authorized", "id": "alice"})
        self.assertTrue(layer.authorized)
        self.assertEqual(neighbours.authorized, ["alice"])
        self.assertEqual(neighbours.delivered, [])

    def test_frames_before_authorized(self) -> None:
        """
        Any frame before C{authorized} raises L{ProtocolError} 4400 and is
        not delivered up.
        """
        for frame in [MESSAGE, {"type": "reply", "request": 1, "data": 1}, auth_frame()]:
            with self.subTest(frame=frame["type"]):
                layer, neighbours, clock = self.build()
                error = self.assertRaises(ProtocolError, layer.receive, frame)
                self.assertEqual(error.code, 4400)
                self.assertEqual(neighbours.delivered, [])
                self.assertEqual(neighbours.authorized, [])

    def test_frames_after_authorized(self) -> None:
        """
        Frames after C{authorized} are delivered up unchanged, in order.
        """
        layer, neighbours, clock = self.build()
        layer.receive({"type": "authorized", "id": "alice"})
        frames = [MESSAGE, {"type": "reply", "request": 1, "data": 1}]
        for frame in frames:
            layer.receive(frame)
        self.assertEqual(neighbours.delivered, frames)

    def test_second_authorized(self) -> None:
        """
        A second C{authorized} frame raises L{ProtocolError} 4400 and does
        not call C{on_authorized} again.
        """
        layer, neighbours, clock = self.build()
        layer.receive({"type": "authorized", "id": "alice"})
        error = self.assertRaises(ProtocolError, layer.receive, {"type": "authorized", "id": "alice"})
        self.assertEqual(error.code, 4400)
        self.assertEqual(neighbours.authorized, ["alice"])

    def test_write_before_authorized(self) -> None:
        """
        Writing before C{authorized} raises and writes nothing beyond the
        auth frame.
        """
        layer, neighbours, clock = self.build()
        self.assertRaises(Exception, layer.write, _frames.message(1))
        self.assertEqual(neighbours.written, [_frames.auth("alice", TOKEN, {"room": "blue"})])

    def test_write_after_authorized(self) -> None:
        """
        Once authorized, frames written from above are passed down.
        """
        layer, neighbours, clock = self.build()
        layer.receive({"type": "authorized", "id": "alice"})
        frame = _frames.message(1)
        layer.write(frame)
        self.assertEqual(neighbours.written[-1], frame)

    def test_no_timers(self) -> None:
        """
        The client layer schedules nothing, before or after C{destroy}.
        """
        layer, neighbours, clock = self.build()
        self.assertEqual(clock.getDelayedCalls(), [])
        layer.destroy(Exception("gone"))
        self.assertEqual(clock.getDelayedCalls(), [])
