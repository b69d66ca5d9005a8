"""
One workload against one server: start the server, drive it with a load
generator in another process, collect the figures, end both.

C{request-enc} and C{fanout-enc} are C{request} and C{fanout} against a
socketnet server with C{encrypt="required"}, driven by the
C{socketnet-enc} dialect; C{handshake} and C{burst} are in
L{bench._encrunner}.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._launch import DIALECT, SOCKETNET_KINDS, ChildFailed, Children
from ._encargs import ENCRYPTED, encrypted_server_args
from ._proc import HZ, fd_limit, machine_ticks, process_ticks, rss_kib
from ._report import derive

#: Idle sessions per load generator process: each process's descriptor
#: limit is the machine's hard limit (20,000 here).
IDLE_PER_PROCESS = 7_000


def _common(opts: argparse.Namespace, dialect: str, port: int) -> list[str]:
    return [
        "--dialect", dialect,
        "--port", str(port),
        "--size", str(opts.message_size),
        "--source-addresses", str(opts.source_addresses),
    ]


def _profile_path(opts: argparse.Namespace, kind: str, workload: str, ext: str) -> Path:
    return Path(opts.profile_dir) / f"{kind}-{workload}.{ext}"


def run_throughput(children: Children, opts: argparse.Namespace, kind: str, workload: str) -> dict[str, Any]:
    base = ENCRYPTED.get(workload, workload)
    dialect = "socketnet-enc" if workload in ENCRYPTED else DIALECT.get(kind, kind)
    server_args: list[str] = []
    if kind in SOCKETNET_KINDS:
        # The default Heartbeat: the client pings every interval.
        server_args += ["--heartbeat-mode", "client", "--heartbeat-interval", str(opts.heartbeat)]
    if workload in ENCRYPTED:
        server_args += encrypted_server_args(opts)
    if opts.profile == "cprofile":
        server_args += ["--cprofile", str(_profile_path(opts, kind, workload, "prof"))]
    server, port = children.server(kind, base, server_args)
    spy: subprocess.Popen[bytes] | None = None
    gen = children.start(
        f"loadgen-{kind}-{workload}",
        "bench._loadgen",
        [
            "run", *_common(opts, dialect, port),
            "--workload", base,
            "--server-pid", str(server.pid),
            "--connections", str(opts.connections),
            "--duration", str(opts.duration),
            "--warmup", str(opts.warmup),
            "--fanout-window", str(opts.fanout_window),
            "--heartbeat-interval", str(opts.heartbeat if kind in SOCKETNET_KINDS else 0),
        ],
    )
    try:
        deadline = opts.warmup + opts.duration + 120
        while True:
            event = gen.read_event(deadline)
            if event["event"] == "window-start":
                if opts.profile == "cprofile":
                    server.signal(signal.SIGUSR1)
                elif opts.profile == "py-spy":
                    spy = _start_py_spy(opts, kind, workload, server.pid, opts.duration)
            elif event["event"] == "window-end":
                if opts.profile == "cprofile":
                    server.signal(signal.SIGUSR2)
            elif event["event"] == "result":
                event["server"] = kind  # the dialect may be shared (socketio, socketio-uvloop)
                event["workload"] = workload  # request-enc runs request encrypted
                return derive(event)
    finally:
        _wait(spy, opts.duration)
        children.stop(gen)
        if opts.profile == "cprofile":
            time.sleep(0.5)  # let the server write its stats
        children.stop(server)


def _start_py_spy(opts: argparse.Namespace, kind: str, workload: str, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = _profile_path(opts, kind, workload, "txt")
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
         "--rate", str(opts.profile_rate), "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(spy: subprocess.Popen[bytes] | None, seconds: float) -> None:
    if spy is None:
        return
    try:
        spy.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        spy.kill()  # by its own handle, which is its PID
        spy.wait()


def run_idle(children: Children, opts: argparse.Namespace, kind: str) -> dict[str, Any]:
    """
    Server memory per idle session: RSS before and after C{--idle-connections}
    authorized sessions connect, with heartbeats running (socketnet: the
    server pings every C{--idle-heartbeat} seconds), held for
    C{--idle-hold} seconds.
    """
    server_args: list[str] = []
    if kind in SOCKETNET_KINDS:
        server_args += ["--heartbeat-mode", "server", "--heartbeat-interval", str(opts.idle_heartbeat)]
    if kind == "autobahn" and opts.autobahn_autoping:
        server_args += ["--autoping", str(opts.autobahn_autoping)]
    if opts.profile == "cprofile":
        server_args += ["--cprofile", str(_profile_path(opts, kind, "idle", "prof"))]
    elif opts.profile == "tracemalloc":
        server_args += ["--tracemalloc", str(_profile_path(opts, kind, "idle", "tracemalloc.txt"))]
    server, port = children.server(kind, "idle", server_args)
    gens = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        # Warm up: first connections allocate what later ones reuse.
        warm = children.start(f"idle-warmup-{kind}", "bench._loadgen",
                              ["idle", *_common(opts, DIALECT.get(kind, kind), port), "--count", "20", "--offset", "1000000"])
        warm.read_event(60)
        warm.tell("close")
        warm.read_event(60)
        children.stop(warm)
        time.sleep(1.0)
        before = rss_kib(server.pid)
        fds = fd_limit(server.pid)
        if opts.profile == "tracemalloc":
            server.signal(signal.SIGUSR1)
            time.sleep(0.2)

        count = opts.idle_connections
        procs = max(1, math.ceil(count / IDLE_PER_PROCESS))
        shares = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
        offset = 0
        for i, share in enumerate(shares):
            gens.append(children.start(f"idle-{kind}-{i}", "bench._loadgen", [
                "idle", *_common(opts, DIALECT.get(kind, kind), port), "--count", str(share), "--offset", str(offset),
                "--max-hold", str(opts.idle_hold + 600),
            ]))
            offset += share
        connected = [g.read_event(120 + share / 20) for g, share in zip(gens, shares)]
        ok = sum(c["ok"] for c in connected)
        connect_s = max(c["seconds"] for c in connected)

        if opts.profile == "cprofile":
            server.signal(signal.SIGUSR1)
        elif opts.profile == "py-spy":
            spy = _start_py_spy(opts, kind, "idle", server.pid, opts.idle_hold)
        server0, (busy0, _), t0 = process_ticks(server.pid), machine_ticks(), time.monotonic()
        time.sleep(opts.idle_hold)
        after = rss_kib(server.pid)
        server1, (busy1, _), t1 = process_ticks(server.pid), machine_ticks(), time.monotonic()
        if opts.profile in ("cprofile", "tracemalloc"):
            server.signal(signal.SIGUSR2)
            time.sleep(2.0)  # let the server write its stats

        for g in gens:
            g.tell("close")
        results = [g.read_event(120) for g in gens]
    finally:
        _wait(spy, opts.idle_hold)
        for g in gens:
            children.stop(g)
        children.stop(server)
    held = sum(r["held"] for r in results)
    seconds = t1 - t0
    server_cpu = (server1 - server0) / HZ
    first_error = next((c["first_error"] for c in connected if c["first_error"]), None)
    return {
        "workload": "idle",
        "server": kind,
        "requested": count,
        "connected": ok,
        "held": held,
        "failed_connects": sum(r["failed"] for r in results),
        "closed_by_server": sum(r["closed_by_server"] for r in results),
        "close_codes": sorted({c for r in results for c in r["close_codes"]}),
        "first_error": first_error,
        "connect_seconds": connect_s,
        "server_fd_limit": fds,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_conn": (after - before) / held if held else None,
        "seconds": seconds,
        "server_cores": server_cpu / seconds,
        "other_cores": max((busy1 - busy0) / HZ - server_cpu, 0.0) / seconds,
        "heartbeat_us_per_session_s": 1e6 * server_cpu / seconds / held if held else None,
    }


def run_one(children: Children, opts: argparse.Namespace, kind: str, workload: str) -> dict[str, Any]:
    """
    Run one workload against one server; a failure becomes a row that
    says so.
    """
    from ._encrunner import run_burst, run_handshake  # here: _encrunner imports this module

    try:
        if workload == "idle":
            return run_idle(children, opts, kind)
        if workload == "handshake":
            return run_handshake(children, opts, kind)
        if workload == "burst":
            return run_burst(children, opts, kind)
        return run_throughput(children, opts, kind, workload)
    except ChildFailed as e:
        return {"workload": workload, "server": kind, "connections": opts.connections, "failed": str(e)}
