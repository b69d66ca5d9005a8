"""
A closed connection is freed by reference counting alone: nothing of it
waits for Python's cyclic garbage collector, whose passes stop the
reactor for milliseconds when thousands of connections' objects wait in
them.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import weakref
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import HTTPChannel, Request

from socketnet import Authorization, Heartbeat, ServerApp
from socketnet._session import ServerSession
from socketnet._stack import LayerStack
from socketnet.protocol import SocketnetClientFactory, SocketnetServerFactory, SocketnetServerProtocol
from socketnet.testing import URL, connect_pair

from .test_encryption import SERVER_KEY, run_now

_PEER = IPv4Address("TCP", "127.0.0.1", 40000)

#: Types that must never be left in a cycle by a closed connection.
_CONNECTION_TYPES = (SocketnetServerProtocol, ServerSession, LayerStack, HTTPChannel, Request)


class _TCPLikeTransport(StringTransport):
    """
    Hands bytes to whichever protocol is current, as C{tcp.Connection}
    does after a C{twisted.web} upgrade, and lets go of it once the
    connection is lost, as C{tcp.Connection} does.
    """

    def __init__(self) -> None:
        super().__init__(peerAddress=_PEER)
        self.protocol: Any = None

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def receive(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def lose(self) -> None:
        protocol, self.protocol = self.protocol, None
        protocol.connectionLost(Failure(ConnectionDone()))


def _client_frame(text: bytes) -> bytes:
    """
    One masked text frame, as a client sends it (payload under 126 bytes).
    """
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))


class _NoCyclesMixin:
    """
    Runs each test with the cyclic collector off, and checks what a
    collection afterwards would have had to free.
    """

    def setUp(self) -> None:
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

    def assertFreed(self, refs: list[weakref.ref]) -> None:
        alive = [ref() for ref in refs if ref() is not None]
        self.assertEqual(alive, [], "still referenced after the connection closed")

    def assertNoConnectionCycles(self) -> None:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            left = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, _CONNECTION_TYPES)})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        self.assertEqual(left, [])


class SiteConnectionTests(_NoCyclesMixin, SynchronousTestCase):
    """
    A connection through L{ServerApp.site}: the HTTP upgrade, the
    WebSocket and the session.
    """

    def open(self) -> tuple[_TCPLikeTransport, Any]:
        reactor = MemoryReactorClock()
        app = ServerApp(reactor=reactor, heartbeat=Heartbeat(interval=5.0))
        app.set_token_verifier(lambda authorization: True)
        transport = _TCPLikeTransport()
        transport.protocol = app.site().buildProtocol(_PEER)
        transport.protocol.makeConnection(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.receive(
            (
                "GET /socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: socketnet.v1\r\n\r\n"
            ).encode()
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101"), transport.value()[:80])
        transport.receive(_client_frame(json.dumps({"type": "auth", "id": "a", "token": "t"}).encode()))
        self.assertIn(b"authorized", transport.value())
        return transport, app

    def test_closed_connection_is_freed(self) -> None:
        """
        Once the connection is lost, the WebSocket protocol, its session
        and stack, and the upgrade's HTTP channel and request are all
        freed by reference counting.
        """
        transport, app = self.open()
        protocol = transport.protocol
        self.assertIsInstance(protocol, SocketnetServerProtocol)
        refs = [weakref.ref(protocol), weakref.ref(protocol.session), weakref.ref(protocol._stack)]
        transport.lose()
        del protocol
        self.assertFreed(refs)
        self.assertNoConnectionCycles()

    def test_is_closed_still_fires_with_the_protocol(self) -> None:
        """
        Autobahn's C{is_closed} fires with the protocol, for a Deferred
        taken before the close and for one asked for after it.
        """
        transport, app = self.open()
        protocol = transport.protocol
        fired: list[Any] = []
        protocol.is_closed.addCallback(lambda result: (fired.append(result), result)[1])
        self.assertEqual(fired, [])
        transport.lose()
        self.assertEqual(fired, [protocol])
        self.assertIs(self.successResultOf(protocol.is_closed), protocol)


class MemoryPairTests(_NoCyclesMixin, SynchronousTestCase):
    """
    A connection in memory between socketnet's own server and client,
    plaintext and encrypted: both sides are freed.
    """

    def check_freed(self, **server: Any) -> None:
        reactor = MemoryReactorClock()
        factory = SocketnetServerFactory(reactor=reactor, **server)
        factory.verifier = lambda authorization: True
        client = SocketnetClientFactory(URL, Authorization("a", "t"), reactor=reactor, encrypt=bool(server))
        pair = connect_pair(factory, client, reactor)
        self.assertTrue(pair.server.session.authorized)
        self.assertEqual(pair.server.session.encrypted, bool(server))
        pair.client.session.sessions.on_message(lambda message: None)  # the client's view of its peers
        refs = [
            weakref.ref(side)
            for side in (pair.server, pair.server.session, pair.server._stack, pair.client, pair.client.session)
        ]
        pair.client.session.close()
        pair.flush()
        reactor.advance(5)
        pair.flush()
        self.assertTrue(pair.server._lost)
        pair.server.transport.protocol = None  # as tcp.Connection does once lost
        pair.client.transport.protocol = None
        del pair
        # The client's channels send through its newest session, closed or
        # not, until the next connection's session replaces it.
        again = connect_pair(factory, client, reactor, client_port=40001)
        self.assertTrue(again.client.session.authorized)
        self.assertFreed(refs)

    def test_plaintext(self) -> None:
        self.check_freed()

    def test_encrypted(self) -> None:
        self.check_freed(encrypt="required", server_key=SERVER_KEY, run_blocking=run_now)
