# -*- test-case-name: tests.test_heartbeat -*-
"""
The heartbeat layer: application-level ping and pong frames, so that
browsers (which cannot send WebSocket pings) take part, and a watchdog
that closes a connection whose peer has gone silent.
"""

from __future__ import annotations

from typing import Literal

import attr
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

from . import _frames
from .closecodes import CloseCode
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
    """

    mode: Literal["client", "server"] = attr.ib(default="client", validator=_check_mode)
    interval: float = attr.ib(default=10.0, validator=_check_positive)
    _timeout: float | None = attr.ib(default=None, validator=_check_positive)

    @property
    def timeout(self) -> float:
        return 2.5 * self.interval if self._timeout is None else self._timeout


@implementer(ILayer)
class HeartbeatLayer:
    """
    Answers pings, sends them when this side drives the heartbeat, and
    closes the connection when the peer has been silent too long.  Any
    frame from the peer counts as a sign of life.
    """

    #: L{write} only forwards: the stack links around it.
    passes_writes = True

    def __init__(
        self,
        settings: Heartbeat,
        is_server: bool,
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
    ):
        self._settings = settings
        self._drives = (settings.mode == "server") == is_server
        self._clock = clock
        self._write_down = write_down
        self._deliver_up = deliver_up
        self._close = close
        self._last_heard = 0.0
        self._watchdog: IDelayedCall | None = None
        self._pinger: IDelayedCall | None = None

    def start(self) -> None:
        self._last_heard = self._clock.seconds()
        self._watchdog = self._clock.callLater(self._settings.timeout, self._check)
        if self._drives:
            self._pinger = self._clock.callLater(self._settings.interval, self._ping)

    def receive(self, frame: _frames.Frame) -> None:
        self._last_heard = self._clock.seconds()
        kind = frame["type"]
        if kind == "ping":
            self._write_down(_frames.PONG)
        elif kind != "pong":
            self._deliver_up(frame)

    def write(self, frame: bytes) -> None:
        self._write_down(frame)

    def _ping(self) -> None:
        self._pinger = self._clock.callLater(self._settings.interval, self._ping)
        self._write_down(_frames.PING)

    def _check(self) -> None:
        # One timer for the whole timeout, re-armed only when it fires:
        # cheaper than resetting a timer on every frame.
        silent = self._clock.seconds() - self._last_heard
        remaining = self._settings.timeout - silent
        if remaining > 0:
            self._watchdog = self._clock.callLater(remaining, self._check)
            return
        self._watchdog = None
        self.destroy(None)
        self._close(CloseCode.HEARTBEAT_TIMEOUT, CloseCode.HEARTBEAT_TIMEOUT.reason)

    def destroy(self, reason: Exception | None) -> None:
        for call in (self._watchdog, self._pinger):
            if call is not None and call.active():
                call.cancel()
        self._watchdog = self._pinger = None
