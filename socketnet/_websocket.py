# -*- test-case-name: tests.test_memory,tests.test_integration -*-
"""
The edge between Autobahn and socketnet: what the server and client
WebSocket protocols share (building each connection's layer stack,
sending and closing), and the server's protocol and factory.  The
client's are in L{socketnet._client_websocket}.

This module and that one are the only ones that call Autobahn's
C{sendMessage} and C{sendClose}.  Subclasses override the documented
hooks (C{verifyAuthorization}, C{sessionOpened}, C{sessionAuthorized},
C{messageReceived}, C{sessionClosed}); L{socketnet.ServerApp} and
L{socketnet.ClientApp} are built on these same classes.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from autobahn.twisted.websocket import (
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from . import _frames
from ._authorization import (
    Authorization,
    ServerAuthorizationLayer,
)
from ._heartbeat import Heartbeat, HeartbeatLayer, heartbeat_wheel
from ._registry import SessionRegistry
from ._broker import InProcessBroker
from ._messages import Message, call_each, run_handler
from ._router import Router
from ._session import ServerSession, Session
from ._stack import CodecLayer, LayerStack
from .closecodes import CloseCode
from ._ratelimit import PerAddressLimit
from ._encryption import DecryptGate, EncryptionLimits, ServerEncryptionLayer, ServerKey
from .errors import ProtocolError, SessionClosed
from .interfaces import IBroker

#: Largest message accepted by default: 1 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 2**20


class _Call:
    def __init__(self, call: IDelayedCall):
        self._call = call

    def cancel(self) -> None:
        if self._call.active():
            self._call.cancel()


class _ReactorTimer:
    """
    Autobahn's timer interface on the factory's own reactor, so that
    handshake timeouts follow an injected clock instead of txaio's global
    one.
    """

    def __init__(self, clock: IReactorTime):
        self._clock = clock

    def call_later(self, delay: float, func: Callable[..., Any], *args: Any, **kwargs: Any) -> _Call:
        return _Call(self._clock.callLater(delay, func, *args, **kwargs))


def _configure(factory: Any, max_message_size: int, **options: Any) -> None:
    # Autobahn's defaults are permissive (no size limit); set every limit.
    if not max_message_size > 0:
        raise ValueError(f"max_message_size must be positive, not {max_message_size!r}")
    factory.setProtocolOptions(
        maxMessagePayloadSize=max_message_size,
        maxFramePayloadSize=max_message_size,
        autoPingInterval=0,  # socketnet's heartbeat layer does this, in-band
        openHandshakeTimeout=10,
        closeHandshakeTimeout=1,
        utf8validateIncoming=True,
        failByDrop=False,  # send a close frame with the code, then drop
        **options,
    )
    factory._batched_timer = _ReactorTimer(factory.reactor)


class _StackEdge:
    """
    What server and client protocols share: the stack, its wire callbacks,
    and waiting for the end of the connection.
    """

    _log = Logger()

    def __init__(self) -> None:
        super().__init__()
        self.session: Any = None
        self._stack: LayerStack | None = None
        self._lost = False
        self._lost_waiters: list[Deferred[None]] = []
        self._authorized_waiters: list[Deferred[Any]] = []

    def _build_stack(self, encryption: Any, layers: list[Any]) -> Session:
        bottom = [] if encryption is None else [encryption]
        self._stack = LayerStack(
            self.factory.reactor,
            [*bottom, CodecLayer, *layers],
            write_wire=self._send_wire,
            close_wire=self._close_wire,
            peer=str(self.peer),
        )
        return self._stack.layers[-1]

    def _send_wire(self, payload: bytes, is_binary: bool) -> None:
        if type(payload) is _frames.SharedFrame:
            self.sendPreparedMessage(payload.prepared(self.factory))
        else:
            self.sendMessage(payload, is_binary)

    def _close_wire(self, code: int, reason: str) -> None:
        code = int(code)  # Autobahn checks type(code) is int; CloseCode is an IntEnum
        if code != 1000 and not 3000 <= code <= 4999:
            # Autobahn's sendClose accepts only 1000 and 3000-4999; 1001
            # and 1013 are ours to send too.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8")[:123])
        else:
            self.sendClose(code, reason)

    # Autobahn's per-message path does work whose result is thrown away
    # unless debug logging or an observer is on: dataReceived and sendData
    # build a debug line's arguments (hltype, hlval: about 3 µs each on a
    # 2.4 GHz core) on every read and write, and onMessageEnd fires its
    # "message" event through a txaio gather for every message.  These
    # three take the plain case straight through and leave the rest to
    # Autobahn.

    def dataReceived(self, data: bytes) -> None:
        self._dataReceived(data)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        if sync or chopsize or self.send_queue or self.logOctets or self.state != WebSocketProtocol.STATE_OPEN:
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self._stack.receive(payload, isBinary)

    def onMessageEnd(self) -> None:
        listeners = self._listeners
        if self.failedByMe or self.trackedTimings or (listeners and listeners.get("message")):
            super().onMessageEnd()
            return
        data, self.message_data = self.message_data, None
        self._stack.receive(b"".join(data), self.message_is_binary)

    def _encrypted(self) -> None:
        if self.session is not None:
            self.session._set_encrypted()

    # Autobahn fires its is_closed Deferred with the protocol itself.  Kept
    # on the protocol, that Deferred would be a reference cycle: every
    # closed connection, with all it holds, would wait for the cyclic
    # garbage collector, whose young-generation passes then take
    # milliseconds with the reactor stopped.  Once the connection is gone,
    # is_closed is a new Deferred that has fired with the protocol, as the
    # original has.

    @property
    def is_closed(self) -> Deferred[Any]:
        d = self._is_closed
        return succeed(self) if d is None else d

    @is_closed.setter
    def is_closed(self, d: Deferred[Any]) -> None:
        self._is_closed = d

    def connectionLost(self, reason: Any) -> None:
        try:
            super().connectionLost(reason)
        finally:
            self._lost = True
            if self._is_closed is not None and self._is_closed.called:
                self._is_closed = None
            waiters, self._lost_waiters = self._lost_waiters, []
            for d in waiters:
                d.callback(None)

    def whenLost(self) -> Deferred[None]:
        """
        A new L{Deferred} that fires once the TCP connection is gone.
        """
        if self._lost:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._lost_waiters.append(d)
        return d

    def _close_reason(self, code: int | None, reason: str | None) -> tuple[int | None, str | None]:
        # Autobahn reports the code of the peer's answer to our close (often
        # 1000), or 1006 on a drop; when this side closed, its own code is
        # the one that tells what happened.
        if self._stack is not None and self._stack.close_sent is not None:
            return self._stack.close_sent
        return code, reason

    def _destroy_stack(self, code: int | None, reason: str | None) -> SessionClosed:
        closed = SessionClosed(reason or "connection lost", code)
        if self._stack is not None:
            self._stack.destroy(closed)
        return closed

    def closeGoingAway(self) -> None:
        """
        Close with 1001 because this side is shutting down; a connection
        still in its opening handshake is dropped.
        """
        if self._stack is not None:
            self._stack.close(CloseCode.GOING_AWAY, CloseCode.GOING_AWAY.reason)
        elif self.transport is not None:
            self.transport.abortConnection()

    # Hooks for subclasses; the defaults call the factory's handlers.

    def sessionOpened(self, session: Session) -> None:
        """
        The WebSocket is open and C{session} exists, not yet authorized.
        """
        call_each(self.factory.session_handlers, session)

    def sessionAuthorized(self, session: Session) -> None:
        """
        C{session} has just been authorized.
        """

    def sessionClosed(self, session: Session, reason: SessionClosed) -> None:
        """
        C{session} has ended; C{reason.code} is the close code.
        """


class SocketnetServerProtocol(_StackEdge, WebSocketServerProtocol):
    """
    The server side of one socketnet connection.

    Override the hooks to build an application by subclassing:
    L{verifyAuthorization}, L{sessionOpened}, L{sessionAuthorized},
    L{messageReceived} and L{sessionClosed}.

    @ivar session: the connection's L{ServerSession} once the WebSocket is
        open, else C{None}.
    """

    # Autobahn's _connectionMade copies each of its options from the
    # factory and then pformats all of them for a debug line, even with
    # debug logging off: about 150 µs per connection, more than half its
    # own cost of a new connection.  The options are copied here instead,
    # so that it has none to format; it reads CONFIG_ATTRS nowhere else.
    _AUTOBAHN_OPTIONS = WebSocketServerProtocol.CONFIG_ATTRS
    CONFIG_ATTRS: tuple[str, ...] = ()

    def _connectionMade(self) -> None:
        factory = self.factory
        for name in self._AUTOBAHN_OPTIONS:
            if not hasattr(self, name):  # an instance may set its own, as in Autobahn
                setattr(self, name, getattr(factory, name))
        super()._connectionMade()

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.connections.add(self)

    def connectionLost(self, reason: Any) -> None:
        self.factory.connections.discard(self)
        super().connectionLost(reason)

    def onConnect(self, request: Any) -> str:
        if _frames.SUBPROTOCOL not in request.protocols:
            raise ConnectionDeny(
                ConnectionDeny.BAD_REQUEST,
                f"the WebSocket subprotocol {_frames.SUBPROTOCOL} is required",
            )
        return _frames.SUBPROTOCOL

    def onOpen(self) -> None:
        # twisted.web's HTTP channel stays registered as the transport's
        # producer after the upgrade, and keeps the channel and its
        # request alive (about 4 KiB) for the whole connection.
        producer = getattr(self.transport, "producer", None)
        if producer is not None and producer is not self:
            self.transport.unregisterProducer()
        f = self.factory
        encryption = None
        if f.encrypt != "off":
            encryption = partial(
                ServerEncryptionLayer,
                f.encrypt,
                f.server_key,
                f.decrypt_gate,
                f.encryption_limits,
                self._encrypted,
                max_record=f.maxMessagePayloadSize,
                admit=self._admit_handshake,
            )
        self.session = self._build_stack(
            encryption,
            [
                partial(HeartbeatLayer, f.heartbeat, True, wheel=f.heartbeat_wheel),
                partial(ServerAuthorizationLayer, self.verifyAuthorization, self._authorize, f.auth_timeout),
                partial(ServerSession, self, f.router),
            ]
        )
        self.sessionOpened(self.session)
        self._stack.start()

    def _admit_handshake(self) -> bool:
        host = getattr(self.transport.getPeer(), "host", "?")
        if self.factory.handshake_limit.allow(host):
            return True
        self._log.warn("too many encryption handshakes from {host}; refusing with 1013", host=host)
        return False

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        code, reason = self._close_reason(code, reason)
        if self.session is not None:
            self.factory.sessions._remove(self.session)
            self.factory.router.session_closed(self.session)
        self._destroy_stack(code, reason)

    def _authorize(self, authorization: Authorization) -> None:
        session = self.session
        session.id = authorization.id
        displaced = self.factory.sessions._add(session)
        if displaced is not None and displaced is not session:
            self._log.info("client {id} connected again; closing its older session", id=authorization.id)
            displaced.close(CloseCode.REPLACED, CloseCode.REPLACED.reason)
        self.factory.router.session_authorized(session)
        session._authorize(authorization)

    def verifyAuthorization(self, authorization: Authorization) -> Any:
        """
        Decide whether C{authorization} may in: return C{True} (or a
        L{Deferred} firing C{True}) to accept; anything else, an exception
        or a failure refuses.  Raising L{ProtocolError} chooses the close
        code.  The default asks the factory's verifier and applies its
        duplicate-id policy.
        """
        return self.factory.verify(authorization)

    def messageReceived(self, message: Message) -> Any:
        """
        A message arrived from the client.  A value (or L{Deferred} or
        coroutine) returned here answers a request, as handlers' results
        do.  The default runs the factory's message handlers, then the
        session's.
        """
        session = self.session
        for handler in self.factory.message_handlers:
            run_handler(handler, message, session)
        if session._message_handlers:
            session._run_handlers(message)
        return None


class SocketnetServerFactory(WebSocketServerFactory):
    """
    Builds L{SocketnetServerProtocol}s with shared settings, handlers and
    the registry of authorized sessions.

    @ivar sessions: the L{SessionRegistry} of authorized sessions.
    @ivar verifier: C{verifier(authorization) -> bool | Deferred[bool]}, or
        C{None} to refuse every client.
    @ivar session_handlers: called with each new session.
    @ivar message_handlers: called with C{(message, session)}.
    @ivar connections: every open connection's protocol.
    @ivar router: the L{Router} of direct and channel messages.
    """

    protocol = SocketnetServerProtocol
    noisy = False
    _log = Logger()

    def __init__(
        self,
        url: str | None = None,
        *,
        heartbeat: Heartbeat | None = None,
        auth_timeout: float = 10.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        duplicate_ids: str = "replace",
        allowed_origins: list[str] | None = None,
        broker: IBroker | None = None,
        encrypt: str = "off",
        server_key: Any = None,
        run_blocking: Callable[..., Deferred] | None = None,
        encryption_limits: EncryptionLimits | None = None,
        max_pending_decrypts: int = 256,
        handshakes_per_second: float = 20.0,
        handshake_burst: int = 40,
        reactor: Any = None,
    ):
        """
        @param heartbeat: the L{Heartbeat} settings; C{Heartbeat()} by
            default.
        @param encrypt: C{"off"}, C{"optional"} (clients choose) or
            C{"required"} (socketnet-enc/1 before anything else).
        @param server_key: a L{ServerKey}, an RSA-4096 private key, a path
            to a PKCS#8 PEM file, or C{None} to generate one on first use.
        @param run_blocking: C{run_blocking(fn, *args) -> Deferred} runs
            RSA off the reactor thread; required when C{encrypt} is not
            C{"off"}.
        @param max_pending_decrypts: handshakes waiting for RSA at once;
            more are closed with 1013.
        @param handshakes_per_second: encryption handshakes one IP address
            may start per second after a burst of C{handshake_burst};
            more are closed with 1013.
        @param broker: the L{IBroker} that routes between clients; an
            L{InProcessBroker} by default.
        @param auth_timeout: seconds a connection has to authorize.
        @param max_message_size: largest message in bytes; larger ones close
            the connection with 1009.
        @param duplicate_ids: when a client id that is already connected
            authorizes again: C{"replace"} closes the older session with
            4410; C{"refuse"} refuses the newer one with 4409.
        @param allowed_origins: Origin patterns browsers may connect from
            (Autobahn's syntax, C{"*"} wildcards); by default any, which is
            safe here because authorization is in-band, never a cookie.
        """
        super().__init__(url, protocols=[_frames.SUBPROTOCOL], reactor=reactor)
        if not auth_timeout > 0:
            raise ValueError(f"auth_timeout must be positive, not {auth_timeout!r}")
        if duplicate_ids not in ("replace", "refuse"):
            raise ValueError(f"duplicate_ids must be 'replace' or 'refuse', not {duplicate_ids!r}")
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat()
        #: One timer for the heartbeats of every connection.
        self.heartbeat_wheel = heartbeat_wheel(self.reactor, self.heartbeat)
        self.auth_timeout = auth_timeout
        self.duplicate_ids = duplicate_ids
        self.verifier: Callable[[Authorization], Any] | None = None
        self.sessions = SessionRegistry()
        self.session_handlers: list[Callable[..., Any]] = []
        self.message_handlers: list[Callable[..., Any]] = []
        self.connections: set[SocketnetServerProtocol] = set()
        if encrypt not in ("off", "optional", "required"):
            raise ValueError(f"encrypt must be 'off', 'optional' or 'required', not {encrypt!r}")
        self.encrypt = encrypt
        self.encryption_limits = encryption_limits if encryption_limits is not None else EncryptionLimits()
        self.server_key = server_key if isinstance(server_key, ServerKey) else ServerKey(server_key)
        if encrypt != "off" and run_blocking is None:
            raise ValueError("encryption needs run_blocking to keep RSA off the reactor thread")
        self.decrypt_gate = DecryptGate(run_blocking, max_pending_decrypts) if run_blocking else None
        self.handshake_limit = PerAddressLimit(self.reactor, handshakes_per_second, handshake_burst)
        self.router = Router(
            self.sessions,
            broker if broker is not None else InProcessBroker(),
            self.reactor,
            self.message_handlers,
        )
        _configure(
            self,
            max_message_size,
            allowedOrigins=allowed_origins if allowed_origins is not None else ["*"],
        )

    def verify(self, authorization: Authorization) -> Deferred[bool]:
        """
        Ask the verifier about C{authorization}, then apply the
        duplicate-id policy.
        """
        if self.verifier is None:
            self._log.warn(
                "refusing client {id}: no token verifier is set", id=authorization.id
            )
            return succeed(False)
        d = maybeDeferred(self.verifier, authorization)
        if self.duplicate_ids == "refuse":
            d.addCallback(self._refuse_duplicate, authorization)
        return d

    def _refuse_duplicate(self, accepted: object, authorization: Authorization) -> object:
        if accepted is True and authorization.id in self.sessions:
            raise ProtocolError(CloseCode.ID_IN_USE, CloseCode.ID_IN_USE.reason)
        return accepted


__all__ = ["SocketnetServerProtocol", "SocketnetServerFactory", "DEFAULT_MAX_MESSAGE_SIZE"]
