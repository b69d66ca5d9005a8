# -*- test-case-name: tests.test_pacing -*-
"""
Spread the opening work of new connections over reactor turns.

When hundreds of clients connect at once, epoll reports their sockets
ready together and Twisted would parse every HTTP upgrade request and run
every WebSocket opening handshake in one reactor turn: hundreds of
milliseconds in which no established session is served.  L{UpgradePacer}
lets the first bytes of at most C{per_turn} new connections be handled in
one turn; the others stop reading (the kernel keeps their bytes) and are
handled in the turns that follow, in the order they came.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IProtocol, IReactorTime
from twisted.logger import Logger
from twisted.python.components import proxyForInterface
from twisted.web.server import Site


#: New connections handled per reactor turn by default.  On a two-core
#: host, 2 kept the worst request of an established session during a
#: burst of 300 encrypted handshakes at 20-32 ms against 28-41 ms with 8,
#: and no handshake met the pending-decrypt cap (docs/performance.md).
DEFAULT_UPGRADES_PER_TURN = 2


class UpgradePacer:
    """
    Admits at most C{per_turn} new connections per reactor turn.

    A turn ends when the reactor runs its timed calls: the pacer keeps a
    C{callLater(0)} pending while it has admitted or is holding
    connections, and none otherwise.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, per_turn: int):
        """
        @param clock: the reactor whose turns are counted.
        @param per_turn: new connections handled per turn, at least 1.
        @raise ValueError: if C{per_turn} is not a positive integer.
        """
        if type(per_turn) is not int or per_turn < 1:
            raise ValueError(f"upgrades_per_turn must be a positive integer, not {per_turn!r}")
        self._clock = clock
        self._per_turn = per_turn
        self._admitted = 0
        # Connections waiting for a turn, oldest first (a dict keeps order
        # and forgets a connection that goes away in O(1)).
        self._waiting: dict[_PacedConnection, None] = {}
        self._next_turn: IDelayedCall | None = None

    @property
    def waiting(self) -> int:
        """
        How many new connections wait for a later turn.
        """
        return len(self._waiting)

    def admit(self, connection: _PacedConnection) -> bool:
        """
        Whether C{connection} may be handled in this turn; if not, it is
        kept and released in a later turn.
        """
        self._end_turn_later()
        if self._admitted < self._per_turn and not self._waiting:
            self._admitted += 1
            return True
        self._waiting[connection] = None
        return False

    def forget(self, connection: _PacedConnection) -> None:
        """
        C{connection} is gone; it no longer waits.
        """
        self._waiting.pop(connection, None)

    def _end_turn_later(self) -> None:
        if self._next_turn is None:
            self._next_turn = self._clock.callLater(0, self._new_turn)

    def _new_turn(self) -> None:
        self._next_turn = None
        self._admitted = 0
        while self._waiting and self._admitted < self._per_turn:
            connection = next(iter(self._waiting))
            del self._waiting[connection]
            self._admitted += 1
            try:
                connection.release()
            except Exception:
                # What the reactor does when a protocol's dataReceived raises.
                self._log.failure("handling a new connection's first bytes failed")
                connection.transport.abortConnection()
        if self._admitted:
            self._end_turn_later()

    def stop(self) -> None:
        """
        The server is closing: cancel the pending turn and drop the
        connections still waiting, which never started their upgrade.
        """
        if self._next_turn is not None and self._next_turn.active():
            self._next_turn.cancel()
        self._next_turn = None
        waiting, self._waiting = self._waiting, {}
        for connection in waiting:
            connection.transport.abortConnection()


class _PacedConnection(proxyForInterface(IProtocol, "_wrapped")):  # type: ignore[misc]
    """
    Wraps a new connection's protocol (twisted.web's HTTP channel) and asks
    the pacer before handing it the connection's first bytes.  After that
    it only forwards; once Autobahn takes the transport over for the
    WebSocket, the transport no longer calls this object at all.
    """

    def __init__(self, wrapped: Any, pacer: UpgradePacer):
        self._wrapped = wrapped
        self._pacer = pacer
        self._state = "new"
        self._held: list[bytes] = []

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self._wrapped.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        if self._state == "open":
            self._wrapped.dataReceived(data)
        elif self._state == "new":
            if self._pacer.admit(self):
                self._state = "open"
                self._wrapped.dataReceived(data)
            else:
                self._state = "held"
                self._held.append(data)
                self.transport.pauseProducing()
        else:
            self._held.append(data)  # read before the pause took effect

    def release(self) -> None:
        """
        The pacer's turn for this connection: resume reading and hand the
        held bytes on.
        """
        self._state = "open"
        data, self._held = b"".join(self._held), []
        self.transport.resumeProducing()
        self._wrapped.dataReceived(data)

    def connectionLost(self, reason: Any) -> None:
        self._pacer.forget(self)
        self._held = []
        self._wrapped.connectionLost(reason)


class PacedSite(Site):
    """
    A L{Site} whose new connections are paced by an L{UpgradePacer}.
    """

    def __init__(self, resource: Any, pacer: UpgradePacer, **kwargs: Any):
        super().__init__(resource, **kwargs)
        self.pacer = pacer

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is None:
            return None
        return _PacedConnection(protocol, self.pacer)


__all__ = ["UpgradePacer", "PacedSite"]
