# -*- test-case-name: tests.test_memory -*-
"""
In-memory test helpers: a socketnet server and client joined by
L{twisted.test.iosim} transports, driven by a L{MemoryReactorClock}.

    reactor = MemoryReactorClock()
    server = SocketnetServerFactory(reactor=reactor)
    client = SocketnetClientFactory(URL, Authorization("1", "t"), reactor=reactor)
    pair = connect_pair(server, client, reactor)
    pair.flush()                  # move bytes until both sides are idle
    pair.advance(10)              # move time, then bytes
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.test import iosim

from ._client_websocket import SocketnetClientFactory
from ._websocket import SocketnetServerFactory

#: The URL in-memory clients pretend to connect to.
URL = "ws://127.0.0.1:8090/socket"

_SERVER = IPv4Address("TCP", "127.0.0.1", 8090)


class MemoryPair:
    """
    One client connection to one server, in memory.

    @ivar server: the server's protocol.
    @ivar client: the client's protocol.
    @ivar pump: the L{iosim.IOPump} between them.
    """

    def __init__(self, server: Any, client: Any, pump: iosim.IOPump, reactor: MemoryReactorClock):
        self.server = server
        self.client = client
        self.pump = pump
        self.reactor = reactor

    def flush(self) -> None:
        """
        Move bytes both ways until neither side has anything to send.
        """
        self.pump.flush()

    def advance(self, seconds: float) -> None:
        """
        Move the clock by C{seconds}, then flush.
        """
        self.reactor.advance(seconds)
        self.flush()


def connect_pair(
    server_factory: SocketnetServerFactory,
    client_factory: SocketnetClientFactory,
    reactor: MemoryReactorClock,
    client_port: int = 40000,
) -> MemoryPair:
    """
    Connect a new client protocol to a new server protocol in memory and
    flush the opening handshakes.
    """
    client_address = IPv4Address("TCP", "127.0.0.1", client_port)
    server = server_factory.buildProtocol(client_address)
    client = client_factory.buildProtocol(_SERVER)
    server_transport = iosim.FakeTransport(
        server, isServer=True, hostAddress=_SERVER, peerAddress=client_address
    )
    client_transport = iosim.FakeTransport(
        client, isServer=False, hostAddress=client_address, peerAddress=_SERVER
    )
    pump = iosim.connect(server, server_transport, client, client_transport, clock=reactor)
    pair = MemoryPair(server, client, pump, reactor)
    pair.flush()
    return pair


__all__ = ["MemoryPair", "connect_pair", "URL"]
