"""
Load generators for new encrypted sessions, each its own process.

    python -m bench._handshakes rate   --port P --server-pid PID --concurrency C --warmup W --duration D
    python -m bench._handshakes steady --port P
    python -m bench._handshakes burst  --port P --count 300

A session here is: WebSocket connect, the socketnet-enc/1 handshake,
C{auth} (sealed) until C{authorized}, then close and wait for the server to
drop the connection.

C{rate}: C{C} workers open sessions one after another (bounded by
C{--max-sessions} and by time); it prints C{window-start} and
C{window-end} and waits for a C{go} line on stdin after each, so the
launcher can mark and read the server's pause monitor at the edges.

C{steady}: one established encrypted session sending requests in a closed
loop; it records when each was sent and answered, prints C{running}, and on
a line C{report T0 T1} (C{time.monotonic()} values, the same clock in every
process) prints the request latencies before and during that interval.

C{burst}: prints C{ready}, waits for C{go}, opens C{--count} sessions at
once, prints when the burst began and ended and how each session fared,
holds the sessions until a C{close} line, closes them and prints C{closed}.

Refusals are told apart by when the server closed: 1013 before
C{enc.pubkey} is the per-address handshake rate limit, 1013 after
C{enc.key} the pending-decrypt cap.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from time import monotonic
from typing import Any

from ._dialects import SetupError, SocketnetEncrypted
from ._drivers import RequestLoop, Stats
from ._encclient import EncryptedClient, HandshakeBroken, HandshakeRefused, secure
from ._loadgen import HOST, _percentile, close_all, emit, payload, raise_fd_limit, run_loop, sources
from ._proc import HZ, Snapshot, cpu_window, thread_ticks
from ._wsclient import HandshakeError, connect

#: Outcomes that are the server shedding load by design.
REFUSED = {"refused-rate-limit", "refused-decrypt-cap"}


def classify(error: BaseException) -> str:
    if isinstance(error, HandshakeRefused):
        if error.code == 1013:
            return "refused-rate-limit" if error.stage == "hello" else "refused-decrypt-cap"
        return f"closed-{error.code}-after-enc.{error.stage}"
    if isinstance(error, HandshakeBroken):
        return "broken-handshake"
    if isinstance(error, SetupError):
        return "closed-during-auth"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, HandshakeError):
        return "upgrade-failed"
    if isinstance(error, OSError):
        return f"socket-{type(error).__name__}"
    return type(error).__name__


async def open_session(dialect: Any, port: int, source: str | None, cid: str, timeout: float) -> EncryptedClient:
    ws = await connect(HOST, port, dialect.path("client", cid), dialect.subprotocol, source, timeout)
    try:
        async with asyncio.timeout(timeout):
            client = await secure(ws)
            await dialect.setup(client, "client", cid)
    except BaseException:
        ws.abort()
        raise
    return client


async def close_one(client: EncryptedClient, timeout: float = 5.0) -> None:
    client.on_close = lambda: None
    client.close()
    done, _ = await asyncio.wait([client.closed], timeout=timeout)
    if not done:
        client.abort()


class StdinLines:
    """
    Lines from stdin, awaited one at a time.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._buffer = b""
        asyncio.get_running_loop().add_reader(0, self._read)

    def _read(self) -> None:
        data = os.read(0, 4096)
        if not data:
            asyncio.get_running_loop().remove_reader(0)
            self._queue.put_nowait("")
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            self._queue.put_nowait(line.decode().strip())

    async def next(self, timeout: float) -> str:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return ""

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(0)


def _ms(values: list[float], q: float) -> float | None:
    value = _percentile(values, q)
    return None if value is None else 1000 * value


class _Outcomes:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.first_error: str | None = None

    def add(self, error: BaseException) -> str:
        kind = classify(error)
        self.counts[kind] += 1
        if kind not in REFUSED and self.first_error is None:
            self.first_error = f"{kind}: {error!r}"[:300]
        return kind

    @property
    def errors(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind not in REFUSED)


async def rate(args: argparse.Namespace) -> dict[str, Any]:
    dialect = SocketnetEncrypted(payload(args.size))
    addresses = sources(args.source_addresses)
    stdin = StdinLines()
    outcomes = _Outcomes()
    latencies: list[float] = []
    state = {"measuring": False, "stopping": False, "started": 0, "completed": 0}

    async def worker(w: int) -> None:
        n = 0
        while not state["stopping"] and state["started"] < args.max_sessions:
            state["started"] += 1
            n += 1
            t0 = monotonic()
            try:
                client = await open_session(dialect, args.port, addresses[(w + n) % len(addresses)], f"h{w}-{n}", args.timeout)
            except Exception as e:
                if state["measuring"]:
                    outcomes.add(e)
                if classify(e) in REFUSED:
                    await asyncio.sleep(0.05)
                continue
            t1 = monotonic()
            await close_one(client)
            if state["measuring"]:
                state["completed"] += 1
                latencies.append(t1 - t0)

    workers = [asyncio.ensure_future(worker(w)) for w in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    emit(event="window-start")
    await stdin.next(30)
    start, threads0, t0 = Snapshot.take(args.server_pid), thread_ticks(args.server_pid), monotonic()
    state["measuring"] = True
    await asyncio.sleep(args.duration)
    state["measuring"] = False
    end, threads1, t1 = Snapshot.take(args.server_pid), thread_ticks(args.server_pid), monotonic()
    emit(event="window-end")
    await stdin.next(30)
    state["stopping"] = True
    done, pending = await asyncio.wait(workers, timeout=args.timeout + 10)
    for task in pending:
        task.cancel()
    stdin.close()
    result = {
        "event": "result",
        "completions": state["completed"],
        "concurrency": args.concurrency,
        "hit_max_sessions": state["started"] >= args.max_sessions,
        "p50_ms": _ms(latencies, 0.5),
        "p99_ms": _ms(latencies, 0.99),
        "outcomes": dict(outcomes.counts),
        "errors": outcomes.errors + len(pending),
        "first_error": outcomes.first_error or (f"{len(pending)} workers stuck at the end" if pending else None),
        "reactor_cpu_s": (threads1[0] - threads0[0]) / HZ,
        "other_threads_cpu_s": (threads1[1] - threads0[1]) / HZ,
    }
    result.update(cpu_window(start, end, t1 - t0))
    return result


class _Timeline(Stats):
    """
    Every completed request as C{(sent, answered)}, on C{time.monotonic()}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.measuring = True
        self.log: list[tuple[float, float]] = []

    def done(self, latency: float) -> None:
        now = monotonic()
        self.log.append((now - latency, now))


def _latencies(log: list[tuple[float, float]], since: float, until: float) -> dict[str, Any]:
    """
    Latencies of the requests that were in flight at some time between
    C{since} and C{until}.
    """
    values = [done - sent for sent, done in log if done >= since and sent <= until]
    return {"count": len(values), "p50_ms": _ms(values, 0.5), "p99_ms": _ms(values, 0.99),
            "max_ms": _ms(values, 1.0)}


async def steady(args: argparse.Namespace) -> dict[str, Any]:
    dialect = SocketnetEncrypted(payload(args.size))
    stdin = StdinLines()
    client = await open_session(dialect, args.port, sources(args.source_addresses)[0], "steady", args.timeout)
    stats = _Timeline()
    loop = RequestLoop(client, dialect, stats)
    loop.start()
    emit(event="running")
    line = await stdin.next(args.max_seconds)
    stats.stopping = True  # the request in flight is logged when answered
    try:
        await asyncio.wait_for(stats.idle.wait(), 10.0)
    except TimeoutError:
        stats.error("the last request got no answer within 10 s")
    stdin.close()
    await close_all([client])
    words = line.split()
    if len(words) != 3 or words[0] != "report":
        raise SystemExit(f"steady: expected 'report T0 T1', got {line!r}")
    since, until = float(words[1]), float(words[2])
    during = _latencies(stats.log, since, until)
    return {
        "event": "result",
        "before": _latencies(stats.log, since - 2.0, since - 1e-9),
        "during": during,
        "requests": len(stats.log),
        "errors": stats.errors,
        "first_error": stats.first_error,
    }


async def burst(args: argparse.Namespace) -> dict[str, Any]:
    dialect = SocketnetEncrypted(payload(args.size))
    addresses = sources(args.source_addresses)
    stdin = StdinLines()
    outcomes = _Outcomes()
    emit(event="ready")
    if await stdin.next(120) != "go":
        raise SystemExit("burst: no 'go'")
    started = monotonic()
    finished: list[float] = []

    async def one(i: int) -> EncryptedClient | None:
        try:
            client = await open_session(dialect, args.port, addresses[i % len(addresses)], f"b{i}", args.timeout)
        except Exception as e:
            outcomes.add(e)
            finished.append(monotonic())
            return None
        finished.append(monotonic())
        return client

    opened = [c for c in await asyncio.gather(*(one(i) for i in range(args.count))) if c is not None]
    ended = max(finished)
    times = sorted(t - started for t in finished)
    emit(
        event="result",
        start=started,
        end=ended,
        count=args.count,
        opened=len(opened),
        outcomes=dict(outcomes.counts),
        errors=outcomes.errors,
        first_error=outcomes.first_error,
        p50_s=_percentile(times, 0.5),
        last_s=ended - started,
    )
    await stdin.next(120)
    await close_all(opened, timeout=30.0)
    stdin.close()
    return {"event": "closed"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench._handshakes")
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("rate", "steady", "burst"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--size", type=int, default=128)
        p.add_argument("--source-addresses", type=int, default=0)
        p.add_argument("--timeout", type=float, default=30.0, help="seconds one session may take to open")
    r = sub.choices["rate"]
    r.add_argument("--server-pid", type=int, required=True)
    r.add_argument("--concurrency", type=int, default=16)
    r.add_argument("--warmup", type=float, default=2.0)
    r.add_argument("--duration", type=float, default=5.0)
    r.add_argument("--max-sessions", type=int, default=20_000)
    sub.choices["steady"].add_argument("--max-seconds", type=float, default=300.0)
    sub.choices["burst"].add_argument("--count", type=int, default=300)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    raise_fd_limit()
    emit(**run_loop({"rate": rate, "steady": steady, "burst": burst}[args.mode](args)))


if __name__ == "__main__":
    main()
