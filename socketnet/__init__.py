# -*- test-case-name: tests.test_exports -*-
"""
socketnet: real-time messaging over WebSockets for Twisted.
"""

from ._authorization import Authorization
from ._client import ClientApp
from ._heartbeat import Heartbeat
from ._server import ServerApp

__version__ = "0.1.0.dev0"

__all__ = ["ServerApp", "ClientApp", "Authorization", "Heartbeat"]
