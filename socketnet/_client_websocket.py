# -*- test-case-name: tests.test_memory,tests.test_integration,tests.test_tls -*-
"""
The client's WebSocket protocol and factory: the edge between Autobahn and
a client's layer stack.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Callable

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred, fail, succeed

from . import _frames
from ._authorization import Authorization, ClientAuthorizationLayer
from ._encryption import ClientEncryptionLayer, EncryptionLimits
from ._heartbeat import Heartbeat, HeartbeatLayer
from ._messages import Message
from ._outbox import Outbox
from ._peers import ClientChannels
from ._session import ClientSession
from ._websocket import DEFAULT_MAX_MESSAGE_SIZE, _configure, _StackEdge
from .closecodes import TERMINAL_CODES, CloseCode
from .errors import HandshakeFailed, ProtocolError, SessionClosed, Unauthorized


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
                ClientEncryptionLayer,
                f.pins,
                f.encryption_limits,
                self._encrypted,
                self._handshake_failed,
                max_record=f.maxMessagePayloadSize,
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
        self.pins = normalise_pins(server_key_fingerprints)
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


def normalise_pins(fingerprints: Any) -> frozenset[str]:
    """
    The pin set from a string or an iterable of C{"sha256:<hex>"}
    fingerprints, lower-cased.

    @raise ValueError: for anything that is not such a fingerprint.
    """
    if fingerprints is None:
        return frozenset()
    if isinstance(fingerprints, str):
        fingerprints = [fingerprints]
    pins = set()
    for pin in fingerprints:
        pin = str(pin).strip().lower()
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", pin):
            raise ValueError(f"a server key fingerprint looks like 'sha256:<64 hex digits>', not {pin!r}")
        pins.add(pin)
    return frozenset(pins)


__all__ = ["SocketnetClientProtocol", "SocketnetClientFactory", "is_terminal"]
