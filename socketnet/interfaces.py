# -*- test-case-name: tests.test_stack -*-
"""
Interfaces of socketnet's protocol layers.
"""

from __future__ import annotations

from zope.interface import Interface


class ILayer(Interface):
    """
    One layer of a connection's protocol stack.

    A stack is, from the wire up: transport, encrypt, frame codec,
    heartbeat, authorization, application.  Frames read from the wire go up
    through L{receive}; frames written by the application go down through
    L{write}.  A layer is built with four callables from the stack and
    never reaches any other layer directly:

      - C{write_down(frame)}: hand a frame to the layer below;
      - C{deliver_up(frame)}: hand a frame to the layer above;
      - C{close(code, reason)}: close the connection with a WebSocket close
        code and a human-readable reason;
      - C{clock}: an L{IReactorTime} for every timer the layer needs.

    Below the codec a frame is a C{(payload: bytes, is_binary: bool)}
    tuple; above it, frames go up as validated L{dict}s and down as
    encoded JSON L{bytes}.
    """

    def start() -> None:
        """
        The stack is wired; start timers and send any opening frames.
        Called once, bottom layer first.
        """

    def receive(frame: object) -> None:
        """
        A frame arrived from the layer below.

        @raise socketnet.errors.ProtocolError: if the peer broke the
            protocol; the stack closes the connection with its code.
        """

    def write(frame: object) -> None:
        """
        A frame from the layer above is to be sent.
        """

    def destroy(reason: Exception) -> None:
        """
        The connection is gone: cancel timers, fail pending L{Deferred}s
        with an error built from C{reason}, drop references.  Called once;
        the layer is not used afterwards.
        """
