# -*- test-case-name: tests.test_session -*-
"""
Sessions: the application layer at the top of each connection's stack.

A session sends messages and requests, turns incoming C{message} frames
into L{Message} objects for the handlers, and matches C{reply} frames to
waiting requests.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from . import _frames
from .errors import NotReady, SessionClosed, _Refusal, from_wire
from .interfaces import ILayer
from ._messages import Message, call_each, check_close_code, run_handler
from ._peers import Peers
from ._replies import PendingReplies, check_timeout

if TYPE_CHECKING:
    from ._authorization import Authorization
    from ._channels import ServerChannel
    from ._peers import ClientChannel, ClientChannels
    from ._router import Router

_log = Logger(namespace="socketnet.session")


@implementer(ILayer)
class Session:
    """
    What server and client sessions share: sending, requests, handlers and
    the end of the session.

    @ivar id: the client id once authorized, else C{None}.
    @ivar authorized: whether the session is authorized.
    @ivar encrypted: whether socketnet-enc/1 protects the connection.
    @ivar closed: whether the connection has ended.
    """

    passes_writes = False  # nothing sits above a session

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
        self._encrypted_handlers: list[Callable[..., Any]] = []
        self.id: str | None = None
        self.authorized = False
        self.encrypted = False
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

    def on_encrypted(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """
        Call C{fn(session)} once the encryption handshake has finished, or
        at once if it has.
        """
        self._encrypted_handlers.append(fn)
        if self.encrypted and not self.closed:
            call_each([fn], self)
        return fn

    def _set_encrypted(self) -> None:
        self.encrypted = True
        call_each(self._encrypted_handlers, self)

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
            self._receive_message(frame)
        elif kind == "reply":
            self._receive_reply(frame)
        else:
            raise _frames.bad(f"{kind}: not expected after authorization")

    def _receive_message(self, frame: _frames.Frame) -> None:
        raise _frames.bad("message: not expected")  # each side knows its own

    def _receive_reply(self, frame: _frames.Frame) -> None:
        error = frame.get("error")
        if error is None:
            self._pending.resolve(frame["request"], frame.get("data"))
        else:
            self._pending.reject(frame["request"], error["name"], error["message"])

    def _dispatch(self, message: Message) -> None:
        run_handler(self._hooks.messageReceived, message)

    def link_up(self, deliver_up: object) -> None:
        raise RuntimeError("nothing sits above the session")

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
        self._encrypted_handlers.clear()
        self._closed_handlers.clear()
        # Nothing is written once closed; dropping these breaks the cycles
        # through the protocol and the layers below.
        self._write_down = self._close_connection = self._hooks = None

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

    def __init__(self, hooks: Any, router: Router, clock: IReactorTime, write_down, deliver_up, close):
        super().__init__(hooks, clock, write_down, deliver_up, close)
        self.authorization: Authorization | None = None
        self._router = router
        # Routing state, kept by the router: requests from other clients
        # that this client has yet to answer (request id -> route), tokens
        # of this client's own routed requests, channels it is in, and
        # routed frames waiting for an authorizer or filter.
        self._routes: dict[int, list[Any]] = {}
        self._routed_out: set[str] = set()
        self._channels: set[str] = set()
        self._route_queue: deque[Callable[[], Any]] = deque()
        self._route_busy = False

    def channel(self, channel_id: str) -> ServerChannel:
        """
        The server's view of channel C{channel_id} (as
        C{app.channels.ensure(channel_id)}): C{session.channel(id).send(data)}
        sends to it on behalf of the server.
        """
        return self._router.channels.ensure(channel_id)

    def receive(self, frame: _frames.Frame) -> None:
        # The server's hot path: the common frame types in one method, a
        # message handled here rather than in _receive_message.
        kind = frame["type"]
        if kind == "message":
            if "to" in frame or "channel" in frame:
                self._router.route_message(self, frame)
            else:
                self._dispatch(Message(frame.get("data"), self.id, None, frame.get("request"), self._write_reply))
        elif kind == "reply":
            self._receive_reply(frame)
        elif kind in ("join", "exit", "members"):
            self._router.membership(self, frame)
        else:
            super().receive(frame)

    def _receive_reply(self, frame: _frames.Frame) -> None:
        route = self._routes.pop(frame["request"], None)
        if route is None:
            super()._receive_reply(frame)
        else:
            self._router.relay_reply(route, frame)

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

    def __init__(
        self, hooks: Any, outbox: Any, channels: ClientChannels, clock: IReactorTime, write_down, deliver_up, close
    ):
        super().__init__(hooks, clock, write_down, deliver_up, close)
        self._outbox = outbox
        self._channels = channels
        self._error_handlers: list[Callable[[Exception], Any]] = []
        self._peer_handlers: list[Callable[[Message], Any]] = []
        channels._attach(self)

    @property
    def sessions(self) -> Peers:
        """
        Other clients: C{session.sessions.to(id).send(data)}, and
        C{session.sessions.on_message(fn)} for their direct messages.
        """
        return Peers(self, self._peer_handlers)

    def channel(self, channel_id: str) -> ClientChannel:
        """
        The channel C{channel_id}: the same object for the same id, on this
        session and on the sessions after a reconnect.

        @raise ValueError: if C{channel_id} is not a valid channel id.
        """
        return self._channels.get(channel_id)

    def on_error(self, fn: Callable[[Exception], Any]) -> Callable[[Exception], Any]:
        """
        Call C{fn(error)} when the server reports that something sent
        without asking for a reply failed: a direct message to a client
        that is not connected (L{NoSuchSession}, C{error.to}), a channel
        send the authorizer refused (L{Forbidden}, C{error.channel}).
        """
        self._error_handlers.append(fn)
        return fn

    def receive(self, frame: _frames.Frame) -> None:
        if frame["type"] != "error":
            super().receive(frame)
            return
        about = frame["error"]
        error = from_wire(about["name"], about["message"])
        if isinstance(error, _Refusal):
            error.to, error.channel = frame.get("to"), frame.get("channel")
        if self._error_handlers:
            call_each(self._error_handlers, error)
        else:
            _log.warn("the server reported an error and no on_error handler is set: {error!r}", error=error)

    def _receive_message(self, frame: _frames.Frame) -> None:
        channel = frame.get("channel")
        self._dispatch(
            Message(
                frame.get("data"),
                frame.get("from"),
                self.id if channel is None else channel,
                frame.get("request"),
                self._write_reply,
                type="client" if channel is None else "channel",
                channel=channel,
            )
        )

    def _route(self, message: Message) -> None:
        """
        Hand C{message} to the handlers it is for: its channel's, the
        direct-message handlers, or the session's own.
        """
        if message.channel is not None:
            self._channels._dispatch(message)
        elif message.sender is not None:
            for handler in self._peer_handlers:
                run_handler(handler, message)
        else:
            self._run_handlers(message)

    def destroy(self, reason: Exception) -> None:
        self._channels._closed(self)
        super().destroy(reason)

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
        # Channels are joined again first, then what waited in the outbox
        # goes out in order, then the handlers run.
        self._channels._authorized(self)
        self._outbox.flush(self)


__all__ = ["Message", "Session", "ServerSession", "ClientSession"]

