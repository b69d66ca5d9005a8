"""
The Autobahn edge and the whole stack in memory: real server and client
protocols joined by iosim transports, with time on a MemoryReactorClock.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from socketnet import Authorization, Heartbeat
from socketnet.closecodes import CloseCode
from socketnet.errors import ReplyTimeout, SessionClosed
from socketnet.protocol import SocketnetClientFactory, SocketnetServerFactory
from socketnet.testing import URL, connect_pair


def make_pair(
    testcase: Any,
    server_heartbeat: Heartbeat | None = None,
    client_heartbeat: Heartbeat | None = None,
    verifier: Any = lambda authorization: True,
    auth_timeout: float = 10.0,
    client_id: str = "1",
) -> Any:
    reactor = MemoryReactorClock()
    server = SocketnetServerFactory(reactor=reactor, heartbeat=server_heartbeat, auth_timeout=auth_timeout)
    server.verifier = verifier
    client = SocketnetClientFactory(URL, Authorization(client_id, "t"), reactor=reactor, heartbeat=client_heartbeat)
    pair = connect_pair(server, client, reactor)
    pair.server_factory = server
    return pair


class HeartbeatExpiryTests(SynchronousTestCase):
    """
    A silent peer is closed and cleaned up on both sides.
    """

    def test_no_pings_closes_both_sides(self) -> None:
        """
        When nobody pings (the client is set to wait for server pings, the
        server for client pings), both sides close with 4008 after the
        timeout, the registry forgets the session and no timer is left.
        """
        pair = make_pair(
            self,
            server_heartbeat=Heartbeat(mode="client", interval=4.0),
            client_heartbeat=Heartbeat(mode="server", interval=4.0),
        )
        self.assertTrue(pair.server.session.authorized)
        pair.advance(9.9)
        self.assertFalse(pair.server.session.closed)
        pair.advance(0.1)
        pair.advance(1)
        self.assertTrue(pair.server.session.closed)
        self.assertTrue(pair.client.session.closed)
        self.assertEqual(pair.server.session.close_reason.code, CloseCode.HEARTBEAT_TIMEOUT)
        self.assertEqual(pair.client.session.close_reason.code, CloseCode.HEARTBEAT_TIMEOUT)
        self.assertEqual(len(pair.server_factory.sessions), 0)
        self.assertEqual(pair.reactor.getDelayedCalls(), [])

    def test_pings_keep_the_connection(self) -> None:
        """
        With matching settings the client's pings keep both sides open far
        past the timeout.
        """
        beat = Heartbeat(mode="client", interval=1.0)
        pair = make_pair(self, beat, beat)
        for _ in range(100):
            pair.advance(1.0)
        self.assertFalse(pair.server.session.closed)
        self.assertFalse(pair.client.session.closed)

    def test_server_mode(self) -> None:
        """
        In server mode the server pings and the client answers.
        """
        beat = Heartbeat(mode="server", interval=1.0)
        pair = make_pair(self, beat, beat)
        for _ in range(50):
            pair.advance(1.0)
        self.assertFalse(pair.server.session.closed)

    def test_network_silence(self) -> None:
        """
        When bytes stop flowing both ways, each side closes on its own
        after the timeout, even though the close handshake cannot
        complete.
        """
        beat = Heartbeat(mode="client", interval=1.0)
        pair = make_pair(self, beat, beat)
        server_session, client_session = pair.server.session, pair.client.session
        pair.reactor.advance(2.5)  # no pumping: nothing gets through
        pair.reactor.advance(2)  # Autobahn's close handshake timeout, on our clock
        pair.flush()
        self.assertTrue(server_session.closed)
        self.assertTrue(client_session.closed)
        self.assertEqual(pair.reactor.getDelayedCalls(), [])


class AuthorizationTimeoutTests(SynchronousTestCase):
    """
    The authorization deadline.
    """

    def test_slow_verifier_times_out(self) -> None:
        """
        A verifier that never answers leaves the connection to be closed
        with 4408 at the authorization timeout; the client learns the code.
        """
        from twisted.internet.defer import Deferred

        pair = make_pair(self, verifier=lambda a: Deferred(), auth_timeout=5.0)
        self.assertFalse(pair.client.session.authorized)
        pair.advance(4.9)
        self.assertFalse(pair.client.session.closed)
        pair.advance(0.1)
        pair.advance(1)
        self.assertEqual(pair.client.session.close_reason.code, CloseCode.AUTH_TIMEOUT)
        self.assertEqual(pair.reactor.getDelayedCalls(), [])


class ReplyTimeoutTests(SynchronousTestCase):
    """
    Requests without answers.
    """

    def test_request_times_out_and_late_reply_is_dropped(self) -> None:
        """
        A request with no answer fails with ReplyTimeout at its timeout; a
        reply that comes afterwards is dropped and logged at debug level.
        """
        pair = make_pair(self)
        held: list[Any] = []
        pair.client.session.on_message(held.append)
        d = pair.server.session.request("answer me", timeout=5)
        pair.flush()
        self.assertEqual(len(held), 1)
        pair.advance(4.9)
        self.assertNoResult(d)
        pair.advance(0.1)
        self.failureResultOf(d, ReplyTimeout)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        held[0].reply("too late")
        pair.flush()
        late = [e for e in events if "no longer waiting" in e.get("log_format", "")]
        self.assertEqual(len(late), 1)
        self.assertEqual(late[0]["log_level"], LogLevel.debug)
        self.assertFalse(pair.server.session.closed)

    def test_closing_fails_requests_at_once(self) -> None:
        """
        A request from the client fails with SessionClosed as soon as the
        server closes the session, long before its timeout.
        """
        pair = make_pair(self)
        d = pair.client.session.request("anyone?", timeout=600)
        pair.server.session.close(4000, "bye")
        pair.flush()
        failure = self.failureResultOf(d, SessionClosed)
        self.assertEqual(failure.value.code, 4000)


class AutobahnFastPathTests(SynchronousTestCase):
    """
    socketnet's protocols take Autobahn's plain per-message cases straight
    through: each message goes to the stack without Autobahn's "message"
    event unless something observes it, and a write in the open state goes
    to the transport at once, counted in Autobahn's traffic statistics.
    """

    def test_open_write_goes_out_at_once_and_is_counted(self) -> None:
        pair = make_pair(self)
        server = pair.server
        server.trafficStats.reset()
        written: list[bytes] = []
        original = server.transport.write
        server.transport.write = lambda data: (written.append(data), original(data))[1]
        server.session.send("hi")
        self.assertEqual(len(written), 1)
        self.assertIn(b'"hi"', written[0])
        self.assertEqual(server.trafficStats.outgoingOctetsWireLevel, len(written[0]))
        self.assertEqual(list(server.send_queue), [])

    def test_message_observer_still_fires(self) -> None:
        """
        An observer registered with Autobahn's C{on("message", ...)} sees
        every message, and the stack still gets it.
        """
        pair = make_pair(self)
        seen: list[tuple[bytes, bool]] = []
        pair.server.on("message", lambda payload, is_binary: seen.append((payload, is_binary)))
        pair.server_factory.message_handlers.append(lambda message, session: message.data.upper())
        d = pair.client.session.request("hello")
        pair.flush()
        self.assertEqual(self.successResultOf(d), "HELLO")
        self.assertEqual(len(seen), 1)
        self.assertIn(b'"hello"', seen[0][0])
        self.assertFalse(seen[0][1])

    def test_without_observers_the_stack_gets_every_message(self) -> None:
        """
        With no observer, every message still reaches the stack whole,
        also when it came in several WebSocket frames.
        """
        pair = make_pair(self)
        got: list[Any] = []
        pair.server_factory.message_handlers.append(lambda message, session: got.append(message.data))
        pair.client.session.send("x" * 10)
        pair.client.session.send("y")
        pair.flush()
        self.assertEqual(got, ["x" * 10, "y"])
        payload = b'{"type":"message","data":"in pieces"}'
        pair.client.beginMessage()
        pair.client.beginMessageFrame(10)
        pair.client.sendMessageFrameData(payload[:10])
        pair.client.beginMessageFrame(len(payload) - 10)
        pair.client.sendMessageFrameData(payload[10:])
        pair.client.endMessage()
        pair.flush()
        self.assertEqual(got, ["x" * 10, "y", "in pieces"])


class _TCPLikeTransport(StringTransport):
    """
    Autobahn unregisters a producer when it drops a connection whether or
    not one is registered; TCP transports allow that, StringTransport
    does not.
    """

    def unregisterProducer(self) -> None:
        self.producer = None


class HandshakeTests(SynchronousTestCase):
    """
    The WebSocket handshake as bytes.
    """

    def _handshake(self, protocols: str | None) -> bytes:
        reactor = MemoryReactorClock()
        factory = SocketnetServerFactory(reactor=reactor)
        protocol = factory.buildProtocol(None)
        transport = _TCPLikeTransport()
        protocol.makeConnection(transport)
        lines = [
            b"GET /socket HTTP/1.1",
            b"Host: 127.0.0.1:8090",
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"Sec-WebSocket-Version: 13",
        ]
        if protocols is not None:
            lines.append(b"Sec-WebSocket-Protocol: " + protocols.encode())
        protocol.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
        value = transport.value()
        protocol.connectionLost(Failure(ConnectionDone()))
        return value

    def test_subprotocol_selected(self) -> None:
        """
        A handshake offering socketnet.v1 is accepted with it selected.
        """
        value = self._handshake("chat, socketnet.v1")
        self.assertTrue(value.startswith(b"HTTP/1.1 101"))
        self.assertIn(b"Sec-WebSocket-Protocol: socketnet.v1\r\n", value)

    def test_subprotocol_missing(self) -> None:
        """
        A handshake without socketnet.v1 is refused with 400 and a reason.
        """
        value = self._handshake(None)
        self.assertTrue(value.startswith(b"HTTP/1.1 400"))
        self.assertIn(b"socketnet.v1", value)


class ProtocolOptionsTests(SynchronousTestCase):
    """
    Each server connection has every Autobahn option of its factory,
    although socketnet copies them itself rather than letting Autobahn
    copy and format them.
    """

    def test_options_copied(self) -> None:
        """
        After C{makeConnection} the protocol holds each of Autobahn's
        server options with the factory's value, and an option the
        protocol instance set itself is kept.
        """
        from autobahn.twisted.websocket import WebSocketServerProtocol

        factory = SocketnetServerFactory(reactor=MemoryReactorClock(), max_message_size=1234)
        protocol = factory.buildProtocol(None)
        protocol.closeHandshakeTimeout = 7
        protocol.makeConnection(_TCPLikeTransport())
        names = WebSocketServerProtocol.CONFIG_ATTRS
        self.assertIn("maxMessagePayloadSize", names)
        for name in names:
            expected = 7 if name == "closeHandshakeTimeout" else getattr(factory, name)
            self.assertEqual(getattr(protocol, name), expected, name)
        self.assertEqual(protocol.maxMessagePayloadSize, 1234)
        protocol.connectionLost(Failure(ConnectionDone()))


def join_pairs(testcase: Any, ids: list[str], heartbeat: Heartbeat | None = None) -> tuple[Any, list[Any]]:
    """
    One server factory and an in-memory client per id, all authorized.
    """
    reactor = MemoryReactorClock()
    server = SocketnetServerFactory(reactor=reactor, heartbeat=heartbeat)
    server.verifier = lambda authorization: True
    pairs = []
    for n, client_id in enumerate(ids):
        client = SocketnetClientFactory(URL, Authorization(client_id, "t"), reactor=reactor, heartbeat=heartbeat)
        pairs.append(connect_pair(server, client, reactor, client_port=40000 + n))
    return server, pairs


def flush_all(pairs: list[Any]) -> None:
    for _ in range(3):
        for pair in pairs:
            pair.flush()


class FanOutTests(SynchronousTestCase):
    """
    A channel message is encoded and framed once for all its members.
    """

    def test_prepared_once(self) -> None:
        """
        Sending to a channel of three other members prepares one Autobahn
        message and every member receives it.
        """
        server, pairs = join_pairs(self, ["s", "a", "b", "c"])
        got: list[Any] = []
        for pair in pairs[1:]:
            channel = pair.client.session.channel("room")
            channel.on_message(lambda m, me=pair.client.session.id: got.append((me, m.sender, m.data)))
            channel.join()
        flush_all(pairs)
        prepared: list[bytes] = []
        original = server.prepareMessage
        server.prepareMessage = lambda payload, *a, **k: (prepared.append(payload), original(payload, *a, **k))[1]
        pairs[0].client.session.channel("room").send({"n": 1})
        flush_all(pairs)
        self.assertEqual(len(prepared), 1)
        self.assertEqual(sorted(got), [("a", "s", {"n": 1}), ("b", "s", {"n": 1}), ("c", "s", {"n": 1})])


class RoutedRequestTimerTests(SynchronousTestCase):
    """
    The server forgets a routed request when the requester's timeout ends.
    """

    def test_expiry_forgets_state(self) -> None:
        """
        A direct request nobody answers fails with ReplyTimeout at the
        requester's timeout; the server's routing state is gone then, and
        a reply that comes later is dropped.
        """
        server, (a, b) = join_pairs(self, ["a", "b"])
        held: list[Any] = []
        b.client.session.sessions.on_message(held.append)
        d = a.client.session.sessions.to("b").request("q", timeout=5)
        flush_all([a, b])
        self.assertEqual(len(held), 1)
        self.assertEqual(len(server.router._waiting), 1)
        a.reactor.advance(5)
        flush_all([a, b])
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(server.router._waiting, {})
        self.assertEqual(server.sessions.get("a")._routed_out, set())
        held[0].reply("late")
        flush_all([a, b])
        self.assertEqual(server.sessions.get("b")._routes, {})
        self.assertFalse(a.client.session.closed)


class GracefulCloseTests(SynchronousTestCase):
    """
    A normal close still takes what the peer had already sent.
    """

    def test_reply_in_flight_arrives_after_close(self) -> None:
        """
        A reply the server sent before it saw the client's close (1000)
        still answers the client's request.
        """
        pair = make_pair(self)
        pair.server_factory.message_handlers.append(lambda m, s: "answer")
        d = pair.client.session.request("question")
        pair.pump.pump()  # the request reaches the server, whose reply is written
        pair.client.session.close(1000)
        pair.flush()
        self.assertEqual(self.successResultOf(d), "answer")
        self.assertTrue(pair.client.session.closed)


class RoutingEdgeTests(SynchronousTestCase):
    """
    Routing corner cases found in review.
    """

    def test_long_timeout_is_clamped(self) -> None:
        """
        A routed request with a timeout beyond the protocol's maximum is
        announced with the maximum instead of breaking the connection.
        """
        server, (a, b) = join_pairs(self, ["a", "b"])
        b.client.session.sessions.on_message(lambda m: "ok")
        d = a.client.session.sessions.to("b").request("q", timeout=10**6)
        flush_all([a, b])
        self.assertEqual(self.successResultOf(d), "ok")
        self.assertFalse(a.client.session.closed)

    def test_no_timeout_ends_at_the_server_maximum(self) -> None:
        """
        A routed request without a timeout fails with ReplyTimeout when
        the server stops waiting for it (after MAX_TIMEOUT), instead of
        hanging forever.
        """
        from socketnet import _frames

        # One jump of a day: heartbeats slower than that keep both open.
        server, (a, b) = join_pairs(self, ["a", "b"], Heartbeat(interval=_frames.MAX_TIMEOUT))
        b.client.session.sessions.on_message(lambda m: None)
        d = a.client.session.sessions.to("b").request("q", timeout=None)
        flush_all([a, b])
        a.reactor.advance(_frames.MAX_TIMEOUT)
        flush_all([a, b])
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(server.router._waiting, {})

    def test_join_twice_asks_once(self) -> None:
        """
        Joining a channel the session is already in answers at once,
        without asking the authorizer again.
        """
        server, (a,) = join_pairs(self, ["a"])
        asked: list[str] = []
        server.router.authorizer = lambda session, channel, action: asked.append(action) or True
        channel = a.client.session.channel("room")
        first, second = channel.join(), channel.join()
        flush_all([a])
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual(asked, ["join"])

    def test_join_waiting_fails_when_client_stops(self) -> None:
        """
        A join made while disconnected fails with the client's final error
        when no session will come again.
        """
        server, (a,) = join_pairs(self, ["a"])
        a.server.session.close(4000)
        flush_all([a])
        d = a.client.session.channel("room").join()
        self.assertNoResult(d)
        a.client.factory.stopWaiting(SessionClosed("the client was closed"))
        self.failureResultOf(d, SessionClosed)


class SlowBrokerTests(SynchronousTestCase):
    """
    A broker that confirms delivery later than the recipient answers.
    """

    def test_error_before_delivery_confirmed(self) -> None:
        """
        When the recipient's error reply arrives before the broker says
        the message was delivered, the request still ends, with that
        error, once the broker does.
        """
        from twisted.internet.defer import Deferred

        from socketnet._broker import InProcessBroker
        from socketnet.errors import RemoteError

        confirmations: list[tuple[Deferred[bool], bool]] = []

        class LateBroker(InProcessBroker):
            def send_to_client(self, client_id: str, envelope: dict) -> Deferred[bool]:
                found = self._router.deliver_to_client(client_id, envelope)
                d: Deferred[bool] = Deferred()
                confirmations.append((d, found))
                return d

        reactor = MemoryReactorClock()
        server = SocketnetServerFactory(reactor=reactor, broker=LateBroker())
        server.verifier = lambda authorization: True
        a = connect_pair(server, SocketnetClientFactory(URL, Authorization("a", "t"), reactor=reactor), reactor)
        b = connect_pair(server, SocketnetClientFactory(URL, Authorization("b", "t"), reactor=reactor), reactor, client_port=40001)

        def refuse(message: Any) -> None:
            raise LookupError("not here")

        b.client.session.sessions.on_message(refuse)
        d = a.client.session.sessions.to("b").request("q")
        flush_all([a, b])
        self.assertNoResult(d)
        [(confirm, found)] = confirmations
        confirm.callback(found)
        flush_all([a, b])
        failure = self.failureResultOf(d, RemoteError)
        self.assertEqual(failure.value.name, "LookupError")
        self.flushLoggedErrors(LookupError)
