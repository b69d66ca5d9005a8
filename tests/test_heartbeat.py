# -*- test-case-name: tests.test_heartbeat -*-
"""
Tests for L{socketnet._heartbeat}: the L{Heartbeat} settings and the
L{HeartbeatLayer}, driven with recording fakes for its neighbours and a
L{Clock}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from socketnet import _frames
from socketnet._heartbeat import Heartbeat, HeartbeatLayer
from socketnet.closecodes import CloseCode
from socketnet.interfaces import ILayer


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
