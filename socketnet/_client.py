# -*- test-case-name: tests.test_client,tests.test_integration -*-
"""
L{ClientApp}: the client façade over L{SocketnetClientFactory}, with
reconnection by Twisted's L{ClientService}.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._authorization import Authorization
from ._heartbeat import Heartbeat
from ._observer import OneShotObserver
from ._session import ClientSession
from ._client_websocket import SocketnetClientFactory, SocketnetClientProtocol, is_terminal
from ._websocket import DEFAULT_MAX_MESSAGE_SIZE
from .errors import SessionClosed


def _trust_root(ca_file: str) -> Any:
    """
    The certificates in the PEM file C{ca_file}, as a trust root for
    C{optionsForClientTLS}.

    @raise ValueError: if the file cannot be read or holds no PEM
        certificate.
    """
    try:
        with open(ca_file, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise ValueError(f"cannot read ca_file {ca_file}: {e.strerror}") from e
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError(f"ca_file {ca_file} holds no PEM certificate") from None
    return trustRootFromCertificates(
        [Certificate.loadPEM(c.public_bytes(serialization.Encoding.PEM)) for c in certificates]
    )


def endpoint_for_url(
    reactor: Any, url: str, tls_options: Any = None, ca_file: str | None = None
) -> IStreamClientEndpoint:
    """
    The client endpoint for a C{ws://} or C{wss://} URL.  For C{wss://},
    the server's certificate and host name are verified with
    C{optionsForClientTLS}, against the platform's trusted authorities or
    those in C{ca_file}, unless C{tls_options} says otherwise.

    @param tls_options: a client TLS connection creator for C{wss://}; it
        wins over C{ca_file}.
    @param ca_file: a PEM file of the certificate authorities to trust
        instead of the platform's, read now; ignored for C{ws://}.
    @raise ValueError: for a URL that is not C{ws://} or C{wss://}, or a
        C{ca_file} that cannot be read or holds no certificate.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"URL must be ws://host[:port]/path or wss://..., not {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    endpoint: IStreamClientEndpoint = HostnameEndpoint(reactor, parts.hostname, port)
    if secure:
        if tls_options is None:
            trust_root = None if ca_file is None else _trust_root(ca_file)
            tls_options = optionsForClientTLS(parts.hostname, trustRoot=trust_root)
        endpoint = wrapClientTLS(tls_options, endpoint)
    return endpoint


class _AppClientFactory(SocketnetClientFactory):
    def __init__(self, app: ClientApp, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._app = app

    def buildProtocol(self, addr: Any) -> SocketnetClientProtocol:
        protocol = super().buildProtocol(addr)
        self._app._connection_started(protocol)
        return protocol

    def connectionEnded(self, protocol: SocketnetClientProtocol, code: int | None, error: Exception) -> None:
        self._app._connection_ended(protocol, code, error)


class ClientApp:
    """
    A socketnet client: connects, authorizes, and (with C{reconnect})
    connects again with capped exponential backoff and jitter, calling the
    C{on_session} handlers for every new session.

    Messages sent while no session is authorized, including between
    reconnects, wait in a bounded outbox and go out in order.
    """

    _log = Logger()

    def __init__(
        self,
        authorization: Authorization,
        heartbeat: Heartbeat | None = None,
        reconnect: bool = True,
        *,
        queue_limit: int = 1000,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        retry_policy: Callable[[int], float] | None = None,
        tls_options: Any = None,
        ca_file: str | None = None,
        encrypt: bool = False,
        server_key_fingerprints: Any = None,
        encryption_limits: Any = None,
        protocol: type[SocketnetClientProtocol] = SocketnetClientProtocol,
        reactor: Any = None,
    ):
        """
        @param authorization: who this client is.
        @param heartbeat: L{Heartbeat} settings; they must match the
            server's.
        @param reconnect: whether to connect again after a connection ends
            (not after a refusal, 4401, or a duplicate-id close, 4409 and
            4410).
        @param queue_limit: how many messages may wait for a session.
        @param retry_policy: seconds to wait given the number of failed
            attempts in a row; by default Twisted's C{backoffPolicy()}:
            1 s growing 1.5 times per attempt, capped at 60 s, plus up to
            1 s of jitter.
        @param tls_options: a client TLS connection creator for C{wss://}
            (for example C{optionsForClientTLS(host, trustRoot=ca)}); it
            wins over C{ca_file}.
        @param ca_file: the path of a PEM file of certificate authorities
            to trust for C{wss://} instead of the platform's; the server's
            certificate and host name are still verified.  Read by
            L{connect}, which raises L{ValueError} if it cannot be read.
        @param encrypt: run socketnet-enc/1 before anything else; the
            client then never sends application data in plaintext.
        @param server_key_fingerprints: the C{"sha256:<hex>"}
            fingerprints the server's key must match (current and next);
            a non-empty set forces C{encrypt} on.  Without a pin the
            encryption only stops passive eavesdroppers.
        """
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        self.authorization = authorization
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat()
        self.reconnect = reconnect
        self._queue_limit = queue_limit
        self._max_message_size = max_message_size
        self._retry_policy = retry_policy if retry_policy is not None else backoffPolicy()
        self._tls_options = tls_options
        self._ca_file = ca_file
        self._encryption = {
            "encrypt": encrypt,
            "server_key_fingerprints": server_key_fingerprints,
            "encryption_limits": encryption_limits,
        }
        self._protocol = protocol
        self._session_handlers: list[Callable[[ClientSession], Any]] = []
        self._factory: _AppClientFactory | None = None
        self._service: ClientService | None = None
        self._first_session: OneShotObserver[ClientSession] = OneShotObserver()
        self._closed: OneShotObserver[None] = OneShotObserver()
        self._protocol_now: SocketnetClientProtocol | None = None
        self._stopping = False
        self._failed_attempts = 0

    @property
    def session(self) -> ClientSession | None:
        """
        The current authorized session, or C{None}.
        """
        p = self._protocol_now
        if p is not None and p.session is not None and p.session.authorized and not p.session.closed:
            return p.session
        return None

    def on_session(self, fn: Callable[[ClientSession], Any]) -> Callable[[ClientSession], Any]:
        """
        Call C{fn(session)} for every new session, first and reconnected,
        when its WebSocket opens (before authorization; use
        C{session.on_authorized} for after).  Works as a decorator.
        """
        self._session_handlers.append(fn)
        return fn

    def connect(self, url: str) -> Deferred[ClientSession]:
        """
        Connect to C{url} (C{ws://host:port/path} or C{wss://...}).

        @return: a L{Deferred} firing with the first authorized
            L{ClientSession}; it fails with L{Unauthorized} if the server
            refuses, or (without C{reconnect}) with the connection error.
        """
        if self._factory is not None:
            raise RuntimeError("connect() was called already; make another ClientApp")
        endpoint = endpoint_for_url(self._reactor, url, self._tls_options, self._ca_file)
        factory = self._factory = _AppClientFactory(
            self,
            url,
            self.authorization,
            heartbeat=self.heartbeat,
            max_message_size=self._max_message_size,
            queue_limit=self._queue_limit,
            reactor=self._reactor,
            **self._encryption,
        )
        factory.protocol = self._protocol
        factory.session_handlers = self._session_handlers
        if self.reconnect:
            # Not prepareConnection: ClientService cannot take a connection
            # lost while it is preparing.  Backoff counts attempts until a
            # session is authorized, not until TCP connects.
            self._service = ClientService(
                endpoint, factory, retryPolicy=self._next_delay, clock=self._reactor
            )
            self._service.startService()
        else:
            endpoint.connect(factory).addErrback(self._give_up)
        return self._first_session.when_fired()

    def _next_delay(self, ignored: int) -> float:
        self._failed_attempts += 1
        return self._retry_policy(self._failed_attempts)

    def _connection_started(self, protocol: SocketnetClientProtocol) -> None:
        self._protocol_now = protocol
        protocol.whenAuthorized().addCallbacks(self._authorized, self._not_authorized)

    def _authorized(self, session: ClientSession) -> None:
        self._failed_attempts = 0
        self._first_session.fire(session)

    def _not_authorized(self, failure: Failure) -> None:
        # The connection ended first; _connection_ended decides what next.
        pass

    def _give_up(self, failure: Failure) -> None:
        self._first_session.fire(failure)
        if self._factory is not None:
            self._factory.stopWaiting(failure.value)

    def _connection_ended(self, protocol: Any, code: int | None, error: Exception) -> None:
        if self._stopping:
            return
        if not self.reconnect or is_terminal(code, error):
            if self.reconnect:
                self._log.warn(
                    "not reconnecting after close code {code}: {error}", code=code, error=error
                )
            self._stopping = True
            self._give_up(Failure(error))
            # ClientService is still handling this disconnect: stop it on
            # the next turn of the reactor.
            self._reactor.callLater(0, self._stop_service)

    def _stop_service(self) -> None:
        if self._service is None:
            self._closed.fire(None)
        else:
            self._service.stopService().addBoth(self._closed.fire)

    def close(self) -> Deferred[None]:
        """
        Close the session with 1000, stop reconnecting, and fail whatever
        still waits in the outbox with L{SessionClosed}.
        """
        if not self._stopping:
            self._stopping = True
            Deferred.fromCoroutine(self._close()).addBoth(self._closed.fire)
        return self._closed.when_fired()

    async def _close(self) -> None:
        closed = SessionClosed("the client was closed")
        self._first_session.fire(Failure(closed))
        if self._factory is not None:
            self._factory.stopWaiting(closed)
        protocol = self._protocol_now
        if protocol is not None and protocol.session is not None and not protocol.session.closed:
            lost = protocol.whenLost()
            protocol.session.close(1000, "client closed")
            await lost
        if self._service is not None:
            await self._service.stopService()


__all__ = ["ClientApp", "endpoint_for_url"]
