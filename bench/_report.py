"""
The results table and the issue's targets, as Markdown on stdout.
"""

from __future__ import annotations

from typing import Any

BASELINES = ("autobahn", "socketio")
LABELS = {
    "socketnet": "socketnet",
    "autobahn": "raw Autobahn",
    "socketio": "python-socketio",
    "socketio-uvloop": "python-socketio on uvloop",
    "socketnet-ref": "socketnet (--ref-tree)",
}
UNITS = {
    "request": "round trips",
    "request-enc": "round trips",
    "direct": "round trips",
    "fanout": "deliveries",
    "fanout-enc": "deliveries",
}

#: (workload, baseline, lowest acceptable socketnet ratio) for messages
#: per server CPU second.
THROUGHPUT_TARGETS = (("request", "autobahn", 0.8), ("request", "socketio", 2.0), ("fanout", "autobahn", 0.9))
IDLE_MEMORY_TARGET = 2.0
IDLE_SESSIONS_TARGET = 20_000


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """
    Add rates to a load generator's C{run} result: messages (round trips
    or deliveries) per second, server CPU microseconds per message, CPU
    cores used by the server and by the rest of the machine.
    """
    seconds = result["seconds"]
    messages = result["completions"] * result["per_completion"]
    result["messages"] = messages
    result["throughput"] = messages / seconds
    result["server_us_per_msg"] = 1e6 * result["server_cpu_s"] / messages if messages else None
    result["server_cores"] = result["server_cpu_s"] / seconds
    result["other_cores"] = result["other_cpu_s"] / seconds
    result["loadgen_cores"] = result["loadgen_cpu_s"] / seconds
    return result


def combine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    One row per (workload, server): with repeated runs, the run with the
    median server CPU per message, carrying every run's figure in
    C{us_runs}.  A pair whose runs all failed keeps a failed row.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["workload"], row["server"]), []).append(row)
    out = []
    for runs in groups.values():
        good = [r for r in runs if not r.get("failed") and r.get("server_us_per_msg") is not None]
        if runs[0]["workload"] == "idle" or not good:
            out.append(next((r for r in runs if not r.get("failed")), runs[0]))
            continue
        good.sort(key=lambda r: r["server_us_per_msg"])
        row = dict(good[(len(good) - 1) // 2])
        row["us_runs"] = [r["server_us_per_msg"] if r in good else None for r in runs]
        row["errors"] = sum(r.get("errors", 0) for r in good)
        row["failed_runs"] = len(runs) - len(good)
        out.append(row)
    return out


def _socketnet(rows: list[dict[str, Any]], workload: str) -> dict[str, Any] | None:
    for row in rows:
        if row["workload"] == workload and row["server"] == "socketnet" and not row.get("failed"):
            return row
    return None


def ratio(rows: list[dict[str, Any]], row: dict[str, Any]) -> float | None:
    """
    For a baseline's row: socketnet's messages per server CPU second
    divided by the baseline's (for C{idle}: socketnet's memory per
    connection divided by the baseline's).
    """
    ours = _socketnet(rows, row["workload"])
    if ours is None or row["server"] == "socketnet" or row.get("failed"):
        return None
    if row["workload"] == "idle":
        if ours.get("kib_per_conn") and row.get("kib_per_conn"):
            return ours["kib_per_conn"] / row["kib_per_conn"]
        return None
    if ours.get("server_us_per_msg") and row.get("server_us_per_msg"):
        return row["server_us_per_msg"] / ours["server_us_per_msg"]
    return None


def paired(rows: list[dict[str, Any]], row: dict[str, Any]) -> list[float]:
    """
    Round by round, the baseline's server CPU per message divided by
    socketnet's in the same round: how much the ratio moved between rounds.
    """
    ours = _socketnet(rows, row["workload"])
    if ours is None or row is ours:
        return []
    return [
        b / s
        for s, b in zip(ours.get("us_runs", []), row.get("us_runs", []))
        if s is not None and b is not None
    ]


def _f(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| workload | server | conns | throughput /s | p50 ms | p99 ms | server µs/msg "
        "| server CPU | other CPU (loadgen) | memory KiB/conn | socketnet ratio | errors |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        name = LABELS[row["server"]]
        if row.get("failed"):
            lines.append(f"| {row['workload']} | {name} | {row.get('connections', '—')} | failed (see below) |||||||||")
            continue
        r = ratio(rows, row)
        if row["workload"] == "idle":
            rtext = "" if r is None else f"{r:.2f}× memory"
            held = f"{row['held']}/{row['requested']}"
            lines.append(
                f"| idle | {name} | {held} | — | — | — | {_f(row.get('heartbeat_us_per_session_s'), '.1f')} µs/session·s "
                f"| {row['server_cores']:.2f} | {row['other_cores']:.2f} | {_f(row.get('kib_per_conn'), '.1f')} "
                f"| {rtext} | {row['failed_connects'] + row['closed_by_server']} |"
            )
            continue
        rtext = "" if r is None else f"{r:.2f}×"
        rounds = paired(rows, row)
        if len(rounds) > 1:
            rtext += f" ({min(rounds):.2f}–{max(rounds):.2f})"
        us = _f(row["server_us_per_msg"], ".1f")
        runs = [u for u in row.get("us_runs", []) if u is not None]
        if len(runs) > 1:
            us += f" ({min(runs):.0f}–{max(runs):.0f})"
        lines.append(
            f"| {row['workload']} | {name} | {row['connections']} | {row['throughput']:,.0f} {UNITS[row['workload']]} "
            f"| {_f(row['p50_ms'], '.2f')} | {_f(row['p99_ms'], '.2f')} | {us} "
            f"| {row['server_cores']:.2f} | {row['other_cores']:.2f} ({row['loadgen_cores']:.2f}) | — | {rtext} | {row['errors']} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> str:
    out = []
    for workload, baseline, least in THROUGHPUT_TARGETS:
        row = next((r for r in rows if r["workload"] == workload and r["server"] == baseline), None)
        r = None if row is None else ratio(rows, row)
        if r is None:
            out.append(f"- {workload}: ≥ {least} × {LABELS[baseline]} per server CPU second: not measured")
        else:
            verdict = "met" if r >= least else "MISSED"
            rounds = paired(rows, row)
            spread = f" (rounds: {', '.join(f'{x:.2f}' for x in rounds)})" if len(rounds) > 1 else ""
            out.append(f"- {workload}: ≥ {least} × {LABELS[baseline]} per server CPU second: {r:.2f}×{spread} — {verdict}")
    row = next((r for r in rows if r["workload"] == "idle" and r["server"] == "autobahn"), None)
    r = None if row is None else ratio(rows, row)
    if r is None:
        out.append(f"- idle: ≤ {IDLE_MEMORY_TARGET} × raw Autobahn memory per connection: not measured")
    else:
        verdict = "met" if r <= IDLE_MEMORY_TARGET else "MISSED"
        out.append(f"- idle: ≤ {IDLE_MEMORY_TARGET} × raw Autobahn memory per connection: {r:.2f}× — {verdict}")
    ours = _socketnet(rows, "idle")
    if ours is None:
        out.append(f"- idle: {IDLE_SESSIONS_TARGET:,} authorized sessions in one process: not measured")
    elif ours["requested"] < IDLE_SESSIONS_TARGET:
        out.append(
            f"- idle: {IDLE_SESSIONS_TARGET:,} authorized sessions in one process: not tried in this run "
            f"({ours['held']:,} of {ours['requested']:,} held; use --idle-connections {IDLE_SESSIONS_TARGET})"
        )
    else:
        verdict = "met" if ours["held"] >= IDLE_SESSIONS_TARGET else "MISSED"
        limit = ours.get("server_fd_limit")
        why = ""
        if verdict == "MISSED" and limit is not None and limit <= IDLE_SESSIONS_TARGET + 64:
            why = f" (the server process may open at most {limit:,} files here, listening socket and epoll included)"
        out.append(
            f"- idle: {IDLE_SESSIONS_TARGET:,} authorized sessions in one process: "
            f"{ours['held']:,} of {ours['requested']:,} held — {verdict}{why}"
        )
    return "\n".join(out)
