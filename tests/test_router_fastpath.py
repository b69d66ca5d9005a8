"""
The router's cheap paths: the in-process broker's synchronous fast path,
the one timer that expires routed requests (L{Deadlines}), and routing
through a broker whose L{Deferred}s fire later, which must behave the
same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from typing import Any, Callable

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from socketnet import Authorization, Heartbeat
from socketnet._broker import InProcessBroker
from socketnet._registry import Deadlines
from socketnet.errors import NoSuchSession, RemoteError, ReplyTimeout, SessionClosed
from socketnet.interfaces import IBroker, IRouter
from socketnet.protocol import SocketnetClientFactory, SocketnetServerFactory
from socketnet.testing import URL, connect_pair


class DeadlinesTests(SynchronousTestCase):
    """
    L{Deadlines}: many deadlines, one timer on the injected clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[str] = []
        self.deadlines = Deadlines(self.clock, self.expired.append)

    def test_expires_at_the_deadline(self) -> None:
        """
        A key expires when its time has passed, not before, and is then
        no longer held.
        """
        self.deadlines.add("a", 5)
        self.clock.advance(4.999)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.expired, ["a"])
        self.assertNotIn("a", self.deadlines)
        self.assertEqual(len(self.deadlines), 0)

    def test_one_timer(self) -> None:
        """
        However many keys wait, the clock holds one delayed call, and the
        keys expire in the order of their deadlines.
        """
        for n, seconds in enumerate([30, 10, 20, 40]):
            self.deadlines.add(f"k{n}", seconds)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.pump([10] * 4)
        self.assertEqual(self.expired, ["k1", "k2", "k0", "k3"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_discarded_key_does_not_expire(self) -> None:
        """
        A key discarded before its deadline never expires.
        """
        self.deadlines.add("a", 5)
        self.deadlines.add("b", 5)
        self.deadlines.discard("a")
        self.clock.advance(5)
        self.assertEqual(self.expired, ["b"])

    def test_shorter_deadline_moves_the_timer(self) -> None:
        """
        A key with an earlier deadline than the timer's moves the timer
        forward, and expires on time.
        """
        self.deadlines.add("long", 86400)
        self.deadlines.add("short", 5)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 5)
        self.clock.advance(5)
        self.assertEqual(self.expired, ["short"])

    def test_late_by_at_most_a_grain(self) -> None:
        """
        Keys with deadlines close together expire within a grain of their
        deadline: one sweep may take several.
        """
        self.deadlines.add("a", 5)
        self.deadlines.add("b", 5.5)
        self.clock.advance(5)
        self.assertEqual(self.expired, ["a"])
        self.clock.advance(0.5)
        self.clock.advance(Deadlines.grain - 0.5)
        self.assertEqual(self.expired, ["a", "b"])

    def test_idle_timer_ends_within_a_grain(self) -> None:
        """
        Once the last key is discarded, the timer runs once more within a
        grain, finds nothing and is gone.
        """
        self.deadlines.add("a", 86400)
        self.deadlines.discard("a")
        [call] = self.clock.getDelayedCalls()
        self.assertLessEqual(call.getTime(), Deadlines.grain)
        self.clock.advance(Deadlines.grain)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.expired, [])

    def test_busy_timer_is_reused(self) -> None:
        """
        Keys that come and go while the timer runs reuse it: no delayed
        call is made or moved for each.
        """
        self.deadlines.add("first", 86400)
        self.deadlines.discard("first")
        [call] = self.clock.getDelayedCalls()
        at = call.getTime()
        for n in range(100):
            self.deadlines.add(str(n), 30)
            self.deadlines.discard(str(n))
        self.assertEqual(self.clock.getDelayedCalls(), [call])
        self.assertEqual(call.getTime(), at)

    def test_stop(self) -> None:
        """
        L{Deadlines.stop} forgets every key and cancels the timer at once.
        """
        self.deadlines.add("a", 5)
        self.deadlines.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.expired, [])
        self.deadlines.add("b", 1)
        self.clock.advance(1)
        self.assertEqual(self.expired, ["b"])

    def test_heap_stays_small(self) -> None:
        """
        Discarded keys do not pile up: the heap is compacted.
        """
        self.deadlines.add("kept", 86400)
        for n in range(10_000):
            self.deadlines.add(str(n), 86400)
            self.deadlines.discard(str(n))
        self.assertLessEqual(len(self.deadlines._heap), 2 * len(self.deadlines) + 65)
        self.clock.advance(86400)
        self.assertEqual(self.expired, ["kept"])

    def test_failing_expiry_is_logged(self) -> None:
        """
        A key whose expiry raises is logged, and the other keys due at
        the same time still expire; the timer goes on.
        """
        seen: list[str] = []

        def expire(key: str) -> None:
            seen.append(key)
            if key == "bad":
                raise RuntimeError("boom")

        deadlines = Deadlines(self.clock, expire)
        deadlines.add("bad", 5)
        deadlines.add("good", 5)
        deadlines.add("later", 10)
        self.clock.advance(5)
        self.assertEqual(seen, ["bad", "good"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(5)
        self.assertEqual(seen, ["bad", "good", "later"])


class FastPathTests(SynchronousTestCase):
    """
    L{InProcessBroker.fast_path}: offered unless a subclass changes
    delivery.
    """

    def test_offered(self) -> None:
        """
        The in-process broker offers itself as the fast path, and still
        provides L{IBroker}.
        """
        broker = InProcessBroker()
        self.assertIs(broker.fast_path(), broker)
        verifyObject(IBroker, broker)

    def test_subclass_overriding_delivery(self) -> None:
        """
        A subclass that overrides one of the three Deferred methods the
        fast path stands in for gets no fast path.
        """
        for name in ("send_to_client", "send_to_node", "publish"):
            subclass = type("Sub", (InProcessBroker,), {name: lambda self, *args: None})
            self.assertIsNone(subclass().fast_path(), name)

    def test_subclass_overriding_membership(self) -> None:
        """
        A subclass that overrides only membership keeps the fast path.
        """

        class Counting(InProcessBroker):
            def join(self, channel_id: str, client_id: str) -> Deferred[bool]:
                return super().join(channel_id, client_id)

        broker = Counting()
        self.assertIs(broker.fast_path(), broker)


@implementer(IBroker)
class LaterBroker:
    """
    A broker that is not the in-process one, as a remote broker would be:
    each call is carried out, and its L{Deferred} fired, in a later
    reactor turn.
    """

    node_id = "later"

    def __init__(self, clock: MemoryReactorClock):
        self._clock = clock
        self._inner = InProcessBroker()
        self._inner.node_id = self.node_id  # type: ignore[misc]

    def attach(self, router: IRouter) -> None:
        self._inner.attach(router)

    def _later(self, name: str, *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self._clock.callLater(0, lambda: getattr(self._inner, name)(*args).chainDeferred(d))
        return d

    def __getattr__(self, name: str) -> Callable[..., Deferred[Any]]:
        if name in ("register", "unregister", "send_to_client", "send_to_node", "publish", "join", "exit", "members"):
            return lambda *args: self._later(name, *args)
        raise AttributeError(name)


class _Routing(ABC):
    """
    Routing scenarios, run with the in-process broker (fast path) and
    with L{LaterBroker} (Deferreds that fire later).
    """

    @abstractmethod
    def broker(self, reactor: MemoryReactorClock) -> Any:
        """
        The broker the scenarios run with.
        """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.server = SocketnetServerFactory(
            reactor=self.reactor, heartbeat=Heartbeat(interval=86400), broker=self.broker(self.reactor)
        )
        self.server.verifier = lambda authorization: True
        self.pairs: list[Any] = []

    def connect(self, client_id: str) -> Any:
        client = SocketnetClientFactory(
            URL, Authorization(client_id, "t"), reactor=self.reactor, heartbeat=Heartbeat(interval=86400)
        )
        pair = connect_pair(self.server, client, self.reactor, client_port=40000 + len(self.pairs))
        self.pairs.append(pair)
        self.settle()
        return pair.client.session

    def settle(self) -> None:
        for _ in range(6):
            self.reactor.advance(0)
            for pair in self.pairs:
                pair.flush()

    def sweeps(self) -> list[Any]:
        sweep = self.server.router._deadlines._sweep
        return [call for call in self.reactor.getDelayedCalls() if call.func == sweep]

    def close_all(self) -> None:
        for pair in self.pairs:
            pair.client.session.close()
        self.settle()

    def test_direct_request(self) -> None:
        """
        A direct request is answered, with the sender stamped; the
        server's routing state is gone afterwards.
        """
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: f"{m.sender} asked {m.data}")
        d = a.sessions.to("b").request("q")
        self.settle()
        self.assertEqual(self.successResultOf(d), "a asked q")
        self.assertEqual(self.server.router._waiting, {})
        self.assertEqual(self.server.sessions.get("b")._routes, {})

    def test_observers_see_routed_messages(self) -> None:
        """
        The server's message handlers see a direct message on its way;
        what they return does not answer it.
        """
        seen: list[Any] = []
        self.server.message_handlers.append(lambda m, s: seen.append((m.type, m.sender, m.to, m.data)) or "not this")
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: "this")
        d = a.sessions.to("b").request("q")
        self.settle()
        self.assertEqual(self.successResultOf(d), "this")
        self.assertEqual(seen, [("client", "a", "b", "q")])

    def test_remote_error(self) -> None:
        """
        The recipient's error reply reaches the requester.
        """
        a, b = self.connect("a"), self.connect("b")

        def refuse(message: Any) -> None:
            raise LookupError("not here")

        b.sessions.on_message(refuse)
        d = a.sessions.to("b").request("q")
        self.settle()
        self.assertEqual(self.failureResultOf(d, RemoteError).value.name, "LookupError")
        self.flushLoggedErrors(LookupError)

    def test_absent_recipient(self) -> None:
        """
        A request to an id nobody has fails with NoSuchSession; a message
        without request is answered with an error frame naming it.
        """
        a = self.connect("a")
        errors: list[Exception] = []
        a.on_error(errors.append)
        d = a.sessions.to("nobody").request("q")
        a.sessions.to("nobody").send("x")
        self.settle()
        self.failureResultOf(d, NoSuchSession)
        [error] = errors
        self.assertIsInstance(error, NoSuchSession)
        self.assertEqual(error.to, "nobody")

    def test_recipient_leaves(self) -> None:
        """
        A recipient that disconnects before replying fails the request
        with SessionClosed.
        """
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: None)
        d = a.sessions.to("b").request("q", timeout=None)
        self.settle()
        self.assertNoResult(d)
        b.close()
        self.settle()
        self.failureResultOf(d, SessionClosed)

    def test_channel_request_first_reply_wins(self) -> None:
        """
        A channel request is answered by the first member's data, not by
        another member's error.
        """
        a, b, c = self.connect("a"), self.connect("b"), self.connect("c")

        def refuse(message: Any) -> None:
            raise KeyError("not me")

        b.channel("q").on_message(refuse)
        c.channel("q").on_message(lambda m: f"c answers {m.data}")
        b.channel("q").join()
        c.channel("q").join()
        self.settle()
        d = a.channel("q").request("who?")
        self.settle()
        self.assertEqual(self.successResultOf(d), "c answers who?")
        self.flushLoggedErrors(KeyError)

    def test_timeout(self) -> None:
        """
        A routed request nobody answers is forgotten by the server at the
        requester's timeout; the requester fails with ReplyTimeout and a
        late reply is dropped.
        """
        a, b = self.connect("a"), self.connect("b")
        held: list[Any] = []
        b.sessions.on_message(held.append)
        d = a.sessions.to("b").request("q", timeout=5)
        self.settle()
        self.assertEqual(len(self.server.router._waiting), 1)
        self.reactor.advance(5)
        self.settle()
        self.failureResultOf(d, ReplyTimeout)
        self.assertEqual(self.server.router._waiting, {})
        held[0].reply("late")
        self.settle()
        self.assertFalse(a.closed)

    def test_no_timeout_is_answered_at_the_maximum(self) -> None:
        """
        A routed request without a timeout ends with the server's
        ReplyTimeout once the server stops waiting, a day later.
        """
        from socketnet import _frames

        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: None)
        d = a.sessions.to("b").request("q", timeout=None)
        self.settle()
        self.reactor.advance(_frames.MAX_TIMEOUT - 1)
        self.settle()
        self.assertNoResult(d)
        self.reactor.advance(1)
        self.settle()
        self.failureResultOf(d, ReplyTimeout)

    def test_one_timer_for_many_requests(self) -> None:
        """
        Routed requests waiting at once share one delayed call on the
        server's clock.
        """
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: None)
        for timeout in (5, 50, 500, None):
            a.sessions.to("b").request("q", timeout=timeout).addErrback(lambda f: None)
        self.settle()
        self.assertEqual(len(self.server.router._waiting), 4)
        self.assertEqual(len(self.sweeps()), 1)

    def test_idle_and_teardown_leave_no_timer(self) -> None:
        """
        Once every routed request is answered, the server's timer ends
        within a second; once the sessions are gone, the clock holds no
        delayed call at all.
        """
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: "yes")
        for _ in range(3):
            self.assertEqual(self.successResultOf(self.request(a)), "yes")
        self.reactor.advance(1)
        self.assertEqual(self.sweeps(), [])
        self.request(a)  # answered too: the timer is still running when they close
        self.close_all()
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_requester_leaves_stops_timer(self) -> None:
        """
        When the requester leaves with requests waiting, the server
        forgets them and its timer at once.
        """
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: None)
        a.sessions.to("b").request("q", timeout=60).addErrback(lambda f: None)
        self.settle()
        self.assertEqual(len(self.sweeps()), 1)
        a.close()
        self.settle()
        self.assertEqual(self.server.router._waiting, {})
        self.assertEqual(self.sweeps(), [])

    def request(self, session: Any) -> Deferred[Any]:
        d = session.sessions.to("b").request("q")
        self.settle()
        return d


class InProcessRoutingTests(_Routing, SynchronousTestCase):
    """
    Routing through the in-process broker's fast path.
    """

    def broker(self, reactor: MemoryReactorClock) -> Any:
        return InProcessBroker()

    def test_fast_path_in_use(self) -> None:
        """
        The router uses the in-process broker's fast path, and no
        Deferred method of the broker is called to route a request and
        its reply.
        """
        calls: list[str] = []
        broker = self.server.router.broker
        for name in ("send_to_client", "send_to_node", "publish"):
            setattr(broker, name, lambda *args, name=name: calls.append(name))
        self.assertIs(self.server.router._fast, broker)
        a, b = self.connect("a"), self.connect("b")
        b.sessions.on_message(lambda m: "yes")
        self.assertEqual(self.successResultOf(self.request(a)), "yes")
        self.assertEqual(calls, [])


class LaterBrokerRoutingTests(_Routing, SynchronousTestCase):
    """
    Routing through a broker whose Deferreds fire in a later turn.
    """

    def broker(self, reactor: MemoryReactorClock) -> Any:
        return LaterBroker(reactor)

    def test_no_fast_path(self) -> None:
        """
        A broker other than the in-process one is always waited for.
        """
        self.assertIsNone(self.server.router._fast)


class BrokerFailureTests(SynchronousTestCase):
    """
    A broker's failures are logged, whether its Deferred has already
    failed or fails later.
    """

    def _connect(self, broker: Any) -> None:
        reactor = MemoryReactorClock()
        server = SocketnetServerFactory(reactor=reactor, broker=broker)
        server.verifier = lambda authorization: True
        connect_pair(server, SocketnetClientFactory(URL, Authorization("a", "t"), reactor=reactor), reactor)

    def test_failed_at_once(self) -> None:
        """
        A registration that has already failed is logged.
        """

        class Broken(InProcessBroker):
            def register(self, client_id: str) -> Deferred[None]:
                return fail(RuntimeError("broker down"))

        self._connect(Broken())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_failed_later(self) -> None:
        """
        A registration that fails after it was made is logged then.
        """
        pending: list[Deferred[None]] = []

        class Slow(InProcessBroker):
            def register(self, client_id: str) -> Deferred[None]:
                d: Deferred[None] = Deferred()
                pending.append(d)
                return d

        self._connect(Slow())
        self.assertEqual(self.flushLoggedErrors(RuntimeError), [])
        pending[0].errback(RuntimeError("broker down"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
