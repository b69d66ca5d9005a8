"""
The examples run: the seed's server and client talk to each other, and the
subclassing example answers as documented.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from socketnet import Authorization, ClientApp
from socketnet.errors import RemoteError, Unauthorized

from ._helpers import Collector, start_server

EXAMPLES = Path(__file__).parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SeedExampleTests(TestCase):
    """
    examples/seed_server.py and examples/seed_client.py.
    """

    async def test_seed_flows(self) -> None:
        """
        The seed client's send and request reach the seed server, whose
        reply comes back; the server's own request on authorization is
        answered by the client's handler.
        """
        server_app = load_example("seed_server").make_app()
        got = Collector()
        server_app.on_message(lambda message, session: got(message.data) if message.to is None else None)
        routed = Collector()
        server_app.on_message(lambda message, session: routed((message.type, message.to, message.data)) if message.to else None)
        joined = Collector()
        server_app.on_channel_session_joined(lambda channel, session: joined((channel, session.id)))
        server_app, url = await start_server(self, server_app)
        server_replies = Collector()
        server_app.on_session(
            lambda session: session.on_authorized(
                lambda s: s.request("check").addCallback(server_replies)
            )
        )
        client_app = load_example("seed_client").make_app()
        self.addCleanup(client_app.close)
        session = await client_app.connect(url)
        items = await got.wait(2)
        self.assertEqual(items[:2], ["client: no reply expected", "client: reply expected"])
        self.assertEqual(await session.request("again"), "client: reply expected, answer 1")
        self.assertEqual((await server_replies.wait())[0], "server: reply expected, answer 1")
        self.assertEqual((await joined.wait())[0], ("1", "1"))
        items = await routed.wait(4)
        self.assertIn(("client", "1", "client to client: no reply expected"), items)
        self.assertIn(("client", "1", "client to client: reply expected"), items)
        self.assertIn(("channel", "1", "channel test"), items)


class SubclassExampleTests(TestCase):
    """
    examples/subclass_server.py: hooks overridden on the protocol.
    """

    async def _start(self) -> str:
        module = load_example("subclass_server")
        tokens = module.read_tokens(EXAMPLES / "tokens.txt")
        self.assertEqual(tokens["1"], "demo-token-one")
        app, url = await start_server(self, module.make_app(tokens))
        return url

    def _client(self, token: str) -> ClientApp:
        app = ClientApp(Authorization("1", token), reconnect=False)
        self.addCleanup(app.close)
        return app

    async def test_hooks_answer(self) -> None:
        """
        The overridden hooks verify the token, greet the authorized client
        and answer requests; a raising hook becomes a RemoteError.
        """
        url = await self._start()
        greeting: Deferred = Deferred()
        client = self._client("demo-token-one")
        client.on_session(lambda session: session.on_message(lambda m: greeting.callback(m.data)))
        session = await client.connect(url)
        self.assertEqual(await greeting, {"welcome": "1"})
        self.assertEqual(await session.request("socketnet"), "tentekcos")
        with self.assertRaises(RemoteError) as caught:
            await session.request(5)
        self.assertEqual(caught.exception.name, "TypeError")

    async def test_wrong_token(self) -> None:
        """
        The overridden verifyAuthorization refuses a wrong token.
        """
        url = await self._start()
        with self.assertRaises(Unauthorized):
            await self._client("not-the-token").connect(url)
