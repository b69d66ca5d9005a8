"""
Tests for L{socketnet._stack}: L{LayerStack} and L{CodecLayer}.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from socketnet import _frames
from socketnet._stack import CodecLayer, LayerStack
from socketnet.closecodes import CloseCode
from socketnet.errors import ProtocolError, SessionClosed
from socketnet.interfaces import ILayer


@implementer(ILayer)
class RecordingLayer:
    """
    A fake layer that records what goes through it, passes frames on, and
    can be told to raise or to close.

    @ivar received: frames received from below, in order.
    @ivar written: frames written from above, in order.
    @ivar destroyed: the reasons L{destroy} was called with.
    @ivar started: how many times L{start} was called.
    @ivar receive_error: raised from L{receive} (after recording) when set.
    @ivar destroy_error: raised from L{destroy} (after recording) when set.
    @ivar close_on_start: C{(code, reason)} to close with from L{start}.
    @ivar forward: whether L{receive} hands frames up.
    """

    passes_writes = False

    def __init__(
        self,
        name: str,
        events: list[tuple[str, str]],
        clock: Any,
        write_down: Callable[[Any], None],
        deliver_up: Callable[[Any], None],
        close: Callable[[int, str], None],
        forward: bool = True,
    ):
        self.name = name
        self.events = events
        self.clock = clock
        self.write_down = write_down
        self.deliver_up = deliver_up
        self.close = close
        self.forward = forward
        self.received: list[Any] = []
        self.written: list[Any] = []
        self.destroyed: list[Exception] = []
        self.started = 0
        self.receive_error: Exception | None = None
        self.destroy_error: Exception | None = None
        self.close_on_start: tuple[int, str] | None = None

    def start(self) -> None:
        self.started += 1
        self.events.append(("start", self.name))
        if self.close_on_start is not None:
            self.close(*self.close_on_start)

    def receive(self, frame: Any) -> None:
        self.received.append(frame)
        self.events.append(("receive", self.name))
        if self.receive_error is not None:
            raise self.receive_error
        if self.forward:
            self.deliver_up(frame)

    def write(self, frame: Any) -> None:
        self.written.append(frame)
        self.write_down(frame)

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self.deliver_up = deliver_up

    def destroy(self, reason: Exception) -> None:
        self.destroyed.append(reason)
        self.events.append(("destroy", self.name))
        if self.destroy_error is not None:
            raise self.destroy_error


class RecordingCodec(CodecLayer):
    """
    The real L{CodecLayer}, also noting its C{start} and C{destroy} calls
    in the shared event list.
    """

    def __init__(self, events: list[tuple[str, str]], **kwargs: Any):
        super().__init__(**kwargs)
        self.events = events

    def start(self) -> None:
        self.events.append(("start", "codec"))
        super().start()

    def destroy(self, reason: Exception) -> None:
        self.events.append(("destroy", "codec"))
        super().destroy(reason)


def _factory(cls: Any, *args: Any, **extra: Any) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        return cls(*args, **kwargs, **extra)

    return build


class StackTestCase(SynchronousTestCase):
    """
    Builds a stack of L{CodecLayer} under two recording layers, C{a} and
    C{b} (the top), with recording wire callbacks.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[tuple[str, str]] = []
        self.wire: list[tuple[bytes, bool]] = []
        self.closes: list[tuple[int, str]] = []
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.stack = LayerStack(
            self.clock,
            [
                _factory(RecordingCodec, self.events),
                _factory(RecordingLayer, "a", self.events),
                _factory(RecordingLayer, "b", self.events, forward=False),
            ],
            write_wire=lambda payload, is_binary: self.wire.append((payload, is_binary)),
            close_wire=lambda code, reason: self.closes.append((code, reason)),
            peer="peer-1",
        )
        self.codec, self.a, self.b = self.stack.layers

    def events_at(self, level: LogLevel) -> list[dict[str, Any]]:
        """
        The logged events at C{level} from L{LayerStack}.
        """
        return [
            e
            for e in self.logged
            if e["log_level"] == level and e.get("log_namespace", "").endswith("LayerStack")
        ]


class LayerStackTests(StackTestCase):
    """
    L{LayerStack} wires layers in order, routes frames, and closes the
    connection on errors.
    """

    def test_layersBottomFirst(self) -> None:
        """
        C{layers} holds the layers in the order of the factories, bottom
        first, each built with the stack's clock and C{close}.
        """
        self.assertEqual(len(self.stack.layers), 3)
        self.assertIsInstance(self.codec, CodecLayer)
        self.assertEqual((self.a.name, self.b.name), ("a", "b"))
        self.assertIs(self.a.clock, self.clock)
        self.assertIs(self.b.clock, self.clock)
        self.assertEqual(self.a.close, self.stack.close)
        self.assertFalse(self.stack.closing)
        self.assertFalse(self.stack.destroyed)

    def test_bottomWrites(self) -> None:
        """
        What the bottom layer writes reaches the wire as a text message
        when it is bytes alone, and as the tuple says otherwise.
        """
        self.codec._write_down((b"\x00record", True))
        self.codec._write_down(b'{"type":"pong"}')
        self.codec._write_down((b'{"type":"ping"}', False))
        self.assertEqual(
            self.wire,
            [(b"\x00record", True), (b'{"type":"pong"}', False), (b'{"type":"ping"}', False)],
        )

    def test_linkedUp(self) -> None:
        """
        Every layer but the top one is linked straight to the C{receive}
        of the layer above; the top one delivers up only to an error.
        """
        self.assertEqual(self.codec._deliver_up, self.a.receive)
        self.assertEqual(self.a.deliver_up, self.b.receive)
        self.assertEqual(self.b.deliver_up, self.stack._deliver_past_top)

    def test_deliverBeforeLinkedIsAnError(self) -> None:
        """
        A layer that delivers a frame up while the stack is still being
        built (before L{ILayer.link_up}) gets a L{RuntimeError}.
        """

        class Eager(RecordingLayer):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.deliver_up({"type": "ping"})

        self.assertRaises(
            RuntimeError,
            LayerStack,
            self.clock,
            [_factory(Eager, "eager", self.events), _factory(RecordingLayer, "top", self.events)],
            write_wire=lambda payload, is_binary: None,
            close_wire=lambda code, reason: None,
        )

    def test_passThroughWritesLinkedAround(self) -> None:
        """
        A layer whose C{passes_writes} is true is left out of the write
        path: the layer above it writes straight to the layer below, and
        the frame still reaches the wire unchanged.
        """

        class PassThrough(RecordingLayer):
            passes_writes = True

        stack = LayerStack(
            self.clock,
            [
                _factory(RecordingCodec, self.events),
                _factory(PassThrough, "pass", self.events),
                _factory(RecordingLayer, "top", self.events, forward=False),
            ],
            write_wire=lambda payload, is_binary: self.wire.append((payload, is_binary)),
            close_wire=lambda code, reason: self.closes.append((code, reason)),
        )
        codec, passing, top = stack.layers
        # The codec passes writes too: bytes alone are a text message.
        self.assertEqual(top.write_down, stack._write_bottom)
        self.assertEqual(passing.write_down, stack._write_bottom)
        top.write(_frames.PONG)
        self.assertEqual(self.wire, [(_frames.PONG, False)])
        self.assertEqual(passing.written, [])
        stack.receive(_frames.PING, False)
        self.assertEqual(top.received, [_frames.decode(_frames.PING)])

    def test_framesGoUpInOrder(self) -> None:
        """
        Text messages are decoded by the codec and reach each layer above,
        in the order they arrived; nothing is written or closed.
        """
        payloads = [
            _frames.PING,
            _frames.message({"n": 1}),
            _frames.message({"n": 2}, request=5),
            _frames.reply(5, "done"),
        ]
        for payload in payloads:
            self.stack.receive(payload, False)
        expected = [_frames.decode(p) for p in payloads]
        self.assertEqual(self.a.received, expected)
        self.assertEqual(self.b.received, expected)
        self.assertEqual(
            self.events,
            [("receive", "a"), ("receive", "b")] * len(payloads),
        )
        self.assertEqual(self.wire, [])
        self.assertEqual(self.closes, [])

    def test_readingAfterClose(self) -> None:
        """
        After a normal close (1000 or 1001) frames still in flight reach
        the layers; after an error close they are dropped.  Nothing is
        written after either.
        """
        self.stack.close(1000, "bye")
        self.stack.receive(_frames.reply(1, "late but wanted"), False)
        self.assertEqual(self.b.received, [_frames.decode(_frames.reply(1, "late but wanted"))])
        self.b.write_down(b'{"type":"ping"}')
        self.assertEqual(self.wire, [])
        self.setUp()
        self.stack.close(4400, "bad")
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.a.received, [])

    def test_writesGoDown(self) -> None:
        """
        Frames written by the top layer pass through each layer below and
        reach the wire as C{(payload, False)}, in order.
        """
        self.b.write_down(b'{"type":"ping"}')
        self.b.write_down(b'{"type":"message","data":1}')
        self.a.write_down(b'{"type":"pong"}')
        self.assertEqual(self.a.written, [b'{"type":"ping"}', b'{"type":"message","data":1}'])
        self.assertEqual(
            self.wire,
            [
                (b'{"type":"ping"}', False),
                (b'{"type":"message","data":1}', False),
                (b'{"type":"pong"}', False),
            ],
        )
        self.assertEqual(self.closes, [])

    def test_binaryCloses4415(self) -> None:
        """
        A binary message closes the connection with 4415 and its reason;
        no layer above the codec sees it.
        """
        self.stack.receive(_frames.PING, True)
        self.assertEqual(
            self.closes, [(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")]
        )
        self.assertEqual(self.closes[0][0], 4415)
        self.assertEqual(self.a.received, [])
        self.assertTrue(self.stack.closing)

    def test_malformedCloses4400(self) -> None:
        """
        A malformed text message closes the connection with 4400 and the
        reason L{_frames.decode} gives; no layer sees it.
        """
        payload = b'{"type":"reply","request":0}'
        reason = self.assertRaises(ProtocolError, _frames.decode, payload).reason
        self.stack.receive(payload, False)
        self.assertEqual(self.closes, [(CloseCode.BAD_FRAME, reason)])
        self.assertEqual(self.closes[0][0], 4400)
        self.assertIn("field 'request' must be an integer", self.closes[0][1])
        self.assertEqual(self.a.received, [])

    def test_malformedLoggedAtWarn(self) -> None:
        """
        A close for a protocol error is logged once, at C{warn}, naming the
        peer and the reason; it is not logged as a failure.
        """
        self.stack.receive(b"not json", False)
        warnings = self.events_at(LogLevel.warn)
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["peer"], "peer-1")
        self.assertEqual(warnings[0]["reason"], self.closes[0][1])
        self.assertEqual([e for e in self.logged if "log_failure" in e], [])

    def test_layerProtocolError(self) -> None:
        """
        A L{ProtocolError} raised by a layer closes the connection with its
        code and reason; layers above it do not see the frame.
        """
        self.a.receive_error = ProtocolError(CloseCode.AUTH_REQUIRED, "auth first")
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.closes, [(4403, "auth first")])
        self.assertEqual(self.a.received, [{"type": "ping"}])
        self.assertEqual(self.b.received, [])

    def test_unexpectedErrorCloses4500(self) -> None:
        """
        Any other exception raised by a layer closes the connection with
        4500 and the generic reason, and is logged as a failure naming the
        peer.
        """
        self.b.receive_error = ZeroDivisionError("oops")
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.closes, [(CloseCode.INTERNAL_ERROR, "internal error")])
        self.assertEqual(self.closes[0][0], 4500)
        failures = [e for e in self.logged if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.assertIsInstance(failures[0]["log_failure"].value, ZeroDivisionError)
        self.assertEqual(failures[0]["peer"], "peer-1")
        self.assertEqual(failures[0]["log_level"], LogLevel.critical)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_internalReasonHidesError(self) -> None:
        """
        The close reason for an unexpected exception does not reveal the
        exception's text to the peer.
        """
        self.a.receive_error = KeyError("secret detail")
        self.stack.receive(_frames.PING, False)
        self.assertNotIn("secret", self.closes[0][1])
        self.flushLoggedErrors(KeyError)

    def test_topDeliveringUpIsInternalError(self) -> None:
        """
        A top layer that delivers a frame further up is a bug: the
        connection closes with 4500 and the error is logged.
        """
        self.b.forward = True
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.closes, [(4500, "internal error")])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_receiveAfterCloseDropped(self) -> None:
        """
        After the stack closes, further messages are dropped before they
        reach any layer, and the wire is closed only once.
        """
        self.stack.close(4008, "silent")
        self.stack.receive(_frames.PING, False)
        self.stack.receive(b"garbage", False)
        self.stack.receive(_frames.PING, True)
        self.assertEqual(self.a.received, [])
        self.assertEqual(self.closes, [(4008, "silent")])

    def test_receiveAfterErrorDropped(self) -> None:
        """
        After a malformed frame closes the connection, a valid frame that
        follows is dropped.
        """
        self.stack.receive(b"[]", False)
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.a.received, [])
        self.assertEqual(len(self.closes), 1)
        self.assertEqual(len(self.events_at(LogLevel.warn)), 1)

    def test_writeAfterCloseNotSent(self) -> None:
        """
        After the stack closes, frames written by layers never reach the
        wire.
        """
        self.b.write_down(_frames.PING)
        self.stack.close(1000, "done")
        self.b.write_down(_frames.PONG)
        self.a.write_down(_frames.PONG)
        self.assertEqual(self.wire, [(_frames.PING, False)])

    def test_layerClose(self) -> None:
        """
        A layer's C{close} closes the wire once with the layer's code and
        reason; a second close, from any layer, does nothing.
        """
        self.a.close(4008, "heartbeat timeout")
        self.b.close(4401, "other")
        self.stack.close(1000, "again")
        self.assertEqual(self.closes, [(4008, "heartbeat timeout")])
        self.assertTrue(self.stack.closing)
        self.assertFalse(self.stack.destroyed)
        self.assertEqual(self.a.destroyed, [])

    def test_closeDuringReceive(self) -> None:
        """
        A layer that closes while handling a frame and then returns leaves
        the stack closed; the next frame is dropped.
        """
        def receive_and_close(frame: Any) -> None:
            self.b.received.append(frame)
            self.b.close(4401, "refused")

        self.b.receive = receive_and_close  # type: ignore[method-assign]
        self.a.link_up(self.b.receive)  # the stack linked the old one
        self.stack.receive(_frames.PING, False)
        self.stack.receive(_frames.PING, False)
        self.assertEqual(self.closes, [(4401, "refused")])
        self.assertEqual(self.b.received, [{"type": "ping"}])


class DestroyTests(StackTestCase):
    """
    L{LayerStack.destroy} destroys every layer once, top first.
    """

    def test_topFirst(self) -> None:
        """
        C{destroy} calls every layer's C{destroy} once with the reason, top
        layer first, and does not close the wire itself.
        """
        reason = SessionClosed("gone", 1006)
        self.stack.destroy(reason)
        self.assertEqual(
            self.events, [("destroy", "b"), ("destroy", "a"), ("destroy", "codec")]
        )
        self.assertEqual(self.a.destroyed, [reason])
        self.assertEqual(self.b.destroyed, [reason])
        self.assertTrue(self.stack.destroyed)
        self.assertTrue(self.stack.closing)
        self.assertEqual(self.closes, [])

    def test_twice(self) -> None:
        """
        A second C{destroy} does nothing.
        """
        self.stack.destroy(SessionClosed())
        self.stack.destroy(SessionClosed())
        self.assertEqual(len(self.events), 3)
        self.assertEqual(len(self.a.destroyed), 1)
        self.assertEqual(len(self.b.destroyed), 1)

    def test_afterClose(self) -> None:
        """
        C{destroy} after C{close} still destroys every layer once.
        """
        self.stack.close(1000, "bye")
        self.stack.destroy(SessionClosed())
        self.assertEqual(
            self.events, [("destroy", "b"), ("destroy", "a"), ("destroy", "codec")]
        )
        self.assertEqual(self.closes, [(1000, "bye")])

    def test_nothingAfterDestroy(self) -> None:
        """
        After C{destroy}, messages are dropped, writes are not sent, and
        C{close} does not touch the wire.
        """
        self.stack.destroy(SessionClosed())
        self.stack.receive(_frames.PING, False)
        self.stack.close(1000, "late")
        self.assertEqual(self.a.received, [])
        self.assertEqual(self.closes, [])

    def test_layerErrorLogged(self) -> None:
        """
        A layer whose C{destroy} raises does not stop the layers below it
        from being destroyed; the error is logged.
        """
        self.b.destroy_error = ValueError("broken")
        self.stack.destroy(SessionClosed())
        self.assertEqual(
            self.events, [("destroy", "b"), ("destroy", "a"), ("destroy", "codec")]
        )
        failures = [e for e in self.logged if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.assertIs(failures[0]["layer"], self.b)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class StartTests(StackTestCase):
    """
    L{LayerStack.start} starts layers bottom first.
    """

    def test_bottomFirst(self) -> None:
        """
        C{start} calls every layer's C{start} once, bottom first.
        """
        self.stack.start()
        self.assertEqual(self.events, [("start", "codec"), ("start", "a"), ("start", "b")])
        self.assertEqual((self.a.started, self.b.started), (1, 1))

    def test_stopsWhenClosed(self) -> None:
        """
        A layer that closes the connection from C{start} stops the layers
        above it from starting.
        """
        self.a.close_on_start = (4401, "no")
        self.stack.start()
        self.assertEqual(self.events, [("start", "codec"), ("start", "a")])
        self.assertEqual(self.b.started, 0)
        self.assertEqual(self.closes, [(4401, "no")])

    def test_notAfterClose(self) -> None:
        """
        C{start} on a stack that is already closed starts nothing.
        """
        self.stack.close(1000, "bye")
        self.stack.start()
        self.assertEqual(self.events, [])


class CodecLayerTests(SynchronousTestCase):
    """
    L{CodecLayer} on its own, with recording neighbours.
    """

    def setUp(self) -> None:
        self.up: list[Any] = []
        self.down: list[Any] = []
        self.closes: list[tuple[int, str]] = []
        self.codec = CodecLayer(
            clock=Clock(),
            write_down=self.down.append,
            deliver_up=self.up.append,
            close=lambda code, reason: self.closes.append((code, reason)),
        )

    def test_interface(self) -> None:
        """
        L{CodecLayer} provides L{ILayer}, as does the test's recording
        fake.
        """
        self.assertTrue(verifyObject(ILayer, self.codec))
        fake = RecordingLayer("x", [], Clock(), print, print, print)
        self.assertTrue(verifyObject(ILayer, fake))

    def test_receiveText(self) -> None:
        """
        A text message goes up as the decoded frame.
        """
        self.codec.receive((b'{"type":"message","data":[1],"x":2}', False))
        self.assertEqual(self.up, [{"type": "message", "data": [1], "x": 2}])

    def test_receiveBinary(self) -> None:
        """
        A binary message raises L{ProtocolError} with 4415 and goes
        nowhere.
        """
        e = self.assertRaises(ProtocolError, self.codec.receive, (_frames.PING, True))
        self.assertEqual(e.code, CloseCode.UNSUPPORTED_DATA)
        self.assertEqual(e.reason, CloseCode.UNSUPPORTED_DATA.reason)
        self.assertEqual(self.up, [])

    def test_receiveMalformed(self) -> None:
        """
        A malformed text message raises L{ProtocolError} with 4400.
        """
        e = self.assertRaises(ProtocolError, self.codec.receive, (b"{", False))
        self.assertEqual(e.code, CloseCode.BAD_FRAME)
        self.assertIn("invalid JSON", e.reason)
        self.assertEqual(self.up, [])

    def test_write(self) -> None:
        """
        An encoded frame goes down unchanged: below the codec, bytes alone
        are a text message.
        """
        self.codec.write(_frames.PONG)
        self.assertEqual(self.down, [_frames.PONG])

    def test_startDoesNothing(self) -> None:
        """
        C{start} sends nothing and closes nothing.
        """
        self.codec.start()
        self.assertEqual((self.up, self.down, self.closes), ([], [], []))

    def test_destroyDropsReferences(self) -> None:
        """
        After C{destroy}, the codec no longer holds its neighbours.
        """
        self.codec.destroy(SessionClosed())
        self.assertIsNone(self.codec._write_down)
        self.assertIsNone(self.codec._deliver_up)
