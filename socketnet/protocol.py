# -*- test-case-name: tests.test_subclass -*-
"""
The Autobahn-based protocol and factory classes, for applications built by
subclassing rather than by registering handlers.

Override these hooks of L{SocketnetServerProtocol}:
  - C{verifyAuthorization(authorization)}: C{True} or a L{Deferred} of it
    lets the client in;
  - C{sessionOpened(session)}: the WebSocket is open, not yet authorized;
  - C{sessionAuthorized(session)}: the client is authorized;
  - C{messageReceived(message)}: a message arrived; a returned value
    answers a request;
  - C{sessionClosed(session, reason)}: the connection ended.
L{SocketnetClientProtocol} has the same hooks but the first.
"""

from ._client_websocket import SocketnetClientFactory, SocketnetClientProtocol
from ._encryption import EncryptionLimits
from ._messages import Message
from ._session import ClientSession, ServerSession
from ._websocket import SocketnetServerFactory, SocketnetServerProtocol

__all__ = [
    "SocketnetServerProtocol",
    "SocketnetServerFactory",
    "SocketnetClientProtocol",
    "SocketnetClientFactory",
    "ServerSession",
    "ClientSession",
    "Message",
    "EncryptionLimits",
]
