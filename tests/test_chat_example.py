"""
examples/chat.py: two chats, each its own client, against a real loopback
server, with their output collected instead of written to a terminal.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

from socketnet import ServerApp

from ._helpers import Collector, start_server
from .test_examples import load_example


async def wait_for(output: Collector, line: str, count: int = 1) -> list[Any]:
    """
    Wait until C{output} has collected C{line} C{count} times.
    """
    items = output.items
    while items.count(line) < count:
        items = await output.wait(len(items) + 1)
    return items


class ChatExampleTests(TestCase):
    """
    The Chat class of examples/chat.py, lines in and text out.
    """

    async def setUp(self) -> None:
        self.module = load_example("chat")
        server = ServerApp()
        server.set_token_verifier(lambda authorization: True)
        self.joined = Collector()
        server.on_channel_session_joined(lambda channel, session: self.joined((channel, session.id)))
        self.server, self.url = await start_server(self, server)

    async def _chat(self, client_id: str) -> tuple[Any, Collector]:
        """
        A chat for C{client_id}, connected and in the lobby.
        """
        output = Collector()
        app = self.module.make_app(client_id, "any token")
        self.addCleanup(app.close)
        chat = self.module.Chat(app, output, "lobby")
        await app.connect(self.url)
        await chat.channel.join()  # joined already, or as soon as the server answers
        return chat, output

    async def test_room_message(self) -> None:
        """
        A plain line goes to the room: the other member prints it with the
        room and the sender's id.
        """
        one, _ = await self._chat("1")
        _, output = await self._chat("2")
        one.line_received("hello")
        await wait_for(output, "[lobby] 1: hello")

    async def test_direct_message(self) -> None:
        """
        /msg ID text reaches only that client, printed with the sender's id.
        """
        one, _ = await self._chat("1")
        _, output = await self._chat("2")
        one.line_received("/msg 2 hi")
        await wait_for(output, "[from 1] hi")

    async def test_direct_message_to_nobody(self) -> None:
        """
        /msg to an id that is not connected prints the server's
        NoSuchSession as a notice.
        """
        one, output = await self._chat("1")
        one.line_received("/msg 9 x")
        await wait_for(output, "! nobody is connected as 9")

    async def test_who(self) -> None:
        """
        /who prints the ids of the room's members.
        """
        one, output = await self._chat("1")
        await self._chat("2")
        one.line_received("/who")
        await wait_for(output, "* in lobby: 1, 2")

    async def test_quit_after_who(self) -> None:
        """
        /quit right after /who still prints the members, then closes the
        client: done fires and there is no session any more.
        """
        one, output = await self._chat("1")
        one.line_received("/who")
        one.line_received("/quit")
        await one.done
        self.assertIn("* in lobby: 1", output.items)
        self.assertIsNone(one.app.session)

    async def test_reconnect(self) -> None:
        """
        After the server drops a client, it reconnects, joins the room
        again by itself, and prints room and direct messages as before.
        """
        one, _ = await self._chat("1")
        _, output = await self._chat("2")
        await self.joined.wait(2)
        self.server.sessions.get("2").close(4000, "test drop")
        await wait_for(output, "* connected as 2 to room lobby", count=2)
        await self.joined.wait(3)
        self.assertEqual(self.joined.items[2], ("lobby", "2"))
        one.line_received("again")
        one.line_received("/msg 2 still there")
        items = await wait_for(output, "[from 1] still there")
        self.assertIn("[lobby] 1: again", items)
