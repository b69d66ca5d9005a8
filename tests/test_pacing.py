"""
Tests for L{socketnet._pacing}: new connections' opening work spread over
reactor turns.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted.internet.defer import Deferred, gatherResults

from socketnet import ServerApp
from socketnet._pacing import PacedSite, UpgradePacer, _PacedConnection

from ._certs import server_files
from ._helpers import check_token, client


class _OneTurnAtATime:
    """
    Makes C{advance} run one reactor turn, as a real reactor does: calls
    scheduled while timed calls run wait for the next turn.  (L{Clock}
    would run a C{callLater(0)} made during C{advance(0)} in the same
    advance.)
    """

    def advance(self, amount: float) -> None:
        self.rightNow += amount
        due = sorted((c for c in self.calls if c.getTime() <= self.rightNow), key=lambda c: c.getTime())
        for call in due:
            if call in self.calls:
                self.calls.remove(call)
                call.called = 1
                call.func(*call.args, **call.kw)


class TurnClock(_OneTurnAtATime, Clock):
    pass


class TurnReactor(_OneTurnAtATime, MemoryReactorClock):
    pass


class RecordingProtocol(Protocol):
    """
    Records the bytes it is handed and whether its connection was lost.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lost: list[Any] = []

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Any) -> None:
        self.lost.append(reason)


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def paced(pacer: UpgradePacer) -> tuple[_PacedConnection, RecordingProtocol, StringTransport]:
    inner = RecordingProtocol()
    connection = _PacedConnection(inner, pacer)
    transport = _Transport()
    connection.makeConnection(transport)
    return connection, inner, transport


class UpgradePacerTests(SynchronousTestCase):
    """
    L{UpgradePacer} lets C{per_turn} new connections through per reactor
    turn and the rest through in later turns, oldest first.
    """

    def setUp(self) -> None:
        self.clock = TurnClock()
        self.pacer = UpgradePacer(self.clock, 2)

    def test_perTurn(self) -> None:
        """
        The first C{per_turn} connections of a turn are handled at once;
        later ones stop reading, and each later turn releases up to
        C{per_turn} of them with their bytes, in the order they came.
        """
        connections = [paced(self.pacer) for _ in range(5)]
        for n, (connection, _, _) in enumerate(connections):
            connection.dataReceived(b"GET /%d" % n)
        handled = [inner.received for _, inner, _ in connections]
        self.assertEqual(handled, [[b"GET /0"], [b"GET /1"], [], [], []])
        self.assertEqual([t.producerState for _, _, t in connections], ["producing"] * 2 + ["paused"] * 3)
        self.assertEqual(self.pacer.waiting, 3)

        self.clock.advance(0)
        handled = [inner.received for _, inner, _ in connections]
        self.assertEqual(handled, [[b"GET /0"], [b"GET /1"], [b"GET /2"], [b"GET /3"], []])
        self.assertEqual(connections[2][2].producerState, "producing")
        self.assertEqual(connections[4][2].producerState, "paused")

        self.clock.advance(0)
        self.assertEqual(connections[4][1].received, [b"GET /4"])
        self.assertEqual(self.pacer.waiting, 0)

    def test_noTimerWhenQuiet(self) -> None:
        """
        The pacer holds a timer only while turns matter: after a quiet
        turn nothing is scheduled.
        """
        self.assertEqual(self.clock.getDelayedCalls(), [])
        connection, _, _ = paced(self.pacer)
        connection.dataReceived(b"GET /")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_laterBytesGoStraightOn(self) -> None:
        """
        Once a connection has been let through, its later bytes are handed
        on at once, whatever the turn's count; bytes read while held are
        kept and delivered together, in order.
        """
        first, inner, _ = paced(self.pacer)
        first.dataReceived(b"a")
        for _ in range(2):
            paced(self.pacer)[0].dataReceived(b"x")
        first.dataReceived(b"b")
        self.assertEqual(inner.received, [b"a", b"b"])

        held, held_inner, _ = paced(self.pacer)
        held.dataReceived(b"GET ")
        held.dataReceived(b"/ HTTP/1.1")
        self.clock.advance(0)
        self.clock.advance(0)
        self.assertEqual(held_inner.received, [b"GET / HTTP/1.1"])

    def test_lostWhileHeld(self) -> None:
        """
        A held connection that goes away is forgotten: it is never
        released, and its protocol learns of the loss.
        """
        for _ in range(2):
            paced(self.pacer)[0].dataReceived(b"x")
        held, inner, _ = paced(self.pacer)
        held.dataReceived(b"GET /")
        held.connectionLost(Exception("gone"))
        self.assertEqual(self.pacer.waiting, 0)
        self.clock.advance(0)
        self.assertEqual(inner.received, [])
        self.assertEqual(len(inner.lost), 1)

    def test_stopAbortsHeld(self) -> None:
        """
        L{UpgradePacer.stop} cancels its timer and aborts the connections
        still waiting.
        """
        for _ in range(2):
            paced(self.pacer)[0].dataReceived(b"x")
        held, inner, transport = paced(self.pacer)
        held.dataReceived(b"GET /")
        self.pacer.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inner.received, [])

    def test_failingReleaseAborts(self) -> None:
        """
        A held connection whose protocol raises on its first bytes is
        logged and aborted, and the connections behind it still get
        their turn.
        """
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        for _ in range(2):
            paced(self.pacer)[0].dataReceived(b"x")
        failing, inner, transport = paced(self.pacer)

        def fail(data: bytes) -> None:
            raise RuntimeError("bad")

        inner.dataReceived = fail  # type: ignore[method-assign]
        failing.dataReceived(b"GET /")
        behind, behind_inner, _ = paced(self.pacer)
        behind.dataReceived(b"GET /next")
        self.clock.advance(0)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(behind_inner.received, [b"GET /next"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len([e for e in logged if e.get("log_failure")]), 1)

    def test_badPerTurn(self) -> None:
        """
        C{per_turn} must be a positive integer.
        """
        for value in (0, -1, 1.5, "8", None):
            self.assertRaises(ValueError, UpgradePacer, Clock(), value)


def upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET /socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: socketnet.v1\r\n\r\n"
    ).encode()


class PacedSiteTests(SynchronousTestCase):
    """
    L{ServerApp.site} paces WebSocket upgrades: with C{upgrades_per_turn}
    of 3, ten connections whose upgrade requests arrive in one turn are
    answered three per turn, and every one of them opens.
    """

    def test_burstOfUpgrades(self) -> None:
        """
        Ten upgrade requests in one turn: three get their 101 at once,
        three more in each following turn, and all ten sessions open.
        """
        clock = TurnReactor()
        app = ServerApp(upgrades_per_turn=3, reactor=clock)
        app.set_token_verifier(lambda authorization: True)
        site = app.site()
        self.assertIsInstance(site, PacedSite)
        transports = []
        for n in range(10):
            address = IPv4Address("TCP", "127.0.0.1", 40000 + n)
            protocol = site.buildProtocol(address)
            transport = _Transport(peerAddress=address)
            transport.protocol = protocol  # as a TCP transport has it
            protocol.makeConnection(transport)
            protocol.dataReceived(upgrade_request())
            transports.append(transport)

        def opened() -> int:
            return sum(t.value().startswith(b"HTTP/1.1 101") for t in transports)

        self.assertEqual(opened(), 3)
        self.assertEqual(len(app.factory.connections), 3)
        for expected in (6, 9, 10):
            clock.advance(0)
            self.assertEqual(opened(), expected)
        self.assertEqual(len(app.factory.connections), 10)
        self.assertEqual(app._pacer.waiting, 0)
        for connection in list(app.factory.connections):
            connection.transport.loseConnection()
            connection.connectionLost(Failure(ConnectionDone()))
        app.close()
        for call in clock.getDelayedCalls():
            call.cancel()


class PacedLoopbackTests(TestCase):
    """
    Paced sites over real loopback sockets, plain and TLS: with one
    upgrade per reactor turn, clients that connect together all open,
    authorize and get answers.
    """

    async def _many(self, app: ServerApp, url: str, **client_options: Any) -> None:
        app.set_token_verifier(check_token)
        app.on_message(lambda message, session: {"echo": message.data})
        sessions = await gatherResults(
            [Deferred.fromCoroutine(_connect(self, cid, url, **client_options)) for cid in ("1", "2", "3")]
        )
        self.assertEqual(sorted(s.id for s in sessions), ["1", "2", "3"])
        answers = await gatherResults([s.request(s.id) for s in sessions])
        self.assertEqual(sorted(a["echo"] for a in answers), ["1", "2", "3"])
        self.assertEqual(app._pacer.waiting, 0)

    async def test_plain(self) -> None:
        """
        Three clients over C{ws://} all open through a site that handles
        one upgrade per turn.
        """
        app = ServerApp(upgrades_per_turn=1)
        port = await app.listen("tcp:0:interface=127.0.0.1")
        self.addCleanup(app.close)
        await self._many(app, f"ws://127.0.0.1:{port.getHost().port}/socket")

    async def test_tls(self) -> None:
        """
        The same over C{wss://}: holding a connection pauses and resumes
        a TLS transport too.
        """
        files = server_files(self)
        app = ServerApp(upgrades_per_turn=1)
        port = await app.listen(files.endpoint())
        self.addCleanup(app.close)
        await self._many(app, f"wss://localhost:{port.getHost().port}/socket", ca_file=files.ca)


async def _connect(testcase: TestCase, client_id: str, url: str, **options: Any) -> Any:
    return await client(testcase, client_id, **options).connect(url)
