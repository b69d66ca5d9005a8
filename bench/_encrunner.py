"""
The C{handshake} and C{burst} workloads: new encrypted sessions against
a socketnet server with C{encrypt="required"} and its reactor pause
monitor on (L{bench._pausemon}).

C{handshake}: C{--handshake-concurrency} workers open sessions one after
another (L{bench._handshakes} C{rate}); handshakes per second over the
measured window, set against the RSA-4096 OAEP decrypts per second that
C{cryptography} does on one thread (L{bench._rsaref}, its own process,
just before and just after the server runs, no server running).

C{burst}: one established encrypted session sends requests in a closed
loop (C{steady}, its own process) while another process opens
C{--burst-sessions} sessions at once; the steady session's worst latency,
the server's worst reactor pause and how the sessions fared.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from typing import Any

from ._encargs import encrypted_server_args
from ._launch import Children
from ._proc import HZ, thread_ticks
from ._runner import _profile_path, _start_py_spy, _wait


def rsa_reference(children: Children, seconds: float) -> dict[str, Any]:
    child = children.start("rsa-reference", "bench._rsaref", ["--seconds", str(seconds)])
    try:
        return child.read_event(seconds + 60)
    finally:
        children.stop(child)


def _server(children: Children, opts: argparse.Namespace, workload: str, kind: str) -> tuple[Any, int]:
    args = [*encrypted_server_args(opts), "--pause-monitor",
            "--heartbeat-mode", "client", "--heartbeat-interval", str(opts.heartbeat)]
    if opts.profile == "cprofile":
        args += ["--cprofile", str(_profile_path(opts, kind, workload, "prof"))]
    return children.server(kind, workload, args)


def _ask(child: Any, command: str, timeout: float = 15.0) -> dict[str, Any]:
    child.tell(command)
    return child.read_event(timeout)


def run_handshake(children: Children, opts: argparse.Namespace, kind: str = "socketnet") -> dict[str, Any]:
    before = rsa_reference(children, opts.rsa_seconds)
    server, port = _server(children, opts, "handshake", kind)
    spy: subprocess.Popen[bytes] | None = None
    gen = children.start("handshakes-rate", "bench._handshakes", [
        "rate", "--port", str(port), "--server-pid", str(server.pid),
        "--concurrency", str(opts.handshake_concurrency),
        "--warmup", str(opts.warmup), "--duration", str(opts.duration),
        "--source-addresses", str(opts.source_addresses),
    ])
    try:
        while True:
            event = gen.read_event(opts.warmup + opts.duration + 120)
            if event["event"] == "window-start":
                _ask(server, "mark")
                if opts.profile == "cprofile":
                    server.signal(signal.SIGUSR1)
                elif opts.profile == "py-spy":
                    spy = _start_py_spy(opts, kind, "handshake", server.pid, opts.duration)
                gen.tell("go")
            elif event["event"] == "window-end":
                pauses = _ask(server, "report")
                if opts.profile == "cprofile":
                    server.signal(signal.SIGUSR2)
                gen.tell("go")
            elif event["event"] == "result":
                break
    finally:
        _wait(spy, opts.duration)
        children.stop(gen)
        if opts.profile == "cprofile":
            time.sleep(0.5)
        children.stop(server)
    after = rsa_reference(children, opts.rsa_seconds)
    return derive_handshake(event, pauses, before, after, kind)


def derive_handshake(result: dict[str, Any], pauses: dict[str, Any], before: dict[str, Any],
                     after: dict[str, Any], kind: str = "socketnet") -> dict[str, Any]:
    n, seconds = result["completions"], result["seconds"]
    rsa = (before["per_second"] + after["per_second"]) / 2
    per = (lambda cpu: 1e6 * cpu / n) if n else (lambda cpu: None)
    result.update(
        workload="handshake",
        server=kind,
        connections=result["concurrency"],
        throughput=n / seconds,
        rsa_before=before,
        rsa_after=after,
        rsa_per_second=rsa,
        rsa_us_per_decrypt=(before["cpu_us_per_decrypt"] + after["cpu_us_per_decrypt"]) / 2,
        ratio=n / seconds / rsa,
        server_us_per_handshake=per(result["server_cpu_s"]),
        reactor_us_per_handshake=per(result["reactor_cpu_s"]),
        pool_us_per_handshake=per(result["other_threads_cpu_s"]),
        server_cores=result["server_cpu_s"] / seconds,
        reactor_cores=result["reactor_cpu_s"] / seconds,
        pool_cores=result["other_threads_cpu_s"] / seconds,
        other_cores=result["other_cpu_s"] / seconds,
        loadgen_cores=result["loadgen_cpu_s"] / seconds,
        pauses=pauses,
    )
    return result


def run_burst(children: Children, opts: argparse.Namespace, kind: str = "socketnet") -> dict[str, Any]:
    server, port = _server(children, opts, "burst", kind)
    common = ["--port", str(port), "--source-addresses", str(opts.source_addresses)]
    steady = children.start("burst-steady", "bench._handshakes", ["steady", *common])
    gen = children.start("burst-sessions", "bench._handshakes",
                         ["burst", *common, "--count", str(opts.burst_sessions)])
    try:
        steady.read_event(60)  # running
        gen.read_event(60)  # ready
        time.sleep(opts.burst_lead)  # the steady session's latency before the burst
        _ask(server, "mark")
        threads0, t0 = thread_ticks(server.pid), time.monotonic()
        gen.tell("go")
        result = gen.read_event(180)
        threads1, t1 = thread_ticks(server.pid), time.monotonic()
        pauses = _ask(server, "report")
        steady.tell(f"report {result['start']!r} {result['end']!r}")
        latency = steady.read_event(60)
        gen.tell("close")
        gen.read_event(60)
    finally:
        children.stop(gen)
        children.stop(steady)
        children.stop(server)
    result.update(
        workload="burst",
        server=kind,
        connections=result["count"],
        pauses=pauses,
        steady=latency,
        errors=result["errors"] + latency["errors"],
        first_error=result["first_error"] or latency["first_error"],
        reactor_cores=(threads1[0] - threads0[0]) / HZ / (t1 - t0),
        pool_cores=(threads1[1] - threads0[1]) / HZ / (t1 - t0),
        handshake_limit=opts.handshake_limit,
    )
    return result
