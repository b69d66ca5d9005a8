# -*- test-case-name: tests.test_encryption -*-
"""
The encryption layer (socketnet-enc/1), between the transport and the
frame codec.

Client and server run a four-message handshake in plaintext text frames
(C{enc.hello}, C{enc.pubkey}, C{enc.key}, C{enc.ready}); afterwards every
frame in both directions is a binary record sealed by L{socketnet._keys}.
Frames written before the handshake ends wait in a bounded queue.  RSA
decryption, the one expensive step, runs through C{run_blocking} (a
dedicated thread pool in production) and at most C{limit} at once.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import sys
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _keys
from .closecodes import CloseCode
from .errors import HandshakeFailed, ProtocolError, QueueFull
from .interfaces import ILayer

from ._records import EncryptionLimits, Records
from ._server_key import DecryptGate, ServerKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(frame: dict[str, Any], name: str, length: int | None = None) -> bytes:
    value = frame.get(name)
    try:
        data = base64.b64decode(value, validate=True)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"field {name!r} is not base64") from None
    if length is not None and len(data) != length:
        raise ValueError(f"field {name!r} must be {length} bytes")
    return data


def _parse(payload: bytes, kind: str) -> dict[str, Any]:
    try:
        frame = json.loads(payload)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(frame, dict) or frame.get("type") != kind:
        raise ValueError(f"expected {kind}")
    return frame


def _encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode("ascii")


class _EncryptionLayer(ABC):
    """
    What both sides share: the queue before the handshake ends, sealed
    records after it, and the handshake deadline.
    """

    passes_writes = False  # queues, then seals

    _log = Logger()

    def __init__(
        self,
        limits: EncryptionLimits,
        on_encrypted: Callable[[], None],
        clock,
        write_down,
        deliver_up,
        close,
        max_record: int = 0,
    ):
        # The longest frame that fits in a record under max_record.
        self._max_frame = max_record - _keys.RECORD_OVERHEAD if max_record else sys.maxsize
        self._max_record = max_record
        self._limits = limits
        self._on_encrypted = on_encrypted
        self._clock = clock
        self._write_down = write_down
        self._deliver_up = deliver_up
        self._close = close
        self._records: Records | None = None
        self._queue: deque[bytes] = deque()  # text frames waiting for the handshake
        self._queued_octets = 0
        self._deadline: IDelayedCall | None = None
        self._plain = False

    def _arm_deadline(self) -> None:
        self._deadline = self._clock.callLater(self._limits.handshake_timeout, self._timed_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        self._fail("no encryption handshake in time", CloseCode.HANDSHAKE_TIMEOUT, terminal=False)

    def _fail(self, why: str, code: int, terminal: bool) -> None:
        self._close(code, CloseCode(code).reason)

    def write(self, payload: bytes) -> None:
        if len(payload) > self._max_frame:
            # Refused before sealing: a sealed record that is never sent
            # would use up a sequence number and break the connection.
            raise ValueError(
                f"a {len(payload)}-byte frame does not fit in a record under "
                f"the {self._max_record}-byte message limit"
            )
        records = self._records
        if records is not None:
            records.write(payload)
        elif self._plain:
            self._write_down(payload)
        else:
            limits = self._limits
            if len(self._queue) >= limits.queue_frames or self._queued_octets + len(payload) > limits.queue_octets:
                raise QueueFull("too many frames wait for the encryption handshake")
            self._queue.append(payload)
            self._queued_octets += len(payload)

    def link_up(self, deliver_up: Callable[[Any], None]) -> None:
        self._deliver_up = deliver_up

    def receive(self, frame: tuple[bytes, bool]) -> None:
        # Once encrypted, every frame is a record: opened here, in as few
        # calls as possible; until then the subclass's handshake decides.
        records = self._records
        if records is None:
            self._receive_handshake(frame)
            return
        payload, is_binary = frame
        if not is_binary:
            raise ProtocolError(CloseCode.ENCRYPTION_REQUIRED, "plaintext frame on an encrypted connection")
        try:
            plaintext = records.open(payload)
        except _keys.BadRecord as e:
            raise ProtocolError(CloseCode.BAD_RECORD, str(e)) from None
        if plaintext is not None:
            self._deliver_up((plaintext, False))

    @abstractmethod
    def _receive_handshake(self, frame: tuple[bytes, bool]) -> None:
        """
        A frame that arrived before the records were in use (or after
        L{destroy}); each side has its own.
        """

    def _encrypted(self, records: Records) -> None:
        self._cancel_deadline()
        self._records = records
        records.start()
        queue, self._queue = self._queue, deque()
        self._queued_octets = 0
        self._on_encrypted()
        for frame in queue:
            self.write(frame)

    def _go_plain(self) -> None:
        self._cancel_deadline()
        self._plain = True
        queue, self._queue = self._queue, deque()
        for frame in queue:
            self._write_down(frame)

    def destroy(self, reason: Exception) -> None:
        self._cancel_deadline()
        self._queue.clear()
        if self._records is not None:
            self._records.stop()
        self._records = None


@implementer(ILayer)
class ServerEncryptionLayer(_EncryptionLayer):
    """
    The server's side: C{mode} C{"optional"} lets a client skip the
    handshake (its first frame is then not C{enc.hello}); C{"required"}
    closes with 4426 unless the handshake comes first.
    """

    def __init__(
        self,
        mode: str,
        server_key: ServerKey,
        gate: DecryptGate,
        limits: EncryptionLimits,
        on_encrypted: Callable[[], None],
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
        max_record: int = 0,
        admit: Callable[[], bool] = lambda: True,
    ):
        """
        @param admit: asked once per handshake, on C{enc.hello}; C{False}
            (too many handshakes from this peer) closes with 1013.
        """
        super().__init__(limits, on_encrypted, clock, write_down, deliver_up, close, max_record)
        self._admit = admit
        self._mode = mode
        self._server_key = server_key
        self._gate = gate
        self._state = "start"
        self._transcript: list[bytes] = []
        self._ecdh: Any = None
        self._decrypting: Deferred[Any] | None = None

    def start(self) -> None:
        if self._mode == "required":
            self._arm_deadline()

    def _receive_handshake(self, frame: tuple[bytes, bool]) -> None:
        state = self._state
        if state == "plain":
            self._deliver_up(frame)
        elif state == "start":
            self._first(frame)
        elif state == "key":
            self._key(frame)
        else:
            raise ProtocolError(CloseCode.HANDSHAKE_FAILED, "frame during the encryption handshake")

    def _first(self, frame: tuple[bytes, bool]) -> None:
        payload, is_binary = frame
        hello = None
        if not is_binary:
            try:
                hello = _parse(payload, "enc.hello")
            except ValueError:
                hello = None
        if hello is None:
            if self._mode == "required":
                raise ProtocolError(CloseCode.ENCRYPTION_REQUIRED, CloseCode.ENCRYPTION_REQUIRED.reason)
            self._state = "plain"
            self._go_plain()
            self._deliver_up(frame)
            return
        version, suites = hello.get("version"), hello.get("suites")
        if (
            type(version) is not int
            or not isinstance(suites, list)
            or not all(isinstance(suite, str) for suite in suites)
        ):
            raise ProtocolError(CloseCode.HANDSHAKE_FAILED, "enc.hello: bad version or suites")
        if version != _keys.VERSION or _keys.SUITE not in suites:
            raise ProtocolError(CloseCode.HANDSHAKE_FAILED, "no common version and suite")
        if not self._admit():
            self._state = "refused"
            self._close(CloseCode.TRY_AGAIN_LATER, CloseCode.TRY_AGAIN_LATER.reason)
            return
        try:
            _unb64(hello, "nonce", _keys.NONCE_LENGTH)
        except ValueError as e:
            raise ProtocolError(CloseCode.HANDSHAKE_FAILED, f"enc.hello: {e}") from None
        if self._deadline is None:
            self._arm_deadline()
        self._state = "waiting-key"
        self._transcript.append(payload)
        self._server_key.prepare(self._gate._run_blocking).addCallbacks(self._send_pubkey, self._key_unavailable)

    def _key_unavailable(self, failure: Failure) -> None:
        self._log.failure("the server key is not available", failure)
        if self._state == "waiting-key":
            self._close(CloseCode.INTERNAL_ERROR, CloseCode.INTERNAL_ERROR.reason)

    def _send_pubkey(self, server_key: ServerKey) -> None:
        if self._state != "waiting-key":
            return  # destroyed meanwhile
        self._ecdh = _keys.ecdh_private()
        pubkey = _encode(
            {
                "type": "enc.pubkey",
                "suite": _keys.SUITE,
                "key": _b64(server_key.der),
                "nonce": _b64(os.urandom(_keys.NONCE_LENGTH)),
                "ecdh": _b64(_keys.ecdh_public_bytes(self._ecdh)),
            }
        )
        self._transcript.append(pubkey)
        self._state = "key"
        self._write_down((pubkey, False))

    def _key(self, frame: tuple[bytes, bool]) -> None:
        payload, is_binary = frame
        try:
            if is_binary:
                raise ValueError("binary")
            message = _parse(payload, "enc.key")
            ciphertext = _unb64(message, "key")
            peer_ecdh = _unb64(message, "ecdh", 65)
            shared = _keys.ecdh_shared(self._ecdh, peer_ecdh)
        except ValueError as e:
            raise ProtocolError(CloseCode.HANDSHAKE_FAILED, f"enc.key: {e}") from None
        self._transcript.append(payload)
        self._ecdh = None
        self._state = "decrypting"
        if len(ciphertext) != _keys.CIPHERTEXT_LENGTH:
            self._undecryptable(None)  # the same path as a bad padding
            return
        d = self._gate.submit(_keys.decrypt_secret, self._server_key.private_key, ciphertext)
        if d is None:
            self._state = "refused"
            self._close(CloseCode.TRY_AGAIN_LATER, CloseCode.TRY_AGAIN_LATER.reason)
            return
        self._decrypting = d
        d.addCallbacks(self._decrypted, self._undecryptable, callbackArgs=(shared,))

    def _undecryptable(self, failure: Failure | None) -> None:
        self._decrypting = None
        if self._state != "decrypting":
            return
        # One error path for every bad ciphertext: no detail goes back.
        self._log.warn("encryption handshake failed: the key did not decrypt")
        self._state = "failed"
        self._close(CloseCode.HANDSHAKE_FAILED, CloseCode.HANDSHAKE_FAILED.reason)

    def _decrypted(self, secret: bytes, shared: bytes) -> None:
        self._decrypting = None
        if self._state != "decrypting":
            return
        transcript = _keys.transcript_hash(*self._transcript)
        c2s, s2c, finished = _keys.schedule(secret, shared, transcript)
        self._transcript = []
        ready = _encode({"type": "enc.ready", "mac": _b64(_keys.finished_mac(finished, transcript))})
        self._write_down((ready, False))
        self._state = "encrypted"
        self._encrypted(Records(s2c, c2s, self._limits, self._clock, self._write_down))

    def destroy(self, reason: Exception) -> None:
        self._state = "destroyed"
        if self._decrypting is not None:
            self._decrypting = None  # its result is dropped when it comes
        self._ecdh = None
        super().destroy(reason)


@implementer(ILayer)
class ClientEncryptionLayer(_EncryptionLayer):
    """
    The client's side: sends C{enc.hello} first, checks the server's key
    (and its pin), and never sends application data in plaintext.
    """

    def __init__(
        self,
        pins: frozenset[str] | None,
        limits: EncryptionLimits,
        on_encrypted: Callable[[], None],
        on_failed: Callable[[HandshakeFailed], None],
        clock: IReactorTime,
        write_down,
        deliver_up,
        close,
        max_record: int = 0,
    ):
        super().__init__(limits, on_encrypted, clock, write_down, deliver_up, close, max_record)
        self._pins = pins
        self._on_failed = on_failed
        self._state = "pubkey"
        self._transcript: list[bytes] = []
        self._expected_mac = b""
        self._pending_records: Records | None = None

    def start(self) -> None:
        hello = _encode(
            {
                "type": "enc.hello",
                "version": _keys.VERSION,
                "suites": [_keys.SUITE],
                "nonce": _b64(os.urandom(_keys.NONCE_LENGTH)),
            }
        )
        self._transcript.append(hello)
        self._arm_deadline()
        self._write_down((hello, False))

    @property
    def encrypted(self) -> bool:
        return self._records is not None

    def _receive_handshake(self, frame: tuple[bytes, bool]) -> None:
        if self._state == "pubkey":
            self._pubkey(frame)
        elif self._state == "ready":
            self._ready(frame)

    def _fail(self, why: str, code: int, terminal: bool) -> None:
        self._state = "failed"
        self._on_failed(HandshakeFailed(why, terminal=terminal))
        self._close(code, CloseCode(code).reason)

    def _pubkey(self, frame: tuple[bytes, bool]) -> None:
        payload, is_binary = frame
        try:
            if is_binary:
                raise ValueError("binary frame")
            message = _parse(payload, "enc.pubkey")
            if message.get("suite") != _keys.SUITE:
                raise ValueError("the server chose a suite that was not offered")
            _unb64(message, "nonce", _keys.NONCE_LENGTH)
            server_key = _keys.load_server_public_key(_unb64(message, "key"), self._pins)
            peer_ecdh = _unb64(message, "ecdh", 65)
            ecdh = _keys.ecdh_private()
            shared = _keys.ecdh_shared(ecdh, peer_ecdh)
        except (ValueError, _keys.BadServerKey) as e:
            self._fail(f"enc.pubkey refused: {e}", CloseCode.HANDSHAKE_FAILED, terminal=True)
            return
        self._transcript.append(payload)
        secret = os.urandom(_keys.SECRET_LENGTH)
        key_message = _encode(
            {
                "type": "enc.key",
                "key": _b64(_keys.encrypt_secret(server_key, secret)),
                "ecdh": _b64(_keys.ecdh_public_bytes(ecdh)),
            }
        )
        self._transcript.append(key_message)
        transcript = _keys.transcript_hash(*self._transcript)
        c2s, s2c, finished = _keys.schedule(secret, shared, transcript)
        # K and the ECDH private key go out of scope here; only the
        # derived secrets stay.
        del secret, ecdh, shared
        self._transcript = []
        self._expected_mac = _keys.finished_mac(finished, transcript)
        self._pending_records = Records(c2s, s2c, self._limits, self._clock, self._write_down)
        self._state = "ready"
        self._write_down((key_message, False))

    def _ready(self, frame: tuple[bytes, bool]) -> None:
        payload, is_binary = frame
        try:
            if is_binary:
                raise ValueError("binary frame")
            mac = _unb64(_parse(payload, "enc.ready"), "mac", 32)
        except ValueError as e:
            self._fail(f"enc.ready refused: {e}", CloseCode.HANDSHAKE_FAILED, terminal=True)
            return
        if not hmac.compare_digest(mac, self._expected_mac):
            self._fail("enc.ready does not match the handshake", CloseCode.HANDSHAKE_FAILED, terminal=True)
            return
        records, self._pending_records = self._pending_records, None
        self._expected_mac = b""
        self._state = "encrypted"
        self._encrypted(records)  # type: ignore[arg-type]

    def destroy(self, reason: Exception) -> None:
        self._state = "destroyed"
        self._pending_records = None
        super().destroy(reason)


__all__ = [
    "EncryptionLimits",
    "ServerKey",
    "DecryptGate",
    "ServerEncryptionLayer",
    "ClientEncryptionLayer",
]
