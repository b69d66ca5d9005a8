"""
Helpers shared by the loopback integration tests.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint

from socketnet import Authorization, ClientApp, ServerApp

TOKENS = {"1": "one", "2": "two", "3": "three"}


def check_token(authorization: Authorization) -> bool:
    return TOKENS.get(authorization.id) == authorization.token


async def start_server(testcase: Any, app: ServerApp | None = None) -> tuple[ServerApp, str]:
    """
    Listen on a free loopback port; stop at the end of the test.

    @return: the app and its WebSocket URL.
    """
    if app is None:
        app = ServerApp()
        app.set_token_verifier(check_token)
    port = await app.listen("tcp:0:interface=127.0.0.1")
    testcase.addCleanup(app.close)
    return app, f"ws://127.0.0.1:{port.getHost().port}{app.path}"


def client(testcase: Any, client_id: str = "1", **kwargs: Any) -> ClientApp:
    """
    A client app for C{client_id} with its right token, closed at the end
    of the test.
    """
    kwargs.setdefault("reconnect", False)
    app = ClientApp(Authorization(client_id, TOKENS.get(client_id, "nope")), **kwargs)
    testcase.addCleanup(app.close)
    return app


class Collector:
    """
    Collects values and fires a Deferred once it has C{count} of them.
    """

    def __init__(self, count: int = 1):
        self.items: list[Any] = []
        self._count = count
        self._waiting: list[tuple[int, Deferred[list[Any]]]] = []

    def __call__(self, item: Any, *ignored: Any) -> None:
        self.items.append(item)
        for entry in list(self._waiting):
            if len(self.items) >= entry[0]:
                self._waiting.remove(entry)
                entry[1].callback(list(self.items))

    def wait(self, count: int | None = None) -> Deferred[list[Any]]:
        count = self._count if count is None else count
        d: Deferred[list[Any]] = Deferred()
        if len(self.items) >= count:
            d.callback(list(self.items))
        else:
            self._waiting.append((count, d))
        return d


class RawClientProtocol(WebSocketClientProtocol):
    """
    A bare WebSocket client that sends what a test tells it and records
    what it gets, for feeding the server bad input.
    """

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.received.append(payload)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.factory.opened.called:
            self.factory.opened.errback(ConnectionError(f"refused: {reason}"))
        self.factory.closed.callback((code, reason))


async def raw_client(url: str, protocols: list[str] | None = None) -> RawClientProtocol:
    """
    Open a bare WebSocket to C{url} speaking C{socketnet.v1} by default.
    """
    factory = WebSocketClientFactory(
        url, protocols=["socketnet.v1"] if protocols is None else protocols
    )
    factory.protocol = RawClientProtocol
    factory.opened = Deferred()
    factory.closed = Deferred()
    factory.received = []
    host_port = url.split("/")[2]
    port = int(host_port.split(":")[1])
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
    return await factory.opened
