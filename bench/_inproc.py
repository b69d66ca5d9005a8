"""
The server's Python cost per message without the kernel: socketnet's
server protocol and the raw Autobahn baseline, each fed the same masked
WebSocket frames through C{dataReceived} on in-memory transports, on a
L{MemoryReactorClock}.  No sockets, no event loop: what remains is
Autobahn's framing plus, for socketnet, its own stack, so the difference
is socketnet's overhead, measured deterministically (C{process_time}).

    python -m bench._inproc [--count 10000] [--rounds 5] [--members 50] [--cprofile]

With C{--cprofile}, the socketnet loops run again under cProfile and the
functions with the most own time are printed.  Only informs
docs/performance.md; the suite does not need it.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import time
from typing import Any, Callable

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from socketnet import Heartbeat

from ._loadgen import payload
from ._wsclient import _header, apply_mask
from .server_autobahn import make_factory
from .server_socketnet import make_app


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def frame(text: bytes) -> bytes:
    mask = os.urandom(4)
    return _header(0x1, len(text)) + mask + apply_mask(text, mask)


def connect(factory: Any, path: str, subprotocol: str | None, n: int) -> tuple[Any, _Transport]:
    proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000 + n))
    transport = _Transport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000 + n))
    proto.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    head = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if subprotocol:
        head.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    proto.dataReceived(("\r\n".join(head) + "\r\n\r\n").encode())
    if not transport.value().startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake failed: {transport.value()[:200]!r}")
    transport.clear()
    return proto, transport


def socketnet_client(factory: Any, cid: str, n: int, join: bool = False) -> tuple[Any, _Transport]:
    proto, transport = connect(factory, "/socket", "socketnet.v1", n)
    proto.dataReceived(frame(json.dumps({"type": "auth", "id": cid, "token": "t"}).encode()))
    if join:
        proto.dataReceived(frame(b'{"type":"join","channel":"bench","request":1}'))
    if b"authorized" not in transport.value():
        raise RuntimeError(f"not authorized: {transport.value()[:200]!r}")
    transport.clear()
    return proto, transport


#: What one setup returns: a step to time, the transports to empty now
#: and then, and how many messages one step is.
Setup = Callable[[], tuple[Callable[[int], None], list[_Transport], int]]


def timed(step: Callable[[int], None], count: int, transports: list[_Transport]) -> float:
    """
    CPU seconds for C{count} calls of C{step(i)}.
    """
    start = time.process_time()
    for i in range(count):
        step(i)
        if i % 256 == 0:
            for t in transports:
                t.clear()
    return time.process_time() - start


def request(data: str) -> dict[str, Setup]:
    def ours():
        app = make_app(Heartbeat(), MemoryReactorClock())  # no real timers
        proto, t = socketnet_client(app.factory, "c0", 0)
        f = frame(json.dumps({"type": "message", "data": data, "request": 1}).encode())
        return (lambda i: proto.dataReceived(f)), [t], 1

    def raw():
        proto, t = connect(make_factory("request", reactor=MemoryReactorClock()), "/ws?role=client&id=c0", None, 0)
        f = frame(data.encode())
        return (lambda i: proto.dataReceived(f)), [t], 1

    return {"socketnet": ours, "autobahn": raw}


def fanout(data: str, members: int) -> dict[str, Setup]:
    def ours():
        app = make_app(Heartbeat(), MemoryReactorClock())  # no real timers
        ts = [socketnet_client(app.factory, f"m{i}", i, join=True)[1] for i in range(members)]
        pub, t = socketnet_client(app.factory, "pub", members)
        f = frame(json.dumps({"type": "message", "channel": "bench", "data": data}).encode())
        return (lambda i: pub.dataReceived(f)), ts + [t], members

    def raw():
        factory = make_factory("fanout", reactor=MemoryReactorClock())
        ts = [connect(factory, f"/ws?role=member&id=m{i}", None, i)[1] for i in range(members)]
        pub, t = connect(factory, "/ws?role=pub&id=pub", None, members)
        f = frame(data.encode())
        return (lambda i: pub.dataReceived(f)), ts + [t], members

    return {"socketnet": ours, "autobahn": raw}


def direct(data: str, total: int) -> dict[str, Setup]:
    """
    C{total}: how many steps will run, so that the answers to the
    requests the server numbers 1, 2, 3, ... are framed before timing.
    """

    def ours():
        app = make_app(Heartbeat(), MemoryReactorClock())  # no real timers
        a, ta = socketnet_client(app.factory, "a", 0)
        b, tb = socketnet_client(app.factory, "b", 1)
        ask = frame(json.dumps({"type": "message", "to": "b", "data": data, "request": 1}).encode())
        # The server numbers the requests it routes to b 1, 2, 3, ...
        answers = iter([frame(json.dumps({"type": "reply", "request": n, "data": data}).encode())
                        for n in range(1, total + 1)])

        def step(i: int) -> None:
            a.dataReceived(ask)
            b.dataReceived(next(answers))

        return step, [ta, tb], 1

    def raw():
        factory = make_factory("direct", reactor=MemoryReactorClock())
        a, ta = connect(factory, "/ws?role=client&id=a", None, 0)
        b, tb = connect(factory, "/ws?role=client&id=b", None, 1)
        ask, answer = frame(b"b " + data.encode()), frame(b"a " + data.encode())

        def step(i: int) -> None:
            a.dataReceived(ask)
            b.dataReceived(answer)

        return step, [ta, tb], 1

    return {"socketnet": ours, "autobahn": raw}


def compare(setups: dict[str, Setup], count: int, rounds: int) -> dict[str, float]:
    """
    CPU microseconds per message for each setup: rounds alternate between
    the setups, so that a slower moment of the machine hits both; the
    fastest round counts.
    """
    built = {name: setup() for name, setup in setups.items()}
    best = {name: float("inf") for name in built}
    for _ in range(rounds):
        for name, (step, transports, per_step) in built.items():
            seconds = timed(step, count, transports)
            best[name] = min(best[name], 1e6 * seconds / (count * per_step))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._inproc")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    data = payload(args.size)
    workloads = {
        "request (per round trip)": (request(data), args.count),
        "direct (per round trip)": (direct(data, (args.count // 2) * (args.rounds + 1)), args.count // 2),
        f"fanout (per delivery, {args.members} members)": (fanout(data, args.members), max(1, args.count // args.members)),
    }
    print(f"CPU µs per message in-process (no kernel, no event loop), {args.size}-byte payload, "
          f"best of {args.rounds} alternating rounds")
    for name, (setups, count) in workloads.items():
        best = compare(setups, count, args.rounds)
        ours, raw = best["socketnet"], best["autobahn"]
        print(f"  {name:36} socketnet {ours:6.1f}  raw Autobahn {raw:6.1f}  overhead {ours - raw:+6.1f}  ({raw / ours:.2f}×)")
    if args.cprofile:
        for name, (setups, count) in workloads.items():
            step, transports, _ = setups["socketnet"]()
            profiler = cProfile.Profile()
            profiler.enable()
            timed(step, count, transports)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(f"\n=== socketnet {name}: most own time ===")
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


if __name__ == "__main__":
    main()
