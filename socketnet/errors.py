# -*- test-case-name: tests.test_replies,tests.test_integration -*-
"""
Every public exception socketnet raises or errbacks with.
"""

from __future__ import annotations


class SocketnetError(Exception):
    """
    Base class of every socketnet error.
    """


class Unauthorized(SocketnetError):
    """
    The server refused this client's authorization (close code 4401), or the
    client was not authorized in time.

    @ivar code: the WebSocket close code the server sent, when there was one.
    @ivar reason: the reason the server gave.
    """

    def __init__(self, reason: str = "unauthorized", code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ReplyTimeout(SocketnetError):
    """
    A request got no reply within its timeout.
    """


class SessionClosed(SocketnetError):
    """
    The session ended before the operation could complete.

    @ivar code: the WebSocket close code, when the close was a WebSocket close.
    @ivar reason: the close reason.
    """

    def __init__(self, reason: str = "session closed", code: int | None = None):
        super().__init__(reason if code is None else f"{reason} (close code {code})")
        self.reason = reason
        self.code = code


class RemoteError(SocketnetError):
    """
    The peer's handler for a request failed.

    Only the error's type name and message cross the wire, never a
    traceback.

    @ivar name: the type name of the peer's exception, e.g. C{"ValueError"}.
    @ivar message: the peer exception's message.
    """

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class _Refusal(SocketnetError):
    """
    Something the server refused to route.

    @ivar to: the client id it was addressed to, if any.
    @ivar channel: the channel it was addressed to, if any.
    """

    def __init__(self, message: str, *, to: str | None = None, channel: str | None = None):
        super().__init__(message)
        self.to = to
        self.channel = channel


class NoSuchSession(_Refusal):
    """
    A direct message or request went to a client id that is not connected,
    or a channel request to a channel with no other member.
    """


class Forbidden(_Refusal):
    """
    The server's channel authorizer or message filter refused the action.
    """


class HandshakeFailed(SocketnetError):
    """
    A handshake that protects the connection failed: the TLS handshake
    (untrusted certificate, wrong host name), or socketnet-enc/1 (the
    server's key is not pinned or not acceptable, its C{ready} does not
    match the handshake, the server does not offer encryption, or no
    C{ready} came in time).  The client never falls back to plaintext.

    @ivar terminal: whether trying again cannot help (everything but a
        timeout).
    """

    def __init__(self, reason: str, terminal: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.terminal = terminal


class QueueFull(SocketnetError):
    """
    The client's queue of messages waiting for an authorized session is
    full; the message was not queued.
    """


class NotReady(SocketnetError):
    """
    The server tried to send on a session that is not authorized yet;
    send from an C{on_authorized} handler instead.
    """


class ProtocolError(SocketnetError):
    """
    A peer sent something that breaks the wire protocol.

    @ivar code: the close code the connection is closed with.
    @ivar reason: a human-readable reason, sent as the close reason.
    """

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


#: Errors that keep their type across the wire: a reply or error frame
#: naming one of these becomes that exception, not L{RemoteError}.
WIRE_ERRORS: dict[str, type[SocketnetError]] = {
    "NoSuchSession": NoSuchSession,
    "Forbidden": Forbidden,
    "SessionClosed": SessionClosed,
    "ReplyTimeout": ReplyTimeout,
}


def from_wire(name: str, message: str) -> SocketnetError:
    """
    The exception for an error that came in a reply or error frame.
    """
    known = WIRE_ERRORS.get(name)
    if known is None:
        return RemoteError(name, message)
    return known(message)


__all__ = [
    "SocketnetError",
    "Unauthorized",
    "ReplyTimeout",
    "SessionClosed",
    "RemoteError",
    "NoSuchSession",
    "Forbidden",
    "QueueFull",
    "HandshakeFailed",
    "NotReady",
    "ProtocolError",
]
