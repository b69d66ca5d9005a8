"""
socketnet-enc/1 through the real layers: the threats of the design brief,
each as its own test, plus end-to-end behaviour.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from socketnet import Authorization, ClientApp, Heartbeat, ServerApp, _keys
from socketnet._encryption import (
    ClientEncryptionLayer,
    DecryptGate,
    EncryptionLimits,
    ServerEncryptionLayer,
    ServerKey,
)
from socketnet.closecodes import CloseCode
from socketnet.interfaces import ILayer
from socketnet.errors import HandshakeFailed, ProtocolError, QueueFull, SessionClosed
from socketnet.protocol import SocketnetClientFactory, SocketnetServerFactory
from socketnet.testing import URL, connect_pair

from ._helpers import start_server

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> Any:
    return serialization.load_pem_private_key((VECTORS / name).read_bytes(), password=None)


SERVER_KEY = ServerKey(_load("test_server_key.pem"))
OTHER_KEY = ServerKey(_load("other_server_key.pem"))


def run_now(fn: Any, *args: Any) -> Deferred[Any]:
    """
    C{run_blocking} for tests: run at once, on this thread.
    """
    return maybeDeferred(fn, *args)


class Wire:
    """
    A client and a server encryption layer joined back to back, with
    everything each one writes recorded and delivered on L{flush}.
    """

    def __init__(
        self,
        mode: str = "required",
        pins: frozenset[str] | None = None,
        server_key: ServerKey = SERVER_KEY,
        limits: EncryptionLimits = EncryptionLimits(),
        gate: DecryptGate | None = None,
    ):
        self.clock = Clock()
        self.to_server: list[tuple[bytes, bool]] = []
        self.to_client: list[tuple[bytes, bool]] = []
        self.server_got: list[tuple[bytes, bool]] = []
        self.client_got: list[tuple[bytes, bool]] = []
        self.server_closed: list[tuple[int, str]] = []
        self.client_closed: list[tuple[int, str]] = []
        self.failures: list[HandshakeFailed] = []
        self.encrypted: list[str] = []
        self.sent_by_client: list[tuple[bytes, bool]] = []
        self.sent_by_server: list[tuple[bytes, bool]] = []
        self.server = ServerEncryptionLayer(
            mode,
            server_key,
            gate or DecryptGate(run_now),
            limits,
            lambda: self.encrypted.append("server"),
            clock=self.clock,
            write_down=self._from_server,
            deliver_up=self.server_got.append,
            close=lambda code, reason: self.server_closed.append((code, reason)),
        )
        self.client = ClientEncryptionLayer(
            pins,
            limits,
            lambda: self.encrypted.append("client"),
            self.failures.append,
            clock=self.clock,
            write_down=self._from_client,
            deliver_up=self.client_got.append,
            close=lambda code, reason: self.client_closed.append((code, reason)),
        )

    # What a bottom layer writes down is a (payload, is_binary) tuple, or
    # bytes alone for a text message, as the stack's _write_bottom takes it.

    def _from_client(self, frame: bytes | tuple[bytes, bool]) -> None:
        frame = frame if type(frame) is tuple else (frame, False)
        self.sent_by_client.append(frame)
        self.to_server.append(frame)

    def _from_server(self, frame: bytes | tuple[bytes, bool]) -> None:
        frame = frame if type(frame) is tuple else (frame, False)
        self.sent_by_server.append(frame)
        self.to_client.append(frame)

    def flush(self, tamper_to_server: Any = None, tamper_to_client: Any = None) -> None:
        """
        Deliver everything in flight, both ways, until nothing moves; a
        tamper function may change or drop (by returning None) frames.
        """
        while self.to_server or self.to_client:
            while self.to_server:
                frame = self.to_server.pop(0)
                if tamper_to_server is not None:
                    frame = tamper_to_server(frame)
                if frame is not None:
                    self.server.receive(frame)
            while self.to_client:
                frame = self.to_client.pop(0)
                if tamper_to_client is not None:
                    frame = tamper_to_client(frame)
                if frame is not None:
                    self.client.receive(frame)

    def handshake(self) -> None:
        self.server.start()
        self.client.start()
        self.flush()


def _json_frame(frame: tuple[bytes, bool]) -> dict[str, Any] | None:
    payload, binary = frame
    if binary:
        return None
    return json.loads(payload)


class InterfaceTests(SynchronousTestCase):
    """
    Both encryption layers are protocol layers.
    """

    def test_interface(self) -> None:
        """
        The server's and the client's encryption layers provide L{ILayer},
        and neither passes writes through unchanged: they queue and seal.
        """
        wire = Wire()
        for layer in (wire.server, wire.client):
            self.assertTrue(verifyObject(ILayer, layer))
            self.assertFalse(layer.passes_writes)


class HandshakeTests(SynchronousTestCase):
    """
    The four-message handshake and what an attacker can do to it.
    """

    def test_handshake_completes(self) -> None:
        """
        Client and server both reach the encrypted state; frames written
        before then were queued and arrive afterwards, encrypted.
        """
        wire = Wire()
        wire.server.start()
        wire.client.start()
        wire.client.write(b'{"type":"auth","id":"1","token":"t"}')
        wire.flush()
        self.assertEqual(sorted(wire.encrypted), ["client", "server"])
        self.assertEqual(wire.server_got, [(b'{"type":"auth","id":"1","token":"t"}', False)])
        kinds = [(_json_frame(f) or {}).get("type", "record") for f in wire.sent_by_client]
        self.assertEqual(kinds, ["enc.hello", "enc.key", "record"])
        # The handshake deadlines are gone; each side's epoch-age timer
        # (an hour out) is left until the layer is destroyed.
        self.assertEqual([call.getTime() for call in wire.clock.getDelayedCalls()], [3600.0, 3600.0])
        wire.client.destroy(Exception("gone"))
        wire.server.destroy(Exception("gone"))
        self.assertEqual(wire.clock.getDelayedCalls(), [])

    def test_pinned_client_refuses_other_key(self) -> None:
        """
        A client pinned to one key, facing a server with another, fails
        with HandshakeFailed before it sends anything after its hello.
        """
        wire = Wire(pins=frozenset({SERVER_KEY.fingerprint}), server_key=OTHER_KEY)
        wire.client.write(b'{"type":"auth","id":"1","token":"secret"}')
        wire.handshake()
        [failure] = wire.failures
        self.assertTrue(failure.terminal)
        self.assertIn("not pinned", str(failure))
        self.assertEqual([_json_frame(f)["type"] for f in wire.sent_by_client], ["enc.hello"])
        self.assertEqual(wire.client_closed, [(CloseCode.HANDSHAKE_FAILED, CloseCode.HANDSHAKE_FAILED.reason)])

    def test_pinned_client_accepts_next_key(self) -> None:
        """
        A pin set holds the current and the next key: either is accepted.
        """
        wire = Wire(pins=frozenset({OTHER_KEY.fingerprint, SERVER_KEY.fingerprint}))
        wire.handshake()
        self.assertEqual(sorted(wire.encrypted), ["client", "server"])

    def test_bad_ciphertexts_close_the_same_way(self) -> None:
        """
        A key ciphertext of the wrong length, random bytes of the right
        length, and a valid OAEP ciphertext of a wrong-size secret all
        close with the same code and reason.
        """
        import base64
        import os

        public = SERVER_KEY.private_key.public_key()
        variants = [
            os.urandom(511),
            os.urandom(512),
            _keys.encrypt_secret(public, os.urandom(31)),
        ]
        outcomes = []
        for ciphertext in variants:
            wire = Wire()

            def replace(frame: tuple[bytes, bool], ciphertext: bytes = ciphertext) -> tuple[bytes, bool]:
                message = _json_frame(frame)
                if message is not None and message.get("type") == "enc.key":
                    message["key"] = base64.b64encode(ciphertext).decode()
                    return (json.dumps(message).encode(), False)
                return frame

            wire.server.start()
            wire.client.start()
            try:
                wire.flush(tamper_to_server=replace)
                outcomes.append(wire.server_closed[-1])
            except ProtocolError as e:
                outcomes.append((e.code, e.reason))
        self.assertEqual(
            {(int(code), reason) for code, reason in outcomes},
            {(CloseCode.HANDSHAKE_FAILED, CloseCode.HANDSHAKE_FAILED.reason)},
            outcomes,
        )
        self.flushLoggedErrors()

    def test_edited_hello_fails_ready(self) -> None:
        """
        A man in the middle who edits the client's suite list or nonce
        makes the server's ready MAC fail the client's check.
        """
        for field, value in [("nonce", "A" * 43 + "="), ("suites", [_keys.SUITE, "NULL-CIPHER"])]:
            wire = Wire()

            def edit(frame: tuple[bytes, bool], field: str = field, value: Any = value) -> tuple[bytes, bool]:
                message = _json_frame(frame)
                if message is not None and message.get("type") == "enc.hello":
                    message[field] = value
                    return (json.dumps(message).encode(), False)
                return frame

            wire.server.start()
            wire.client.start()
            wire.flush(tamper_to_server=edit)
            [failure] = wire.failures
            self.assertIn("does not match", str(failure))
            self.assertNotIn("client", wire.encrypted)

    def test_edited_pubkey_nonce_fails_ready(self) -> None:
        """
        Editing the server's nonce on the way changes the client's
        transcript: the ready check fails.
        """
        wire = Wire()

        def edit(frame: tuple[bytes, bool]) -> tuple[bytes, bool]:
            message = _json_frame(frame)
            if message is not None and message.get("type") == "enc.pubkey":
                message["nonce"] = "B" * 43 + "="
                return (json.dumps(message, separators=(",", ":")).encode(), False)
            return frame

        wire.server.start()
        wire.client.start()
        wire.flush(tamper_to_client=edit)
        [failure] = wire.failures
        self.assertIn("does not match", str(failure))

    def test_plaintext_to_required_server(self) -> None:
        """
        A plaintext frame as the first frame to a required server closes
        with 4426; after the handshake a plaintext frame closes too.
        """
        wire = Wire()
        wire.server.start()
        e = self.assertRaises(ProtocolError, wire.server.receive, (b'{"type":"auth","id":"1","token":"t"}', False))
        self.assertEqual(e.code, CloseCode.ENCRYPTION_REQUIRED)
        wire = Wire()
        wire.handshake()
        e = self.assertRaises(ProtocolError, wire.server.receive, (b'{"type":"ping"}', False))
        self.assertEqual(e.code, CloseCode.ENCRYPTION_REQUIRED)

    def test_optional_server_lets_plaintext_through(self) -> None:
        """
        An optional server treats a first frame other than enc.hello as
        a plaintext connection.
        """
        wire = Wire(mode="optional")
        wire.server.start()
        wire.server.receive((b'{"type":"auth","id":"1","token":"t"}', False))
        wire.server.write(b'{"type":"authorized","id":"1"}')
        self.assertEqual(wire.server_got, [(b'{"type":"auth","id":"1","token":"t"}', False)])
        self.assertEqual(wire.sent_by_server, [(b'{"type":"authorized","id":"1"}', False)])

    def test_handshake_timeout(self) -> None:
        """
        A required server closes with 4419 when no handshake finishes in
        time; a client whose server never answers fails with a
        non-terminal HandshakeFailed.
        """
        limits = EncryptionLimits(handshake_timeout=5.0)
        wire = Wire(limits=limits)
        wire.server.start()
        wire.client.start()  # its hello is never delivered
        wire.clock.advance(5)
        self.assertEqual(wire.server_closed[0][0], CloseCode.HANDSHAKE_TIMEOUT)
        [failure] = wire.failures
        self.assertFalse(failure.terminal)

    def test_decrypt_cap_closes_with_1013(self) -> None:
        """
        With the pending-decrypt cap reached, another handshake's key
        message closes that connection with 1013, and the waiting ones
        complete when their decryptions finish.
        """
        waiting: list[tuple[Deferred[Any], Any, tuple[Any, ...]]] = []

        def held(fn: Any, *args: Any) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            waiting.append((d, fn, args))
            return d

        gate = DecryptGate(held, limit=2)
        wires = [Wire(gate=gate) for _ in range(3)]
        for wire in wires:
            wire.handshake()
        self.assertEqual(gate.pending, 2)
        self.assertEqual(wires[2].server_closed, [(CloseCode.TRY_AGAIN_LATER, CloseCode.TRY_AGAIN_LATER.reason)])
        for d, fn, args in waiting:
            d.callback(fn(*args))
        for wire in wires[:2]:
            wire.flush()
            self.assertEqual(sorted(wire.encrypted), ["client", "server"])
        self.assertEqual(gate.pending, 0)

    def test_destroyed_while_decrypting(self) -> None:
        """
        A connection that goes away while its key is being decrypted
        ignores the result and sends nothing.
        """
        waiting: list[Deferred[Any]] = []
        gate = DecryptGate(lambda fn, *args: waiting.append(Deferred()) or waiting[-1], limit=5)
        wire = Wire(gate=gate)
        wire.handshake()
        sent = len(wire.sent_by_server)
        wire.server.destroy(Exception("gone"))
        waiting[0].callback(b"\x00" * 32)
        self.assertEqual(len(wire.sent_by_server), sent)
        self.assertEqual(gate.pending, 0)

    def test_queue_is_bounded(self) -> None:
        """
        Frames waiting for the handshake are bounded in count; past it,
        write raises QueueFull.
        """
        wire = Wire(limits=EncryptionLimits(queue_frames=2))
        wire.client.start()
        wire.client.write(b"1")
        wire.client.write(b"2")
        self.assertRaises(QueueFull, wire.client.write, (b"3", False))


class RecordTests(SynchronousTestCase):
    """
    Records after the handshake: replay, reorder, reflection, tampering.
    """

    def established(self, **kwargs: Any) -> Wire:
        wire = Wire(**kwargs)
        wire.handshake()
        wire.sent_by_client.clear()
        wire.sent_by_server.clear()
        return wire

    def records(self, wire: Wire, count: int) -> list[tuple[bytes, bool]]:
        for n in range(count):
            wire.client.write(b'{"type":"message","data":%d}' % n)
        records, wire.to_server[:] = list(wire.to_server), []
        return records

    def assertRejected(self, wire: Wire, frame: tuple[bytes, bool]) -> None:
        e = self.assertRaises(ProtocolError, wire.server.receive, frame)
        self.assertEqual(e.code, CloseCode.BAD_RECORD)

    def test_records_carry_no_plaintext(self) -> None:
        """
        Every frame after the handshake is a binary record that does not
        contain the plaintext.
        """
        wire = self.established()
        wire.client.write(b'{"type":"message","data":"attack at dawn"}')
        [(record, binary)] = wire.sent_by_client
        self.assertTrue(binary)
        self.assertNotIn(b"attack at dawn", record)
        wire.flush()
        self.assertEqual(wire.server_got[-1], (b'{"type":"message","data":"attack at dawn"}', False))

    def test_replayed_record(self) -> None:
        """
        A record delivered twice closes the connection.
        """
        wire = self.established()
        [first] = self.records(wire, 1)
        wire.server.receive(first)
        self.assertRejected(wire, first)

    def test_swapped_records(self) -> None:
        """
        Two records delivered in the wrong order close the connection.
        """
        wire = self.established()
        first, second = self.records(wire, 2)
        self.assertRejected(wire, second)

    def test_reflected_record(self) -> None:
        """
        A client's record sent back to the client does not open: each
        direction has its own keys.
        """
        wire = self.established()
        [record] = self.records(wire, 1)
        e = self.assertRaises(ProtocolError, wire.client.receive, record)
        self.assertEqual(e.code, CloseCode.BAD_RECORD)

    def test_flipped_bits(self) -> None:
        """
        One flipped bit anywhere in the header or the body closes the
        connection.
        """
        wire = self.established()
        [(record, binary)] = self.records(wire, 1)
        for position in (0, 1, 5, 13, 14, len(record) // 2, len(record) - 1):
            damaged = bytearray(record)
            damaged[position] ^= 0x01
            self.assertRejected(wire, (bytes(damaged), True))
        wire.server.receive((record, True))  # the intact one still opens

    def test_rekey_across_the_boundary(self) -> None:
        """
        With a lowered threshold the sender sends a key update every few
        records and both sides move to the next epoch; everything still
        arrives in order.
        """
        wire = self.established(limits=EncryptionLimits(rekey_records=3))
        texts = [b'{"n":%d}' % n for n in range(10)]
        for text in texts:
            wire.client.write(text)
            wire.server.write(text)
        wire.flush()
        self.assertEqual(wire.server_got, [(text, False) for text in texts])
        self.assertEqual(wire.client_got, [(text, False) for text in texts])
        self.assertEqual(wire.client._records._sealer.epoch, 3)
        self.assertEqual(wire.server._records._opener.epoch, 3)

    def kinds(self, frames: list[tuple[bytes, bool]]) -> list[tuple[int, int, int]]:
        """
        The type, epoch and sequence number of each record.
        """
        return [_keys.HEADER.unpack(record[: _keys.HEADER.size])[1:] for record, binary in frames]

    def test_rekey_after_an_hour(self) -> None:
        """
        An epoch an hour old is replaced before the next frame is sealed:
        a key update, then the frame in the next epoch.  An idle
        connection sends nothing when the hour passes, and the age of the
        next epoch counts from its key update.
        """
        wire = self.established()
        wire.client.write(b'{"n":0}')
        wire.clock.advance(3599)
        wire.client.write(b'{"n":1}')
        wire.clock.advance(1)
        self.assertEqual(len(wire.sent_by_client), 2)
        wire.client.write(b'{"n":2}')
        wire.clock.advance(3599)
        wire.client.write(b'{"n":3}')
        wire.clock.advance(1)
        wire.client.write(b'{"n":4}')
        wire.server.write(b'{"n":5}')
        self.assertEqual(
            self.kinds(wire.sent_by_client),
            [
                (_keys.RECORD_DATA, 0, 0),
                (_keys.RECORD_DATA, 0, 1),
                (_keys.RECORD_KEY_UPDATE, 0, 2),
                (_keys.RECORD_DATA, 1, 0),
                (_keys.RECORD_DATA, 1, 1),
                (_keys.RECORD_KEY_UPDATE, 1, 2),
                (_keys.RECORD_DATA, 2, 0),
            ],
        )
        # Each direction has its own age: the server's is as old, too.
        self.assertEqual(self.kinds(wire.sent_by_server), [(_keys.RECORD_KEY_UPDATE, 0, 0), (_keys.RECORD_DATA, 1, 0)])
        wire.flush()
        self.assertEqual(wire.server_got, [(b'{"n":%d}' % n, False) for n in range(5)])
        self.assertEqual(wire.client_got, [(b'{"n":5}', False)])
        self.assertEqual(wire.server._records._opener.epoch, 2)
        self.assertEqual(wire.client._records._opener.epoch, 1)

    def test_record_limit_restarts_the_age(self) -> None:
        """
        A key update for the record limit starts a new hour: the next
        epoch is not replaced when the first one would have been an hour
        old.
        """
        wire = self.established(limits=EncryptionLimits(rekey_records=2))
        wire.clock.advance(3000)
        for n in range(3):
            wire.client.write(b'{"n":%d}' % n)
        wire.clock.advance(601)
        wire.client.write(b'{"n":3}')
        wire.clock.advance(2999)
        wire.client.write(b'{"n":4}')
        self.assertEqual(
            self.kinds(wire.sent_by_client),
            [
                (_keys.RECORD_DATA, 0, 0),
                (_keys.RECORD_DATA, 0, 1),
                (_keys.RECORD_KEY_UPDATE, 0, 2),
                (_keys.RECORD_DATA, 1, 0),
                (_keys.RECORD_DATA, 1, 1),
                (_keys.RECORD_KEY_UPDATE, 1, 2),
                (_keys.RECORD_DATA, 2, 0),
            ],
        )
        wire.flush()
        self.assertEqual(wire.server_got, [(b'{"n":%d}' % n, False) for n in range(5)])

    def test_byte_limit(self) -> None:
        """
        Once an epoch has sealed the byte limit, the next frame goes into
        a new epoch.
        """
        wire = self.established(limits=EncryptionLimits(rekey_octets=10))
        for frame in (b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":4}'):
            wire.client.write(frame)
        self.assertEqual(
            self.kinds(wire.sent_by_client),
            [
                (_keys.RECORD_DATA, 0, 0),
                (_keys.RECORD_DATA, 0, 1),
                (_keys.RECORD_KEY_UPDATE, 0, 2),
                (_keys.RECORD_DATA, 1, 0),
                (_keys.RECORD_DATA, 1, 1),
            ],
        )
        wire.flush()
        self.assertEqual(len(wire.server_got), 4)

    def test_destroy_cancels_the_age_timers(self) -> None:
        """
        Destroying the layers cancels their epoch-age timers, also after
        a key update has set a new one, and a client destroyed between
        C{enc.key} and C{enc.ready} leaves no timer either.
        """
        wire = self.established(limits=EncryptionLimits(rekey_records=1))
        for n in range(3):
            wire.client.write(b"{}")
            wire.clock.advance(10)
        self.assertEqual(len(wire.clock.getDelayedCalls()), 2)
        wire.client.destroy(Exception("gone"))
        wire.server.destroy(Exception("gone"))
        self.assertEqual(wire.clock.getDelayedCalls(), [])

        waiting: list[Deferred[Any]] = []
        wire = Wire(gate=DecryptGate(lambda fn, *args: waiting.append(Deferred()) or waiting[-1]))
        wire.handshake()
        self.assertIsNotNone(wire.client._pending_records)
        wire.client.destroy(Exception("gone"))
        wire.server.destroy(Exception("gone"))
        self.assertEqual(wire.clock.getDelayedCalls(), [])

    def test_hard_limit(self) -> None:
        """
        A receiver refuses records past the hard limit of one epoch (a
        sender that never rekeys), and limits that would leave no room for
        the key update are refused.
        """
        self.assertRaises(ValueError, EncryptionLimits, rekey_records=4, hard_records=4)
        wire = self.established(limits=EncryptionLimits(rekey_records=100))
        wire.server._records._opener._hard_limit = 4
        for n in range(5):
            wire.client.write(b"{}")
        for frame in wire.to_server[:4]:
            wire.server.receive(frame)
        self.assertRejected(wire, wire.to_server[4])


class EndToEndTests(SynchronousTestCase):
    """
    The whole stack, in memory: an encrypted session does everything a
    plaintext one does.
    """

    def pair(self, client_id: str = "1", server_mode: str = "required", **client: Any) -> Any:
        reactor = MemoryReactorClock()
        server = SocketnetServerFactory(
            reactor=reactor, encrypt=server_mode, server_key=SERVER_KEY, run_blocking=run_now,
            heartbeat=Heartbeat(interval=1.0),
        )
        server.verifier = lambda authorization: True
        client.setdefault("encrypt", True)
        factory = SocketnetClientFactory(URL, Authorization(client_id, "t"), reactor=reactor, heartbeat=Heartbeat(interval=1.0), **client)
        return server, factory, reactor

    def test_everything_encrypted(self) -> None:
        """
        Authorization, requests both ways, direct and channel messages and
        heartbeats work over encrypted sessions, and no frame the client
        writes after the handshake carries the plaintext.
        """
        server, factory_a, reactor = self.pair("a")
        factory_b = SocketnetClientFactory(URL, Authorization("b", "t"), reactor=reactor, encrypt=True, heartbeat=Heartbeat(interval=1.0))
        a = connect_pair(server, factory_a, reactor)
        written: list[bytes] = []
        original = a.client.transport.write
        a.client.transport.write = lambda data: (written.append(data), original(data))[1]
        b = connect_pair(server, factory_b, reactor, client_port=40001)
        for pair in (a, b):
            self.assertTrue(pair.client.session.encrypted)
            self.assertTrue(pair.client.session.authorized)
            self.assertTrue(pair.server.session.encrypted)
        server.message_handlers.append(lambda m, s: {"secret": m.data})
        d = a.client.session.request("the eagle lands at noon")
        a.flush()
        self.assertEqual(self.successResultOf(d), {"secret": "the eagle lands at noon"})
        self.assertNotIn(b"eagle", b"".join(written))
        b.client.session.sessions.on_message(lambda m: m.data.upper())
        d = a.client.session.sessions.to("b").request("psst")
        for _ in range(3):
            a.flush()
            b.flush()
        self.assertEqual(self.successResultOf(d), "PSST")
        got: list[Any] = []
        b.client.session.channel("room").on_message(lambda m: got.append(m.data))
        b.client.session.channel("room").join()
        b.flush()
        a.client.session.channel("room").send("hello room")
        a.flush()
        b.flush()
        self.assertEqual(got, ["hello room"])
        for _ in range(10):
            reactor.advance(1)
            a.flush()
            b.flush()
        self.assertFalse(a.client.session.closed)
        self.assertNotIn(b"hello room", b"".join(written))

    def test_required_refuses_plaintext_client(self) -> None:
        """
        A client that skips the handshake is closed by a required server
        with 4426 and does not retry.
        """
        server, factory, reactor = self.pair(server_mode="required", encrypt=False)
        pair = connect_pair(server, factory, reactor)
        self.assertEqual(pair.client.session.close_reason.code, CloseCode.ENCRYPTION_REQUIRED)

    def test_optional_server_serves_both(self) -> None:
        """
        An optional server serves an encrypted and a plaintext client side
        by side.
        """
        server, factory, reactor = self.pair("e", server_mode="optional")
        plain = SocketnetClientFactory(URL, Authorization("p", "t"), reactor=reactor)
        e = connect_pair(server, factory, reactor)
        p = connect_pair(server, plain, reactor, client_port=40001)
        self.assertTrue(e.client.session.encrypted and e.client.session.authorized)
        self.assertTrue(p.client.session.authorized)
        self.assertFalse(p.client.session.encrypted)

    def test_off_server_fails_encrypting_client(self) -> None:
        """
        A client that asked for encryption fails with HandshakeFailed
        against a server without it, and never sends its authorization.
        """
        server, factory, reactor = self.pair(server_mode="off")
        pair = connect_pair(server, factory, reactor)
        waiting = pair.client.whenAuthorized()
        self.assertFalse(pair.client.session.authorized)
        self.assertTrue(pair.client.session.closed)
        self.failureResultOf(waiting, HandshakeFailed)
        self.assertEqual(len(server.sessions), 0)

    def test_no_key_material_in_logs(self) -> None:
        """
        No derived secret, key or private key shows in any log event of a
        handshake, its records, or its failures.
        """
        secrets: list[bytes] = []
        original_schedule = _keys.schedule

        def recording(secret: bytes, shared: bytes, transcript: bytes) -> Any:
            result = original_schedule(secret, shared, transcript)
            secrets.extend([secret, shared, *result])
            return result

        self.patch(_keys, "schedule", recording)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        wire = Wire()
        wire.handshake()
        wire.client.write(b"{}")
        [(record, binary)] = wire.to_server
        damaged = bytearray(record)
        damaged[20] ^= 1
        self.assertRaises(ProtocolError, wire.server.receive, (bytes(damaged), True))
        failed = Wire(pins=frozenset({"sha256:" + "0" * 64}))
        failed.handshake()
        text = " ".join(formatEvent(e) + repr(e) for e in events)
        text += " ".join(str(f) for f in failed.failures)
        private = SERVER_KEY.private_key.private_numbers()
        for secret in secrets:
            self.assertNotIn(secret.hex(), text)
            self.assertNotIn(secret.hex().upper(), text)
            import base64

            self.assertNotIn(base64.b64encode(secret).decode(), text)
        self.assertNotIn(str(private.d)[:40], text)
        self.assertTrue(secrets)


class LoopbackTests(TestCase):
    """
    Encryption over real sockets, with the real thread pool.
    """

    async def test_rsa_off_the_reactor_thread(self) -> None:
        """
        With ServerApp's own pool, RSA decryption runs on another thread
        than the reactor's; the session works and is encrypted.
        """
        threads: list[str] = []
        original = _keys.decrypt_secret

        def recording(private_key: Any, ciphertext: bytes) -> bytes:
            threads.append(threading.current_thread().name)
            return original(private_key, ciphertext)

        self.patch(_keys, "decrypt_secret", recording)
        app = ServerApp(encrypt="required", server_key=str(VECTORS / "test_server_key.pem"))
        app.set_token_verifier(lambda authorization: True)
        app.on_message(lambda message, session: session.encrypted)
        app, url = await start_server(self, app)
        client = ClientApp(
            Authorization("1", "t"), reconnect=False, server_key_fingerprints={app.server_key_fingerprint}
        )
        self.addCleanup(client.close)
        session = await client.connect(url)
        self.assertTrue(session.encrypted)
        self.assertIs(await session.request("are we?"), True)
        self.assertEqual(len(threads), 1)
        self.assertNotEqual(threads[0], threading.current_thread().name)

    async def test_required_refuses_plaintext_client(self) -> None:
        """
        Over loopback, a client that skips the handshake is refused by a
        required server with 4426.
        """
        app = ServerApp(encrypt="required", server_key=str(VECTORS / "test_server_key.pem"))
        app.set_token_verifier(lambda authorization: True)
        app, url = await start_server(self, app)
        client = ClientApp(Authorization("1", "t"), reconnect=True)
        self.addCleanup(client.close)
        with self.assertRaises(SessionClosed) as caught:
            await client.connect(url)
        self.assertEqual(caught.exception.code, CloseCode.ENCRYPTION_REQUIRED)


class SizeAndPinTests(SynchronousTestCase):
    """
    Oversized frames and pin normalisation.
    """

    def test_oversized_send_leaves_the_connection_intact(self) -> None:
        """
        A frame too big for a record under the message limit is refused
        before it is sealed, so the next record still opens.
        """
        reactor = MemoryReactorClock()
        server = SocketnetServerFactory(reactor=reactor, encrypt="required", server_key=SERVER_KEY, run_blocking=run_now)
        server.verifier = lambda authorization: True
        server.message_handlers.append(lambda m, s: "fine")
        factory = SocketnetClientFactory(URL, Authorization("1", "t"), reactor=reactor, encrypt=True, max_message_size=1024)
        pair = connect_pair(server, factory, reactor)
        self.assertRaises(ValueError, pair.client.session.send, "x" * 1000)
        d = pair.client.session.request("still there?")
        pair.flush()
        self.assertEqual(self.successResultOf(d), "fine")

    def test_pins_are_normalised(self) -> None:
        """
        A single string is one pin, upper-case hex is accepted, and
        anything that is not a sha256 fingerprint is refused at once.
        """
        from socketnet._client_websocket import normalise_pins

        upper = SERVER_KEY.fingerprint.upper().replace("SHA256", "sha256")
        self.assertEqual(normalise_pins(upper), frozenset({SERVER_KEY.fingerprint}))
        self.assertEqual(normalise_pins([SERVER_KEY.fingerprint]), frozenset({SERVER_KEY.fingerprint}))
        self.assertEqual(normalise_pins(None), frozenset())
        for bad in ("sha256:xyz", "md5:" + "0" * 32, ["sha256:" + "0" * 63]):
            self.assertRaises(ValueError, normalise_pins, bad)


class HandshakeRateTests(SynchronousTestCase):
    """
    Encryption handshakes are rate-limited per peer address.
    """

    def test_bucket(self) -> None:
        """
        An address gets its burst at once, then one step per 1/rate
        seconds; other addresses have their own buckets.
        """
        from socketnet._ratelimit import PerAddressLimit

        clock = Clock()
        limit = PerAddressLimit(clock, rate=2.0, burst=3)
        self.assertEqual([limit.allow("a") for _ in range(4)], [True, True, True, False])
        self.assertTrue(limit.allow("b"))
        clock.advance(0.5)
        self.assertEqual([limit.allow("a"), limit.allow("a")], [True, False])

    def test_over_the_limit_closes_with_1013(self) -> None:
        """
        A server whose per-address budget is spent closes the next
        handshake from that address with 1013, before any RSA work.
        """
        reactor = MemoryReactorClock()
        server = SocketnetServerFactory(
            reactor=reactor, encrypt="required", server_key=SERVER_KEY, run_blocking=run_now,
            handshakes_per_second=0.001, handshake_burst=1,
        )
        server.verifier = lambda authorization: True
        first = connect_pair(server, SocketnetClientFactory(URL, Authorization("1", "t"), reactor=reactor, encrypt=True), reactor)
        self.assertTrue(first.client.session.encrypted)
        second = connect_pair(server, SocketnetClientFactory(URL, Authorization("2", "t"), reactor=reactor, encrypt=True), reactor, client_port=40001)
        self.assertEqual(second.client.session.close_reason.code, CloseCode.TRY_AGAIN_LATER)
