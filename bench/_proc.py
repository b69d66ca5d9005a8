"""
Readings from C{/proc}: a process's CPU time and resident memory, and the
whole machine's CPU time.  Linux only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Clock ticks per second of the C{/proc} CPU counters (USER_HZ).
HZ = os.sysconf("SC_CLK_TCK")


def process_ticks(pid: int | str = "self") -> int:
    """
    CPU time (user + system) that process C{pid} has used, in clock ticks,
    all of its threads included.
    """
    with open(f"/proc/{pid}/stat", "rb") as f:
        text = f.read()
    # The command name may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def thread_ticks(pid: int) -> tuple[int, int]:
    """
    C{(main, others)}: CPU time in clock ticks of process C{pid}'s main
    thread (a Twisted server's reactor thread) and of all its other threads
    together (socketnet's RSA pool), for threads alive now.
    """
    main = others = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            ticks = process_ticks(f"{pid}/task/{tid}")
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        if int(tid) == pid:
            main = ticks
        else:
            others += ticks
    return main, others


def machine_ticks() -> tuple[int, int]:
    """
    C{(busy, total)} clock ticks of all CPUs together since boot; idle and
    iowait count as not busy.
    """
    with open("/proc/stat", "rb") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    total = sum(values)
    return total - values[3] - values[4], total


def rss_kib(pid: int) -> int:
    """
    Resident memory of process C{pid} (C{VmRSS}), in KiB.
    """
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Snapshot:
    """
    CPU counters at one instant: the server's, this process's and the
    machine's.
    """

    server: int
    own: int
    busy: int
    total: int

    @classmethod
    def take(cls, server_pid: int) -> "Snapshot":
        busy, total = machine_ticks()
        return cls(process_ticks(server_pid), process_ticks(), busy, total)


def cpu_window(start: Snapshot, end: Snapshot, seconds: float) -> dict[str, float]:
    """
    CPU use between two snapshots, in CPU-seconds: the server's, the load
    generator's (this process), and the rest of the machine (everything
    busy that was not the server, the load generator included).
    """
    server = (end.server - start.server) / HZ
    own = (end.own - start.own) / HZ
    busy = (end.busy - start.busy) / HZ
    return {
        "seconds": seconds,
        "server_cpu_s": server,
        "loadgen_cpu_s": own,
        "other_cpu_s": max(busy - server, 0.0),
    }


def fd_limit(pid: int) -> int | None:
    """
    The hard limit on open files of process C{pid} (C{RLIMIT_NOFILE}).
    """
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                value = line.split()[4]
                return None if value == "unlimited" else int(value)
    return None
