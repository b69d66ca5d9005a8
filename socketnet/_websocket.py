# -*- test-case-name: tests.test_websocket,tests.test_integration -*-
"""
The edge between Autobahn and socketnet: WebSocket protocols and
factories that build each connection's layer stack.

This is the only module that calls Autobahn's C{sendMessage} and
C{sendClose}.  Subclasses override the documented hooks
(C{verifyAuthorization}, C{sessionOpened}, C{sessionAuthorized},
C{messageReceived}, C{sessionClosed}); L{socketnet.ServerApp} and
L{socketnet.ClientApp} are built on these same classes.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from . import _frames
from ._authorization import (
    Authorization,
    ClientAuthorizationLayer,
    ServerAuthorizationLayer,
)
from ._heartbeat import Heartbeat, HeartbeatLayer
from ._outbox import Outbox
from ._registry import SessionRegistry
from ._broker import InProcessBroker
from ._messages import Message, call_each, run_handler
from ._peers import ClientChannels
from ._router import Router
from ._session import ClientSession, ServerSession, Session
from ._stack import CodecLayer, LayerStack
from .closecodes import TERMINAL_CODES, CloseCode
from ._encryption import ClientEncryptionLayer, DecryptGate, EncryptionLimits, ServerEncryptionLayer, ServerKey
from .errors import HandshakeFailed, ProtocolError, SessionClosed, Unauthorized
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

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self._stack.receive(payload, isBinary)

    def _encrypted(self) -> None:
        if self.session is not None:
            self.session._set_encrypted()

    def connectionLost(self, reason: Any) -> None:
        try:
            super().connectionLost(reason)
        finally:
            self._lost = True
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
        f = self.factory
        encryption = None
        if f.encrypt != "off":
            encryption = partial(
                ServerEncryptionLayer, f.encrypt, f.server_key, f.decrypt_gate, f.encryption_limits, self._encrypted
            )
        self.session = self._build_stack(
            encryption,
            [
                partial(HeartbeatLayer, f.heartbeat, True),
                partial(ServerAuthorizationLayer, self.verifyAuthorization, self._authorize, f.auth_timeout),
                partial(ServerSession, self, f.router),
            ]
        )
        self.sessionOpened(self.session)
        self._stack.start()

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


class SocketnetClientProtocol(_StackEdge, WebSocketClientProtocol):
    """
    The client side of a socketnet connection.

    Hooks as on the server: L{sessionOpened}, L{sessionAuthorized},
    L{messageReceived}, L{sessionClosed}.

    @ivar session: the connection's L{ClientSession} once the WebSocket is
        open, else C{None}.
    """

    _handshake_error: Exception | None = None
    _ended: Exception | None = None

    def connectionLost(self, reason: Any) -> None:
        if self.session is None and self._handshake_error is None:
            # Autobahn reports a failed TLS handshake as an unclean close
            # (1006); keep the real cause for connect()'s error.
            cause = getattr(reason, "value", None)
            if _is_tls_failure(cause):
                self._handshake_error = HandshakeFailed(f"TLS handshake failed: {cause!r}", terminal=True)
        super().connectionLost(reason)

    def _handshake_failed(self, error: HandshakeFailed) -> None:
        self._handshake_error = error

    def onConnect(self, response: Any) -> None:
        if response.protocol != _frames.SUBPROTOCOL:
            # Autobahn closes with 1000 after this; remember why, so the
            # client does not retry a server that speaks something else.
            self._handshake_error = ProtocolError(
                CloseCode.BAD_FRAME,
                f"the server did not agree to subprotocol {_frames.SUBPROTOCOL}",
            )
            raise self._handshake_error

    def onOpen(self) -> None:
        f = self.factory
        encryption = None
        if f.encrypt:
            encryption = partial(
                ClientEncryptionLayer, f.pins, f.encryption_limits, self._encrypted, self._handshake_failed
            )
        self.session = self._build_stack(
            encryption,
            [
                partial(HeartbeatLayer, f.heartbeat, False),
                partial(ClientAuthorizationLayer, f.authorization, self._authorized),
                partial(ClientSession, self, f.outbox, f.channels),
            ]
        )
        self.sessionOpened(self.session)
        self._stack.start()

    def _authorized(self, client_id: str) -> None:
        self.session._authorized(client_id)
        waiters, self._authorized_waiters = self._authorized_waiters, []
        for d in waiters:
            d.callback(self.session)

    def whenAuthorized(self) -> Deferred[ClientSession]:
        """
        A new L{Deferred} that fires with the session once the server has
        authorized it, or fails with L{Unauthorized} (refused) or
        L{SessionClosed} (the connection ended first).
        """
        if self.session is not None and self.session.authorized:
            return succeed(self.session)
        if self._ended is not None:
            return fail(self._ended)
        d: Deferred[ClientSession] = Deferred()
        self._authorized_waiters.append(d)
        return d

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        code, reason = self._close_reason(code, reason)
        error: Exception = SessionClosed(reason or "connection lost", code)
        if self._handshake_error is not None:
            error = self._handshake_error
        elif self.factory.encrypt and self.session is not None and not self.session.encrypted:
            if code == CloseCode.TRY_AGAIN_LATER:
                error = SessionClosed(reason or CloseCode.TRY_AGAIN_LATER.reason, code)
            else:
                error = HandshakeFailed(
                    f"the connection closed during the encryption handshake: {reason or 'connection lost'} ({code})",
                    terminal=code in (CloseCode.BAD_FRAME, CloseCode.HANDSHAKE_FAILED, CloseCode.ENCRYPTION_REQUIRED),
                )
        elif code == CloseCode.UNAUTHORIZED:
            error = Unauthorized(reason or CloseCode.UNAUTHORIZED.reason, code)
        # The owner decides about the outbox first, so that the session's
        # close handlers already see whether sends will wait or fail.
        self.factory.connectionEnded(self, code, error)
        self._destroy_stack(code, reason)
        self._ended = error
        waiters, self._authorized_waiters = self._authorized_waiters, []
        for d in waiters:
            d.errback(error)

    def messageReceived(self, message: Message) -> Any:
        """
        A message arrived; the default hands it to its channel's handlers,
        the direct-message handlers (C{session.sessions.on_message}) or the
        session's own, by what it is.  A returned value answers a request.
        """
        self.session._route(message)
        return None


class SocketnetClientFactory(WebSocketClientFactory):
    """
    Builds L{SocketnetClientProtocol}s that authorize with C{authorization}.

    @ivar outbox: the L{Outbox} of messages waiting for an authorized
        session; it outlives connections.
    @ivar channels: the client's channels; they outlive connections.
    @ivar session_handlers: called with each new session.
    """

    protocol = SocketnetClientProtocol
    noisy = False

    def __init__(
        self,
        url: str,
        authorization: Authorization,
        *,
        heartbeat: Heartbeat | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        queue_limit: int = 1000,
        encrypt: bool = False,
        server_key_fingerprints: Any = None,
        encryption_limits: EncryptionLimits | None = None,
        reactor: Any = None,
    ):
        """
        @param encrypt: run the socketnet-enc/1 handshake before anything
            else; forced on when C{server_key_fingerprints} is not empty.
        @param server_key_fingerprints: C{"sha256:<hex>"} fingerprints the
            server's key must be one of (current and next, for rotation).
        """
        super().__init__(url, protocols=[_frames.SUBPROTOCOL], reactor=reactor)
        self.pins = frozenset(server_key_fingerprints or ())
        self.encrypt = bool(encrypt or self.pins)
        self.encryption_limits = encryption_limits if encryption_limits is not None else EncryptionLimits()
        self.authorization = authorization
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat()
        self.outbox = Outbox(self.reactor, queue_limit)
        self.channels = ClientChannels()
        self.session_handlers: list[Callable[..., Any]] = []
        _configure(self, max_message_size)

    def connectionEnded(self, protocol: SocketnetClientProtocol, code: int | None, error: Exception) -> None:
        """
        A connection built by this factory has ended.  Without a
        reconnecting owner nothing will carry the outbox on: fail what
        waits in it.  L{socketnet.ClientApp} overrides this.
        """
        self.stopWaiting(error)

    def stopWaiting(self, error: BaseException) -> None:
        """
        No connection will follow: fail what waits in the outbox and joins
        that wait for a session with C{error}; later sends raise it.
        """
        self.outbox.close(error)
        self.channels._stop(error)


def _is_tls_failure(cause: object) -> bool:
    from OpenSSL import SSL
    from service_identity import VerificationError

    return isinstance(cause, (SSL.Error, VerificationError))


def is_terminal(code: int | None, error: Exception | None = None) -> bool:
    """
    Whether a connection that ended with C{code} (and C{error}) should not
    be retried: the server refused this client, replaced it, or does not
    speak socketnet.
    """
    return (
        code in TERMINAL_CODES
        or isinstance(error, ProtocolError)
        or (isinstance(error, HandshakeFailed) and error.terminal)
    )


__all__ = [
    "SocketnetServerProtocol",
    "SocketnetServerFactory",
    "SocketnetClientProtocol",
    "SocketnetClientFactory",
]
