# -*- test-case-name: tests.test_integration,tests.test_server -*-
"""
L{ServerApp}: the server façade over L{SocketnetServerFactory}.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, DeferredList, gatherResults, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from ._authorization import Authorization
from ._heartbeat import Heartbeat
from ._blocking import BlockingPool
from ._channels import ChannelRegistry
from ._encryption import EncryptionLimits
from ._messages import Message
from ._session import ServerSession
from .interfaces import IBroker
from ._pacing import DEFAULT_UPGRADES_PER_TURN, PacedSite, UpgradePacer
from ._resource import UpgradeResource
from ._websocket import (
    DEFAULT_MAX_MESSAGE_SIZE,
    SocketnetServerFactory,
    SocketnetServerProtocol,
)
from ._observer import OneShotObserver
from ._registry import SessionRegistry


def _path_segments(path: str) -> list[bytes]:
    segments = path.split("/")
    if not path.startswith("/") or not all(segments[1:]):
        raise ValueError(f"path must look like '/socket' or '/a/b', not {path!r}")
    return [segment.encode("utf-8") for segment in segments[1:]]


class ServerApp:
    """
    A socketnet server: handlers, a token verifier, and the WebSocket
    endpoint at C{path} of a C{twisted.web} L{Site}.

    @ivar path: where the WebSocket endpoint is mounted.
    @ivar factory: the L{SocketnetServerFactory} every connection is built
        by.
    """

    _log = Logger()

    def __init__(
        self,
        path: str = "/socket",
        heartbeat: Heartbeat | None = None,
        *,
        auth_timeout: float = 10.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        duplicate_ids: str = "replace",
        allowed_origins: list[str] | None = None,
        protocol: type[SocketnetServerProtocol] = SocketnetServerProtocol,
        broker: IBroker | None = None,
        encrypt: str = "off",
        server_key: Any = None,
        run_blocking: Callable[..., Deferred[Any]] | None = None,
        encryption_limits: EncryptionLimits | None = None,
        max_pending_decrypts: int = 256,
        handshakes_per_second: float = 20.0,
        handshake_burst: int = 40,
        upgrades_per_turn: int = DEFAULT_UPGRADES_PER_TURN,
        reactor: Any = None,
    ):
        """
        @param heartbeat: L{Heartbeat} settings, C{Heartbeat()} by default.
        @param encrypt: socketnet-enc/1 message encryption: C{"off"}
            (default), C{"optional"} (each client chooses) or
            C{"required"}.
        @param server_key: the RSA-4096 private key, or the path of a
            PKCS#8 PEM file; by default one is generated once, off the
            reactor thread, when the server starts.
        @param run_blocking: C{run_blocking(fn, *args) -> Deferred} for RSA
            work; by default a dedicated one-thread pool, stopped by
            L{close}.
        @param encryption_limits: rekeying and queue limits.
        @param max_pending_decrypts: handshakes waiting for RSA at once;
            more are closed with 1013.
        @param handshakes_per_second: encryption handshakes one IP address
            may start per second, after a burst of C{handshake_burst};
            more are closed with 1013.
        @param auth_timeout: seconds a new connection has to authorize
            before it is closed with 4408.
        @param max_message_size: largest message in bytes (1 MiB by
            default); a larger one closes the connection with 1009.
        @param duplicate_ids: C{"replace"} (a client id that authorizes
            again closes its older session with 4410) or C{"refuse"} (the
            newer one is refused with 4409).
        @param allowed_origins: Origin patterns browsers may connect from;
            any by default (authorization is in-band, not by cookie).
        @param protocol: the protocol class, for applications that also
            override its hooks.
        @param broker: the L{IBroker} that carries direct and channel
            messages; an in-process one by default.
        @param upgrades_per_turn: new connections whose HTTP upgrade and
            WebSocket opening handshake L{site} handles in one reactor
            turn; when more arrive together, the rest wait for the next
            turns, so that a burst of connections does not stall the
            established sessions.
        @param reactor: the reactor for timers and listening; the global
            one by default.
        """
        self._segments = _path_segments(path)
        self.path = path
        self._reactor = reactor
        self._pool: BlockingPool | None = None
        if encrypt != "off" and run_blocking is None:
            if reactor is None:
                from twisted.internet import reactor as global_reactor

                reactor = global_reactor
            self._pool = BlockingPool(reactor)
            run_blocking = self._pool.run
        self.factory = SocketnetServerFactory(
            heartbeat=heartbeat,
            auth_timeout=auth_timeout,
            max_message_size=max_message_size,
            duplicate_ids=duplicate_ids,
            allowed_origins=allowed_origins,
            broker=broker,
            encrypt=encrypt,
            server_key=server_key,
            run_blocking=run_blocking,
            encryption_limits=encryption_limits,
            max_pending_decrypts=max_pending_decrypts,
            handshakes_per_second=handshakes_per_second,
            handshake_burst=handshake_burst,
            reactor=reactor,
        )
        self.factory.protocol = protocol
        self._pacer = UpgradePacer(self.factory.reactor, upgrades_per_turn)
        self._ports: list[IListeningPort] = []
        self._closing = False
        self._closed: OneShotObserver[None] = OneShotObserver()

    @property
    def sessions(self) -> SessionRegistry:
        """
        Authorized sessions by client id: C{app.sessions.get(client_id)}.
        """
        return self.factory.sessions

    def set_token_verifier(
        self, fn: Callable[[Authorization], Any]
    ) -> Callable[[Authorization], Any]:
        """
        Decide who may connect: C{fn(authorization)} returns C{True} (or a
        L{Deferred} firing C{True}) to accept; C{False}, anything else, an
        exception or a failed L{Deferred} refuses with close code 4401.
        Until one is set, every client is refused.  Works as a decorator.
        """
        self.factory.verifier = fn
        return fn

    def on_session(self, fn: Callable[[ServerSession], Any]) -> Callable[[ServerSession], Any]:
        """
        Call C{fn(session)} for each new connection, before it is
        authorized; use C{session.on_authorized} to act once it is.  Works
        as a decorator; handlers run in the order registered.
        """
        self.factory.session_handlers.append(fn)
        return fn

    def on_message(
        self, fn: Callable[[Message, ServerSession], Any]
    ) -> Callable[[Message, ServerSession], Any]:
        """
        Call C{fn(message, session)} for every message from any client.
        Returning a value (or a L{Deferred} or coroutine firing one)
        answers a request, unless C{message.reply} was called already;
        the first reply wins.  Handlers also see direct and channel
        messages passing through (C{message.to}, C{message.channel}),
        with C{message.reply} C{None}: the recipient answers those.
        Works as a decorator.
        """
        self.factory.message_handlers.append(fn)
        return fn

    @property
    def channels(self) -> ChannelRegistry:
        """
        The channels: C{app.channels.ensure(id)}, C{app.channels.get(id)}.
        """
        return self.factory.router.channels

    def on_channel_session_joined(
        self, fn: Callable[[str, ServerSession], Any]
    ) -> Callable[[str, ServerSession], Any]:
        """
        Call C{fn(channel_id, session)} when a session joins a channel.
        Works as a decorator.
        """
        self.factory.router.joined_handlers.append(fn)
        return fn

    def on_channel_session_exited(
        self, fn: Callable[[str, ServerSession], Any]
    ) -> Callable[[str, ServerSession], Any]:
        """
        Call C{fn(channel_id, session)} when a session leaves a channel,
        by C{exit} or by disconnecting (once per channel).  Works as a
        decorator.
        """
        self.factory.router.exited_handlers.append(fn)
        return fn

    def set_channel_authorizer(
        self, fn: Callable[[ServerSession, str, str], Any]
    ) -> Callable[[ServerSession, str, str], Any]:
        """
        Decide who may join or send to a channel: C{fn(session,
        channel_id, action)} with C{action} C{"join"} or C{"send"} returns
        C{True} (or a L{Deferred} firing C{True}) to allow; anything else
        refuses with L{Forbidden}.  Everything is allowed until one is set.
        Works as a decorator.
        """
        self.factory.router.authorizer = fn
        return fn

    def set_message_filter(
        self, fn: Callable[[Message, ServerSession], Any]
    ) -> Callable[[Message, ServerSession], Any]:
        """
        Look at every direct and channel message before it is routed:
        C{fn(message, session)} returning C{False} (or a L{Deferred}
        firing C{False}) drops it; a dropped request fails with
        L{Forbidden}.  Works as a decorator.
        """
        self.factory.router.message_filter = fn
        return fn

    def resource(self) -> UpgradeResource:
        """
        The WebSocket endpoint as a resource, to mount in an application's
        own L{Site}.
        """
        self._warn_if_open_door()
        return UpgradeResource(self.factory)

    def site(self) -> Site:
        """
        A L{Site} with the WebSocket endpoint at C{path}, handling at most
        C{upgrades_per_turn} new connections per reactor turn.
        """
        root = child = Resource()
        for segment in self._segments[:-1]:
            nested = Resource()
            child.putChild(segment, nested)
            child = nested
        child.putChild(self._segments[-1], self.resource())
        return PacedSite(root, self._pacer, reactor=self.factory.reactor)

    @property
    def server_key_fingerprint(self) -> str | None:
        """
        C{"sha256:<hex>"} of the server key's SubjectPublicKeyInfo DER,
        once the key is loaded or generated (see L{prepare}).
        """
        return self.factory.server_key.fingerprint

    def prepare(self) -> Deferred[None]:
        """
        Load or generate the server key when encryption is on (off the
        reactor thread); L{listen} does this first.
        """
        if self.factory.encrypt == "off":
            return succeed(None)
        d = self.factory.server_key.prepare(self.factory.decrypt_gate._run_blocking)
        return d.addCallback(lambda key: None)

    def listen(self, endpoint: str, reactor: Any = None) -> Deferred[IListeningPort]:
        """
        Listen on a Twisted server endpoint description, such as
        C{"tcp:8090:interface=127.0.0.1"}, C{"ssl:8443:privateKey=key.pem"}
        (port 0 picks a free port; read it from the result's
        C{getHost()}).  With encryption on, the server key is ready first.
        """
        if reactor is None:
            reactor = self.factory.reactor
        site = self.site()
        d = self.prepare()
        d.addCallback(lambda ignored: serverFromString(reactor, endpoint).listen(site))

        def listening(port: IListeningPort) -> IListeningPort:
            self._ports.append(port)
            self._log.info(
                "socketnet listening on {address}{path}",
                address=port.getHost(),
                path=self.path,
            )
            return port

        return d.addCallback(listening)

    def close(self) -> Deferred[None]:
        """
        Stop listening, close every session with 1001 and wait until all
        connections are gone.
        """
        if not self._closing:
            self._closing = True
            Deferred.fromCoroutine(self._close()).addBoth(self._closed.fire)
        return self._closed.when_fired()

    async def _close(self) -> None:
        ports, self._ports = self._ports, []
        await DeferredList([port.stopListening() for port in ports], consumeErrors=True)
        self._pacer.stop()
        connections = list(self.factory.connections)
        lost = gatherResults([c.whenLost() for c in connections])
        for connection in connections:
            connection.closeGoingAway()
        await lost
        if self._pool is not None:
            await self._pool.stop()

    def _warn_if_open_door(self) -> None:
        overridden = (
            self.factory.protocol.verifyAuthorization
            is not SocketnetServerProtocol.verifyAuthorization
        )
        if self.factory.verifier is None and not overridden:
            self._log.warn(
                "no token verifier is set: every client will be refused; "
                "call set_token_verifier()"
            )


__all__ = ["ServerApp"]
