# -*- test-case-name: tests.test_heartbeat -*-
"""
Tests for L{socketnet._heartbeat}: the L{Heartbeat} settings and the
L{HeartbeatLayer}, driven with recording fakes for its neighbours and a
L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from socketnet import Authorization, _frames
from socketnet._heartbeat import Heartbeat, HeartbeatLayer, heartbeat_wheel
from socketnet.closecodes import CloseCode
from socketnet.interfaces import ILayer
from socketnet.protocol import SocketnetClientFactory, SocketnetServerFactory
from socketnet.testing import URL, connect_pair


class Neighbours:
    """
    Recording fakes for the callables a layer gets from the stack.

    @ivar written: frames handed to C{write_down}, in order.
    @ivar delivered: frames handed to C{deliver_up}, in order.
    @ivar closed: C{(code, reason)} pairs handed to C{close}, in order.
    """

    def __init__(self) -> None:
        self.written: list[Any] = []
        self.delivered: list[Any] = []
        self.closed: list[tuple[int, str]] = []

    def write_down(self, frame: Any) -> None:
        self.written.append(frame)

    def deliver_up(self, frame: Any) -> None:
        self.delivered.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


class HeartbeatSettingsTests(SynchronousTestCase):
    """
    Tests for L{Heartbeat}.
    """

    def test_defaults(self) -> None:
        """
        By default the client drives the heartbeat every 10 seconds and the
        timeout is 2.5 times that.
        """
        settings = Heartbeat()
        self.assertEqual(settings.mode, "client")
        self.assertEqual(settings.interval, 10.0)
        self.assertEqual(settings.timeout, 25.0)

    def test_modes(self) -> None:
        """
        C{"client"} and C{"server"} are accepted as modes.
        """
        self.assertEqual(Heartbeat(mode="client").mode, "client")
        self.assertEqual(Heartbeat(mode="server").mode, "server")

    def test_bad_mode(self) -> None:
        """
        A mode other than C{"client"} or C{"server"} raises L{ValueError}.
        """
        for mode in ["", "Client", "both", "peer", None]:
            with self.subTest(mode=mode):
                self.assertRaises(ValueError, Heartbeat, mode=mode)

    def test_interval_must_be_positive(self) -> None:
        """
        An interval that is zero, negative or NaN raises L{ValueError}.
        """
        for interval in [0, 0.0, -1, -0.5, float("nan")]:
            with self.subTest(interval=interval):
                self.assertRaises(ValueError, Heartbeat, interval=interval)

    def test_timeout_must_be_positive(self) -> None:
        """
        An explicit timeout that is zero, negative or NaN raises
        L{ValueError}.
        """
        for timeout in [0, 0.0, -1, -0.5, float("nan")]:
            with self.subTest(timeout=timeout):
                self.assertRaises(ValueError, Heartbeat, timeout=timeout)

    def test_default_timeout_follows_interval(self) -> None:
        """
        Without an explicit timeout, the timeout is 2.5 times the interval.
        """
        self.assertEqual(Heartbeat(interval=4).timeout, 10.0)
        self.assertEqual(Heartbeat(interval=0.5).timeout, 1.25)

    def test_explicit_timeout_kept(self) -> None:
        """
        An explicit timeout is kept as given, whatever the interval.
        """
        self.assertEqual(Heartbeat(interval=4, timeout=7).timeout, 7)
        self.assertEqual(Heartbeat(interval=4, timeout=100.5).timeout, 100.5)

    def test_frozen(self) -> None:
        """
        Settings are immutable.
        """
        settings = Heartbeat()
        with self.assertRaises(AttributeError):
            settings.interval = 1.0  # type: ignore[misc]


class HeartbeatLayerTests(SynchronousTestCase):
    """
    Tests for L{HeartbeatLayer}.
    """

    #: Pings every 4 seconds, closes after 10 seconds of silence.
    settings = Heartbeat(mode="client", interval=4, timeout=10)

    def build(
        self, settings: Heartbeat | None = None, is_server: bool = False, start: bool = True
    ) -> tuple[HeartbeatLayer, Neighbours, Clock]:
        """
        A heartbeat layer wired to recording neighbours and a fresh clock,
        started unless C{start} is false.
        """
        clock = Clock()
        neighbours = Neighbours()
        layer = HeartbeatLayer(
            self.settings if settings is None else settings,
            is_server,
            clock=clock,
            write_down=neighbours.write_down,
            deliver_up=neighbours.deliver_up,
            close=neighbours.close,
        )
        if start:
            layer.start()
        return layer, neighbours, clock

    def test_interface(self) -> None:
        """
        L{HeartbeatLayer} provides L{ILayer}.
        """
        layer, _, _ = self.build(start=False)
        self.assertTrue(verifyObject(ILayer, layer))

    def test_nothing_before_start(self) -> None:
        """
        Building the layer schedules nothing and writes nothing; timers
        start with C{start}.
        """
        layer, neighbours, clock = self.build(start=False)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(100)
        self.assertEqual(neighbours.written, [])
        self.assertEqual(neighbours.closed, [])

    def assert_drives(self, settings: Heartbeat, is_server: bool) -> None:
        layer, neighbours, clock = self.build(settings, is_server)
        self.assertEqual(neighbours.written, [])
        clock.advance(3.5)
        self.assertEqual(neighbours.written, [])
        clock.advance(0.5)
        self.assertEqual(neighbours.written, [_frames.PING])
        # Keep the peer alive so that the watchdog stays quiet.
        layer.receive({"type": "pong"})
        clock.advance(4)
        self.assertEqual(neighbours.written, [_frames.PING] * 2)
        layer.receive({"type": "pong"})
        clock.advance(4)
        self.assertEqual(neighbours.written, [_frames.PING] * 3)
        self.assertEqual(neighbours.closed, [])

    def assert_does_not_drive(self, settings: Heartbeat, is_server: bool) -> None:
        layer, neighbours, clock = self.build(settings, is_server)
        for _ in range(8):
            clock.advance(1)
            layer.receive({"type": "ping"})
        self.assertNotIn(_frames.PING, neighbours.written)
        self.assertEqual(neighbours.written, [_frames.PONG] * 8)

    def test_client_drives_in_client_mode(self) -> None:
        """
        In mode C{"client"} the client writes a ping every interval.
        """
        self.assert_drives(Heartbeat(mode="client", interval=4, timeout=10), is_server=False)

    def test_server_waits_in_client_mode(self) -> None:
        """
        In mode C{"client"} the server never writes a ping of its own.
        """
        self.assert_does_not_drive(
            Heartbeat(mode="client", interval=4, timeout=10), is_server=True
        )

    def test_server_drives_in_server_mode(self) -> None:
        """
        In mode C{"server"} the server writes a ping every interval.
        """
        self.assert_drives(Heartbeat(mode="server", interval=4, timeout=10), is_server=True)

    def test_client_waits_in_server_mode(self) -> None:
        """
        In mode C{"server"} the client never writes a ping of its own.
        """
        self.assert_does_not_drive(
            Heartbeat(mode="server", interval=4, timeout=10), is_server=False
        )

    def test_ping_answered_with_pong(self) -> None:
        """
        A received ping is answered at once with a pong written down and is
        not delivered up.
        """
        for is_server in (False, True):
            with self.subTest(is_server=is_server):
                layer, neighbours, clock = self.build(is_server=is_server)
                layer.receive({"type": "ping"})
                self.assertEqual(neighbours.written, [_frames.PONG])
                self.assertEqual(neighbours.delivered, [])

    def test_pong_not_delivered(self) -> None:
        """
        A received pong is swallowed: nothing is delivered up or written.
        """
        layer, neighbours, clock = self.build()
        layer.receive({"type": "pong"})
        self.assertEqual(neighbours.delivered, [])
        self.assertEqual(neighbours.written, [])

    def test_other_frames_delivered_up(self) -> None:
        """
        Frames other than ping and pong are delivered up unchanged, in
        order, and nothing is written in answer.
        """
        layer, neighbours, clock = self.build()
        frames = [
            {"type": "auth", "id": "a", "token": "t"},
            {"type": "authorized", "id": "a"},
            {"type": "message", "data": [1, 2], "request": 3},
            {"type": "reply", "request": 3, "data": None},
        ]
        for frame in frames:
            layer.receive(frame)
        self.assertEqual(neighbours.delivered, frames)
        self.assertIs(neighbours.delivered[2], frames[2])
        self.assertEqual(neighbours.written, [])

    def test_write_passes_down(self) -> None:
        """
        Frames written from above are passed down unchanged.
        """
        layer, neighbours, clock = self.build()
        frame = _frames.message({"x": 1})
        layer.write(frame)
        self.assertEqual(neighbours.written, [frame])

    def test_silent_peer_closed_at_timeout(self) -> None:
        """
        A peer that sends nothing is closed with 4008 exactly when the
        timeout has passed, not before, and only once.
        """
        for is_server in (False, True):
            with self.subTest(is_server=is_server):
                layer, neighbours, clock = self.build(is_server=is_server)
                clock.advance(9.5)
                self.assertEqual(neighbours.closed, [])
                clock.advance(0.5)
                self.assertEqual(
                    neighbours.closed,
                    [(CloseCode.HEARTBEAT_TIMEOUT, CloseCode.HEARTBEAT_TIMEOUT.reason)],
                )
                self.assertEqual(neighbours.closed[0][0], 4008)
                clock.advance(100)
                self.assertEqual(len(neighbours.closed), 1)

    def test_default_timeout_closes(self) -> None:
        """
        With the default timeout, a silent peer is closed after 2.5 times
        the interval.
        """
        layer, neighbours, clock = self.build(Heartbeat(mode="server", interval=2))
        clock.advance(4.5)
        self.assertEqual(neighbours.closed, [])
        clock.advance(0.5)
        self.assertEqual([code for code, _ in neighbours.closed], [4008])

    def test_any_frame_resets_silence(self) -> None:
        """
        While frames of any kind keep arriving, the connection is never
        closed, however long it lasts.
        """
        layer, neighbours, clock = self.build()
        frames = [
            {"type": "ping"},
            {"type": "pong"},
            {"type": "message", "data": 1},
            {"type": "reply", "request": 1, "data": 2},
        ]
        for step in range(40):
            clock.advance(3)
            self.assertEqual(neighbours.closed, [], f"closed at {clock.seconds()}")
            layer.receive(frames[step % len(frames)])
        self.assertEqual(clock.seconds(), 120)
        self.assertEqual(neighbours.closed, [])

    def test_timeout_counts_from_last_frame(self) -> None:
        """
        After the last frame, the peer is closed exactly one timeout later,
        not a timeout after the start.
        """
        layer, neighbours, clock = self.build(is_server=True)
        clock.advance(7)
        layer.receive({"type": "message", "data": None})
        clock.advance(9.5)  # 16.5: past the first timeout, 9.5 after the frame
        self.assertEqual(neighbours.closed, [])
        clock.advance(0.5)  # 17: 10 after the frame
        self.assertEqual([code for code, _ in neighbours.closed], [4008])

    def test_own_pings_do_not_count(self) -> None:
        """
        The pings this side writes are not signs of life from the peer: a
        peer that never answers is closed at the timeout.
        """
        layer, neighbours, clock = self.build(is_server=False)
        for _ in range(10):
            clock.advance(1)
        self.assertEqual(neighbours.written, [_frames.PING, _frames.PING])
        self.assertEqual([code for code, _ in neighbours.closed], [4008])

    def test_no_timers_after_timeout_close(self) -> None:
        """
        Once the layer has closed the connection for silence, no timer is
        left: no more pings, no second close.
        """
        for is_server in (False, True):
            with self.subTest(is_server=is_server):
                layer, neighbours, clock = self.build(is_server=is_server)
                clock.advance(10)
                self.assertEqual(len(neighbours.closed), 1)
                self.assertEqual(clock.getDelayedCalls(), [])
                written = list(neighbours.written)
                clock.advance(100)
                self.assertEqual(neighbours.written, written)
                # The stack destroys the layer afterwards; that is harmless.
                layer.destroy(Exception("closed"))
                self.assertEqual(clock.getDelayedCalls(), [])

    def test_destroy_cancels_timers(self) -> None:
        """
        C{destroy} cancels the pinger and the watchdog: no delayed call is
        left, nothing more is written and the connection is not closed.
        """
        for is_server in (False, True):
            with self.subTest(is_server=is_server):
                layer, neighbours, clock = self.build(is_server=is_server)
                clock.advance(5)
                layer.receive({"type": "pong"})
                self.assertNotEqual(clock.getDelayedCalls(), [])
                layer.destroy(Exception("gone"))
                self.assertEqual(clock.getDelayedCalls(), [])
                written = list(neighbours.written)
                clock.advance(100)
                self.assertEqual(neighbours.written, written)
                self.assertEqual(neighbours.closed, [])

    def test_destroy_after_rearm(self) -> None:
        """
        C{destroy} also cancels a watchdog that has been re-armed after
        frames arrived.
        """
        layer, neighbours, clock = self.build(Heartbeat(mode="server", interval=4, timeout=10))
        clock.advance(5)
        layer.receive({"type": "ping"})
        clock.advance(5)  # the watchdog fires and re-arms for 5 more seconds
        self.assertEqual(neighbours.closed, [])
        layer.destroy(Exception("gone"))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_destroy_before_start(self) -> None:
        """
        Destroying a layer that was never started is harmless.
        """
        layer, neighbours, clock = self.build(start=False)
        layer.destroy(Exception("gone"))
        self.assertEqual(clock.getDelayedCalls(), [])


class Timed(Neighbours):
    """
    Recording neighbours that also note the clock time of each write and
    close.

    @ivar at: C{(time, frame)} for each frame written down.
    @ivar closed_at: clock times of each close.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[tuple[float, Any]] = []
        self.closed_at: list[float] = []

    def write_down(self, frame: Any) -> None:
        super().write_down(frame)
        self.at.append((self.clock.seconds(), frame))

    def close(self, code: int, reason: str) -> None:
        super().close(code, reason)
        self.closed_at.append(self.clock.seconds())


class SharedWheelTests(SynchronousTestCase):
    """
    Tests for L{HeartbeatLayer}s sharing one L{TimerWheel}, as a server's
    connections do.
    """

    #: The server pings every second; the resolution is 1/8 s.
    settings = Heartbeat(mode="server", interval=1)

    def setUp(self) -> None:
        self.clock = Clock()
        self.wheel = heartbeat_wheel(self.clock, self.settings)

    def layer(self, settings: Heartbeat | None = None) -> tuple[HeartbeatLayer, Timed]:
        """
        A started server-side layer on the shared wheel.
        """
        neighbours = Timed(self.clock)
        layer = HeartbeatLayer(
            self.settings if settings is None else settings,
            True,
            clock=self.clock,
            write_down=neighbours.write_down,
            deliver_up=neighbours.deliver_up,
            close=neighbours.close,
            wheel=self.wheel,
        )
        layer.start()
        return layer, neighbours

    def at(self, when: float) -> None:
        """
        Move the clock to C{when}.
        """
        self.clock.advance(when - self.clock.seconds())

    def test_resolution(self) -> None:
        """
        The wheel for some settings has a resolution of at most an eighth
        of their interval and of their timeout, and at most one second.
        """
        self.assertEqual(self.wheel.resolution, 0.125)
        self.assertEqual(heartbeat_wheel(self.clock, Heartbeat()).resolution, 1.0)
        self.assertEqual(heartbeat_wheel(self.clock, Heartbeat(interval=4, timeout=2)).resolution, 0.25)

    def test_many_sessions_one_delayed_call(self) -> None:
        """
        However many layers are started, at whatever times, the clock holds
        one delayed call for all their pings and watchdogs, and every layer
        is pinged once per interval.
        """
        pairs = []
        for n in range(500):
            self.at(n * 0.002)
            pairs.append(self.layer())
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.wheel), 500)
        for second in range(1, 6):
            self.at(second + 1)
            for layer, neighbours in pairs:
                layer.receive({"type": "pong"})
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        for layer, neighbours in pairs:
            self.assertEqual(neighbours.written, [_frames.PING] * 5)
            self.assertEqual(neighbours.closed, [])

    def test_pings_keep_their_phase(self) -> None:
        """
        Each layer's pings go out one interval apart from its own start,
        rounded up to the wheel's resolution, never early: layers started
        at different times ping at different times.
        """
        starts = [0.0, 0.3, 0.6, 0.95]
        pairs = []
        for start in starts:
            self.at(start)
            pairs.append(self.layer())
        for when in [x / 8 for x in range(8, 8 * 4)]:
            self.at(when)
            for layer, _ in pairs:
                layer.receive({"type": "pong"})
        expected = {0.0: [1.0, 2.0, 3.0], 0.3: [1.375, 2.375, 3.375], 0.6: [1.625, 2.625, 3.625], 0.95: [2.0, 3.0]}
        for start, (_, neighbours) in zip(starts, pairs):
            self.assertEqual([when for when, _ in neighbours.at], expected[start])
            for n, (when, frame) in enumerate(neighbours.at):
                self.assertEqual(frame, _frames.PING)
                self.assertGreaterEqual(when, start + (n + 1) * 1.0)
                self.assertLess(when, start + (n + 1) * 1.0 + 0.125)

    def test_same_slice_pinged_together(self) -> None:
        """
        Layers due within the same tick are pinged in the same run of the
        wheel, at the same moment.
        """
        pairs = []
        for start in [0.01, 0.05, 0.1]:
            self.at(start)
            pairs.append(self.layer())
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.125)
        self.at(1.125)
        self.assertEqual([neighbours.at for _, neighbours in pairs], [[(1.125, _frames.PING)]] * 3)

    def test_silent_closed_within_a_tick_of_timeout(self) -> None:
        """
        A silent peer is closed with 4008 between the timeout and the
        timeout plus the wheel's resolution after its last frame, while a
        peer that answers stays open.
        """
        self.at(0.3)
        silent, silent_neighbours = self.layer()
        alive, alive_neighbours = self.layer()
        self.at(1.0)
        silent.receive({"type": "message", "data": None})  # last frame at 1.0
        while self.clock.seconds() < 10:
            self.clock.advance(0.0625)
            alive.receive({"type": "pong"})
        self.assertEqual(
            silent_neighbours.closed,
            [(CloseCode.HEARTBEAT_TIMEOUT, CloseCode.HEARTBEAT_TIMEOUT.reason)],
        )
        (closed_at,) = silent_neighbours.closed_at
        self.assertGreaterEqual(closed_at, 1.0 + 2.5)
        self.assertLess(closed_at, 1.0 + 2.5 + 0.125)
        self.assertEqual(alive_neighbours.closed, [])
        self.assertEqual(len(self.wheel), 1)

    def test_any_frame_counts_as_life(self) -> None:
        """
        Frames of any kind, not only pongs, keep a layer on the shared
        wheel open.
        """
        layer, neighbours = self.layer()
        frames = [{"type": "ping"}, {"type": "message", "data": 1}, {"type": "reply", "request": 1, "data": 2}]
        for step in range(60):
            self.clock.advance(0.5)
            layer.receive(frames[step % len(frames)])
        self.assertEqual(neighbours.closed, [])
        self.assertEqual(neighbours.written.count(_frames.PING), 30)

    def test_destroy_unregisters(self) -> None:
        """
        C{destroy} takes a layer off the wheel at once; when the last one
        goes, no delayed call is left, and the destroyed layers write
        nothing more.
        """
        pairs = [self.layer() for _ in range(3)]
        for n, (layer, _) in enumerate(pairs):
            layer.destroy(Exception("gone"))
            self.assertEqual(len(self.wheel), 2 - n)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual([neighbours.written for _, neighbours in pairs], [[]] * 3)

    def test_destroy_while_others_run(self) -> None:
        """
        A layer destroyed by another one's close, in the same run of the
        wheel, is not pinged or closed afterwards.
        """
        first, first_neighbours = self.layer()
        second, second_neighbours = self.layer()
        closes: list[int] = []

        def close_both(code: int, reason: str) -> None:
            closes.append(code)
            first.destroy(Exception("closed"))
            second.destroy(Exception("closed"))

        first._close = second._close = close_both
        self.clock.advance(2.5)
        self.assertEqual(closes, [CloseCode.HEARTBEAT_TIMEOUT])
        self.assertEqual(len(self.wheel), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_late_reactor_skips_missed_pings(self) -> None:
        """
        When the reactor falls behind by several intervals, a layer sends
        one ping, not a burst, and its later pings keep their phase.
        """
        layer, neighbours = self.layer(Heartbeat(mode="server", interval=1, timeout=10))
        self.clock.advance(3.5)
        self.assertEqual(neighbours.at, [(3.5, _frames.PING)])
        self.at(4.0)
        self.assertEqual(neighbours.at, [(3.5, _frames.PING), (4.0, _frames.PING)])

    def test_no_state_per_instance_dict(self) -> None:
        """
        The layer has C{__slots__}: no per-instance C{__dict__}.
        """
        layer, _ = self.layer()
        self.assertFalse(hasattr(layer, "__dict__"))


class ServerFactoryWheelTests(SynchronousTestCase):
    """
    A server factory's connections share the factory's heartbeat wheel.
    """

    def test_connections_share_the_factory_wheel(self) -> None:
        """
        The factory builds one wheel on its own reactor; every server-side
        heartbeat layer is filed on it, with one delayed call between them,
        and each is taken off when its connection ends.
        """
        reactor = MemoryReactorClock()
        beat = Heartbeat(mode="server", interval=1)
        server = SocketnetServerFactory(reactor=reactor, heartbeat=beat)
        server.verifier = lambda authorization: True
        wheel = server.heartbeat_wheel
        self.assertEqual(wheel.resolution, 0.125)
        self.assertEqual(reactor.getDelayedCalls(), [])
        pairs = []
        for n in range(3):
            client = SocketnetClientFactory(URL, Authorization(str(n), "t"), reactor=reactor, heartbeat=beat)
            pairs.append(connect_pair(server, client, reactor, client_port=40000 + n))
            reactor.advance(0.3)
        self.assertEqual(len(wheel), 3)
        for pair in pairs:
            (layer,) = [x for x in pair.server._stack.layers if isinstance(x, HeartbeatLayer)]
            self.assertIs(layer._wheel, wheel)
        runs = [call for call in reactor.getDelayedCalls() if call.func == wheel._run]
        self.assertEqual(len(runs), 1)
        for _ in range(40):
            for pair in pairs:
                pair.advance(0.125)
        self.assertEqual([pair.server.session.closed for pair in pairs], [False] * 3)
        for n, pair in enumerate(pairs):
            pair.server.session.close()
            for _ in range(16):
                reactor.advance(0.125)
                for each in pairs:
                    each.flush()
            self.assertTrue(pair.server.session.closed)
            self.assertEqual(len(wheel), 2 - n)
        self.assertEqual(reactor.getDelayedCalls(), [])
