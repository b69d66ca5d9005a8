"""
The encryption tables and targets, as Markdown: encrypted ÷ plaintext
server CPU per message for C{request} and C{fanout}; handshakes per second
against one thread's RSA-4096 decrypts; the burst.
"""

from __future__ import annotations

from typing import Any

from ._encargs import ENCRYPTED

#: Issue 5: encrypted request at most this many times plaintext, per message.
REQUEST_COST_TARGET = 1.15
#: Issue 5: handshakes per second at least this share of one thread's RSA
#: decrypts per second, with the worst reactor pause under PAUSE_TARGET_MS.
HANDSHAKE_TARGET = 0.8
PAUSE_TARGET_MS = 5.0


def _row(rows: list[dict[str, Any]], workload: str) -> dict[str, Any] | None:
    for row in rows:
        if row["workload"] == workload and row["server"] == "socketnet" and not row.get("failed"):
            return row
    return None


def _f(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def cost_ratio(rows: list[dict[str, Any]], encrypted: str) -> tuple[float | None, list[float]]:
    """
    Encrypted ÷ plaintext socketnet server CPU per message: the ratio of
    the medians, and the ratio in each round.
    """
    enc, plain = _row(rows, encrypted), _row(rows, ENCRYPTED[encrypted])
    if enc is None or plain is None or not enc.get("server_us_per_msg") or not plain.get("server_us_per_msg"):
        return None, []
    rounds = [e / p for e, p in zip(enc.get("us_runs", []), plain.get("us_runs", [])) if e and p]
    return enc["server_us_per_msg"] / plain["server_us_per_msg"], rounds


def cost_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | plaintext µs/msg | encrypted µs/msg | encrypted ÷ plaintext (rounds) "
        "| plaintext /s | encrypted /s | p50 ms plain → enc | p99 ms plain → enc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for encrypted, base in ENCRYPTED.items():
        enc, plain = _row(rows, encrypted), _row(rows, base)
        if enc is None and plain is None:
            continue
        r, rounds = cost_ratio(rows, encrypted)
        spread = f" ({', '.join(f'{x:.2f}' for x in rounds)})" if len(rounds) > 1 else ""

        def get(row: dict[str, Any] | None, key: str, spec: str) -> str:
            return "—" if row is None else _f(row.get(key), spec)

        lines.append(
            f"| {base} | {get(plain, 'server_us_per_msg', '.1f')} | {get(enc, 'server_us_per_msg', '.1f')} "
            f"| {_f(r, '.2f')}×{spread} | {get(plain, 'throughput', ',.0f')} | {get(enc, 'throughput', ',.0f')} "
            f"| {get(plain, 'p50_ms', '.2f')} → {get(enc, 'p50_ms', '.2f')} "
            f"| {get(plain, 'p99_ms', '.2f')} → {get(enc, 'p99_ms', '.2f')} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def handshake_median(rows: list[dict[str, Any]], server: str = "socketnet") -> dict[str, Any] | None:
    rounds = [r for r in rows if r["workload"] == "handshake" and r["server"] == server and not r.get("failed")]
    good = sorted(rounds, key=lambda r: r["ratio"])
    if not good:
        return None
    row = dict(good[(len(good) - 1) // 2])
    row["ratio_runs"] = [r["ratio"] for r in good]
    row["worst_pause_runs"] = [r["pauses"]["max_ms"] for r in rounds]
    return row


def handshake_table(row: dict[str, Any]) -> str:
    p = row["pauses"]
    cpu = (f"{row['server_cores']:.2f} ({row['reactor_cores']:.2f} reactor + {row['pool_cores']:.2f} RSA pool)")
    us = (f"{_f(row['server_us_per_handshake'], ',.0f')} ({_f(row['reactor_us_per_handshake'], ',.0f')} + "
          f"{_f(row['pool_us_per_handshake'], ',.0f')})")
    runs = row.get("ratio_runs", [])
    spread = f" ({', '.join(f'{x:.2f}' for x in runs)})" if len(runs) > 1 else ""
    pauses = row.get("worst_pause_runs", [])
    worst = f"; rounds' worst {', '.join(f'{x:.1f}' for x in pauses)}" if len(pauses) > 1 else ""
    return "\n".join([
        "| in flight | handshakes/s | session p50 / p99 ms | RSA decrypts/s, one thread (before / after) "
        "| handshakes ÷ RSA decrypts | server CPU cores | server µs/handshake (reactor + pool) "
        "| RSA µs/decrypt | worst reactor pause ms (p99) | ticks late > 5 ms | other CPU (loadgen) | refused, errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {row['concurrency']} | {row['throughput']:,.0f} | {_f(row['p50_ms'], '.1f')} / {_f(row['p99_ms'], '.1f')} "
        f"| {row['rsa_per_second']:,.0f} ({row['rsa_before']['per_second']:,.0f} / {row['rsa_after']['per_second']:,.0f}) "
        f"| {row['ratio']:.2f}×{spread} | {cpu} | {us} | {row['rsa_us_per_decrypt']:,.0f} "
        f"| {_f(p['max_ms'], '.2f')} ({_f(p['p99_ms'], '.2f')}){worst} | {p['over_ms']['5']} of {p['ticks']:,} "
        f"| {row['other_cores']:.2f} ({row['loadgen_cores']:.2f}) "
        f"| {_refused(row['outcomes'])}, {row['errors']} |",
    ])


def pause_note(pauses: dict[str, Any]) -> str:
    """
    Where the worst reactor pauses went, from the reactor thread's
    schedstat: running, waiting for a CPU, or neither (asleep: waiting for
    the GIL, or in epoll).
    """
    parts = [
        f"{w['late_ms']:.1f} ms late (of a {w['gap_ms']:.1f} ms gap the reactor thread ran {w['ran_ms']:.1f}, "
        f"waited {w['cpu_wait_ms']:.1f} for a CPU, slept {max(0.0, w['gap_ms'] - w['ran_ms'] - w['cpu_wait_ms']):.1f})"
        for w in pauses.get("worst", [])[:3]
    ]
    gc = pauses.get("gc", {})
    collections = ", ".join(
        f"generation {g}: {v['collections']} taking {v['total_ms']:.0f} ms, longest {v['max_ms']:.1f} ms"
        for g, v in gc.items()
    )
    text = "Worst reactor ticks: " + "; ".join(parts) + "." if parts else ""
    return text + (f" Garbage collections meanwhile: {collections}." if collections else "")


def _refused(outcomes: dict[str, int]) -> str:
    return (f"{outcomes.get('refused-decrypt-cap', 0)} cap / {outcomes.get('refused-rate-limit', 0)} rate")


def burst_table(row: dict[str, Any]) -> str:
    p, s = row["pauses"], row["steady"]
    b, d = s["before"], s["during"]
    other = {k: v for k, v in row["outcomes"].items() if k not in ("refused-decrypt-cap", "refused-rate-limit")}
    return "\n".join([
        "| sessions | opened | refused 1013: decrypt cap / rate limit | other failures | burst took s (median session s) "
        "| steady requests before: p50 / max ms | during: requests, p50 / max ms "
        "| worst reactor pause ms (p99) | ticks late > 5 ms | server CPU cores (reactor + pool) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {row['count']} | {row['opened']} | {row['outcomes'].get('refused-decrypt-cap', 0)} / "
        f"{row['outcomes'].get('refused-rate-limit', 0)} | {', '.join(f'{k} {v}' for k, v in other.items()) or 0} "
        f"| {row['last_s']:.2f} ({_f(row['p50_s'], '.2f')}) "
        f"| {_f(b['p50_ms'], '.2f')} / {_f(b['max_ms'], '.2f')} "
        f"| {d['count']:,}, {_f(d['p50_ms'], '.2f')} / {_f(d['max_ms'], '.2f')} "
        f"| {_f(p['max_ms'], '.2f')} ({_f(p['p99_ms'], '.2f')}) | {p['over_ms']['5']} of {p['ticks']:,} "
        f"| {row['reactor_cores'] + row['pool_cores']:.2f} ({row['reactor_cores']:.2f} + {row['pool_cores']:.2f}) |",
    ])


def tables(rows: list[dict[str, Any]]) -> str:
    out = []
    cost = cost_table(rows)
    if cost:
        out += ["Encryption: socketnet server CPU per message, encrypted ÷ plaintext", "", cost, ""]
    for server in ("socketnet", "socketnet-ref"):
        on = "" if server == "socketnet" else f" ({server})"
        hs = handshake_median(rows, server)
        if hs is not None:
            out += [f"Encryption: new encrypted sessions (connect, handshake, auth, close){on}", "",
                    handshake_table(hs), "", pause_note(hs["pauses"]), ""]
            if hs.get("hit_max_sessions"):
                out += ["(the run reached the load generator's session bound before its window ended)", ""]
        burst = next((r for r in rows if r["workload"] == "burst" and r["server"] == server and not r.get("failed")),
                     None)
        if burst is not None:
            limit = "raised for the benchmark" if burst["handshake_limit"] == "raised" else "library defaults"
            out += [f"Encryption: burst of {burst['count']} handshakes during a closed request loop "
                    f"(per-address handshake limit: {limit}){on}", "", burst_table(burst), "",
                    pause_note(burst["pauses"]), ""]
    for row in rows:
        if row["workload"] in ("handshake", "burst") and row.get("failed"):
            out.append(f"{row['workload']} on {row['server']}: failed: {row['failed']}")
    return "\n".join(out).rstrip()


def targets(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    r, rounds = cost_ratio(rows, "request-enc")
    if r is None:
        out.append(f"- request-enc: ≤ {REQUEST_COST_TARGET} × plaintext server CPU per message: not measured")
    else:
        spread = f" (rounds: {', '.join(f'{x:.2f}' for x in rounds)})" if len(rounds) > 1 else ""
        verdict = "met" if r <= REQUEST_COST_TARGET else "MISSED"
        out.append(f"- request-enc: ≤ {REQUEST_COST_TARGET} × plaintext server CPU per message: {r:.2f}×{spread} — {verdict}")
    hs = handshake_median(rows)
    if hs is None:
        out.append(f"- handshake: ≥ {HANDSHAKE_TARGET} × one thread's RSA-4096 decrypts/s, "
                   f"worst reactor pause < {PAUSE_TARGET_MS:g} ms: not measured")
    else:
        rate_ok = hs["ratio"] >= HANDSHAKE_TARGET
        pause = max(hs["worst_pause_runs"])
        pause_ok = pause < PAUSE_TARGET_MS
        out.append(
            f"- handshake: ≥ {HANDSHAKE_TARGET} × one thread's RSA-4096 decrypts/s: {hs['ratio']:.2f}× "
            f"({hs['throughput']:,.0f} handshakes/s, {hs['rsa_per_second']:,.0f} decrypts/s) — "
            f"{'met' if rate_ok else 'MISSED'}; worst reactor pause < {PAUSE_TARGET_MS:g} ms: {pause:.2f} ms "
            f"(worst of {len(hs['worst_pause_runs'])} rounds) — {'met' if pause_ok else 'MISSED'}"
        )
    return out
