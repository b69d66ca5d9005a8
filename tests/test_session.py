# -*- test-case-name: tests.test_session -*-
"""
Tests for L{socketnet._session}: L{Message}, L{settle}, L{run_handler} and
the server and client sessions, built directly with a fake hooks object,
recording neighbours and a L{Clock}.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from socketnet import _frames
from socketnet._authorization import Authorization
from socketnet._outbox import Outbox
from socketnet._broker import InProcessBroker
from socketnet._messages import Message, run_handler, settle
from socketnet._peers import ClientChannels
from socketnet._registry import SessionRegistry
from socketnet._router import Router
from socketnet._session import ClientSession, ServerSession, Session
from socketnet.errors import (
    NotReady,
    ProtocolError,
    RemoteError,
    ReplyTimeout,
    SessionClosed,
)
from socketnet.interfaces import ILayer


class Events:
    """
    A list of C{(name, value)} pairs that every fake appends to, so that
    tests can check the order of writes, hooks and handlers.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def __call__(self, name: str, value: Any = None) -> None:
        self.items.append((name, value))

    def named(self, name: str) -> list[Any]:
        return [value for n, value in self.items if n == name]


class Hooks:
    """
    A fake of the protocol object a session calls back.

    @ivar result: what L{messageReceived} returns, unless C{handle} is set.
    @ivar handle: if set, L{messageReceived} returns C{handle(message)}.
    @ivar messages: every message received, in order.
    @ivar authorized: every session passed to L{sessionAuthorized}.
    @ivar closed: every C{(session, reason)} passed to L{sessionClosed}.
    """

    def __init__(self, events: Events) -> None:
        self.events = events
        self.result: Any = None
        self.handle: Callable[[Message], Any] | None = None
        self.messages: list[Message] = []
        self.authorized: list[Session] = []
        self.closed: list[tuple[Session, SessionClosed]] = []

    def messageReceived(self, message: Message) -> Any:
        self.messages.append(message)
        self.events("message", message)
        if self.handle is not None:
            return self.handle(message)
        return self.result

    def sessionAuthorized(self, session: Session) -> None:
        self.authorized.append(session)
        self.events("sessionAuthorized", session)

    def sessionClosed(self, session: Session, reason: SessionClosed) -> None:
        self.closed.append((session, reason))
        self.events("sessionClosed", (session, reason))


class Neighbours:
    """
    Recording fakes for C{write_down}, C{deliver_up} and C{close}.
    """

    def __init__(self, events: Events) -> None:
        self.events = events
        self.written: list[bytes] = []
        self.delivered: list[Any] = []
        self.closed: list[tuple[int, str]] = []

    def write_down(self, frame: bytes) -> None:
        self.written.append(frame)
        self.events("write", frame)

    def deliver_up(self, frame: Any) -> None:
        self.delivered.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))
        self.events("close", (code, reason))


def message_frame(data: Any, request: int | None = None, **extra: Any) -> dict[str, Any]:
    """
    A decoded C{message} frame, with any C{extra} fields.
    """
    frame: dict[str, Any] = {"type": "message", "data": data}
    if request is not None:
        frame["request"] = request
    frame.update(extra)
    return frame


class SessionTestCase(SynchronousTestCase):
    """
    Builds sessions wired to fakes.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.events = Events()
        self.hooks = Hooks(self.events)
        self.neighbours = Neighbours(self.events)

    @property
    def written(self) -> list[bytes]:
        return self.neighbours.written

    def server_session(self, client_id: str | None = "alice") -> ServerSession:
        """
        A server session, authorized as C{client_id} unless that is
        C{None}.
        """
        router = Router(SessionRegistry(), InProcessBroker(), self.clock, [])
        session = ServerSession(
            self.hooks,
            router,
            clock=self.clock,
            write_down=self.neighbours.write_down,
            deliver_up=self.neighbours.deliver_up,
            close=self.neighbours.close,
        )
        session.start()
        if client_id is not None:
            session._authorize(Authorization(client_id, "token"))
        return session

    def client_session(self, client_id: str | None = "alice", outbox: Outbox | None = None) -> ClientSession:
        """
        A client session with a real L{Outbox}, authorized as C{client_id}
        unless that is C{None}.
        """
        self.outbox = Outbox(self.clock) if outbox is None else outbox
        session = ClientSession(
            self.hooks,
            self.outbox,
            ClientChannels(),
            clock=self.clock,
            write_down=self.neighbours.write_down,
            deliver_up=self.neighbours.deliver_up,
            close=self.neighbours.close,
        )
        session.start()
        if client_id is not None:
            session._authorized(client_id)
        return session

    def run_with_handlers(self, session: Session, *handlers: Callable[[Message], Any]) -> None:
        """
        Register C{handlers} on C{session} and make the hooks run them the
        way the real protocol does.
        """
        for handler in handlers:
            session.on_message(handler)
        self.hooks.handle = session._run_handlers

    def assert_error_reply(self, frame: bytes, request: int, name: str, text: str) -> None:
        """
        C{frame} is an error reply to C{request} with exactly C{name} and
        C{text}, and no traceback.
        """
        self.assertEqual(frame, _frames.reply_error(request, name, text))
        decoded = json.loads(frame)
        self.assertNotIn("data", decoded)
        self.assertNotIn("Traceback", frame.decode("utf-8"))
        self.assertNotIn(".py", frame.decode("utf-8"))


class MessageTests(SynchronousTestCase):
    """
    Tests for L{Message}.
    """

    def test_fields(self) -> None:
        """
        A message keeps its data, sender and recipient, and is of type
        C{"client"} by default.
        """
        m = Message({"a": 1}, "alice", None, None, lambda frame: None)
        self.assertEqual((m.type, m.sender, m.to, m.data), ("client", "alice", None, {"a": 1}))

    def test_no_request_no_reply(self) -> None:
        """
        A message without a request id has C{reply} set to C{None}.
        """
        m = Message(1, "alice", None, None, lambda frame: None)
        self.assertIsNone(m.reply)
        self.assertFalse(m.replied)

    def test_reply_once(self) -> None:
        """
        C{reply} writes one reply frame and returns C{True}; later calls
        write nothing and return C{False}.
        """
        written: list[bytes] = []
        m = Message(1, "alice", None, 7, written.append)
        self.assertIsNotNone(m.reply)
        self.assertIs(m.reply(["ok"]), True)
        self.assertTrue(m.replied)
        self.assertIs(m.reply("again"), False)
        self.assertEqual(written, [_frames.reply(7, ["ok"])])

    def test_reply_not_json(self) -> None:
        """
        C{reply} with a value JSON cannot carry raises L{TypeError}, writes
        nothing, and leaves the message unanswered.
        """
        written: list[bytes] = []
        m = Message(1, "alice", None, 7, written.append)
        self.assertRaises(TypeError, m.reply, object())
        self.assertFalse(m.replied)
        self.assertEqual(written, [])
        self.assertIs(m.reply(1), True)
        self.assertEqual(written, [_frames.reply(7, 1)])

    def test_repr(self) -> None:
        """
        The repr names the sender, recipient and request but not the data.
        """
        text = repr(Message("secret data", "alice", "bob", 3, lambda frame: None))
        self.assertIn("'alice'", text)
        self.assertIn("'bob'", text)
        self.assertIn("3", text)
        self.assertNotIn("secret data", text)


class SettleTests(SynchronousTestCase):
    """
    Tests for L{settle} and L{run_handler} on bare messages.
    """

    def setUp(self) -> None:
        self.written: list[bytes] = []
        self.message = Message("q", "alice", None, 5, self.written.append)

    def test_value(self) -> None:
        """
        Settling with a value writes it as the reply.
        """
        settle(self.message, {"answer": 42})
        self.assertEqual(self.written, [_frames.reply(5, {"answer": 42})])

    def test_none(self) -> None:
        """
        Settling with C{None} writes nothing.
        """
        settle(self.message, None)
        self.assertEqual(self.written, [])
        self.assertFalse(self.message.replied)

    def test_falsy_values_reply(self) -> None:
        """
        False-ish values other than C{None} (C{0}, C{False}, C{""}, C{[]})
        are replies too.
        """
        for value in [0, False, "", [], {}]:
            with self.subTest(value=value):
                written: list[bytes] = []
                settle(Message(1, "a", None, 1, written.append), value)
                self.assertEqual(written, [_frames.reply(1, value)])

    def test_deferred(self) -> None:
        """
        Settling with a L{Deferred} replies when it fires.
        """
        d: Deferred[int] = Deferred()
        settle(self.message, d)
        self.assertEqual(self.written, [])
        d.callback(3)
        self.assertEqual(self.written, [_frames.reply(5, 3)])

    def test_run_handler_passes_arguments(self) -> None:
        """
        L{run_handler} calls the handler with the message and any extra
        arguments, and settles what it returns.
        """
        calls: list[tuple[Any, ...]] = []

        def handler(message: Message, *args: Any) -> str:
            calls.append((message, *args))
            return "done"

        run_handler(handler, self.message, "session")
        self.assertEqual(calls, [(self.message, "session")])
        self.assertEqual(self.written, [_frames.reply(5, "done")])

    def test_run_handler_raising(self) -> None:
        """
        A handler that raises under L{run_handler} gives an error reply
        with the exception's type name and message.
        """

        def handler(message: Message) -> None:
            raise KeyError("missing")

        run_handler(handler, self.message)
        self.assertEqual(self.written, [_frames.reply_error(5, "KeyError", "'missing'")])

    def test_remote_error_passes_through(self) -> None:
        """
        A handler failing with L{RemoteError} (e.g. relaying another peer's
        error) replies with that error's own name and message.
        """
        settle(self.message, fail(RemoteError("ValueError", "bad")))
        self.assertEqual(self.written, [_frames.reply_error(5, "ValueError", "bad")])

    def test_long_error_message_cut(self) -> None:
        """
        An error message longer than 1024 characters is cut to 1024.
        """
        settle(self.message, fail(ValueError("x" * 5000)))
        self.assertEqual(self.written, [_frames.reply_error(5, "ValueError", "x" * 1024)])


class ReceiveTests(SessionTestCase):
    """
    Tests for how sessions turn C{message} frames into L{Message}s.
    """

    def test_interface(self) -> None:
        """
        Both sessions provide L{ILayer}.
        """
        self.assertTrue(verifyObject(ILayer, self.server_session()))
        self.assertTrue(verifyObject(ILayer, self.client_session()))

    def test_server_stamps_sender(self) -> None:
        """
        On the server, an incoming message's sender is the session's id,
        whatever the frame says; it is addressed to the server.
        """
        session = self.server_session("alice")
        session.receive(message_frame({"k": "v"}, 3, sender="mallory", **{"from": "mallory"}))
        [message] = self.hooks.messages
        self.assertIsInstance(message, Message)
        self.assertEqual(message.sender, "alice")
        self.assertIsNone(message.to)
        self.assertEqual(message.data, {"k": "v"})
        self.assertEqual(message.type, "client")
        self.assertIsNotNone(message.reply)

    def test_client_side_addressing(self) -> None:
        """
        On the client, an incoming message's sender is the frame's C{from}
        (which the server stamps; absent when the server sent it), and it
        is addressed to the client's own id whatever else the frame says.
        """
        session = self.client_session("bob")
        session.receive(message_frame([1, 2], sender="mallory", to="carol"))
        session.receive(message_frame([3], sender="mallory", to="carol", **{"from": "x"}))
        first, second = self.hooks.messages
        self.assertIsNone(first.sender)
        self.assertEqual(first.to, "bob")
        self.assertEqual(first.data, [1, 2])
        self.assertEqual(second.sender, "x")
        self.assertEqual(second.to, "bob")

    def test_message_without_data(self) -> None:
        """
        A message frame without data gives a message whose data is
        C{None}.
        """
        session = self.server_session()
        session.receive({"type": "message"})
        self.assertIsNone(self.hooks.messages[0].data)

    def test_message_without_request(self) -> None:
        """
        A message frame without a request id gives a message whose C{reply}
        is C{None}.
        """
        session = self.server_session()
        session.receive(message_frame("hi"))
        self.assertIsNone(self.hooks.messages[0].reply)

    def test_unexpected_frames(self) -> None:
        """
        Frames other than C{message} and C{reply} raise L{ProtocolError}
        4400.
        """
        session = self.server_session()
        for frame in [{"type": "auth", "id": "a", "token": "t"}, {"type": "authorized", "id": "a"}, {"type": "ping"}]:
            with self.subTest(frame=frame["type"]):
                error = self.assertRaises(ProtocolError, session.receive, frame)
                self.assertEqual(error.code, 4400)
        self.assertEqual(self.hooks.messages, [])

    def test_nothing_above(self) -> None:
        """
        Nothing sits above a session: C{write} raises and nothing is ever
        delivered up.
        """
        session = self.server_session()
        self.assertRaises(RuntimeError, session.write, b"x")
        session.receive(message_frame(1))
        self.assertEqual(self.neighbours.delivered, [])


class HandlerResultTests(SessionTestCase):
    """
    Tests for how what a message handler returns or raises becomes the
    reply.
    """

    def test_value_replies(self) -> None:
        """
        A handler returning a value writes a reply frame with that value.
        """
        session = self.server_session()
        self.hooks.result = {"sum": 3}
        session.receive(message_frame([1, 2], 9))
        self.assertEqual(self.written, [_frames.reply(9, {"sum": 3})])

    def test_client_side_value_replies(self) -> None:
        """
        On the client too, a handler's value is the reply.
        """
        session = self.client_session()
        self.hooks.result = "pong"
        session.receive(message_frame("ping", 4))
        self.assertEqual(self.written, [_frames.reply(4, "pong")])

    def test_none_no_reply(self) -> None:
        """
        A handler returning C{None} writes nothing.
        """
        session = self.server_session()
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [])

    def test_deferred_replies_later(self) -> None:
        """
        A handler returning a L{Deferred} replies when it fires, not before.
        """
        session = self.server_session()
        d: Deferred[str] = Deferred()
        self.hooks.result = d
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [])
        d.callback("later")
        self.assertEqual(self.written, [_frames.reply(9, "later")])

    def test_coroutine_replies(self) -> None:
        """
        An C{async def} handler's return value is the reply, once its
        awaits are done.
        """
        session = self.server_session()
        d: Deferred[int] = Deferred()

        async def handler(message: Message) -> int:
            value = await d
            return value + message.data

        self.hooks.handle = handler
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [])
        d.callback(41)
        self.assertEqual(self.written, [_frames.reply(9, 42)])

    def test_coroutine_replies_at_once(self) -> None:
        """
        An C{async def} handler that does not wait replies at once.
        """
        session = self.server_session()

        async def handler(message: Message) -> str:
            return "now"

        self.hooks.handle = handler
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [_frames.reply(9, "now")])

    def test_raising_handler(self) -> None:
        """
        A message handler that raises gives an error reply with the
        exception's type name and message, and no traceback.
        """
        session = self.server_session()

        def handler(message: Message) -> None:
            raise ValueError("no such room")

        self.run_with_handlers(session, handler)
        session.receive(message_frame(1, 9))
        [frame] = self.written
        self.assert_error_reply(frame, 9, "ValueError", "no such room")

    def test_raising_hook(self) -> None:
        """
        A C{messageReceived} hook that raises gives an error reply too,
        as a hook returning a failed L{Deferred} does; the exception does
        not escape C{receive}.
        """
        session = self.server_session()

        def handler(message: Message) -> None:
            raise ValueError("no such room")

        self.hooks.handle = handler
        session.receive(message_frame(1, 9))
        [frame] = self.written
        self.assert_error_reply(frame, 9, "ValueError", "no such room")

    def test_failed_deferred(self) -> None:
        """
        A handler returning a L{Deferred} that fails gives an error reply.
        """
        session = self.server_session()
        d: Deferred[None] = Deferred()
        self.hooks.result = d
        session.receive(message_frame(1, 9))
        d.errback(LookupError("gone"))
        [frame] = self.written
        self.assert_error_reply(frame, 9, "LookupError", "gone")

    def test_raising_coroutine(self) -> None:
        """
        An C{async def} handler that raises gives an error reply.
        """
        session = self.server_session()

        async def handler(message: Message) -> None:
            raise PermissionError("not yours")

        self.hooks.handle = handler
        session.receive(message_frame(1, 9))
        [frame] = self.written
        self.assert_error_reply(frame, 9, "PermissionError", "not yours")

    def test_first_reply_wins(self) -> None:
        """
        With several handlers, the first reply is sent and the others are
        ignored.
        """
        session = self.server_session()
        self.run_with_handlers(session, lambda m: "first", lambda m: "second", lambda m: 3)
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [_frames.reply(9, "first")])

    def test_first_reply_wins_in_time(self) -> None:
        """
        A handler whose L{Deferred} fires after another handler has
        replied is ignored, and so is a later failure.
        """
        session = self.server_session()
        slow: Deferred[str] = Deferred()
        failing: Deferred[str] = Deferred()
        self.run_with_handlers(session, lambda m: slow, lambda m: failing, lambda m: "quick")
        session.receive(message_frame(1, 9))
        slow.callback("slow")
        self.assertEqual(self.written, [_frames.reply(9, "quick")])
        failing.errback(ValueError("late"))
        self.assertEqual(self.written, [_frames.reply(9, "quick")])
        # The ignored failure is logged, not lost.
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_reply_returns_false_second_time(self) -> None:
        """
        When several handlers call C{message.reply}, the first call returns
        C{True} and writes; the second returns C{False} and writes nothing.
        """
        session = self.server_session()
        results: list[bool] = []
        self.run_with_handlers(
            session,
            lambda m: results.append(m.reply("one")),
            lambda m: results.append(m.reply("two")),
        )
        session.receive(message_frame(1, 9))
        self.assertEqual(results, [True, False])
        self.assertEqual(self.written, [_frames.reply(9, "one")])

    def test_explicit_reply_then_return(self) -> None:
        """
        A handler that calls C{message.reply} and then returns a value
        sends only the explicit reply.
        """
        session = self.server_session()

        def handler(message: Message) -> str:
            message.reply("explicit")
            return "returned"

        self.hooks.handle = handler
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [_frames.reply(9, "explicit")])

    def test_explicit_reply_then_raise(self) -> None:
        """
        A handler that calls C{message.reply} and then raises sends only
        the reply; the exception is logged.
        """
        session = self.server_session()

        def handler(message: Message) -> None:
            message.reply("explicit")
            raise ZeroDivisionError("after")

        self.run_with_handlers(session, handler)
        session.receive(message_frame(1, 9))
        self.assertEqual(self.written, [_frames.reply(9, "explicit")])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_value_not_json(self) -> None:
        """
        A handler returning a value JSON cannot carry gives an error reply
        naming L{TypeError}.
        """
        for value in [object(), {1, 2}, b"bytes", float("nan"), float("inf")]:
            with self.subTest(value=repr(value)):
                del self.written[:]
                session = self.server_session()
                self.hooks.result = value
                session.receive(message_frame(1, 9))
                [frame] = self.written
                error = json.loads(frame)["error"]
                self.assertEqual(error["name"], "TypeError")
                self.assert_error_reply(frame, 9, "TypeError", error["message"])

    def test_deferred_value_not_json(self) -> None:
        """
        A L{Deferred} firing a value JSON cannot carry gives an error reply
        naming L{TypeError}.
        """
        session = self.server_session()
        self.hooks.result = succeed(object())
        session.receive(message_frame(1, 9))
        self.assertEqual(json.loads(self.written[0])["error"]["name"], "TypeError")

    def test_no_request_ignores_value(self) -> None:
        """
        For a message without a request id, what handlers return (values
        and L{Deferred}s alike) is ignored: nothing is written.
        """
        session = self.server_session()
        d: Deferred[str] = Deferred()
        self.run_with_handlers(session, lambda m: "value", lambda m: d)
        session.receive(message_frame("hi"))
        d.callback("later")
        self.assertIsNone(self.hooks.messages[0].reply)
        self.assertEqual(self.written, [])

    def test_no_request_raising_logged(self) -> None:
        """
        For a message without a request id, a handler that raises is
        logged, nothing is written and later handlers still run.
        """
        session = self.server_session()
        ran: list[Message] = []

        def handler(message: Message) -> None:
            raise ZeroDivisionError("oops")

        self.run_with_handlers(session, handler, ran.append)
        session.receive(message_frame("hi"))
        self.assertEqual(self.written, [])
        self.assertEqual(len(ran), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_no_request_failed_deferred_logged(self) -> None:
        """
        For a message without a request id, a handler's failed L{Deferred}
        is logged and nothing is written.
        """
        session = self.server_session()
        self.hooks.result = fail(ZeroDivisionError("oops"))
        session.receive(message_frame("hi"))
        self.assertEqual(self.written, [])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_raising_handler_later_handlers_run(self) -> None:
        """
        A handler that raises does not stop later handlers from running.
        """
        session = self.server_session()
        ran: list[Message] = []

        def handler(message: Message) -> None:
            raise ValueError("first")

        self.run_with_handlers(session, handler, ran.append)
        session.receive(message_frame(1, 9))
        self.assertEqual(len(ran), 1)

    def test_reply_after_close_dropped(self) -> None:
        """
        A reply that is ready only after the session has closed is not
        written.
        """
        session = self.server_session()
        d: Deferred[str] = Deferred()
        self.hooks.result = d
        session.receive(message_frame(1, 9))
        session.destroy(SessionClosed("gone", 1006))
        d.callback("too late")
        self.assertEqual(self.written, [])


class RequestTests(SessionTestCase):
    """
    Tests for C{request} and how reply frames settle it.
    """

    def test_request_frames(self) -> None:
        """
        Each request writes a message frame with the next request id,
        counting from 1.
        """
        session = self.server_session()
        session.request("a")
        session.request({"b": 2})
        self.assertEqual(self.written, [_frames.message("a", 1), _frames.message({"b": 2}, 2)])

    def test_reply_resolves(self) -> None:
        """
        A reply frame fires the matching request's L{Deferred} with its
        data, and leaves the others waiting.
        """
        for session in (self.server_session(), self.client_session()):
            with self.subTest(session=type(session).__name__):
                first = session.request("a")
                second = session.request("b")
                session.receive({"type": "reply", "request": 2, "data": {"x": 1}})
                self.assertEqual(self.successResultOf(second), {"x": 1})
                self.assertNoResult(first)
                session.receive({"type": "reply", "request": 1, "data": None})
                self.assertIsNone(self.successResultOf(first))
                self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_error_reply_fails(self) -> None:
        """
        An error reply fails the matching request with L{RemoteError}
        carrying the peer's error name and message.
        """
        session = self.server_session()
        d = session.request("a")
        session.receive({"type": "reply", "request": 1, "error": {"name": "KeyError", "message": "'x'"}})
        error = self.failureResultOf(d, RemoteError).value
        self.assertEqual((error.name, error.message), ("KeyError", "'x'"))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unknown_reply_ignored(self) -> None:
        """
        A reply to a request that is not waiting is dropped without
        disturbing waiting requests.
        """
        session = self.server_session()
        d = session.request("a")
        session.receive({"type": "reply", "request": 77, "data": 1})
        self.assertNoResult(d)

    def test_timeout(self) -> None:
        """
        A request with no reply fails with L{ReplyTimeout} exactly at its
        timeout, and a late reply is then dropped.
        """
        session = self.server_session()
        d = session.request("a", timeout=5)
        self.clock.advance(4.5)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        session.receive({"type": "reply", "request": 1, "data": "late"})

    def test_default_timeout(self) -> None:
        """
        By default a request times out after 30 seconds.
        """
        session = self.server_session()
        d = session.request("a")
        self.clock.advance(29)
        self.assertNoResult(d)
        self.clock.advance(1)
        self.failureResultOf(d, ReplyTimeout)

    def test_no_timeout(self) -> None:
        """
        A request with C{timeout=None} schedules nothing and waits forever.
        """
        session = self.server_session()
        d = session.request("a", timeout=None)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10**6)
        self.assertNoResult(d)

    def test_bad_timeout(self) -> None:
        """
        A timeout that is not positive raises L{ValueError} and writes
        nothing.
        """
        session = self.server_session()
        for timeout in [0, -1]:
            with self.subTest(timeout=timeout):
                self.assertRaises(ValueError, session.request, "a", timeout=timeout)
        self.assertEqual(self.written, [])

    def test_cancel(self) -> None:
        """
        Cancelling a request forgets it and its timer; a later reply is
        dropped.
        """
        session = self.server_session()
        d = session.request("a", timeout=5)
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        session.receive({"type": "reply", "request": 1, "data": "late"})

    def test_unserializable_request(self) -> None:
        """
        A request whose data JSON cannot carry fails with L{TypeError} and
        writes nothing.
        """
        session = self.server_session()
        d = session.request(object())
        self.failureResultOf(d, TypeError)
        self.assertEqual(self.written, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class CloseTests(SessionTestCase):
    """
    Tests for how sessions end: C{destroy}, C{close}, C{on_closed} and
    C{when_closed}.
    """

    def test_destroy_fails_pending(self) -> None:
        """
        C{destroy} fails every pending request with the L{SessionClosed}
        reason at once and leaves no timer.
        """
        for session in (self.server_session(), self.client_session()):
            with self.subTest(session=type(session).__name__):
                first = session.request("a", timeout=5)
                second = session.request("b", timeout=None)
                reason = SessionClosed("going", 1001)
                session.destroy(reason)
                self.assertIs(self.failureResultOf(first, SessionClosed).value, reason)
                self.assertIs(self.failureResultOf(second, SessionClosed).value, reason)
                self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_destroy_wraps_other_reasons(self) -> None:
        """
        A reason that is not a L{SessionClosed} is wrapped in one.
        """
        session = self.server_session()
        d = session.request("a")
        session.destroy(ConnectionError("reset"))
        self.assertIsInstance(session.close_reason, SessionClosed)
        self.failureResultOf(d, SessionClosed)

    def test_on_closed_and_when_closed(self) -> None:
        """
        C{destroy} calls C{on_closed} handlers with the session and reason,
        tells the hooks, and fires every C{when_closed} L{Deferred} with
        the reason.
        """
        session = self.server_session()
        calls: list[tuple[Session, SessionClosed]] = []
        session.on_closed(lambda s, r: calls.append((s, r)))
        first, second = session.when_closed(), session.when_closed()
        self.assertIsNot(first, second)
        self.assertNoResult(first)
        reason = SessionClosed("bye", 1000)
        session.destroy(reason)
        self.assertTrue(session.closed)
        self.assertEqual(calls, [(session, reason)])
        self.assertEqual(self.hooks.closed, [(session, reason)])
        self.assertIs(self.successResultOf(first), reason)
        self.assertIs(self.successResultOf(second), reason)

    def test_after_close(self) -> None:
        """
        C{on_closed} registered after the session closed is called at
        once, and C{when_closed} has already fired.
        """
        session = self.server_session()
        reason = SessionClosed("bye", 1000)
        session.destroy(reason)
        calls: list[tuple[Session, SessionClosed]] = []
        session.on_closed(lambda s, r: calls.append((s, r)))
        self.assertEqual(calls, [(session, reason)])
        self.assertIs(self.successResultOf(session.when_closed()), reason)

    def test_destroy_once(self) -> None:
        """
        A second C{destroy} calls no handler again.
        """
        session = self.server_session()
        calls: list[Any] = []
        session.on_closed(lambda s, r: calls.append(r))
        session.destroy(SessionClosed("one"))
        session.destroy(SessionClosed("two"))
        self.assertEqual(len(calls), 1)
        self.assertEqual(len(self.hooks.closed), 1)

    def test_raising_on_closed_handler(self) -> None:
        """
        An C{on_closed} handler that raises is logged and the others still
        run.
        """
        session = self.server_session()
        calls: list[Any] = []

        def handler(s: Session, r: SessionClosed) -> None:
            raise ZeroDivisionError("oops")

        session.on_closed(handler)
        session.on_closed(lambda s, r: calls.append(r))
        session.destroy(SessionClosed("bye"))
        self.assertEqual(len(calls), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_request_after_destroy(self) -> None:
        """
        A request after C{destroy} fails at once with L{SessionClosed} and
        writes nothing.
        """
        session = self.server_session()
        session.destroy(SessionClosed("bye"))
        self.failureResultOf(session.request("a"), SessionClosed)
        self.assertEqual(self.written, [])

    def test_send_after_destroy(self) -> None:
        """
        On the server, C{send} after C{destroy} raises L{SessionClosed},
        whether or not the session was authorized, and writes nothing.
        """
        for client_id in ("alice", None):
            with self.subTest(authorized=client_id is not None):
                session = self.server_session(client_id)
                session.destroy(SessionClosed("bye"))
                self.assertRaises(SessionClosed, session.send, "x")
        self.assertEqual(self.written, [])

    def test_close_codes(self) -> None:
        """
        C{close} accepts 1000 and 3000 to 4999 and passes the code and
        reason to the stack's C{close}.
        """
        session = self.server_session()
        for code in [1000, 3000, 4000, 4999]:
            session.close(code, f"reason {code}")
        session.close()
        self.assertEqual(
            self.neighbours.closed,
            [(1000, "reason 1000"), (3000, "reason 3000"), (4000, "reason 4000"), (4999, "reason 4999"), (1000, "")],
        )

    def test_bad_close_codes(self) -> None:
        """
        C{close} with a code other than 1000 or 3000 to 4999 raises
        L{ValueError} and does not close.
        """
        session = self.server_session()
        for code in [0, 999, 1001, 1006, 1011, 2000, 2999, 5000]:
            with self.subTest(code=code):
                self.assertRaises(ValueError, session.close, code)
        self.assertEqual(self.neighbours.closed, [])

    def test_close_after_destroy(self) -> None:
        """
        C{close} after the session has ended does nothing, but still
        checks its code.
        """
        session = self.server_session()
        session.destroy(SessionClosed("bye"))
        session.close(1000)
        self.assertEqual(self.neighbours.closed, [])
        self.assertRaises(ValueError, session.close, 2000)


class ServerSessionTests(SessionTestCase):
    """
    Tests specific to L{ServerSession}.
    """

    def test_send_before_authorization(self) -> None:
        """
        C{send} before the session is authorized raises L{NotReady} and
        writes nothing.
        """
        session = self.server_session(None)
        self.assertRaises(NotReady, session.send, "early")
        self.assertEqual(self.written, [])

    def test_request_before_authorization(self) -> None:
        """
        C{request} before the session is authorized fails with L{NotReady}
        and writes nothing.
        """
        session = self.server_session(None)
        self.failureResultOf(session.request("early"), NotReady)
        self.assertEqual(self.written, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_send(self) -> None:
        """
        Once authorized, C{send} writes a message frame without a request
        id.
        """
        session = self.server_session()
        session.send({"hello": "world"})
        self.assertEqual(self.written, [_frames.message({"hello": "world"})])

    def test_send_unserializable(self) -> None:
        """
        C{send} with data JSON cannot carry raises L{TypeError} and writes
        nothing.
        """
        session = self.server_session()
        for data in [object(), {1, 2}, b"bytes", {"k": object()}]:
            with self.subTest(data=repr(data)):
                self.assertRaises(TypeError, session.send, data)
        self.assertEqual(self.written, [])

    def test_authorize(self) -> None:
        """
        Authorizing sets the id and authorization, tells the hooks, then
        runs C{on_authorized} handlers with the session.
        """
        session = self.server_session(None)
        self.assertFalse(session.authorized)
        self.assertIsNone(session.id)
        session.on_authorized(lambda s: self.events("handler", s))
        authorization = Authorization("alice", "token", {"d": 1})
        session._authorize(authorization)
        self.assertTrue(session.authorized)
        self.assertEqual(session.id, "alice")
        self.assertIs(session.authorization, authorization)
        self.assertEqual(
            self.events.items, [("sessionAuthorized", session), ("handler", session)]
        )


class ClientSessionTests(SessionTestCase):
    """
    Tests specific to L{ClientSession}: the outbox before authorization
    and C{on_authorized}.
    """

    def test_queued_before_authorization(self) -> None:
        """
        Before authorization, C{send} and C{request} go to the outbox and
        nothing is written.
        """
        session = self.client_session(None)
        session.send("a")
        d = session.request("b")
        self.assertEqual(len(self.outbox), 2)
        self.assertEqual(self.written, [])
        self.assertNoResult(d)

    def test_flushed_in_order_before_handlers(self) -> None:
        """
        On authorization, what waited in the outbox is written in order,
        before the hooks and the C{on_authorized} handlers run.
        """
        session = self.client_session(None)
        session.on_authorized(lambda s: self.events("handler", s))
        session.send("a")
        d = session.request("b", timeout=None)
        session.send("c")
        session._authorized("alice")
        self.assertEqual(
            self.events.items,
            [
                ("write", _frames.message("a")),
                ("write", _frames.message("b", 1)),
                ("write", _frames.message("c")),
                ("sessionAuthorized", session),
                ("handler", session),
            ],
        )
        self.assertEqual(len(self.outbox), 0)
        self.assertNoResult(d)
        session.receive({"type": "reply", "request": 1, "data": "B"})
        self.assertEqual(self.successResultOf(d), "B")

    def test_queued_request_error_reply(self) -> None:
        """
        A queued request that gets an error reply after the flush fails
        with L{RemoteError}.
        """
        session = self.client_session(None)
        d = session.request("b")
        session._authorized("alice")
        session.receive({"type": "reply", "request": 1, "error": {"name": "E", "message": "m"}})
        self.assertEqual(self.failureResultOf(d, RemoteError).value.name, "E")

    def test_queued_request_timeout(self) -> None:
        """
        A queued request's timeout runs from the call: it fails with
        L{ReplyTimeout} if no session is authorized in time, and is then
        not sent.
        """
        session = self.client_session(None)
        d = session.request("b", timeout=5)
        self.clock.advance(4.5)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(len(self.outbox), 0)
        session._authorized("alice")
        self.assertEqual(self.written, [])

    def test_queued_request_fails_on_destroy(self) -> None:
        """
        A queued request that was flushed fails with L{SessionClosed} when
        the session ends before the reply.
        """
        session = self.client_session(None)
        d = session.request("b")
        session._authorized("alice")
        session.destroy(SessionClosed("gone", 1006))
        self.failureResultOf(d, SessionClosed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_send_after_authorization(self) -> None:
        """
        Once authorized, C{send} and C{request} write at once and the outbox
        stays empty.
        """
        session = self.client_session("alice")
        session.send("a")
        session.request("b")
        self.assertEqual(self.written, [_frames.message("a"), _frames.message("b", 1)])
        self.assertEqual(len(self.outbox), 0)

    def test_send_unserializable(self) -> None:
        """
        C{send} with data JSON cannot carry raises L{TypeError}, before and
        after authorization, and neither writes nor queues anything;
        C{request} fails with L{TypeError} the same way.
        """
        for client_id in (None, "alice"):
            with self.subTest(authorized=client_id is not None):
                session = self.client_session(client_id)
                self.assertRaises(TypeError, session.send, object())
                self.failureResultOf(session.request(object()), TypeError)
                self.assertEqual(len(self.outbox), 0)
        self.assertEqual(self.written, [])

    def test_on_authorized_after_authorization(self) -> None:
        """
        An C{on_authorized} handler registered after authorization runs
        at once with the session.
        """
        session = self.client_session("alice")
        calls: list[Session] = []
        session.on_authorized(calls.append)
        self.assertEqual(calls, [session])

    def test_on_authorized_decorator(self) -> None:
        """
        C{on_authorized}, C{on_closed} and C{on_message} return their
        argument, so they work as decorators.
        """
        session = self.client_session(None)

        def fn(*args: Any) -> None:
            pass

        self.assertIs(session.on_authorized(fn), fn)
        self.assertIs(session.on_closed(fn), fn)
        self.assertIs(session.on_message(fn), fn)

    def test_raising_on_authorized_handler(self) -> None:
        """
        An C{on_authorized} handler that raises is logged and later
        handlers still run.
        """
        session = self.client_session(None)
        calls: list[str] = []

        def broken(s: Session) -> None:
            calls.append("broken")
            raise ZeroDivisionError("oops")

        session.on_authorized(broken)
        session.on_authorized(lambda s: calls.append("after"))
        session._authorized("alice")
        self.assertEqual(calls, ["broken", "after"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_failing_on_authorized_deferred(self) -> None:
        """
        An C{on_authorized} handler whose L{Deferred} fails is logged, not
        left unhandled.
        """
        session = self.client_session(None)
        session.on_authorized(lambda s: fail(ZeroDivisionError("later")))
        session._authorized("alice")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
