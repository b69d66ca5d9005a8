# -*- test-case-name: tests.test_closecodes -*-
"""
The WebSocket close codes socketnet sends, with their meaning.

Codes in 4000-4999 are private to socketnet; C{docs/protocol.md} lists every
one of them (a test checks that it does).  Two standard codes are used too:
C{1001} when the server shuts down, and C{1009} when Autobahn refuses a
message over the size limit.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """
    Close codes with the reason socketnet sends with them.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009

    HEARTBEAT_TIMEOUT = 4008
    BAD_FRAME = 4400
    UNAUTHORIZED = 4401
    AUTH_REQUIRED = 4403
    AUTH_TIMEOUT = 4408
    ID_IN_USE = 4409
    REPLACED = 4410
    UNSUPPORTED_DATA = 4415
    INTERNAL_ERROR = 4500

    @property
    def reason(self) -> str:
        """
        The default human-readable reason sent with this code.
        """
        return _REASONS[self]


_REASONS = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.GOING_AWAY: "server shutting down",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.HEARTBEAT_TIMEOUT: "heartbeat timeout: peer silent too long",
    CloseCode.BAD_FRAME: "malformed frame",
    CloseCode.UNAUTHORIZED: "authorization refused",
    CloseCode.AUTH_REQUIRED: "frame received before authorization",
    CloseCode.AUTH_TIMEOUT: "no authorization in time",
    CloseCode.ID_IN_USE: "client id already connected",
    CloseCode.REPLACED: "replaced by a newer session with the same client id",
    CloseCode.UNSUPPORTED_DATA: "binary frames are not accepted",
    CloseCode.INTERNAL_ERROR: "internal error",
}

#: Close codes after which a client does not reconnect on its own: the
#: same attempt would fail the same way.
TERMINAL_CODES = frozenset(
    {CloseCode.UNAUTHORIZED, CloseCode.ID_IN_USE, CloseCode.REPLACED}
)

__all__ = ["CloseCode", "TERMINAL_CODES"]
