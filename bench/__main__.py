"""
socketnet's benchmark suite against raw Autobahn and python-socketio.

    pip install -r bench/requirements.txt
    python -m bench                          # everything, a few minutes
    python -m bench --duration 2 --connections 10
    python -m bench --workloads idle --servers socketnet,autobahn --idle-connections 19000
    python -m bench --workloads request,request-enc,handshake,burst --servers socketnet

Each server runs in its own process, and so does the load generator;
everything talks to 127.0.0.1 only.  Prints one Markdown table, the
encryption tables and the issue's targets; see docs/performance.md.

The encrypted workloads (request-enc, fanout-enc, handshake, burst) run
against socketnet only, with encrypt="required" and the fixed test key.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ._launch import SERVERS, Children
from ._proc import HZ, machine_ticks
from ._encargs import ENCRYPTED
from ._encreport import tables as encryption_tables
from ._encreport import targets as encryption_targets
from ._report import combine, table, targets
from ._runner import run_one

WORKLOADS = ("request", "request-enc", "direct", "fanout", "fanout-enc", "idle", "handshake", "burst")
#: Workloads that only socketnet runs (encrypted).
SOCKETNET_ONLY = ("request-enc", "fanout-enc", "handshake", "burst")
#: Socketnet-only workloads that also run against socketnet-ref when it is
#: chosen: a before/after of the encrypted workloads in one run.
BEFORE_AFTER = ("request-enc", "fanout-enc", "handshake", "burst")
#: Workloads run once whatever --repeat says.
ONCE = ("idle", "burst")


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
    return names


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0].strip())
    p.add_argument("--connections", type=int, default=50, help="connections per throughput workload (default 50; fanout: members)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    p.add_argument("--message-size", type=int, default=128, help="payload bytes per message (default 128)")
    p.add_argument("--workloads", type=lambda t: _names(t, WORKLOADS), default=list(WORKLOADS),
                   help=f"comma-separated, from {','.join(WORKLOADS)} (default all); "
                        "the encrypted ones run against socketnet only")
    p.add_argument("--servers", type=lambda t: _names(t, tuple(SERVERS)), default=["socketnet", "autobahn", "socketio"],
                   help="comma-separated, from socketnet,autobahn,socketio,socketio-uvloop,socketnet-ref "
                        "(default socketnet,autobahn,socketio)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of each throughput workload, servers interleaved (in reverse order every other round); "
                        "the table shows the median (default 1)")
    p.add_argument("--fanout-window", type=int, default=1, help="fanout messages in flight (default 1: closed loop)")
    p.add_argument("--heartbeat", type=float, default=10.0,
                   help="socketnet heartbeat interval during throughput runs (default 10, the library default)")
    p.add_argument("--idle-connections", type=int, default=2000, help="idle sessions (default 2000; the issue asks 20000)")
    p.add_argument("--idle-hold", type=float, default=3.0, help="seconds the idle sessions are held before memory is read")
    p.add_argument("--idle-heartbeat", type=float, default=1.0, help="socketnet server ping interval while idle (default 1 s)")
    p.add_argument("--autobahn-autoping", type=float, default=0.0,
                   help="idle raw Autobahn: its own WebSocket ping every N seconds (default 0: none)")
    p.add_argument("--source-addresses", type=int, default=4,
                   help="spread client sockets over 127.0.0.2 ... 127.0.0.N+1 (default 4; 0: let the kernel choose)")
    p.add_argument("--profile", choices=("none", "py-spy", "cprofile", "tracemalloc"), default="none",
                   help="profile each server over its measured window (tracemalloc: idle only)")
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--profile-dir", default="bench-profiles", help="where profiles go (default ./bench-profiles)")
    p.add_argument("--handshake-concurrency", type=int, default=16,
                   help="handshake: sessions being opened at once (default 16)")
    p.add_argument("--rsa-seconds", type=float, default=2.0,
                   help="handshake: seconds of the one-thread RSA decrypt reference, before and after (default 2)")
    p.add_argument("--burst-sessions", type=int, default=300, help="burst: sessions opened at once (default 300)")
    p.add_argument("--burst-lead", type=float, default=2.0,
                   help="burst: seconds of steady requests before the burst (default 2)")
    p.add_argument("--handshake-limit", choices=("raised", "library"), default="raised",
                   help="socketnet's per-address handshake rate limit in the encrypted workloads: raised far "
                        "beyond the load (default), or the library's 20/s after a burst of 40")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    p.add_argument("--ref-tree", metavar="DIR", type=Path,
                   help="another checkout of socketnet (with this bench/ in it) that the socketnet-ref server "
                        "runs from: a before/after comparison in one run, e.g. --servers socketnet,socketnet-ref")
    opts = p.parse_args(argv)
    if opts.repeat < 1 or opts.connections < 2 or opts.duration <= 0 or opts.warmup < 0 or opts.message_size < 1:
        p.error("need --repeat >= 1, --connections >= 2, --duration > 0, --warmup >= 0, --message-size >= 1")
    if "direct" in opts.workloads and opts.connections % 2:
        p.error("direct pairs clients: --connections must be even")
    if "socketnet-ref" in opts.servers and (opts.ref_tree is None or not (opts.ref_tree / "bench").is_dir()):
        p.error("socketnet-ref needs --ref-tree DIR, a checkout with a bench/ directory")
    return opts


def schedule(opts: argparse.Namespace) -> list[tuple[str, str, int, int]]:
    """
    C{(workload, server, round, rounds)} in the order they run.  An
    encrypted variant runs in the same round as its plaintext workload,
    right after it, so that their ratio compares neighbouring runs; when
    only the encrypted one was chosen, the plaintext one runs against
    socketnet alone for that ratio.  Odd rounds run in reverse order.
    """
    chosen = set(opts.workloads)
    implied = {ENCRYPTED[w] for w in chosen if w in ENCRYPTED} - chosen
    out = []
    for workload in WORKLOADS:
        if workload in ENCRYPTED or workload not in chosen | implied:
            continue  # an encrypted workload runs with its plaintext one
        group = [workload] + [e for e, base in ENCRYPTED.items() if base == workload and e in chosen]
        rounds = 1 if workload in ONCE else opts.repeat
        for n in range(rounds):
            steps = []
            for w in group:
                if w in BEFORE_AFTER:
                    servers = [k for k in opts.servers if k in ("socketnet", "socketnet-ref")] or ["socketnet"]
                elif w in SOCKETNET_ONLY or w in implied:
                    servers = ["socketnet"]
                else:
                    servers = opts.servers
                steps += [(w, kind, n, rounds) for kind in servers]
            # Every other round runs in reverse order, so that a machine
            # that speeds up or slows down over a round favours no server.
            out += steps if n % 2 == 0 else steps[::-1]
    return out


def busy_cores(seconds: float) -> float:
    """
    How many CPU cores the machine kept busy over C{seconds}, before any
    server starts: other work that would disturb the figures.
    """
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return (busy1 - busy0) / HZ / seconds


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    if opts.profile != "none":
        Path(opts.profile_dir).mkdir(parents=True, exist_ok=True)
    quiet = busy_cores(1.0)
    print(f"# before starting, the machine was busy on {quiet:.2f} cores (noise)", file=sys.stderr, flush=True)
    log_dir = Path(tempfile.mkdtemp(prefix="socketnet-bench-"))
    children = Children(log_dir, opts.ref_tree)
    rows = []
    started = time.monotonic()
    plan = schedule(opts)
    try:
        for workload, kind, n, rounds in plan:
            print(f"# {workload} on {kind} ({n + 1}/{rounds}) ...", file=sys.stderr, flush=True)
            rows.append(run_one(children, opts, kind, workload))
    finally:
        children.stop_all()
    failed = any(r.get("failed") or r.get("errors") for r in rows)
    special = [r for r in rows if r["workload"] in ("handshake", "burst")]
    runs, rows = rows, combine([r for r in rows if r["workload"] not in ("handshake", "burst")])
    if rows:
        print(table(rows))
        print()
    enc = encryption_tables(rows + special)
    if enc:
        print(enc)
        print()
    print(targets(rows))
    print("\n".join(encryption_targets(rows + special)))
    servers = len({kind for _, kind, _, _ in plan})
    print(f"\n({time.monotonic() - started:.0f} s; {servers} server{'s' if servers != 1 else ''}; "
          f"{opts.connections} connections, {opts.message_size}-byte payload, {opts.duration:g} s measured "
          f"after {opts.warmup:g} s warm-up; machine busy on {quiet:.2f} cores before the start)")
    for row in runs:
        if row.get("failed"):
            print(f"failed: {row['server']} {row['workload']}: {row['failed']}")
        if row.get("first_error"):
            print(f"note: {row['server']} {row['workload']}: {row['first_error']}")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"rows": rows, "runs": runs}, indent=2))
    if "socketnet" not in opts.servers and any(w in SOCKETNET_ONLY for w in opts.workloads):
        print("note: the encrypted workloads run against socketnet only, whatever --servers says")
    if failed:
        print(f"child logs kept in {log_dir}", file=sys.stderr)
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
