# -*- test-case-name: tests.test_routing -*-
"""
Client-side routing: messages to other clients (C{session.sessions}) and
channels (C{session.channel(id)}).

Channels belong to the client, not to one connection: the same
L{ClientChannel} serves every session, keeps its handlers, and is joined
again after a reconnect.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from . import _frames
from ._channels import check_channel_id
from ._messages import Message, run_handler
from .errors import Forbidden

if TYPE_CHECKING:
    from ._session import ClientSession

#: Seconds a join, exit or members request waits for the server.
MEMBERSHIP_TIMEOUT = 30.0


class Peer:
    """
    Another client, addressed by id through the server:
    C{session.sessions.to(client_id)}.
    """

    def __init__(self, session: ClientSession, client_id: str):
        self._session = session
        self.id = client_id

    def send(self, data: Any) -> None:
        """
        Send C{data} to the client; if it is not connected, the session's
        C{on_error} handlers get a L{NoSuchSession}.
        """
        self._session._send_frame(_frames.routed(data, to=self.id))

    def request(self, data: Any, timeout: float | None = 30.0) -> Deferred[Any]:
        """
        Send C{data} and wait for the other client's reply; fails with
        L{NoSuchSession} at once if it is not connected, with
        L{SessionClosed} if it leaves before replying.
        """
        build = partial(_request_to, data, self.id, timeout)
        return self._session._request_frame(build, timeout)


def _announced(timeout: float | None) -> float | None:
    # The server keeps a routed request at most MAX_TIMEOUT seconds.
    return None if timeout is None else min(timeout, _frames.MAX_TIMEOUT)


def _request_to(data: Any, to: str, timeout: float | None, request: int) -> bytes:
    return _frames.routed(data, request, to=to, timeout=_announced(timeout))


def _request_in(data: Any, channel: str, timeout: float | None, request: int) -> bytes:
    return _frames.routed(data, request, channel=channel, timeout=_announced(timeout))


class Peers:
    """
    The other clients, as one session sees them: C{session.sessions}.

    A view made on each use: the session keeps only the direct-message
    handlers, so that a closed session and its view do not keep each
    other alive in a reference cycle.
    """

    def __init__(self, session: ClientSession, handlers: list[Callable[[Message], Any]]):
        self._session = session
        self._handlers = handlers

    def to(self, client_id: str) -> Peer:
        """
        The client C{client_id}.

        @raise ValueError: if C{client_id} is not a valid client id.
        """
        if not _frames.is_valid_id(client_id):
            raise ValueError(f"not a valid client id: {client_id!r}")
        return Peer(self._session, client_id)

    def on_message(self, fn: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """
        Call C{fn(message)} for every direct message from another client;
        C{message.sender} is its id.  A returned value answers a request.
        """
        self._handlers.append(fn)
        return fn


class ClientChannel:
    """
    A channel, as a client sees it: C{session.channel(channel_id)}.

    @ivar id: the channel id.
    @ivar joined: whether the server has confirmed this client as a member
        on the current connection.
    """

    _log = Logger()

    def __init__(self, channels: ClientChannels, channel_id: str):
        self.id = channel_id
        self._channels = channels
        self._handlers: list[Callable[[Message], Any]] = []
        self.joined = False
        self._wanted = False
        self._join_waiters: list[Deferred[None]] = []

    def __repr__(self) -> str:
        return f"<ClientChannel {self.id!r} joined={self.joined}>"

    def on_message(self, fn: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """
        Call C{fn(message)} for every message of this channel; it stays
        registered across reconnects.  C{message.sender} is the sending
        client's id, or C{None} when the server sent it.
        """
        self._handlers.append(fn)
        return fn

    def send(self, data: Any) -> None:
        """
        Send C{data} to every other member.  Membership is not needed
        unless the server's authorizer says so.
        """
        self._channels.session._send_frame(_frames.routed(data, channel=self.id))

    def request(self, data: Any, timeout: float | None = 30.0) -> Deferred[Any]:
        """
        Send C{data} to every other member and wait for the first reply.
        """
        build = partial(_request_in, data, self.id, timeout)
        return self._channels.session._request_frame(build, timeout)

    def join(self) -> Deferred[None]:
        """
        Become a member; fails with L{Forbidden} if the server refuses.
        While disconnected, fires once a later connection has joined.
        """
        self._wanted = True
        session = self._channels.session
        if session.authorized and not session.closed:
            return self._join_on(session)
        d: Deferred[None] = Deferred()
        self._join_waiters.append(d)
        return d

    def exit(self) -> Deferred[None]:
        """
        Stop being a member (and stop re-joining after reconnects).
        """
        self._wanted = False
        self.joined = False
        session = self._channels.session
        if not session.authorized or session.closed:
            return succeed(None)
        return self._membership(session, "exit")

    def members(self) -> Deferred[list[str]]:
        """
        The ids of the channel's members, sorted.
        """
        return self._membership(self._channels.session, "members")

    def _membership(self, session: ClientSession, kind: str) -> Deferred[Any]:
        build = partial(_frames.membership, kind, self.id)
        return session._request_frame(build, MEMBERSHIP_TIMEOUT)

    def _join_on(self, session: ClientSession) -> Deferred[None]:
        d = self._membership(session, "join")
        d.addCallbacks(self._joined, self._join_failed, errbackArgs=(session,))
        return d

    def _joined(self, result: Any) -> None:
        self.joined = True
        waiters, self._join_waiters = self._join_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _join_failed(self, failure: Failure, session: ClientSession) -> Failure:
        if failure.check(Forbidden):
            self._wanted = False
            waiters, self._join_waiters = self._join_waiters, []
            for waiter in waiters:
                waiter.errback(failure)
        return failure

    def _rejoin(self, session: ClientSession) -> None:
        if self._wanted:
            self._join_on(session).addErrback(self._rejoin_failed)

    def _rejoin_failed(self, failure: Failure) -> None:
        self._log.warn("could not join channel {id} again: {error}", id=self.id, error=failure.value)

    def _dispatch(self, message: Message) -> None:
        for handler in self._handlers:
            run_handler(handler, message)


class ClientChannels:
    """
    The channels of one client, across its connections.

    @ivar session: the newest session; channels send through it.
    """

    def __init__(self) -> None:
        self._channels: dict[str, ClientChannel] = {}
        self.session: Any = None

    def get(self, channel_id: str) -> ClientChannel:
        """
        The one L{ClientChannel} for C{channel_id}.

        @raise ValueError: if C{channel_id} is not a valid channel id.
        """
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = ClientChannel(self, check_channel_id(channel_id))
        return channel

    def _attach(self, session: ClientSession) -> None:
        self.session = session

    def _authorized(self, session: ClientSession) -> None:
        for channel in list(self._channels.values()):
            channel._rejoin(session)

    def _closed(self, session: ClientSession) -> None:
        if session is self.session:
            for channel in self._channels.values():
                channel.joined = False

    def _stop(self, error: BaseException) -> None:
        """
        No session will come again: fail every join still waiting for one.
        """
        for channel in self._channels.values():
            waiters, channel._join_waiters = channel._join_waiters, []
            for waiter in waiters:
                waiter.errback(error)

    def _dispatch(self, message: Message) -> None:
        channel = self._channels.get(message.channel)
        if channel is not None:
            channel._dispatch(message)


__all__ = ["Peer", "Peers", "ClientChannel", "ClientChannels"]
