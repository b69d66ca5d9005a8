"""
A small WebSocket client (RFC 6455) on asyncio, for the load generator.

It offers no extension (so no compression is negotiated with any server),
sends masked text (and, for socketnet-enc/1 records, binary) frames, and
hands every received text message to C{on_text} and every binary one to
C{on_binary}, callbacks, so that a closed loop answers in the same turn of
the event loop.  Fragmented messages are reassembled; pings are answered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import socket
from typing import Callable

try:
    from websockets.speedups import apply_mask  # C speedup, if installed
except ImportError:  # pragma: no cover - pure Python fallback

    def apply_mask(data: bytes, mask: bytes) -> bytes:
        n = len(data)
        key = (mask * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the source port at connect()
_randbits = random.getrandbits


class HandshakeError(Exception):
    pass


def _header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((0x80 | opcode, 0x80 | length))
    if length < 65536:
        return bytes((0x80 | opcode, 0xFE)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 0xFF)) + length.to_bytes(8, "big")


class WebSocketClient(asyncio.Protocol):
    """
    One client connection.  C{opened} resolves once the server has
    accepted the upgrade; C{closed} once the TCP connection is gone.

    @ivar on_text: called with each text message's payload (bytes).
    @ivar on_binary: called with each binary message's payload; by default
        it fails the connection (only socketnet-enc/1 sends binary).
    @ivar on_close: called once when the connection ends.
    """

    def __init__(self, host: str, port: int, path: str, subprotocol: str | None):
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        #: Messages that arrived before C{on_text} was set (a server may
        #: speak first, in the same segment as its 101 response).
        self.early: list[bytes] = []
        self.on_text: Callable[[bytes], None] = self.early.append
        self.on_binary: Callable[[bytes], None] = self._unexpected_binary
        self.on_close: Callable[[], None] = lambda: None
        self.close_code: int | None = None
        self._host, self._port, self._path = host, port, path
        self._subprotocol = subprotocol
        self._key = base64.b64encode(os.urandom(16))
        self._transport: asyncio.Transport | None = None
        self._handshake = bytearray()
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0x1
        self._close_sent = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self._subprotocol}")
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                if len(self._handshake) > 65536:
                    self._fail(HandshakeError("handshake response too long"))
                return
            head, data = bytes(self._handshake[:end]), bytes(self._handshake[end + 4 :])
            self._handshake = bytearray()
            try:
                self._check_handshake(head)
            except HandshakeError as e:
                self._fail(e)
                return
            self.opened.set_result(None)
            if not data:
                return
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        self._parse(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeError("connection closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
            self.on_close()

    # Sending.

    def send_text(self, payload: bytes) -> None:
        self._send(0x1, payload)

    def send_binary(self, payload: bytes) -> None:
        self._send(0x2, payload)

    def close(self, code: int = 1000) -> None:
        """
        Start the closing handshake; the server answers and drops the
        connection.
        """
        if not self._close_sent and self._transport is not None and not self._transport.is_closing():
            self._close_sent = True
            self._send(0x8, code.to_bytes(2, "big"))

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = _randbits(32).to_bytes(4, "little")
        self._transport.write(_header(opcode, len(payload)) + mask + apply_mask(payload, mask))

    # Receiving.

    def _check_handshake(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise HandshakeError(f"upgrade refused: {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        if self._subprotocol and headers.get("sec-websocket-protocol") != self._subprotocol:
            raise HandshakeError(f"server did not select {self._subprotocol}")
        if headers.get("sec-websocket-extensions"):
            # Compression stays off everywhere: no extension was offered.
            raise HandshakeError("server negotiated an extension that was not offered")

    def _parse(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while end - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                self._fail(HandshakeError("server sent a masked frame"))
                return
            stop = pos + head + length
            if stop > end:
                break
            payload = data[pos + head : stop]
            pos = stop
            opcode = b0 & 0x0F
            if opcode == 0x1 and b0 & 0x80:
                self.on_text(payload)
            elif opcode == 0x2 and b0 & 0x80:
                self.on_binary(payload)
            else:
                self._other(b0, opcode, payload)
        if pos < end:
            self._buf += data[pos:]

    def _other(self, b0: int, opcode: int, payload: bytes) -> None:
        if opcode in (0x0, 0x1, 0x2):
            if opcode:
                self._fragment_opcode = opcode
            self._fragments.append(payload)
            if b0 & 0x80:
                whole = b"".join(self._fragments)
                self._fragments = []
                (self.on_text if self._fragment_opcode == 0x1 else self.on_binary)(whole)
        elif opcode == 0x9:
            self._send(0xA, payload)
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self._close_sent:
                self._close_sent = True
                self._send(0x8, payload[:2])
            self._transport.close()

    def _unexpected_binary(self, payload: bytes) -> None:
        self._fail(HandshakeError(f"unexpected binary message {payload[:40]!r}"))

    def _fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        if self._transport is not None:
            self._transport.abort()


async def connect(
    host: str,
    port: int,
    path: str,
    subprotocol: str | None = None,
    source: str | None = None,
    timeout: float = 30.0,
) -> WebSocketClient:
    """
    Open a WebSocket to C{host:port} at C{path}, from source address
    C{source} (any port) when given, and wait for the upgrade.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            sock.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (host, port))
            _, client = await loop.create_connection(
                lambda: WebSocketClient(host, port, path, subprotocol), sock=sock
            )
            try:
                await client.opened
            except BaseException:
                client.abort()
                raise
    except BaseException:
        sock.close()
        raise
    return client
