# -*- test-case-name: tests.test_garbage -*-
"""
The WebSocket endpoint as a C{twisted.web} resource.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.resource import WebSocketResource
from twisted.web.server import NOT_DONE_YET


class UpgradeResource(WebSocketResource):
    """
    Autobahn's L{WebSocketResource}, leaving no reference cycle behind.

    Autobahn takes the transport from C{twisted.web} and never finishes
    the upgrade request, so the request and its HTTP channel, which refer
    to each other, would live on as a cycle that only the cyclic garbage
    collector frees: with many connections that comes to milliseconds of
    reactor pause.  Once the transport is the WebSocket's, the request
    lets go of its channel, and both are freed at once.
    """

    def render(self, request: Any) -> Any:
        body = super().render(request)
        if body is NOT_DONE_YET and request.channel is not None and request.channel.transport is None:
            request.channel = None
        return body
