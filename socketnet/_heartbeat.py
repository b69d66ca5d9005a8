# -*- test-case-name: tests.test_heartbeat -*-
"""
The heartbeat layer: application-level ping and pong frames, so that
browsers (which cannot send WebSocket pings) take part, and a watchdog
that closes a connection whose peer has gone silent.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import attr
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from . import _frames
from .closecodes import CloseCode
from ._timerwheel import TimerWheel, resolution_for
from .interfaces import ILayer


def _check_mode(instance: object, attribute: object, value: str) -> None:
    if value not in ("client", "server"):
        raise ValueError(f"heartbeat mode must be 'client' or 'server', not {value!r}")


def _check_positive(instance: object, attribute: attr.Attribute, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"heartbeat {attribute.name} must be positive, not {value!r}")


@attr.s(frozen=True, auto_attribs=True)
class Heartbeat:
    """
    Heartbeat settings.

    @ivar mode: C{"client"}: the client sends a ping every C{interval} and
        the server answers; C{"server"}: the other way round.  Both sides
        must use the same mode; whichever side receives a ping answers it.
    @ivar interval: seconds between pings.
    @ivar timeout: seconds of silence (no frame of any kind) after which
        either side closes the connection with code 4008; by default 2.5
        times C{interval}.

    Pings and the watchdog run on a L{TimerWheel}, so each happens at most
    one slice late, never early: see L{heartbeat_wheel}.
    """

    mode: Literal["client", "server"] = attr.ib(default="client", validator=_check_mode)
    interval: float = attr.ib(default=10.0, validator=_check_positive)
    _timeout: float | None = attr.ib(default=None, validator=_check_positive)

    @property
    def timeout(self) -> float:
        return 2.5 * self.interval if self._timeout is None else self._timeout


def heartbeat_wheel(clock: IReactorTime, settings: Heartbeat) -> TimerWheel:
    """
    A L{TimerWheel} for heartbeat layers with C{settings}, which many
    layers may share: its resolution is at most an eighth of the interval
    and of the timeout, and at most one second.

    @param clock: the clock the layers use.
    """
    return TimerWheel(clock, resolution_for(min(settings.interval, settings.timeout)))


@implementer(ILayer)
class HeartbeatLayer:
    """
    Answers pings, sends them when this side drives the heartbeat, and
    closes the connection when the peer has been silent too long.  Any
    frame from the peer counts as a sign of life.

    The layer has no timer of its own: a L{TimerWheel}, which a server
    shares between all its connections, wakes it when its next ping or the
    end of the timeout is due, rounded up to the wheel's resolution.  So a
    ping goes out, and a silent peer is closed, up to one resolution late,
    never early.  Receiving a frame only notes the time.
    """

    #: L{write} only forwards: the stack links around it.
    passes_writes = True

    __slots__ = (
        "_settings",
        "_clock",
        "_wheel",
        "_tick",
        "_write_down",
        "_deliver_up",
        "_close",
        "_last_heard",
        "_next_ping",
    )

    def __init__(
        self,
        settings: Heartbeat,
        is_server: bool,
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
        wheel: TimerWheel | None = None,
    ):
        """
        @param settings: the L{Heartbeat} settings.
        @param is_server: whether this is the server's side.
        @param wheel: the L{TimerWheel} that wakes this layer, on C{clock};
            by default one of its own (see L{heartbeat_wheel}).
        """
        self._settings = settings
        self._clock = clock
        self._wheel = wheel if wheel is not None else heartbeat_wheel(clock, settings)
        #: The wheel tick this layer is filed under, if any.
        self._tick: int | None = None
        self._write_down = write_down
        self._deliver_up = deliver_up
        self._close = close
        self._last_heard = 0.0
        #: When the next ping is due; C{None} when this side does not
        #: drive the heartbeat.
        self._next_ping: float | None = (
            0.0 if (settings.mode == "server") == is_server else None
        )

    def start(self) -> None:
        now = self._last_heard = self._clock.seconds()
        deadline = now + self._settings.timeout
        if self._next_ping is not None:
            self._next_ping = now + self._settings.interval
            deadline = min(deadline, self._next_ping)
        self._tick = self._wheel.schedule(self, deadline)

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self._deliver_up = deliver_up

    def receive(self, frame: _frames.Frame) -> None:
        self._last_heard = self._clock.seconds()
        kind = frame["type"]
        if kind == "ping":
            self._write_down(_frames.PONG)
        elif kind != "pong":
            self._deliver_up(frame)

    def write(self, frame: bytes) -> None:
        self._write_down(frame)

    def wake(self) -> None:
        """
        Called by the wheel: close the connection if the peer has been
        silent for the timeout, else ping if a ping is due, and ask to be
        woken at the next of those two times.
        """
        wheel = self._wheel
        deadline = self._last_heard + self._settings.timeout
        if wheel.due(deadline):
            self._tick = None
            self._close(CloseCode.HEARTBEAT_TIMEOUT, CloseCode.HEARTBEAT_TIMEOUT.reason)
            return
        next_ping = self._next_ping
        if next_ping is None:
            self._tick = wheel.schedule(self, deadline)
            return
        if not wheel.due(next_ping):
            self._tick = wheel.schedule(self, min(deadline, next_ping))
            return
        # Keep the phase: the next ping is due one interval after this
        # one was, and pings missed while the reactor was busy are
        # skipped rather than sent in a burst.
        interval = self._settings.interval
        next_ping += interval
        while wheel.due(next_ping):
            next_ping += interval
        self._next_ping = next_ping
        # File first, so that a failing write does not stop the heartbeat.
        self._tick = wheel.schedule(self, min(deadline, next_ping))
        self._write_down(_frames.PING)

    def destroy(self, reason: Exception | None) -> None:
        self._wheel.cancel(self, self._tick)
        self._tick = None
