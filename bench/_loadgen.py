"""
The load generator: its own process, asyncio, loopback only.

    python -m bench._loadgen run  --dialect D --workload W --port P --server-pid PID ...
    python -m bench._loadgen idle --dialect D --port P --count N ...

C{run} connects, warms up, measures one window (the server's CPU time from
C{/proc/PID/stat}, the machine's from C{/proc/stat}), drains and closes.
C{idle} connects C{count} sessions, reports, then holds them (answering
heartbeats) until a line C{close} arrives on stdin or C{--max-hold}
seconds pass.  Both print one JSON object per line on stdout: events
(C{window-start}, C{window-end}, C{connected}) and a final C{result}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import string
import sys
from time import perf_counter
from typing import Any

from ._dialects import DIALECTS, Dialect
from ._drivers import DirectLoop, Fanout, RequestLoop, Responder, Stats
from ._encclient import secure
from ._proc import Snapshot, cpu_window
from ._wsclient import WebSocketClient, connect

HOST = "127.0.0.1"


def payload(size: int) -> str:
    """
    The message payload: C{size} printable ASCII characters (so C{size}
    bytes), the same for every server.
    """
    alphabet = string.ascii_letters + string.digits
    return "".join(alphabet[(i * 7 + 3) % len(alphabet)] for i in range(size))


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def sources(count: int) -> list[str | None]:
    """
    Loopback source addresses 127.0.0.2, 127.0.0.3, ... so that many
    connections do not run out of ephemeral ports; none when C{count} is 0.
    """
    if count <= 0:
        return [None]
    if count > 250:
        raise ValueError("at most 250 source addresses (127.0.0.2-127.0.0.251)")
    return [f"127.0.0.{2 + i}" for i in range(count)]


async def open_many(
    dialect: Dialect,
    port: int,
    who: list[tuple[str, str]],
    addresses: list[str | None],
    concurrency: int = 200,
    timeout: float = 30.0,
) -> list[WebSocketClient | BaseException]:
    """
    Open one set-up connection per C{(role, client id)}, at most
    C{concurrency} handshakes at a time; each entry of the result is a
    client or the error that stopped it.  An encrypted dialect's
    connections are L{bench._encclient.EncryptedClient}s.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, role: str, cid: str) -> Any:
        async with gate:
            source = addresses[index % len(addresses)]
            client: Any = await connect(HOST, port, dialect.path(role, cid), dialect.subprotocol, source, timeout)
            try:
                async with asyncio.timeout(timeout):
                    if dialect.encrypted:
                        client = await secure(client)
                    await dialect.setup(client, role, cid)
            except BaseException:
                client.abort()
                raise
            return client

    return await asyncio.gather(*(one(i, r, c) for i, (r, c) in enumerate(who)), return_exceptions=True)


async def close_all(clients: list[WebSocketClient], timeout: float = 5.0) -> None:
    for client in clients:
        client.on_close = lambda: None
        client.close()
    if clients:
        await asyncio.wait([c.closed for c in clients], timeout=timeout)
    for client in clients:
        if not client.closed.done():
            client.abort()


async def heartbeat(clients: list[WebSocketClient], frame: bytes | None, interval: float, stop: asyncio.Event) -> None:
    """
    Send C{frame} on every connection every C{interval} seconds until
    C{stop} is set, when the server expects the client to drive the
    heartbeat.
    """
    if frame is None or interval <= 0:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            for client in clients:
                if not client.closed.done():
                    client.send_text(frame)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    dialect = DIALECTS[args.dialect](payload(args.size))
    addresses = sources(args.source_addresses)
    stats = Stats()
    n = args.connections
    if args.workload == "request":
        who = [("client", f"c{i}") for i in range(n)]
    elif args.workload == "direct":
        if n < 2 or n % 2:
            raise SystemExit("direct needs an even number of connections (pairs)")
        who = [("client", f"c{i}") for i in range(n)]
    elif args.workload == "fanout":
        who = [("member", f"m{i}") for i in range(n)] + [("pub", "pub")]
    else:
        raise SystemExit(f"unknown workload {args.workload}")

    opened = await open_many(dialect, args.port, who, addresses)
    clients = [c for c in opened if not isinstance(c, BaseException)]
    failed = [e for e in opened if isinstance(e, BaseException)]
    if failed:
        await close_all(clients)
        raise SystemExit(f"{len(failed)} of {len(who)} connections failed, first: {failed[0]!r}")

    if args.workload == "request":
        drivers: list[Any] = [RequestLoop(c, dialect, stats) for c in clients]
        per_completion = 1
    elif args.workload == "direct":
        drivers = []
        for i in range(0, n, 2):
            drivers.append(DirectLoop(clients[i], dialect, stats, peer=who[i + 1][1]))
            Responder(clients[i + 1], dialect, stats)
        per_completion = 1
    else:
        drivers = [Fanout(clients[-1], clients[:-1], dialect, stats, args.fanout_window)]
        per_completion = n

    stop_beat = asyncio.Event()
    beat = asyncio.ensure_future(heartbeat(clients, dialect.ping, args.heartbeat_interval, stop_beat))
    for driver in drivers:
        driver.start()
    await asyncio.sleep(args.warmup)

    start, t0 = Snapshot.take(args.server_pid), perf_counter()
    stats.measuring = True
    emit(event="window-start")
    await asyncio.sleep(args.duration)
    stats.measuring = False
    end, t1 = Snapshot.take(args.server_pid), perf_counter()
    emit(event="window-end")

    stats.stopping = True
    try:
        await asyncio.wait_for(stats.idle.wait(), 10.0)
    except TimeoutError:
        stats.error(f"{stats.active} loops still waiting for an answer 10 s after the window")
    stop_beat.set()
    await beat
    await close_all(clients)

    result = {
        "event": "result",
        "mode": "run",
        "server": args.dialect,
        "workload": args.workload,
        "connections": n,
        "size": args.size,
        "completions": stats.count,
        "per_completion": per_completion,
        "p50_ms": None if not stats.latencies else 1000 * _percentile(stats.latencies, 0.50),
        "p99_ms": None if not stats.latencies else 1000 * _percentile(stats.latencies, 0.99),
        "errors": stats.errors,
        "first_error": stats.first_error,
    }
    result.update(cpu_window(start, end, t1 - t0))
    return result


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    dialect = DIALECTS[args.dialect](payload(args.size))
    addresses = sources(args.source_addresses)
    who = [("idle", f"i{args.offset + i}") for i in range(args.count)]
    started = perf_counter()
    opened = await open_many(dialect, args.port, who, addresses, timeout=args.connect_timeout)
    clients = [c for c in opened if not isinstance(c, BaseException)]
    failed = [e for e in opened if isinstance(e, BaseException)]
    lost: list[int] = []
    for client in clients:
        client.on_text = lambda p, c=client: dialect.control(c, p)
        client.on_close = lambda c=client: lost.append(c.close_code or 1006)
    emit(
        event="connected",
        ok=len(clients),
        failed=len(failed),
        first_error=repr(failed[0]) if failed else None,
        seconds=perf_counter() - started,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def command() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "close":
            stop.set()

    loop.add_reader(sys.stdin.fileno(), command)
    beat = asyncio.ensure_future(heartbeat(clients, dialect.ping, args.heartbeat_interval, stop))
    try:
        await asyncio.wait_for(stop.wait(), args.max_hold)
    except TimeoutError:
        pass
    loop.remove_reader(sys.stdin.fileno())
    stop.set()
    await beat
    still = sum(1 for c in clients if not c.closed.done())
    codes = sorted(set(lost))
    await close_all(clients, timeout=30.0)
    return {
        "event": "result",
        "mode": "idle",
        "server": args.dialect,
        "requested": args.count,
        "held": still,
        "failed": len(failed),
        "closed_by_server": len(lost),
        "close_codes": codes,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench._loadgen")
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("run", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--dialect", choices=sorted(DIALECTS), required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--size", type=int, default=128)
        p.add_argument("--source-addresses", type=int, default=0)
        p.add_argument("--heartbeat-interval", type=float, default=0.0,
                       help="send the dialect's ping this often (client-driven heartbeat); 0: never")
    r = sub.choices["run"]
    r.add_argument("--workload", choices=("request", "direct", "fanout"), required=True,
                   help="with --dialect socketnet-enc, the same workload encrypted")
    r.add_argument("--server-pid", type=int, required=True)
    r.add_argument("--connections", type=int, default=50)
    r.add_argument("--duration", type=float, default=5.0)
    r.add_argument("--warmup", type=float, default=2.0)
    r.add_argument("--fanout-window", type=int, default=1)
    i = sub.choices["idle"]
    i.add_argument("--count", type=int, required=True)
    i.add_argument("--offset", type=int, default=0)
    i.add_argument("--max-hold", type=float, default=120.0)
    i.add_argument("--connect-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def run_loop(coroutine: Any) -> Any:
    """
    Run C{coroutine} to its end on uvloop when it is installed, else on
    asyncio's own loop.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    raise_fd_limit()
    emit(**run_loop(run(args) if args.mode == "run" else idle(args)))


if __name__ == "__main__":
    main()
