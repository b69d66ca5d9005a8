"""
What the load generator says to each server: one dialect per server kind.

Each dialect knows the URL path, the subprotocol, the setup after the
WebSocket opens (socketnet's auth and join, Socket.IO's namespace
connect), its heartbeat answers, and the frames of each workload:
C{request} (echo with a reply), C{direct} (a request to another client and
its answer, through the server) and C{fanout} (a publish that the server
delivers to every channel member).  C{socketnet-enc} is socketnet's dialect
inside socketnet-enc/1: the load generator runs the encryption handshake
first (L{bench._encclient}) and then the same frames travel as records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import asyncio
import json
from typing import Any

from ._wsclient import WebSocketClient

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads

try:  # only the generator's own parsing; the servers are untouched
    import orjson

    _loads = orjson.loads  # noqa: F811
except ImportError:  # pragma: no cover
    pass

CHANNEL = "bench"


def _j(value: Any) -> bytes:
    return _dumps(value).encode()


class SetupError(Exception):
    pass


class _Expect:
    """
    During setup: answer heartbeats and hand the next other text message
    to whoever awaits it.
    """

    def __init__(self, dialect: "Dialect", client: WebSocketClient):
        self._dialect = dialect
        self._client = client
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        client.on_text = self._on_text
        early, client.early = client.early, []
        for payload in early:
            self._on_text(payload)

    def _on_text(self, payload: bytes) -> None:
        if not self._dialect.control(self._client, payload):
            self._queue.put_nowait(payload)

    async def next(self) -> bytes:
        get = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait([get, self._client.closed], return_when=asyncio.FIRST_COMPLETED)
        if get not in done:
            get.cancel()
            raise SetupError(f"connection closed during setup (code {self._client.close_code})")
        return get.result()


class Dialect(ABC):
    """
    The frames of one server kind; C{data} is the payload string every
    message carries.
    """

    name = ""
    subprotocol: str | None = None
    #: Run the socketnet-enc/1 handshake before C{setup}.
    encrypted = False
    #: Frame the generator sends every heartbeat interval, if the server
    #: expects the client to drive the heartbeat.
    ping: bytes | None = None

    def __init__(self, data: str):
        self.data = data

    @abstractmethod
    def path(self, role: str, cid: str) -> str:
        """
        The URL path a client in C{role} connects to.
        """

    async def setup(self, client: WebSocketClient, role: str, cid: str) -> None:
        pass

    def control(self, client: WebSocketClient, payload: bytes) -> bool:
        """
        Answer a heartbeat frame; C{True} if C{payload} was one.
        """
        return False


class Socketnet(Dialect):
    """
    JSON frames of docs/protocol.md on subprotocol C{socketnet.v1}.
    """

    name = "socketnet"
    subprotocol = "socketnet.v1"
    ping = b'{"type":"ping"}'
    _pong = b'{"type":"pong"}'

    def __init__(self, data: str):
        super().__init__(data)
        self._d = _j(data)
        self._publish = b'{"type":"message","channel":"' + CHANNEL.encode() + b'","data":' + self._d + b"}"
        self._delivered = b""

    def path(self, role: str, cid: str) -> str:
        return "/socket"

    async def setup(self, client: WebSocketClient, role: str, cid: str) -> None:
        expect = _Expect(self, client)
        client.send_text(_j({"type": "auth", "id": cid, "token": "bench", "data": None}))
        frame = _loads(await expect.next())
        if frame != {"type": "authorized", "id": cid}:
            raise SetupError(f"expected authorized, got {frame!r}")
        if role == "member":
            client.send_text(_j({"type": "join", "channel": CHANNEL, "request": 1}))
            frame = _loads(await expect.next())
            if frame.get("type") != "reply" or frame.get("request") != 1 or "error" in frame:
                raise SetupError(f"join failed: {frame!r}")

    def control(self, client: WebSocketClient, payload: bytes) -> bool:
        if payload == self.ping:
            client.send_text(self._pong)
            return True
        return payload == self._pong

    # request

    def request(self, seq: int) -> bytes:
        return b'{"type":"message","data":' + self._d + b',"request":' + str(seq).encode() + b"}"

    def is_reply(self, payload: bytes, seq: int) -> bool:
        frame = _loads(payload)
        return frame.get("type") == "reply" and frame.get("request") == seq and frame.get("data") == self.data

    # direct

    def direct_request(self, peer: str, seq: int) -> bytes:
        return (
            b'{"type":"message","to":"' + peer.encode() + b'","data":' + self._d
            + b',"request":' + str(seq).encode() + b"}"
        )

    def direct_answer(self, payload: bytes) -> bytes | None:
        frame = _loads(payload)
        if frame.get("type") != "message" or frame.get("data") != self.data or frame.get("from") is None:
            return None
        return b'{"type":"reply","request":' + str(frame["request"]).encode() + b',"data":' + self._d + b"}"

    def is_direct_reply(self, payload: bytes, seq: int, peer: str) -> bool:
        return self.is_reply(payload, seq)

    # fanout

    def publish(self, seq: int) -> bytes:
        return self._publish

    def is_delivery(self, payload: bytes) -> bool:
        if payload == self._delivered:
            return True
        frame = _loads(payload)
        ok = (
            frame.get("type") == "message"
            and frame.get("channel") == CHANNEL
            and frame.get("from") == "pub"
            and frame.get("data") == self.data
        )
        if ok:
            self._delivered = payload
        return ok


class SocketnetEncrypted(Socketnet):
    """
    socketnet's frames, each sealed in a socketnet-enc/1 record.
    """

    name = "socketnet-enc"
    encrypted = True


class Autobahn(Dialect):
    """
    The raw Autobahn baseline (bench/server_autobahn.py): the payload
    itself is the message; C{"ID payload"} addresses another client.
    """

    name = "autobahn"

    def __init__(self, data: str):
        super().__init__(data)
        self._d = data.encode()

    def path(self, role: str, cid: str) -> str:
        return f"/ws?role={role}&id={cid}"

    def request(self, seq: int) -> bytes:
        return self._d

    def is_reply(self, payload: bytes, seq: int) -> bool:
        return payload == self._d

    def direct_request(self, peer: str, seq: int) -> bytes:
        return peer.encode() + b" " + self._d

    def direct_answer(self, payload: bytes) -> bytes | None:
        # "A payload" arrived from A: the same bytes go back to A.
        sender, _, data = payload.partition(b" ")
        return payload if sender and data == self._d else None

    def is_direct_reply(self, payload: bytes, seq: int, peer: str) -> bool:
        return payload == peer.encode() + b" " + self._d

    def publish(self, seq: int) -> bytes:
        return self._d

    def is_delivery(self, payload: bytes) -> bool:
        return payload == self._d


class SocketIO(Dialect):
    """
    Engine.IO 4 / Socket.IO 5 packets over a WebSocket, as python-socketio's
    own client sends them: C{42[...]} events, C{42N[...]} with an ack id,
    C{43N[...]} acks.
    """

    name = "socketio"

    def __init__(self, data: str):
        super().__init__(data)
        self._d = _j(data)
        self._ack_tail = b"[" + self._d + b"]"
        self._publish = b'42["publish",' + self._d + b"]"
        self._delivery = b'42["msg",' + self._d + b"]"

    def path(self, role: str, cid: str) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    async def setup(self, client: WebSocketClient, role: str, cid: str) -> None:
        expect = _Expect(self, client)
        opening = await expect.next()
        if not opening.startswith(b"0{"):
            raise SetupError(f"expected an Engine.IO open packet, got {opening[:60]!r}")
        client.send_text(b"40" + _j({"id": cid, "role": role}))
        answer = await expect.next()
        if not answer.startswith(b"40"):
            raise SetupError(f"namespace connect refused: {answer[:80]!r}")

    def control(self, client: WebSocketClient, payload: bytes) -> bool:
        if payload == b"2":
            client.send_text(b"3")
            return True
        return False

    def request(self, seq: int) -> bytes:
        return b"42" + str(seq).encode() + b'["echo",' + self._d + b"]"

    def is_reply(self, payload: bytes, seq: int) -> bool:
        head = b"43" + str(seq).encode()
        return payload.startswith(head) and payload[len(head):] == self._ack_tail

    def direct_request(self, peer: str, seq: int) -> bytes:
        return b'42["direct",{"to":"' + peer.encode() + b'","data":' + self._d + b"}]"

    def direct_answer(self, payload: bytes) -> bytes | None:
        if not payload.startswith(b"42"):
            return None
        event = _loads(payload[2:])
        if event[0] != "direct" or event[1].get("data") != self.data:
            return None
        return b'42["direct",{"to":"' + event[1]["from"].encode() + b'","data":' + self._d + b"}]"

    def is_direct_reply(self, payload: bytes, seq: int, peer: str) -> bool:
        if not payload.startswith(b"42"):
            return False
        event = _loads(payload[2:])
        return event == ["direct", {"from": peer, "data": self.data}]

    def publish(self, seq: int) -> bytes:
        return self._publish

    def is_delivery(self, payload: bytes) -> bool:
        return payload == self._delivery


DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (Socketnet, SocketnetEncrypted, Autobahn, SocketIO)}
