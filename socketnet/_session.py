# -*- test-case-name: tests.test_session -*-
"""
Sessions: the application layer at the top of each connection's stack.

A session sends messages and requests, turns incoming C{message} frames
into L{Message} objects for the handlers, and matches C{reply} frames to
waiting requests.
"""

from __future__ import annotations

from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _frames
from .errors import NotReady, RemoteError, SessionClosed
from .interfaces import ILayer
from ._replies import PendingReplies, check_timeout

if TYPE_CHECKING:
    from ._authorization import Authorization

_log = Logger(namespace="socketnet.session")

#: Longest error name and message a reply carries, in characters.
MAX_ERROR_NAME = 128
MAX_ERROR_MESSAGE = 1024


class Message:
    """
    A message received by a session.

    @ivar type: C{"client"} for a point-to-point message.
    @ivar sender: the sending client's id, or C{None} when the server sent
        it.  The server stamps it; a client cannot choose it.
    @ivar to: the receiving client's id, or C{None} when it is addressed to
        the server.
    @ivar data: the message's JSON value.
    @ivar reply: when the sender asked for a reply, a callable that sends
        one (C{reply(value)}; only the first reply counts and later calls
        return C{False}); otherwise C{None}.
    """

    __slots__ = ("type", "sender", "to", "data", "reply", "_request", "_write", "_replied")

    def __init__(
        self,
        data: Any,
        sender: str | None,
        to: str | None,
        request: int | None,
        write: Callable[[bytes], None],
        type: str = "client",
    ):
        self.type = type
        self.sender = sender
        self.to = to
        self.data = data
        self._request = request
        self._write = write
        self._replied = False
        self.reply: Callable[[Any], bool] | None = None if request is None else self._reply

    def __repr__(self) -> str:
        return (
            f"<Message type={self.type!r} sender={self.sender!r} to={self.to!r} "
            f"request={self._request!r}>"
        )

    @property
    def replied(self) -> bool:
        """
        Whether a reply (or an error reply) has been sent.
        """
        return self._replied

    def _reply(self, value: Any) -> bool:
        if self._replied:
            return False
        frame = _frames.reply(self._request, value)  # raises before marking
        self._replied = True
        self._write(frame)
        return True

    def _reply_error(self, error: BaseException) -> None:
        if self._replied or self._request is None:
            return
        if isinstance(error, RemoteError):
            name, text = error.name, error.message
        else:
            name, text = type(error).__name__, str(error)
        self._replied = True
        self._write(
            _frames.reply_error(self._request, name[:MAX_ERROR_NAME], text[:MAX_ERROR_MESSAGE])
        )


def settle(message: Message, result: Any) -> None:
    """
    Apply what a handler returned to C{message}.

    A value other than C{None} becomes the reply, unless the message
    already has one or wants none; a L{Deferred} or coroutine is waited
    for and its result applied the same way; a failure becomes an error
    reply (L{RemoteError} on the requester's side).
    """
    if isinstance(result, Deferred):
        result.addCallbacks(_answer, _answer_failure, (message,), None, (message,))
    elif type(result) is CoroutineType:
        d = Deferred.fromCoroutine(result)
        d.addCallbacks(_answer, _answer_failure, (message,), None, (message,))
    elif result is not None:
        _answer(result, message)


def run_handler(handler: Callable[..., Any], message: Message, *args: Any) -> None:
    """
    Call C{handler(message, *args)} and L{settle} what it returns.
    """
    try:
        result = handler(message, *args)
    except Exception:
        _answer_failure(Failure(), message)
    else:
        settle(message, result)


def _answer(value: Any, message: Message) -> None:
    if value is None or message.reply is None or message.replied:
        return
    try:
        message._reply(value)
    except (TypeError, ValueError) as e:
        _log.warn("handler's reply to {message} is not JSON: {error}", message=message, error=e)
        message._reply_error(TypeError("the reply could not be encoded as JSON"))


def _answer_failure(failure: Failure, message: Message) -> None:
    if message.reply is None or message.replied:
        _log.failure("message handler failed on {message}", failure, message=message)
        return
    _log.info(
        "handler failed on {message}; the requester gets {error!r}",
        message=message,
        error=failure.value,
    )
    message._reply_error(failure.value)


def call_each(handlers: list[Callable[..., Any]], *args: Any) -> None:
    """
    Call every event handler in order; one that raises is logged and the
    rest still run.
    """
    for handler in list(handlers):
        try:
            result = handler(*args)
        except Exception:
            _log.failure("event handler {handler!r} failed", handler=handler)
        else:
            if isinstance(result, Deferred):
                result.addErrback(
                    lambda f, h=handler: _log.failure("event handler {handler!r} failed", f, handler=h)
                )


def check_close_code(code: int) -> None:
    """
    @raise ValueError: unless C{code} is one an application may close with:
        1000 or 3000 to 4999.
    """
    if code != 1000 and not 3000 <= code <= 4999:
        raise ValueError(f"close code must be 1000 or 3000-4999, not {code!r}")


@implementer(ILayer)
class Session:
    """
    What server and client sessions share: sending, requests, handlers and
    the end of the session.

    @ivar id: the client id once authorized, else C{None}.
    @ivar authorized: whether the session is authorized.
    @ivar closed: whether the connection has ended.
    """

    #: Whether this is the server's end (messages come from the client).
    _server_side: bool

    def __init__(self, hooks: Any, clock: IReactorTime, write_down, deliver_up, close):
        self._hooks = hooks
        self._clock = clock
        self._write_down = write_down
        self._close_connection = close
        self._pending = PendingReplies(clock)
        self._message_handlers: list[Callable[..., Any]] = []
        self._authorized_handlers: list[Callable[..., Any]] = []
        self._closed_handlers: list[Callable[..., Any]] = []
        self._closed_waiters: list[Deferred[SessionClosed]] = []
        self.id: str | None = None
        self.authorized = False
        self.closed = False
        self.close_reason: SessionClosed | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "authorized" if self.authorized else "open"
        return f"<{type(self).__name__} id={self.id!r} {state}>"

    # Handler registration; each returns its argument, so it works as a
    # decorator.

    def on_message(self, fn: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """
        Call C{fn(message)} for every message this session receives.  What
        it returns may be the reply (see L{settle}).
        """
        self._message_handlers.append(fn)
        return fn

    def on_authorized(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """
        Call C{fn(session)} once the session is authorized, or at once if
        it already is.
        """
        self._authorized_handlers.append(fn)
        if self.authorized and not self.closed:
            call_each([fn], self)
        return fn

    def on_closed(self, fn: Callable[[Any, SessionClosed], Any]) -> Callable[..., Any]:
        """
        Call C{fn(session, reason)} when the connection ends, or at once
        if it has; C{reason} is a L{SessionClosed} with the close code.
        """
        self._closed_handlers.append(fn)
        if self.closed:
            call_each([fn], self, self.close_reason)
        return fn

    def when_closed(self) -> Deferred[SessionClosed]:
        """
        A new L{Deferred} that fires with a L{SessionClosed} when the
        connection ends.
        """
        if self.closed:
            return succeed(self.close_reason)
        d: Deferred[SessionClosed] = Deferred()
        self._closed_waiters.append(d)
        return d

    # Sending.

    def send(self, data: Any) -> None:
        """
        Send C{data} (any JSON value) with no reply expected.

        @raise TypeError: if C{data} holds a value JSON cannot carry.
        @raise ValueError: if it holds NaN, an infinity or a cycle.
        @raise SessionClosed: if the session has ended.
        """
        self._send_frame(_frames.message(data))

    def request(self, data: Any, timeout: float | None = 30.0) -> Deferred[Any]:
        """
        Send C{data} and wait for the peer's reply.

        @return: a L{Deferred} that fires with the reply's data, or fails
            with L{RemoteError} (the peer's handler failed),
            L{ReplyTimeout} (no reply within C{timeout} seconds) or
            L{SessionClosed} (the session ended first).  Cancelling it
            forgets the request.
        """
        return self._request_frame(partial(_frames.message, data), timeout)

    def _send_frame(self, frame: bytes) -> None:
        self._write_app(frame)

    def _request_frame(
        self, build: Callable[[int], bytes], timeout: float | None
    ) -> Deferred[Any]:
        """
        Send the frame C{build(request_id)} and wait for its reply.
        """
        check_timeout(timeout)
        request_id = self._pending.allocate()
        try:
            self._write_app(build(request_id))
        except Exception:
            return fail()
        return self._pending.wait(request_id, timeout)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """
        Close the connection with C{code} (1000 or 3000-4999) and
        C{reason}.
        """
        check_close_code(code)
        if not self.closed:
            self._close_connection(code, reason)

    def _before_authorized_handlers(self) -> None:
        pass

    def _run_handlers(self, message: Message) -> None:
        for handler in self._message_handlers:
            run_handler(handler, message)

    def _write_app(self, frame: bytes) -> None:
        if self.closed:
            raise self.close_reason.with_traceback(None)  # type: ignore[union-attr]
        self._write_down(frame)

    def _write_reply(self, frame: bytes) -> None:
        # A reply to a peer that has gone is dropped: nobody waits for it.
        if not self.closed:
            self._write_down(frame)

    # ILayer

    def start(self) -> None:
        pass

    def receive(self, frame: _frames.Frame) -> None:
        kind = frame["type"]
        if kind == "message":
            if self._server_side:
                sender, to = self.id, None
            else:
                sender, to = None, self.id
            message = Message(frame.get("data"), sender, to, frame.get("request"), self._write_reply)
            run_handler(self._hooks.messageReceived, message)
        elif kind == "reply":
            error = frame.get("error")
            if error is None:
                self._pending.resolve(frame["request"], frame.get("data"))
            else:
                self._pending.reject(frame["request"], error["name"], error["message"])
        else:
            raise _frames.bad(f"{kind}: not expected after authorization")

    def write(self, frame: object) -> None:
        raise RuntimeError("nothing sits above the session")

    def destroy(self, reason: Exception) -> None:
        if self.closed:
            return
        self.closed = True
        if isinstance(reason, SessionClosed):
            self.close_reason = reason
        else:
            self.close_reason = SessionClosed(str(reason) or "connection lost")
        self._pending.fail_all(self.close_reason)
        call_each(self._closed_handlers, self, self.close_reason)
        self._hooks.sessionClosed(self, self.close_reason)
        waiters, self._closed_waiters = self._closed_waiters, []
        for d in waiters:
            d.callback(self.close_reason)
        self._message_handlers.clear()
        self._authorized_handlers.clear()
        self._closed_handlers.clear()

    def _authorized(self, client_id: str) -> None:
        self.id = client_id
        self.authorized = True
        self._before_authorized_handlers()
        self._hooks.sessionAuthorized(self)
        call_each(self._authorized_handlers, self)


class ServerSession(Session):
    """
    The server's side of one client connection.

    @ivar authorization: the client's L{Authorization} once authorized.
    """

    _server_side = True

    def __init__(self, hooks: Any, clock: IReactorTime, write_down, deliver_up, close):
        super().__init__(hooks, clock, write_down, deliver_up, close)
        self.authorization: Authorization | None = None

    def _write_app(self, frame: bytes) -> None:
        if not self.authorized and not self.closed:
            raise NotReady(
                "the session is not authorized yet; send from an on_authorized handler"
            )
        super()._write_app(frame)

    def _authorize(self, authorization: Authorization) -> None:
        self.authorization = authorization
        self._authorized(authorization.id)


class ClientSession(Session):
    """
    The client's side of its connection to the server.

    Messages sent before the server has authorized this session, or after
    it has closed while the client reconnects, wait in the client's
    bounded outbox and go out in order on the next authorized session.
    """

    _server_side = False

    def __init__(self, hooks: Any, outbox: Any, clock: IReactorTime, write_down, deliver_up, close):
        super().__init__(hooks, clock, write_down, deliver_up, close)
        self._outbox = outbox

    def send(self, data: Any) -> None:
        """
        Send C{data} (any JSON value) with no reply expected; queued while
        the session is not authorized.

        @raise TypeError: if C{data} holds a value JSON cannot carry.
        @raise ValueError: if it holds NaN, an infinity or a cycle.
        @raise QueueFull: if it should wait and the outbox is full.
        @raise SessionClosed: if the session has ended and the client is
            not reconnecting.
        """
        self._send_frame(_frames.message(data))

    def request(self, data: Any, timeout: float | None = 30.0) -> Deferred[Any]:
        """
        Like L{Session.request}; queued while the session is not
        authorized, with the timeout running from this call.
        """
        return self._request_frame(partial(_frames.message, data), timeout)

    def _send_frame(self, frame: bytes) -> None:
        if self.authorized and not self.closed:
            self._write_down(frame)
        else:
            self._outbox.put_message(frame)

    def _request_frame(
        self, build: Callable[[int], bytes], timeout: float | None
    ) -> Deferred[Any]:
        if self.authorized and not self.closed:
            return super()._request_frame(build, timeout)
        check_timeout(timeout)
        try:
            return self._outbox.put_request(build, timeout)
        except Exception:
            return fail()

    def _before_authorized_handlers(self) -> None:
        # What waited for an authorized session goes first, in order.
        self._outbox.flush(self)


__all__ = ["Message", "Session", "ServerSession", "ClientSession"]
