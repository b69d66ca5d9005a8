# -*- test-case-name: tests.test_closecodes -*-
"""
The WebSocket close codes socketnet sends, with their meaning.

Codes in 4000-4999 are private to socketnet; C{docs/protocol.md} lists every
one of them (a test checks that it does).  Two standard codes are used too:
C{1001} when the server shuts down, C{1009} when Autobahn refuses a
message over the size limit, and C{1013} when the server has too many
encryption handshakes under way.
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
    TRY_AGAIN_LATER = 1013

    HEARTBEAT_TIMEOUT = 4008
    BAD_FRAME = 4400
    UNAUTHORIZED = 4401
    AUTH_REQUIRED = 4403
    AUTH_TIMEOUT = 4408
    ID_IN_USE = 4409
    REPLACED = 4410
    UNSUPPORTED_DATA = 4415
    HANDSHAKE_TIMEOUT = 4419
    HANDSHAKE_FAILED = 4420
    BAD_RECORD = 4421
    ENCRYPTION_REQUIRED = 4426
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
    CloseCode.TRY_AGAIN_LATER: "server busy: try again later",
    CloseCode.HEARTBEAT_TIMEOUT: "heartbeat timeout: peer silent too long",
    CloseCode.BAD_FRAME: "malformed frame",
    CloseCode.UNAUTHORIZED: "authorization refused",
    CloseCode.AUTH_REQUIRED: "frame received before authorization",
    CloseCode.AUTH_TIMEOUT: "no authorization in time",
    CloseCode.ID_IN_USE: "client id already connected",
    CloseCode.REPLACED: "replaced by a newer session with the same client id",
    CloseCode.UNSUPPORTED_DATA: "binary frames are not accepted",
    CloseCode.HANDSHAKE_TIMEOUT: "no encryption handshake in time",
    CloseCode.HANDSHAKE_FAILED: "encryption handshake failed",
    CloseCode.BAD_RECORD: "encrypted record rejected",
    CloseCode.ENCRYPTION_REQUIRED: "encryption required",
    CloseCode.INTERNAL_ERROR: "internal error",
}

#: Close codes after which a client does not reconnect on its own: the
#: same attempt would fail the same way.
TERMINAL_CODES = frozenset(
    {CloseCode.UNAUTHORIZED, CloseCode.ID_IN_USE, CloseCode.REPLACED, CloseCode.ENCRYPTION_REQUIRED}
)

__all__ = ["CloseCode", "TERMINAL_CODES"]
