"""
Closed loops of the throughput workloads, driven by callbacks: each
connection sends its next message in the same event-loop turn as the
answer to the previous one arrives.

A loop counts a completion, with its latency, only while C{stats.measuring}
is set, and sends nothing new once C{stats.stopping} is set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import asyncio
from time import perf_counter
from typing import Any

from ._wsclient import WebSocketClient


class Stats:
    """
    Completions and latencies of the measured window, shared by every loop
    of one run.
    """

    def __init__(self) -> None:
        self.measuring = False
        self.stopping = False
        self.count = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None
        self.active = 0
        self.idle: asyncio.Event = asyncio.Event()

    def done(self, latency: float) -> None:
        if self.measuring:
            self.count += 1
            self.latencies.append(latency)

    def error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:300]

    def started(self) -> None:
        self.active += 1
        self.idle.clear()

    def finished(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()


class _Loop(ABC):
    """
    One requester: a message out, wait for the answer, again.
    """

    def __init__(self, client: WebSocketClient, dialect: Any, stats: Stats):
        self.client = client
        self.dialect = dialect
        self.stats = stats
        self.seq = 0
        self.sent = 0.0
        self.running = False
        client.on_text = self.on_text
        client.on_close = self.on_close

    def start(self) -> None:
        self.running = True
        self.stats.started()
        self._next()

    def _next(self) -> None:
        if self.stats.stopping:
            self._stop()
            return
        self.seq += 1
        self.sent = perf_counter()
        self.client.send_text(self.frame(self.seq))

    def _stop(self) -> None:
        if self.running:
            self.running = False
            self.stats.finished()

    def on_text(self, payload: bytes) -> None:
        if self.dialect.control(self.client, payload):
            return
        if self.running and self.answered(payload):
            self.stats.done(perf_counter() - self.sent)
            self._next()
        else:
            self.stats.error(f"unexpected frame {payload[:200]!r}")
            self._stop()

    def on_close(self) -> None:
        if self.running:
            self.stats.error(f"connection closed by the server (code {self.client.close_code})")
            self._stop()

    @abstractmethod
    def frame(self, seq: int) -> bytes:
        """
        The request to send as number C{seq}.
        """

    @abstractmethod
    def answered(self, payload: bytes) -> bool:
        """
        Whether C{payload} answers the request in flight.
        """


class RequestLoop(_Loop):
    """
    C{request}: the server answers each message itself.
    """

    def frame(self, seq: int) -> bytes:
        return self.dialect.request(seq)

    def answered(self, payload: bytes) -> bool:
        return self.dialect.is_reply(payload, self.seq)


class DirectLoop(_Loop):
    """
    C{direct}: the requester's message goes through the server to its
    peer, whose answer comes back the same way.
    """

    def __init__(self, client: WebSocketClient, dialect: Any, stats: Stats, peer: str):
        super().__init__(client, dialect, stats)
        self.peer = peer

    def frame(self, seq: int) -> bytes:
        return self.dialect.direct_request(self.peer, seq)

    def answered(self, payload: bytes) -> bool:
        return self.dialect.is_direct_reply(payload, self.seq, self.peer)


class Responder:
    """
    The peer of a L{DirectLoop}: answers whatever arrives.
    """

    def __init__(self, client: WebSocketClient, dialect: Any, stats: Stats):
        self.client = client
        self.dialect = dialect
        self.stats = stats
        client.on_text = self.on_text

    def on_text(self, payload: bytes) -> None:
        if self.dialect.control(self.client, payload):
            return
        answer = self.dialect.direct_answer(payload)
        if answer is None:
            self.stats.error(f"responder got {payload[:200]!r}")
        else:
            self.client.send_text(answer)


class Fanout:
    """
    C{fanout}: one publisher, many members.  A message completes when every
    member has it; up to C{window} messages are in flight (1: a strict
    closed loop).  Members receive in publish order, so the k-th delivery
    to a member is message k.
    """

    def __init__(
        self,
        publisher: WebSocketClient,
        members: list[WebSocketClient],
        dialect: Any,
        stats: Stats,
        window: int = 1,
    ):
        self.publisher = publisher
        self.dialect = dialect
        self.stats = stats
        self.window = window
        self.members = len(members)
        self.seq = 0
        self.running = False
        #: seq -> [members still to receive it, time it was published]
        self.pending: dict[int, list[Any]] = {}
        publisher.on_text = self._publisher_text
        publisher.on_close = self._closed
        for client in members:
            _Member(self, client)

    def start(self) -> None:
        self.running = True
        self.stats.started()
        for _ in range(self.window):
            self._publish()

    def _publish(self) -> None:
        if self.stats.stopping:
            if not self.pending:
                self._stop()
            return
        self.seq += 1
        self.pending[self.seq] = [self.members, perf_counter()]
        self.publisher.send_text(self.dialect.publish(self.seq))

    def _stop(self) -> None:
        if self.running:
            self.running = False
            self.stats.finished()

    def delivered(self, nth: int) -> None:
        entry = self.pending.get(nth)
        if entry is None:
            self.stats.error(f"delivery of message {nth}, which was not published")
            return
        entry[0] -= 1
        if entry[0] == 0:
            del self.pending[nth]
            self.stats.done(perf_counter() - entry[1])
            self._publish()

    def _publisher_text(self, payload: bytes) -> None:
        if not self.dialect.control(self.publisher, payload):
            self.stats.error(f"publisher got {payload[:200]!r}")

    def _closed(self) -> None:
        if self.running:
            self.stats.error("a fanout connection was closed by the server")
            self._stop()


class _Member:
    __slots__ = ("fanout", "client", "got")

    def __init__(self, fanout: Fanout, client: WebSocketClient):
        self.fanout = fanout
        self.client = client
        self.got = 0
        client.on_text = self.on_text
        client.on_close = fanout._closed

    def on_text(self, payload: bytes) -> None:
        fanout = self.fanout
        if fanout.dialect.control(self.client, payload):
            return
        if fanout.dialect.is_delivery(payload):
            self.got += 1
            fanout.delivered(self.got)
        else:
            fanout.stats.error(f"member got {payload[:200]!r}")
