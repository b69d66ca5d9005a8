"""
The load generator's side of socketnet-enc/1 (docs/protocol.md §7).

L{secure} runs the client's handshake (C{enc.hello}, C{enc.pubkey},
C{enc.key}, C{enc.ready}) on an open L{WebSocketClient} and returns an
L{EncryptedClient}: the same C{send_text} / C{on_text} / C{on_close} /
C{closed} surface, so the dialects and drivers run unchanged, but every
frame goes out as a sealed binary record and every record that comes in is
opened before C{on_text} sees it.

The primitives are socketnet's own (C{socketnet._keys}): the generator
may import the package; the server under test runs in another process.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
from collections import deque
from typing import Callable

from socketnet import _keys

from ._wsclient import WebSocketClient

#: A sender rekeys after this many records in one epoch (the protocol's
#: default, far above what a benchmark run sends).
REKEY_RECORDS = 2**20
#: A receiver refuses records past this sequence number in one epoch.
HARD_RECORDS = 2**24


class HandshakeRefused(Exception):
    """
    The server closed the connection during the handshake.

    @ivar code: its close code (1006 when it just dropped the connection).
    @ivar stage: C{"hello"} when it closed before sending C{enc.pubkey}
        (the per-address handshake rate limit answers C{enc.hello} with
        1013), C{"key"} when it closed after C{enc.key} (the pending-decrypt
        cap answers C{enc.key} with 1013).
    """

    def __init__(self, code: int, stage: str):
        super().__init__(f"server closed with {code} after enc.{stage}")
        self.code = code
        self.stage = stage


class HandshakeBroken(Exception):
    """
    The server's handshake messages were wrong: a bug, not load.
    """


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, length: int | None = None) -> bytes:
    try:
        data = base64.b64decode(value, validate=True)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise HandshakeBroken(f"not base64: {value!r:.60}") from None
    if length is not None and len(data) != length:
        raise HandshakeBroken(f"{len(data)} bytes where {length} were expected")
    return data


def _encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("ascii")


class _Inbox:
    """
    Handshake messages as they arrive, text or binary, until the
    connection ends.
    """

    def __init__(self, ws: WebSocketClient):
        self._ws = ws
        self._messages: deque[tuple[bytes, bool]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        for payload in ws.early:
            self._messages.append((payload, False))
        ws.early = []
        ws.on_text = lambda p: self._put(p, False)
        ws.on_binary = lambda p: self._put(p, True)
        ws.closed.add_done_callback(lambda f: self._wake())

    def _put(self, payload: bytes, is_binary: bool) -> None:
        self._messages.append((payload, is_binary))
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, stage: str) -> bytes:
        while not self._messages:
            if self._ws.closed.done():
                raise HandshakeRefused(self._ws.close_code or 1006, stage)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        payload, is_binary = self._messages.popleft()
        if is_binary:
            raise HandshakeBroken(f"binary message after enc.{stage}")
        return payload


def _parse(payload: bytes, kind: str) -> dict:
    try:
        message = json.loads(payload)
    except ValueError:
        raise HandshakeBroken(f"expected {kind}, got {payload[:80]!r}") from None
    if not isinstance(message, dict) or message.get("type") != kind:
        raise HandshakeBroken(f"expected {kind}, got {payload[:80]!r}")
    return message


def hello_message() -> bytes:
    return _encode({
        "type": "enc.hello",
        "version": _keys.VERSION,
        "suites": [_keys.SUITE],
        "nonce": _b64(os.urandom(_keys.NONCE_LENGTH)),
    })


def answer_pubkey(hello: bytes, pubkey: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """
    Check C{enc.pubkey} as the reference client does (no pins: the
    benchmark trusts the loopback server) and make C{enc.key}.

    @return: C{(enc.key message, c2s secret, s2c secret, expected MAC)}.
    @raise HandshakeBroken: if C{enc.pubkey} is wrong.
    """
    message = _parse(pubkey, "enc.pubkey")
    if message.get("suite") != _keys.SUITE:
        raise HandshakeBroken("the server chose another suite")
    _unb64(message.get("nonce"), _keys.NONCE_LENGTH)
    try:
        server_key = _keys.load_server_public_key(_unb64(message.get("key")), None)
        ecdh = _keys.ecdh_private()
        shared = _keys.ecdh_shared(ecdh, _unb64(message.get("ecdh"), 65))
    except (ValueError, _keys.BadServerKey) as e:
        raise HandshakeBroken(f"enc.pubkey: {e}") from None
    secret = os.urandom(_keys.SECRET_LENGTH)
    key = _encode({
        "type": "enc.key",
        "key": _b64(_keys.encrypt_secret(server_key, secret)),
        "ecdh": _b64(_keys.ecdh_public_bytes(ecdh)),
    })
    transcript = _keys.transcript_hash(hello, pubkey, key)
    c2s, s2c, finished = _keys.schedule(secret, shared, transcript)
    return key, c2s, s2c, _keys.finished_mac(finished, transcript)


def check_ready(ready: bytes, expected_mac: bytes) -> None:
    """
    @raise HandshakeBroken: unless C{enc.ready} carries the expected MAC.
    """
    mac = _unb64(_parse(ready, "enc.ready").get("mac"), 32)
    if not hmac.compare_digest(mac, expected_mac):
        raise HandshakeBroken("enc.ready does not match the handshake")


async def secure(ws: WebSocketClient) -> "EncryptedClient":
    """
    Run the client's handshake on C{ws}.

    @raise HandshakeRefused: the server closed the connection meanwhile.
    @raise HandshakeBroken: a handshake message was wrong.
    """
    inbox = _Inbox(ws)
    hello = hello_message()
    ws.send_text(hello)
    key, c2s, s2c, mac = answer_pubkey(hello, await inbox.next("hello"))
    ws.send_text(key)
    check_ready(await inbox.next("key"), mac)
    return EncryptedClient(ws, _keys.Sealer(c2s), _keys.Opener(s2c, HARD_RECORDS), inbox)


class EncryptedClient:
    """
    A L{WebSocketClient} after the handshake: C{send_text} seals a frame
    into a binary record; each record received is opened and its frame
    handed to C{on_text}.  A bad record, or a text message, aborts the
    connection (the server would have closed with 4421 or 4426).
    """

    def __init__(self, ws: WebSocketClient, sealer: _keys.Sealer, opener: _keys.Opener, inbox: _Inbox):
        self.ws = ws
        self.closed = ws.closed
        self.early: list[bytes] = []
        self.on_text: Callable[[bytes], None] = self.early.append
        self.on_close: Callable[[], None] = lambda: None
        self.error: str | None = None
        self._sealer = sealer
        self._seal = sealer.seal
        self._open = opener.open
        ws.on_binary = self._record
        ws.on_text = self._text
        ws.on_close = lambda: self.on_close()
        # Records that came in the same segment as enc.ready.
        for payload, is_binary in inbox._messages:
            (self._record if is_binary else self._text)(payload)

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    def send_text(self, payload: bytes) -> None:
        sealer = self._sealer
        if sealer.sequence >= REKEY_RECORDS:
            self.ws.send_binary(sealer.seal_key_update())
        self.ws.send_binary(self._seal(payload))

    def _record(self, record: bytes) -> None:
        try:
            plaintext = self._open(record)
        except _keys.BadRecord as e:
            self._broken(f"bad record from the server: {e}")
            return
        if plaintext is not None:  # None: a key update
            self.on_text(plaintext)

    def _text(self, payload: bytes) -> None:
        self._broken(f"text message on an encrypted connection: {payload[:80]!r}")

    def _broken(self, why: str) -> None:
        if self.error is None:
            self.error = why
        self.ws.abort()

    def close(self, code: int = 1000) -> None:
        self.ws.close(code)

    def abort(self) -> None:
        self.ws.abort()
