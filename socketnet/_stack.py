# -*- test-case-name: tests.test_stack -*-
"""
Wire a connection's layers in order, route frames between them, and tear
them down together.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from . import _frames
from .closecodes import CloseCode
from .errors import ProtocolError
from .interfaces import ILayer

#: Builds one layer: C{(clock, write_down, deliver_up, close) -> ILayer}.
LayerFactory = Callable[..., Any]


class LayerStack:
    """
    The layers of one connection, bottom first.

    @ivar layers: the layers, bottom first.
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        factories: Sequence[LayerFactory],
        write_wire: Callable[[bytes, bool], None],
        close_wire: Callable[[int, str], None],
        peer: str = "?",
    ):
        """
        @param clock: handed to every layer for its timers.
        @param factories: one callable per layer, bottom first; each is
            called with keyword arguments C{clock}, C{write_down},
            C{deliver_up} and C{close}.
        @param write_wire: sends C{(payload, is_binary)} on the WebSocket.
        @param close_wire: closes the WebSocket with a code and reason.
        @param peer: how log lines name the peer.
        """
        self._write_wire = write_wire
        self._close_wire = close_wire
        self._peer = peer
        self.closing = False
        self._reading = True
        self.destroyed = False
        #: C{(code, reason)} of the close this side started, if it did.
        self.close_sent: tuple[int, str] | None = None
        layers: list[Any] = []
        top = len(factories) - 1
        # What a layer's write_down is: the write of the layer below, or,
        # when that layer passes writes on unchanged, what it would call.
        below: Callable[[Any], None] = self._write_bottom

        for index, factory in enumerate(factories):
            write_down = below
            if index == top:
                deliver_up = self._deliver_past_top
            else:
                deliver_up = self._not_linked  # until link_up, below
            layer = factory(
                clock=clock,
                write_down=write_down,
                deliver_up=deliver_up,
                close=self.close,
            )
            layers.append(layer)
            if not layer.passes_writes:
                below = layer.write
        for lower, upper in zip(layers, layers[1:]):
            lower.link_up(upper.receive)
        self.layers: tuple[Any, ...] = tuple(layers)

    @staticmethod
    def _not_linked(frame: Any) -> None:
        raise RuntimeError("a layer delivered a frame up before the stack linked it")

    def start(self) -> None:
        """
        Start every layer, bottom first.
        """
        for layer in self.layers:
            if self.closing:
                return
            layer.start()

    def receive(self, payload: bytes, is_binary: bool) -> None:
        """
        A WebSocket message arrived: hand it to the bottom layer.

        A L{ProtocolError} raised on the way up closes the connection with
        its code; any other exception is a bug of ours (or of a handler
        that escaped its guard), logged and closed with 4500.
        """
        if not self._reading:
            return
        try:
            self.layers[0].receive((payload, is_binary))
        except ProtocolError as e:
            self._log.warn(
                "closing connection from {peer}: {reason}",
                peer=self._peer,
                reason=e.reason,
            )
            self.close(e.code, e.reason)
        except Exception:
            self._log.failure("unexpected error handling a frame from {peer}", peer=self._peer)
            self.close(CloseCode.INTERNAL_ERROR, CloseCode.INTERNAL_ERROR.reason)

    def _write_bottom(self, frame: bytes | tuple[bytes, bool]) -> None:
        if not self.closing:
            if type(frame) is tuple:
                self._write_wire(frame[0], frame[1])
            else:
                self._write_wire(frame, False)  # bytes alone: a text message

    def _deliver_past_top(self, frame: Any) -> None:
        raise RuntimeError("the top layer delivered a frame up")

    def close(self, code: int, reason: str) -> None:
        """
        Close the connection; nothing more is written.  After a normal
        close (1000, 1001) frames the peer had already sent, such as
        replies, are still delivered until the connection ends; after any
        other code they are dropped.  Layers are destroyed when the
        WebSocket reports the close, through L{destroy}.
        """
        if self.closing:
            return
        self.closing = True
        self._reading = int(code) in (CloseCode.NORMAL, CloseCode.GOING_AWAY)
        self.close_sent = (int(code), reason)
        self._close_wire(code, reason)

    def destroy(self, reason: Exception) -> None:
        """
        The connection is gone: destroy every layer, top first.
        """
        if self.destroyed:
            return
        self.destroyed = self.closing = True
        self._reading = False
        for layer in reversed(self.layers):
            try:
                layer.destroy(reason)
            except Exception:
                self._log.failure("error destroying layer {layer!r}", layer=layer)
        # Break the reference cycles between the layers, the stack and the
        # WebSocket protocol, so that a closed connection is freed by
        # reference counting rather than left to the garbage collector.
        self.layers = ()
        self._write_wire = self._close_wire = None  # type: ignore[assignment]


@implementer(ILayer)
class CodecLayer:
    """
    Turns WebSocket text messages into validated frames, and frames into
    text messages.  A binary message closes the connection with 4415:
    plaintext socketnet frames are always text.
    """

    # A text frame goes down as it is: bytes alone are a text message.
    passes_writes = True

    def __init__(self, clock: IReactorTime, write_down, deliver_up, close):
        self._write_down = write_down
        self._deliver_up = deliver_up

    def start(self) -> None:
        pass

    def receive(self, frame: tuple[bytes, bool]) -> None:
        payload, is_binary = frame
        if is_binary:
            raise ProtocolError(
                CloseCode.UNSUPPORTED_DATA, CloseCode.UNSUPPORTED_DATA.reason
            )
        self._deliver_up(_frames.decode(payload))

    def write(self, frame: bytes) -> None:
        self._write_down(frame)

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self._deliver_up = deliver_up

    def destroy(self, reason: Exception) -> None:
        self._write_down = self._deliver_up = None
