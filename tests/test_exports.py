"""
The public surface: what each public module exports, and that it is the
same object as the private implementation.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

import socketnet
import socketnet.errors
import socketnet.protocol
from socketnet import _authorization, _client, _client_websocket, _heartbeat, _messages, _server, _websocket


class ExportTests(SynchronousTestCase):
    """
    The package's public names.
    """

    def test_package_all(self) -> None:
        """
        socketnet exports exactly the four names of its façade, and they
        are the implementation's objects.
        """
        self.assertEqual(
            sorted(socketnet.__all__), ["Authorization", "ClientApp", "Heartbeat", "ServerApp"]
        )
        self.assertIs(socketnet.ServerApp, _server.ServerApp)
        self.assertIs(socketnet.ClientApp, _client.ClientApp)
        self.assertIs(socketnet.Authorization, _authorization.Authorization)
        self.assertIs(socketnet.Heartbeat, _heartbeat.Heartbeat)

    def test_errors(self) -> None:
        """
        The errors the issue names are importable from socketnet.errors
        and share one base class.
        """
        for name in ["Unauthorized", "ReplyTimeout", "SessionClosed", "RemoteError", "QueueFull", "NotReady", "ProtocolError"]:
            error = getattr(socketnet.errors, name)
            self.assertTrue(issubclass(error, socketnet.errors.SocketnetError), name)
            self.assertIn(name, socketnet.errors.__all__)

    def test_protocol_module(self) -> None:
        """
        socketnet.protocol re-exports the Autobahn-based classes the
        façade is built on.
        """
        self.assertIs(socketnet.protocol.SocketnetServerProtocol, _websocket.SocketnetServerProtocol)
        self.assertIs(socketnet.protocol.SocketnetClientFactory, _client_websocket.SocketnetClientFactory)
        self.assertIs(socketnet.protocol.Message, _messages.Message)
        for name in socketnet.protocol.__all__:
            self.assertTrue(hasattr(socketnet.protocol, name), name)
        self.assertIsInstance(socketnet.ServerApp().factory, socketnet.protocol.SocketnetServerFactory)
