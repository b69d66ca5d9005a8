"""
The seed's flows over real loopback sockets: a ServerApp listening on
127.0.0.1 port 0 and ClientApps connecting to it.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from socketnet import Authorization, ClientApp, ServerApp
from socketnet.closecodes import CloseCode
from socketnet.errors import QueueFull, RemoteError, SessionClosed, Unauthorized

from ._helpers import Collector, client, raw_client, start_server


class MessagingTests(TestCase):
    """
    Messages and requests both ways between a server and its client.
    """

    async def test_client_send_reaches_server_stamped(self) -> None:
        """
        A client's message reaches the server's handlers with the sender
        stamped by the server as the authorized client id.
        """
        app, url = await start_server(self)
        got = Collector()
        app.on_message(lambda message, session: got((message.data, message.sender, message.type, session.id)))
        session = await client(self, "2").connect(url)
        session.send({"hello": [1, 2, 3]})
        [item] = await got.wait()
        self.assertEqual(item, ({"hello": [1, 2, 3]}, "2", "client", "2"))

    async def test_client_request_answered_by_return_value(self) -> None:
        """
        A server handler's return value answers a client's request.
        """
        app, url = await start_server(self)
        app.on_message(lambda message, session: {"echo": message.data})
        session = await client(self).connect(url)
        self.assertEqual(await session.request("ping"), {"echo": "ping"})

    async def test_client_request_answered_later_by_reply(self) -> None:
        """
        A handler that returns None and later calls C{message.reply}
        answers the request then.
        """
        app, url = await start_server(self)
        waiting = Collector()
        app.on_message(waiting)
        session = await client(self).connect(url)
        reply = session.request(41)
        [message] = await waiting.wait()
        self.assertNoResult(reply)
        message.reply(message.data + 1)
        self.assertEqual(await reply, 42)

    async def test_handler_error_becomes_remote_error(self) -> None:
        """
        A handler that raises makes the request fail with RemoteError
        carrying the type name and message, and no traceback.
        """
        app, url = await start_server(self)

        def fail(message: Any, session: Any) -> None:
            raise KeyError("no such thing")

        app.on_message(fail)
        session = await client(self).connect(url)
        with self.assertRaises(RemoteError) as caught:
            await session.request("x")
        self.assertEqual(caught.exception.name, "KeyError")
        self.assertEqual(caught.exception.message, "'no such thing'")
        self.assertNotIn("Traceback", str(caught.exception))
        self.flushLoggedErrors(KeyError)

    async def test_async_handler_reply(self) -> None:
        """
        A coroutine handler's result answers the request.
        """
        app, url = await start_server(self)

        async def double(message: Any, session: Any) -> int:
            await deferLater(reactor, 0, lambda: None)
            return message.data * 2

        app.on_message(double)
        session = await client(self).connect(url)
        self.assertEqual(await session.request(21), 42)

    async def test_server_send_and_request(self) -> None:
        """
        The server sends to and requests from a client it finds by id; the
        client's handler answers; messages from the server have no sender.
        """
        app, url = await start_server(self)
        got = Collector()
        session = await client(self, "3").connect(url)
        session.on_message(lambda message: got((message.data, message.sender, message.to)) if message.reply is None else message.data.upper())
        server_side = app.sessions.get("3")
        self.assertIsNotNone(server_side)
        server_side.send("hi")
        self.assertEqual((await got.wait())[0], ("hi", None, "3"))
        self.assertEqual(await server_side.request("shout"), "SHOUT")

    async def test_server_session_authorization(self) -> None:
        """
        The server session exposes the client's Authorization, data
        included, and fires on_authorized once.
        """
        app, url = await start_server(self)
        authorized = Collector()
        app.on_session(lambda session: session.on_authorized(authorized))
        c = ClientApp(Authorization("1", "one", {"room": "a"}), reconnect=False)
        self.addCleanup(c.close)
        await c.connect(url)
        [session] = await authorized.wait()
        self.assertEqual(session.authorization.data, {"room": "a"})
        self.assertIs(app.sessions.get("1"), session)

    async def test_request_fails_at_once_when_peer_goes(self) -> None:
        """
        A server request to a client that disconnects fails with
        SessionClosed as soon as the connection ends, not at its timeout.
        """
        app, url = await start_server(self)
        c = client(self)
        session = await c.connect(url)
        session.on_message(lambda message: None)  # never answers
        pending = app.sessions.get("1").request("anyone?", timeout=3600)
        await c.close()
        with self.assertRaises(SessionClosed):
            await pending


class AuthorizationTests(TestCase):
    """
    Refusals, secure defaults and duplicate ids, over loopback.
    """

    async def test_wrong_token_refused(self) -> None:
        """
        A wrong token makes connect() fail with Unauthorized and close
        code 4401, and the client does not retry.
        """
        app, url = await start_server(self)
        c = ClientApp(Authorization("1", "wrong"), reconnect=True)
        self.addCleanup(c.close)
        with self.assertRaises(Unauthorized) as caught:
            await c.connect(url)
        self.assertEqual(caught.exception.code, CloseCode.UNAUTHORIZED)
        self.assertEqual(len(app.sessions), 0)

    async def test_no_verifier_refuses_everyone(self) -> None:
        """
        With no token verifier set, every client is refused.
        """
        app, url = await start_server(self, ServerApp())
        with self.assertRaises(Unauthorized):
            await client(self).connect(url)

    async def test_deferred_verifier(self) -> None:
        """
        A verifier may answer with a Deferred.
        """
        app = ServerApp()
        app.set_token_verifier(lambda a: deferLater(reactor, 0, lambda: a.token == "one"))
        app, url = await start_server(self, app)
        session = await client(self).connect(url)
        self.assertEqual(session.id, "1")

    async def test_duplicate_id_takes_over(self) -> None:
        """
        A second session with a connected id takes over: the older one is
        closed with 4410 and does not reconnect; the registry holds the
        newer one.
        """
        app, url = await start_server(self)
        first = client(self, reconnect=True)
        old = await first.connect(url)
        closed = old.when_closed()
        new = await client(self).connect(url)
        reason = await closed
        self.assertEqual(reason.code, CloseCode.REPLACED)
        self.assertEqual(app.sessions.get("1").id, new.id)
        self.assertFalse(app.sessions.get("1").closed)
        with self.assertRaises(SessionClosed):
            old.send("still there?")

    async def test_duplicate_id_refused(self) -> None:
        """
        With duplicate_ids="refuse", the newer session is refused with
        4409 and the older one stays.
        """
        app = ServerApp(duplicate_ids="refuse")
        app.set_token_verifier(lambda a: True)
        app, url = await start_server(self, app)
        old = await client(self).connect(url)
        with self.assertRaises(SessionClosed) as caught:
            await client(self).connect(url)
        self.assertEqual(caught.exception.code, CloseCode.ID_IN_USE)
        self.assertFalse(old.closed)


class ReconnectTests(TestCase):
    """
    Reconnection with the outbox carrying messages across.
    """

    async def test_queued_messages_delivered_in_order_after_reconnect(self) -> None:
        """
        Messages sent before authorization and while reconnecting wait in
        the outbox and reach the server in order on the next session; the
        on_session handlers run for each new session.
        """
        app, url = await start_server(self)
        got = Collector()
        app.on_message(lambda message, session: got(message.data))
        c = client(self, reconnect=True, retry_policy=lambda attempt: 0.01)
        sessions = Collector()
        c.on_session(sessions)
        c.on_session(lambda session: session.send("early"))  # before authorization
        first = await c.connect(url)
        self.assertEqual(await got.wait(1), ["early"])
        closed = first.when_closed()
        app.sessions.get("1").close(4000, "go away for a moment")
        await closed
        for n in range(5):
            first.send(n)  # the old session queues while reconnecting
        answer = first.request("and a request")
        app.on_message(lambda message, session: "answered" if message.reply else None)
        items = await got.wait(8)
        self.assertEqual(items, ["early", 0, 1, 2, 3, 4, "and a request", "early"][:len(items)])
        self.assertEqual(await answer, "answered")
        self.assertEqual(len(sessions.items), 2)

    async def test_outbox_bound(self) -> None:
        """
        Past the outbox limit, send raises QueueFull.
        """
        app, url = await start_server(self)
        c = client(self, reconnect=True, queue_limit=2, retry_policy=lambda attempt: 3600)
        first = await c.connect(url)
        closed = first.when_closed()
        app.sessions.get("1").close(4000)
        await closed
        first.send(1)
        first.send(2)
        self.assertRaises(QueueFull, first.send, 3)

    async def test_close_fails_queued_requests(self) -> None:
        """
        Closing the client fails queued requests with SessionClosed and
        later sends raise it.
        """
        app, url = await start_server(self)
        c = client(self, reconnect=True, retry_policy=lambda attempt: 3600)
        first = await c.connect(url)
        closed = first.when_closed()
        app.sessions.get("1").close(4000)
        await closed
        queued = first.request("lost")
        await c.close()
        with self.assertRaises(SessionClosed):
            await queued
        self.assertRaises(SessionClosed, first.send, "x")


class BadInputTests(TestCase):
    """
    Bad frames close only the offending connection, with a documented code.
    """

    async def _closed_with(self, url: str, frames: list[tuple[bytes, bool]]) -> tuple[int, str]:
        raw = await raw_client(url)
        for payload, binary in frames:
            raw.sendMessage(payload, binary)
        return await raw.factory.closed

    async def test_bad_frames(self) -> None:
        """
        Invalid JSON, a non-object, an unknown type, a missing field, a
        binary frame and a message before authorization each close that
        connection with their code; a good client is unaffected.
        """
        app, url = await start_server(self)
        app.on_message(lambda message, session: message.data)
        good = await client(self).connect(url)
        auth = json.dumps({"type": "auth", "id": "2", "token": "two"}).encode()
        cases = [
            ([(b"{not json", False)], CloseCode.BAD_FRAME),
            ([(b"[1, 2]", False)], CloseCode.BAD_FRAME),
            ([(b'{"type": "teleport"}', False)], CloseCode.BAD_FRAME),
            ([(b'{"type": "auth", "token": "x"}', False)], CloseCode.BAD_FRAME),
            ([(b"\x00\x01", True)], CloseCode.UNSUPPORTED_DATA),
            ([(b'{"type": "message", "data": 1}', False)], CloseCode.AUTH_REQUIRED),
            ([(auth, False), (b'{"type": "reply", "request": "one", "data": 1}', False)], CloseCode.BAD_FRAME),
        ]
        for frames, expected in cases:
            code, reason = await self._closed_with(url, frames)
            self.assertEqual(code, expected, frames)
            self.assertTrue(reason)
        self.assertEqual(await good.request("still fine"), "still fine")

    async def test_message_too_big(self) -> None:
        """
        A message over max_message_size closes the connection with 1009.
        """
        app = ServerApp(max_message_size=1024)
        app.set_token_verifier(lambda a: True)
        app, url = await start_server(self, app)
        code, reason = await self._closed_with(url, [(b'{"type":"ping","pad":"' + b"x" * 2000 + b'"}', False)])
        self.assertEqual(code, CloseCode.MESSAGE_TOO_BIG)

    async def test_subprotocol_required(self) -> None:
        """
        A WebSocket handshake without the socketnet.v1 subprotocol is
        refused.
        """
        app, url = await start_server(self)
        with self.assertRaises(ConnectionError):
            await raw_client(url, protocols=[])


class ShutdownTests(TestCase):
    """
    ServerApp.close() ends every session.
    """

    async def test_close_sends_going_away(self) -> None:
        """
        Closing the server closes every session with 1001 and stops
        listening.
        """
        app, url = await start_server(self)
        session = await client(self).connect(url)
        closed = session.when_closed()
        await app.close()
        reason = await closed
        self.assertEqual(reason.code, CloseCode.GOING_AWAY)
        self.assertEqual(len(app.factory.connections), 0)


class CloseCodeReportingTests(TestCase):
    """
    The close code a session reports is the one that tells what happened.
    """

    async def test_server_side_reports_its_own_code(self) -> None:
        """
        When the server closes a session (here: a takeover, 4410), the
        server-side session reports 4410, not the client's answering code.
        """
        app, url = await start_server(self)
        await client(self).connect(url)
        old = app.sessions.get("1")
        closed = old.when_closed()
        await client(self).connect(url)
        self.assertEqual((await closed).code, CloseCode.REPLACED)

    async def test_server_without_subprotocol_is_not_retried(self) -> None:
        """
        A WebSocket server that does not select socketnet.v1 makes
        connect() fail with ProtocolError, and a reconnecting client gives
        up instead of retrying.
        """
        from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
        from twisted.internet.endpoints import TCP4ServerEndpoint

        from socketnet.errors import ProtocolError

        factory = WebSocketServerFactory()
        factory.protocol = WebSocketServerProtocol
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        c = client(self, reconnect=True, retry_policy=lambda attempt: 0.01)
        with self.assertRaises(ProtocolError):
            await c.connect(f"ws://127.0.0.1:{port.getHost().port}/")
        self.assertTrue(c._stopping, "the client should have given up by itself")
        await c.close()
        self.assertFalse(c._service.running)
        self.flushLoggedErrors(ProtocolError)


class MemoryRetentionTests(TestCase):
    """
    What a connection keeps alive.
    """

    async def test_http_channel_released_after_upgrade(self) -> None:
        """
        After the WebSocket upgrade the transport no longer holds
        twisted.web's HTTP channel as its producer, so the channel and its
        request can be freed.
        """
        app, url = await start_server(self)
        await client(self).connect(url)
        [connection] = list(app.factory.connections)
        self.assertIsNone(connection.transport.producer)
