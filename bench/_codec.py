"""
Micro-benchmark of the JSON work on socketnet's hot path: decoding a
request frame and encoding its reply, with socketnet's own codec
(C{socketnet._frames}) and with orjson, for the payload size of the
benchmark.

    python -m bench._codec [--size 128] [--count 100000]

One process, no I/O; prints microseconds per call.  Only informs the
suggestions in docs/performance.md; the suite does not need it.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

from socketnet import _frames

from ._loadgen import payload


def per_call(fn: Callable[[], Any], count: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._codec")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    data = payload(args.size)
    frame = _frames.encode({"type": "message", "data": data, "request": 12345})
    reply = {"type": "reply", "request": 12345, "data": data}
    rows = [
        ("decode: socketnet _frames.decode", lambda: _frames.decode(frame)),
        ("decode: json.loads(bytes.decode())", lambda: json.loads(frame.decode("utf-8"))),
        ("encode: socketnet _frames.reply", lambda: _frames.reply(12345, data)),
        ("encode: json.dumps compact, .encode()", lambda: json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode()),
    ]
    try:
        import orjson
    except ImportError:
        print("orjson is not installed: pip install -r bench/requirements.txt")
    else:
        rows.insert(2, ("decode: orjson.loads(bytes)", lambda: orjson.loads(frame)))
        rows.append(("encode: orjson.dumps", lambda: orjson.dumps(reply)))
    print(f"{len(frame)}-byte request frame, {args.size}-byte payload, best of 3 x {args.count:,} calls")
    for name, fn in rows:
        print(f"  {per_call(fn, args.count):6.2f} µs  {name}")


if __name__ == "__main__":
    main()
