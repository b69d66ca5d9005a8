"""
Direct and channel messages between clients over real loopback sockets.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from socketnet import Authorization, ClientApp, ServerApp
from socketnet.errors import Forbidden, NoSuchSession, SessionClosed

from ._helpers import Collector, raw_client, start_server


async def open_app(testcase: TestCase, **kwargs: Any) -> tuple[ServerApp, str]:
    app = ServerApp(**kwargs)
    app.set_token_verifier(lambda authorization: True)
    return await start_server(testcase, app)


async def connect(testcase: TestCase, url: str, client_id: str, **kwargs: Any) -> Any:
    kwargs.setdefault("reconnect", False)
    app = ClientApp(Authorization(client_id, "t"), **kwargs)
    testcase.addCleanup(app.close)
    return await app.connect(url)


class DirectMessageTests(TestCase):
    """
    session.sessions.to(id): messages and requests between clients.
    """

    async def test_send_both_ways(self) -> None:
        """
        Direct messages reach the other client with the sender stamped by
        the server, both ways.
        """
        app, url = await open_app(self)
        a, b = await connect(self, url, "a"), await connect(self, url, "b")
        got_a, got_b = Collector(), Collector()
        a.sessions.on_message(lambda m: got_a((m.sender, m.to, m.type, m.data)))
        b.sessions.on_message(lambda m: got_b((m.sender, m.to, m.type, m.data)))
        a.sessions.to("b").send({"hi": "b"})
        b.sessions.to("a").send([1, 2])
        self.assertEqual((await got_b.wait())[0], ("a", "b", "client", {"hi": "b"}))
        self.assertEqual((await got_a.wait())[0], ("b", "a", "client", [1, 2]))

    async def test_request_both_ways(self) -> None:
        """
        A direct request is answered by the other client's handler and the
        reply is routed back to the requester.
        """
        app, url = await open_app(self)
        a, b = await connect(self, url, "a"), await connect(self, url, "b")
        a.sessions.on_message(lambda m: f"a got {m.data}")
        b.sessions.on_message(lambda m: f"b got {m.data} from {m.sender}")
        self.assertEqual(await a.sessions.to("b").request("x"), "b got x from a")
        self.assertEqual(await b.sessions.to("a").request("y"), "a got y")

    async def test_remote_error(self) -> None:
        """
        A handler that raises on the other client makes the request fail
        with RemoteError naming the error.
        """
        from socketnet.errors import RemoteError

        app, url = await open_app(self)
        a, b = await connect(self, url, "a"), await connect(self, url, "b")

        def fail(message: Any) -> None:
            raise ValueError("no thanks")

        b.sessions.on_message(fail)
        with self.assertRaises(RemoteError) as caught:
            await a.sessions.to("b").request("x")
        self.assertEqual((caught.exception.name, caught.exception.message), ("ValueError", "no thanks"))
        self.flushLoggedErrors(ValueError)

    async def test_absent_recipient(self) -> None:
        """
        A request to a client id that is not connected fails with
        NoSuchSession at once; a send is answered with an error that
        on_error handlers receive.
        """
        app, url = await open_app(self)
        a = await connect(self, url, "a")
        with self.assertRaises(NoSuchSession):
            await a.sessions.to("nobody").request("x", timeout=None)
        errors = Collector()
        a.on_error(errors)
        a.sessions.to("nobody").send("x")
        [error] = await errors.wait()
        self.assertIsInstance(error, NoSuchSession)
        self.assertEqual(error.to, "nobody")

    async def test_responder_leaves(self) -> None:
        """
        When the client asked leaves before replying, the requester's
        request fails with SessionClosed at once.
        """
        app, url = await open_app(self)
        a = await connect(self, url, "a")
        b_app = ClientApp(Authorization("b", "t"), reconnect=False)
        self.addCleanup(b_app.close)
        b = await b_app.connect(url)
        asked = Collector()
        b.sessions.on_message(asked)  # never answers
        pending = a.sessions.to("b").request("anyone?", timeout=3600)
        await asked.wait()
        await b_app.close()
        with self.assertRaises(SessionClosed):
            await pending

    async def test_requester_leaves(self) -> None:
        """
        When the requester leaves, its request fails with SessionClosed at
        once, and the responder's late reply is dropped without harm.
        """
        app, url = await open_app(self)
        a_app = ClientApp(Authorization("a", "t"), reconnect=False)
        self.addCleanup(a_app.close)
        a = await a_app.connect(url)
        b = await connect(self, url, "b")
        asked = Collector()
        b.sessions.on_message(asked)
        pending = a.sessions.to("b").request("hello", timeout=3600)
        [message] = await asked.wait()
        await a_app.close()
        with self.assertRaises(SessionClosed):
            await pending
        app.on_message(lambda m, session: "yes")
        message.reply("too late")
        self.assertEqual(await b.request("still alive?"), "yes")
        self.assertFalse(b.closed)

    async def test_sender_cannot_pose(self) -> None:
        """
        A raw client that writes its own "from" still arrives as itself.
        """
        import json

        app, url = await open_app(self)
        b = await connect(self, url, "b")
        got = Collector()
        b.sessions.on_message(lambda m: got(m.sender))
        raw = await raw_client(url)
        raw.sendMessage(json.dumps({"type": "auth", "id": "mallory", "token": "t"}).encode())
        raw.sendMessage(json.dumps({"type": "message", "to": "b", "from": "alice", "data": 1}).encode())
        self.assertEqual((await got.wait())[0], "mallory")
        raw.sendClose(1000)
        await raw.factory.closed


class ChannelTests(TestCase):
    """
    Channels: join, exit, send, request, events, members.
    """

    async def test_join_send_exit_with_events(self) -> None:
        """
        Members receive channel messages from others (not their own); the
        server's joined and exited events fire with the channel id and the
        session; members() reflects joins and exits.
        """
        app, url = await open_app(self)
        joined, exited = Collector(), Collector()
        app.on_channel_session_joined(lambda channel, session: joined((channel, session.id)))
        app.on_channel_session_exited(lambda channel, session: exited((channel, session.id)))
        a, b, c = [await connect(self, url, i) for i in "abc"]
        got = {i: Collector() for i in "abc"}
        for s, i in ((a, "a"), (b, "b"), (c, "c")):
            s.channel("room").on_message(lambda m, i=i: got[i]((m.sender, m.channel, m.type, m.data)))
        await gatherResults([s.channel("room").join() for s in (a, b, c)])
        self.assertEqual(sorted(await joined.wait(3)), [("room", "a"), ("room", "b"), ("room", "c")])
        self.assertTrue(a.channel("room").joined)
        self.assertIs(a.channel("room"), a.channel("room"))
        self.assertEqual(await a.channel("room").members(), ["a", "b", "c"])
        self.assertEqual(app.channels.get("room").members, {"a", "b", "c"})
        a.channel("room").send("hello")
        self.assertEqual((await got["b"].wait())[0], ("a", "room", "channel", "hello"))
        self.assertEqual((await got["c"].wait())[0], ("a", "room", "channel", "hello"))
        await c.channel("room").exit()
        self.assertEqual((await exited.wait())[0], ("room", "c"))
        self.assertFalse(c.channel("room").joined)
        self.assertEqual(await b.channel("room").members(), ["a", "b"])
        b.channel("room").send("second")
        self.assertEqual((await got["a"].wait())[0], ("b", "room", "channel", "second"))
        self.assertEqual(len(got["c"].items), 1)
        self.assertEqual(len(got["a"].items), 1)  # not its own message

    async def test_send_without_joining(self) -> None:
        """
        As in the seed, a client may send to a channel it has not joined.
        """
        app, url = await open_app(self)
        a, b = await connect(self, url, "a"), await connect(self, url, "b")
        got = Collector()
        b.channel("news").on_message(lambda m: got(m.data))
        await b.channel("news").join()
        a.channel("news").send("extra")
        self.assertEqual(await got.wait(), ["extra"])

    async def test_channel_request_first_reply_wins(self) -> None:
        """
        A channel request fires with the first reply; a member's error
        does not win over another's answer.
        """
        app, url = await open_app(self)
        a, b, c = [await connect(self, url, i) for i in "abc"]

        def refuse(m: Any) -> None:
            raise KeyError("not me")

        b.channel("q").on_message(refuse)
        c.channel("q").on_message(lambda m: f"c answers {m.data}")
        await gatherResults([s.channel("q").join() for s in (b, c)])
        self.assertEqual(await a.channel("q").request("who?"), "c answers who?")
        self.flushLoggedErrors(KeyError)

    async def test_channel_request_without_members(self) -> None:
        """
        A channel request to a channel with no other member fails with
        NoSuchSession at once.
        """
        app, url = await open_app(self)
        a = await connect(self, url, "a")
        await a.channel("empty").join()
        with self.assertRaises(NoSuchSession):
            await a.channel("empty").request("anyone?", timeout=None)

    async def test_disconnect_exits_every_channel_once(self) -> None:
        """
        A client that disconnects leaves every channel it was in: one
        exit event per channel, and members() no longer lists it.
        """
        app, url = await open_app(self)
        exited = Collector()
        app.on_channel_session_exited(lambda channel, session: exited((channel, session.id)))
        a = await connect(self, url, "a")
        b_app = ClientApp(Authorization("b", "t"), reconnect=False)
        self.addCleanup(b_app.close)
        b = await b_app.connect(url)
        await gatherResults([b.channel(name).join() for name in ("x", "y", "z")])
        await b.channel("y").join()  # joining twice is one membership
        await b_app.close()
        self.assertEqual(sorted(await exited.wait(3)), [("x", "b"), ("y", "b"), ("z", "b")])
        await deferLater(reactor, 0, lambda: None)
        self.assertEqual(len(exited.items), 3)
        self.assertEqual(await a.channel("y").members(), [])
        self.assertIsNone(app.channels.get("y"))

    async def test_rejoin_after_reconnect(self) -> None:
        """
        After a reconnect the client joins its channels again by itself,
        and the channel's handlers are still attached.
        """
        app, url = await open_app(self)
        sender = await connect(self, url, "s")
        c = ClientApp(Authorization("m", "t"), reconnect=True, retry_policy=lambda attempt: 0.01)
        self.addCleanup(c.close)
        sessions = Collector()
        c.on_session(lambda s: s.on_authorized(sessions))
        first = await c.connect(url)
        got = Collector()
        first.channel("room").on_message(lambda m: got(m.data))
        await first.channel("room").join()
        rejoined = Collector()
        app.on_channel_session_joined(lambda channel, session: rejoined(channel))
        app.sessions.get("m").close(4000, "reconnect, please")
        await sessions.wait(2)
        await rejoined.wait()
        second = c.session
        self.assertIsNot(second, first)
        self.assertIs(second.channel("room"), first.channel("room"))
        sender.channel("room").send("after")
        self.assertEqual(await got.wait(), ["after"])
        # The join reply was written before the message: it has arrived.
        self.assertTrue(second.channel("room").joined)

    async def test_server_sends_and_requests(self) -> None:
        """
        The server sends to a channel (from is null) and asks it a
        question; session.channel(id) is the same server channel.
        """
        app, url = await open_app(self)
        a = await connect(self, url, "a")
        got = Collector()
        a.channel("ops").on_message(lambda m: got((m.sender, m.data)) if m.reply is None else m.data * 2)
        await a.channel("ops").join()
        server_channel = app.channels.ensure("ops")
        self.assertIs(app.sessions.get("a").channel("ops"), server_channel)
        server_channel.send("notice")
        self.assertEqual((await got.wait())[0], (None, "notice"))
        self.assertEqual(await server_channel.request(21), 42)
        self.assertEqual([s.id for s in server_channel.sessions], ["a"])

    async def test_bad_channel_ids(self) -> None:
        """
        Channel ids follow the client id rules: the client API refuses a
        bad one with ValueError, and the server closes a raw client that
        sends one with 4400.
        """
        import json

        app, url = await open_app(self)
        a = await connect(self, url, "a")
        for bad in ("", "has space", "x" * 129, "tab\there"):
            self.assertRaises(ValueError, a.channel, bad)
            self.assertRaises(ValueError, app.channels.ensure, bad)
        self.assertRaises(ValueError, a.sessions.to, "")
        raw = await raw_client(url)
        raw.sendMessage(json.dumps({"type": "auth", "id": "r", "token": "t"}).encode())
        raw.sendMessage(json.dumps({"type": "join", "channel": "a b", "request": 1}).encode())
        code, reason = await raw.factory.closed
        self.assertEqual(code, 4400)
        self.assertIn("channel", reason)


class AuthorizerAndFilterTests(TestCase):
    """
    The channel authorizer and the message filter.
    """

    async def test_authorizer_refuses_join_and_send(self) -> None:
        """
        A refused join fails with Forbidden; a refused send reaches
        on_error as Forbidden; a refused request fails with Forbidden.
        """
        app, url = await open_app(self)
        asked = []

        def authorize(session: Any, channel: str, action: str) -> Any:
            asked.append((session.id, channel, action))
            if channel == "vip":
                return False
            return deferLater(reactor, 0, lambda: True)

        app.set_channel_authorizer(authorize)
        a = await connect(self, url, "a")
        with self.assertRaises(Forbidden):
            await a.channel("vip").join()
        self.assertFalse(a.channel("vip").joined)
        errors = Collector()
        a.on_error(errors)
        a.channel("vip").send("let me in")
        [error] = await errors.wait()
        self.assertIsInstance(error, Forbidden)
        self.assertEqual(error.channel, "vip")
        with self.assertRaises(Forbidden):
            await a.channel("vip").request("please")
        await a.channel("lobby").join()
        self.assertIn(("a", "lobby", "join"), asked)
        self.assertIn(("a", "vip", "send"), asked)

    async def test_async_authorizer_keeps_order(self) -> None:
        """
        With an authorizer that answers later, one sender's messages still
        arrive in the order sent.
        """
        app, url = await open_app(self)
        delays = iter([0.02, 0.0, 0.01] * 10)
        app.set_channel_authorizer(lambda s, c, action: deferLater(reactor, next(delays), lambda: True))
        a, b = await connect(self, url, "a"), await connect(self, url, "b")
        got = Collector()
        b.channel("line").on_message(lambda m: got(m.data))
        await b.channel("line").join()
        for n in range(10):
            a.channel("line").send(n)
        self.assertEqual(await got.wait(10), list(range(10)))

    async def test_filter_and_observers(self) -> None:
        """
        Server on_message handlers see direct and channel messages passing
        through, without a reply callable; a filter returning False drops
        a message, and a dropped request fails with Forbidden.
        """
        app, url = await open_app(self)
        seen = Collector()
        app.on_message(lambda m, session: seen((m.type, m.sender, m.to, m.channel, m.data, m.reply)))
        app.set_message_filter(lambda m, session: m.data != "spam")
        a, b = await connect(self, url, "a"), await connect(self, url, "b")
        got = Collector()
        b.sessions.on_message(lambda m: got(m.data))
        a.sessions.to("b").send("spam")
        a.sessions.to("b").send("ham")
        self.assertEqual(await got.wait(), ["ham"])
        with self.assertRaises(Forbidden):
            await a.sessions.to("b").request("spam")
        await b.channel("c").join()
        a.channel("c").send("news")
        items = await seen.wait(2)
        self.assertEqual(items[0], ("client", "a", "b", None, "ham", None))
        self.assertEqual(items[1], ("channel", "a", "c", "c", "news", None))


class FanOutConsistencyTests(TestCase):
    """
    Many channels, many members.
    """

    async def test_500_channels_20_members(self) -> None:
        """
        With 500 channels of 20 members each, every member receives every
        message of its channels exactly once, and each sender's messages
        in the order sent.
        """
        app, url = await open_app(self)
        clients, channels, per_sender = 40, 500, 3
        sessions = await gatherResults(
            [ensureDeferred(connect(self, url, f"c{i}")) for i in range(clients)]
        )
        everything = Collector()
        received: dict[tuple[int, str], list[Any]] = {}

        def record(message: Any, member: int) -> None:
            received.setdefault((member, message.channel), []).append((message.sender, message.data))
            everything(None)

        members = {f"ch{ch}": [(ch + 2 * k) % clients for k in range(20)] for ch in range(channels)}
        joins = []
        for name, ids in members.items():
            for i in ids:
                channel = sessions[i].channel(name)
                channel.on_message(lambda m, i=i: record(m, i))
                joins.append(channel.join())
        await gatherResults(joins)
        for n in range(per_sender):
            for name, ids in members.items():
                for sender in ids[:2]:
                    sessions[sender].channel(name).send(n)
        expected = channels * 2 * per_sender * 19
        await everything.wait(expected)
        # One more round trip from every client: anything duplicated or
        # stray would have arrived by now.
        app.on_message(lambda m, session: "pong")
        await gatherResults([s.request("ping") for s in sessions])
        self.assertEqual(len(everything.items), expected)
        for name, ids in members.items():
            senders = ids[:2]
            for member in ids:
                got = received.get((member, name), [])
                for sender in senders:
                    mine = [data for who, data in got if who == f"c{sender}"]
                    expected_mine = [] if sender == member else list(range(per_sender))
                    self.assertEqual(mine, expected_mine, (name, member, sender))
