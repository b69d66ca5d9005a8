# -*- test-case-name: tests.test_routing -*-
"""
Server-side routing: direct messages between clients, channel messages,
membership, and replies carried back to whoever asked.

Everything that crosses sessions goes through an L{IBroker}, so nothing
here assumes that a recipient is connected to this process.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _frames
from ._broker import InProcessBroker
from ._channels import ChannelRegistry
from ._registry import Deadlines, RoutedRequest, SessionRegistry
from ._replies import with_timeout
from ._messages import Message, call_each
from ._session import ServerSession
from .errors import Forbidden, NoSuchSession, from_wire
from .interfaces import IBroker, IRouter

#: How many routed requests one session may have waiting at once, as
#: requester and as recipient.
MAX_ROUTED_PER_SESSION = 10_000


def _then(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, Deferred):
        return value.addCallback(fn)
    return fn(value)


def _error(error: Exception) -> dict[str, str]:
    return {"name": type(error).__name__, "message": str(error)}


@implementer(IRouter)
class Router:
    """
    The routing of one server process.

    @ivar channels: the L{ChannelRegistry} (C{app.channels}).
    @ivar authorizer: C{fn(session, channel_id, action) -> bool |
        Deferred[bool]} with C{action} C{"join"} or C{"send"}, or C{None}
        to allow everything.
    @ivar message_filter: C{fn(message, session) -> bool | Deferred[bool]}:
        C{False} drops a direct or channel message; or C{None}.
    @ivar joined_handlers: called with C{(channel_id, session)} on join.
    @ivar exited_handlers: called with C{(channel_id, session)} on exit,
        once per channel, disconnects included.
    """

    _log = Logger()

    def __init__(
        self,
        sessions: SessionRegistry,
        broker: IBroker,
        clock: IReactorTime,
        observers: list[Callable[..., Any]],
    ):
        """
        @param observers: handlers that see every routed message as
            C{(message, session)}; their results are ignored.
        """
        self.sessions = sessions
        self.broker = broker
        self._clock = clock
        self._observers = observers
        self.authorizer: Callable[..., Any] | None = None
        self.message_filter: Callable[..., Any] | None = None
        self.joined_handlers: list[Callable[..., Any]] = []
        self.exited_handlers: list[Callable[..., Any]] = []
        self.channels = ChannelRegistry(self)
        self._waiting: dict[str, RoutedRequest] = {}
        # When the routed requests of sessions stop waiting: one timer.
        self._deadlines = Deadlines(clock, self._expire)
        self._next_token = 0
        broker.attach(self)
        # The in-process broker routes each message synchronously, with
        # no Deferreds; any other broker is waited for.
        self._fast = broker.fast_path() if isinstance(broker, InProcessBroker) else None

    # Sessions coming and going.

    def session_authorized(self, session: ServerSession) -> None:
        self._log_failure(self.broker.register(session.id), "registering {id}", session.id)

    def session_closed(self, session: ServerSession) -> None:
        """
        C{session} ended: tell requesters it will not answer, forget what
        it asked, and take it out of its channels (exit events fire).
        """
        routes, session._routes = session._routes, {}
        for route in routes.values():
            self._relay(route, error={"name": "SessionClosed", "message": f"client {session.id} left before replying"})
        for token in list(session._routed_out):
            self._forget(token)
        if not self._deadlines:
            self._deadlines.stop()
        for channel_id in sorted(session._channels):
            self._leave(session, channel_id)
        if session.authorized and session.id not in self.sessions:
            self._log_failure(self.broker.unregister(session.id), "unregistering {id}", session.id)

    # Frames from clients.

    def route_message(self, session: ServerSession, frame: _frames.Frame) -> None:
        """
        A client sent a message C{to} another client or to a C{channel}.
        """
        if self.authorizer is None and self.message_filter is None and not session._route_busy:
            # Nothing can answer later: route now, in order by construction.
            # With no authorizer, every send is allowed (see _check_send).
            self._filter(session, frame)
        else:
            self._in_order(session, partial(self._check_send, session, frame))

    def membership(self, session: ServerSession, frame: _frames.Frame) -> None:
        """
        A client sent C{join}, C{exit} or C{members}.
        """
        self._in_order(session, partial(self._membership, session, frame))

    def relay_reply(self, route: list[Any], frame: _frames.Frame) -> None:
        """
        A client answered a request that came through this node.
        """
        self._relay(route, frame.get("data"), frame.get("error"))  # a reply's error is never null

    # Sending on behalf of the server.

    def publish(self, channel_id: str, data: Any) -> None:
        _frames.message(data)  # refuse what JSON cannot carry, here and now
        envelope = {"data": data, "from": None, "channel": channel_id}
        self._log_failure(self.broker.publish(channel_id, envelope, None), "publishing to {id}", channel_id)

    def request_channel(self, channel_id: str, data: Any, timeout: float | None) -> Deferred[Any]:
        _frames.message(data)
        token = self._new_token()

        def forget(d: Deferred[Any]) -> None:
            self._waiting.pop(token, None)

        deferred: Deferred[Any] = Deferred(forget)
        self._waiting[token] = RoutedRequest(None, 0, deferred)
        envelope = {"data": data, "from": None, "channel": channel_id, "route": [self.broker.node_id, token]}
        d = self.broker.publish(channel_id, envelope, None)
        d.addCallback(self._published, token, channel_id)
        self._log_failure(d, "publishing to {id}", channel_id)
        return with_timeout(deferred, timeout, self._clock)

    # IRouter: what the broker delivers.

    def deliver_to_client(self, client_id: str, envelope: dict[str, Any]) -> bool:
        session = self.sessions.get(client_id)
        if session is None or session.closed:
            return False
        self._deliver(session, envelope)
        return True

    def deliver_to_members(self, channel_id: str, client_ids: list[str], envelope: dict[str, Any]) -> int:
        delivered = 0
        find = self.sessions.get
        if envelope.get("route") is None:
            # One encoding (and one WebSocket framing) for every member.
            shared = _frames.SharedFrame(self._frame(envelope, None))
            for client_id in client_ids:
                session = find(client_id)
                if session is not None and not session.closed:
                    session._write_reply(shared)
                    delivered += 1
            return delivered
        for client_id in client_ids:
            session = find(client_id)
            if session is not None and not session.closed:
                self._deliver(session, envelope)
                delivered += 1
        return delivered

    def deliver_to_node(self, envelope: dict[str, Any]) -> None:
        token = envelope.get("token")
        waiting = self._waiting.get(token)
        if waiting is None:
            self._log.debug("dropped a late reply to routed request {token}", token=token)
            return
        if "error" not in envelope:
            self._finish(token, data=envelope.get("data"))
            return
        waiting.failures += 1
        waiting.last_error = envelope["error"]
        if waiting.expected is not None and waiting.failures >= waiting.expected:
            self._finish(token, error=envelope["error"])

    # Internals.

    def _in_order(self, session: ServerSession, step: Callable[[], Any]) -> None:
        # Routed frames of one session are handled in the order they came,
        # even when an authorizer or filter answers with a Deferred.
        session._route_queue.append(step)
        if not session._route_busy:
            self._drain(session)

    def _drain(self, session: ServerSession) -> None:
        queue = session._route_queue
        while queue:
            step = queue.popleft()
            try:
                result = step()
            except Exception:
                self._log.failure("routing a frame from {id} failed", id=session.id)
                continue
            if isinstance(result, Deferred):
                if result.called:
                    result.addErrback(self._log.failure, "routing a frame failed")
                    continue
                session._route_busy = True
                result.addBoth(self._resume, session)
                return

    def _resume(self, result: Any, session: ServerSession) -> None:
        if isinstance(result, Failure):
            self._log.failure("routing a frame from {id} failed", result, id=session.id)
        session._route_busy = False
        self._drain(session)

    def _allowed(self, session: ServerSession, channel_id: str, action: str) -> Any:
        if self.authorizer is None:
            return True
        try:
            result = self.authorizer(session, channel_id, action)
        except Exception:
            self._log.failure("channel authorizer failed; refusing")
            return False
        if isinstance(result, Deferred):
            return result.addCallbacks(lambda allowed: allowed is True, self._refuse_on_failure)
        return result is True

    def _refuse_on_failure(self, failure: Failure) -> bool:
        self._log.failure("channel authorizer or filter failed; refusing", failure)
        return False

    def _check_send(self, session: ServerSession, frame: _frames.Frame) -> Any:
        channel_id = frame.get("channel")
        if channel_id is None:
            return self._filter(session, frame)
        return _then(
            self._allowed(session, channel_id, "send"),
            partial(self._send_allowed, session, frame),
        )

    def _send_allowed(self, session: ServerSession, frame: _frames.Frame, allowed: bool) -> Any:
        if allowed:
            return self._filter(session, frame)
        channel_id = frame["channel"]
        self._refuse(session, frame, Forbidden(f"not allowed to send to channel {channel_id!r}", channel=channel_id))
        return None

    def _filter(self, session: ServerSession, frame: _frames.Frame) -> Any:
        if session.closed:
            return None
        if self.message_filter is None and not self._observers:
            return self._dispatch(session, frame, None, True)  # nobody sees a Message
        channel_id = frame.get("channel")
        message = Message(
            frame.get("data"),
            session.id,
            channel_id if channel_id is not None else frame["to"],
            None,
            _drop,
            type="client" if channel_id is None else "channel",
            channel=channel_id,
        )
        if self.message_filter is None:
            return self._dispatch(session, frame, message, True)
        try:
            keep = self.message_filter(message, session)
        except Exception:
            self._log.failure("message filter failed; dropping the message")
            keep = False
        if isinstance(keep, Deferred):
            keep.addErrback(self._refuse_on_failure)
        return _then(keep, partial(self._dispatch, session, frame, message))

    def _dispatch(self, session: ServerSession, frame: _frames.Frame, message: Message | None, keep: Any) -> None:
        if session.closed:
            return
        if message is None:
            data, to, channel = frame.get("data"), frame.get("to"), frame.get("channel")
        elif keep is False:
            if frame.get("request") is not None:
                self._refuse(session, frame, Forbidden("dropped by the server's message filter", to=frame.get("to"), channel=message.channel))
            return
        else:
            if self._observers:
                call_each(self._observers, message, session)
            data, to, channel = message.data, message.to, message.channel
        envelope: dict[str, Any] = {"data": data, "from": session.id}
        token = None
        request = frame.get("request")
        if request is not None:
            token = self._expect(session, request, frame.get("timeout"))
            if token is None:
                return
            envelope["route"] = [self.broker.node_id, token]
        fast = self._fast
        if channel is not None:
            envelope["channel"] = channel
            if fast is not None:
                self._settle("routing from {id}", session.id, self._published, fast.publish_now(channel, envelope, session.id), token, channel)
                return
            d = self.broker.publish(channel, envelope, session.id)
            d.addCallback(self._published, token, channel)
        else:
            if fast is not None:
                self._settle("routing from {id}", session.id, self._sent, fast.send_to_client_now(to, envelope), token, session, to)
                return
            d = self.broker.send_to_client(to, envelope)
            d.addCallback(self._sent, token, session, to)
        self._log_failure(d, "routing from {id}", session.id)

    def _settle(self, what: str, about: Any, step: Callable[..., Any], *args: Any) -> None:
        # The fast path's stand-in for a fired broker Deferred with step as
        # its callback and _log_failure's errback: run it, log what raises.
        try:
            step(*args)
        except Exception:
            self._log.failure("broker failed " + what, id=about)

    def _sent(self, found: bool, token: str | None, session: ServerSession, to: str) -> None:
        if found:
            self._recipients(token, 1)
            return
        error = NoSuchSession(f"client {to!r} is not connected", to=to)
        if token is not None:
            self._finish(token, error=_error(error))
        elif not session.closed:
            session._write_reply(_frames.error("NoSuchSession", str(error), to=to))

    def _published(self, count: int, token: str | None, channel_id: str) -> None:
        if count == 0 and token is not None:
            error = NoSuchSession(f"channel {channel_id!r} has no other member", channel=channel_id)
            self._finish(token, error=_error(error))
        else:
            self._recipients(token, count)

    def _recipients(self, token: str | None, count: int) -> None:
        # The broker says how many got the request; errors that came back
        # before it said so count already.
        waiting = self._waiting.get(token) if token is not None else None
        if waiting is None:
            return
        waiting.expected = count
        if waiting.failures >= count:
            self._finish(token, error=waiting.last_error)

    def _refuse(self, session: ServerSession, frame: _frames.Frame, error: Exception) -> None:
        if session.closed:
            return
        request = frame.get("request")
        about = {k: frame[k] for k in ("to", "channel") if k in frame}
        if request is None:
            session._write_reply(_frames.error(type(error).__name__, str(error), **about))
        else:
            session._write_reply(_frames.reply_error(request, type(error).__name__, str(error)))

    def _new_token(self) -> str:
        self._next_token += 1
        return str(self._next_token)

    def _expect(self, session: ServerSession, request: int, timeout: float | None) -> str | None:
        if len(session._routed_out) >= MAX_ROUTED_PER_SESSION:
            session._write_reply(_frames.reply_error(request, "TooManyRequests", f"more than {MAX_ROUTED_PER_SESSION} routed requests are waiting"))
            return None
        token = self._new_token()
        self._waiting[token] = RoutedRequest(session, request, None)
        # The requester's own timeout is the longest anyone waits.
        self._deadlines.add(token, timeout or _frames.MAX_TIMEOUT)
        session._routed_out.add(token)
        return token

    def _expire(self, token: str) -> None:
        # The requester has given up by now, unless it asked for no
        # timeout at all: then this is its answer, not silence.
        self._finish(token, error={"name": "ReplyTimeout", "message": "no reply in time"})

    def _forget(self, token: str) -> RoutedRequest | None:
        waiting = self._waiting.pop(token, None)
        if waiting is not None and waiting.session is not None:
            waiting.session._routed_out.discard(token)
            self._deadlines.discard(token)
        return waiting

    def _finish(self, token: str, data: Any = None, error: dict[str, str] | None = None) -> None:
        waiting = self._forget(token)
        if waiting is None:
            return
        if waiting.deferred is not None:
            if error is None:
                waiting.deferred.callback(data)
            else:
                waiting.deferred.errback(from_wire(error["name"], error["message"]))
        elif error is None:
            waiting.session._write_reply(_frames.reply(waiting.request, data))
        else:
            waiting.session._write_reply(_frames.reply_error(waiting.request, error["name"], error["message"]))

    def _relay(self, route: list[Any], data: Any = None, error: dict[str, str] | None = None) -> None:
        node_id, token = route[0], route[1]
        envelope: dict[str, Any] = {"token": token}
        if error is None:
            envelope["data"] = data
        else:
            envelope["error"] = error
        if self._fast is not None:
            self._settle("relaying a reply to {id}", node_id, self._fast.send_to_node_now, node_id, envelope)
        else:
            self._log_failure(self.broker.send_to_node(node_id, envelope), "relaying a reply to {id}", node_id)

    def _frame(self, envelope: dict[str, Any], request: int | None) -> bytes:
        sender = envelope["from"]
        return _frames.routed(
            envelope["data"],
            request,
            channel=envelope.get("channel"),
            sender=_frames.FROM_SERVER if sender is None else sender,
        )

    def _deliver(self, session: ServerSession, envelope: dict[str, Any]) -> None:
        route = envelope.get("route")
        if route is None:
            session._write_reply(self._frame(envelope, None))
            return
        request = session._pending.allocate()
        routes = session._routes
        if len(routes) >= MAX_ROUTED_PER_SESSION:
            oldest = next(iter(routes))
            self._relay(routes.pop(oldest), error={"name": "ReplyTimeout", "message": "the recipient has too many unanswered requests"})
        routes[request] = route
        session._write_reply(self._frame(envelope, request))

    def _membership(self, session: ServerSession, frame: _frames.Frame) -> Any:
        kind, channel_id, request = frame["type"], frame["channel"], frame["request"]
        if kind == "members":
            d = self.broker.members(channel_id)
            d.addCallback(lambda ids: session._write_reply(_frames.reply(request, ids)))
            return d
        if kind == "exit":
            return _then(self._leave(session, channel_id), lambda _: session._write_reply(_frames.reply(request, None)))
        if channel_id in session._channels:
            session._write_reply(_frames.reply(request, None))  # joining twice is one membership
            return None
        return _then(
            self._allowed(session, channel_id, "join"),
            partial(self._join, session, channel_id, request),
        )

    def _join(self, session: ServerSession, channel_id: str, request: int, allowed: bool) -> Any:
        if session.closed:
            return None
        if not allowed:
            error = f"not allowed to join channel {channel_id!r}"
            session._write_reply(_frames.reply_error(request, "Forbidden", error))
            return None
        session._channels.add(channel_id)
        self.channels._add(channel_id, session)

        def joined(ignored: Any) -> None:
            if not session.closed:
                call_each(self.joined_handlers, channel_id, session)
                session._write_reply(_frames.reply(request, None))

        return self.broker.join(channel_id, session.id).addCallback(joined)

    def _leave(self, session: ServerSession, channel_id: str) -> Any:
        if channel_id not in session._channels:
            return None
        session._channels.discard(channel_id)
        self.channels._remove(channel_id, session)
        holder = self.sessions.get(session.id)
        if holder is not None and holder is not session and channel_id in holder._channels:
            d = None  # a newer session of this id is a member: it stays one
        else:
            d = self.broker.exit(channel_id, session.id)
            self._log_failure(d, "leaving {id}", channel_id)
        call_each(self.exited_handlers, channel_id, session)
        return d

    def _log_failure(self, d: Deferred[Any], what: str, about: Any) -> None:
        if d.called and not d.paused and not isinstance(d.result, Failure):
            return  # it has fired with a value: nothing is left to fail
        d.addErrback(lambda f: self._log.failure("broker failed " + what, f, id=about))


def _drop(frame: bytes) -> None:
    pass


__all__ = ["Router", "MAX_ROUTED_PER_SESSION"]
