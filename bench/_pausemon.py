"""
Inside a benchmark server: how long the reactor stalls.

L{PauseMonitor} schedules a timer every millisecond and records how late
each one fires: the time the reactor spent on other work (or waiting for
the GIL, or for a CPU) before it got back to its timers.  The worst
lateness is the worst reactor pause.  An idle reactor fires it about
0.1 ms late (epoll's millisecond timeout).

At every tick it also reads the reactor thread's C{schedstat} (Linux):
for the worst ticks the report says how much of the gap since the tick
before the thread spent running and how much waiting for a CPU; the rest
it slept (in epoll, or waiting for the GIL).  A read costs about 1 µs.
It also times Python's cyclic garbage collections (C{gc.callbacks}), which
stop the reactor thread while they run.

The launcher steers it through the server's stdin, one command a line,
and reads the answer from its stdout as one JSON line:

    mark     forget what was recorded      -> {"event": "marked"}
    report   what was recorded since mark  -> {"event": "pauses", ...}
"""

from __future__ import annotations

import gc
import json
import os
import sys
from time import perf_counter
from typing import Any

from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer

#: Lateness thresholds counted in the report, in milliseconds.
THRESHOLDS_MS = (1, 2, 5, 10, 50)


class PauseMonitor:
    def __init__(self, reactor: Any, interval: float = 0.001):
        self._reactor = reactor
        self._interval = interval
        self._due = 0.0
        self._call: Any = None
        self._last = (0.0, 0, 0)
        try:
            self._schedstat: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:  # not Linux: no breakdown
            self._schedstat = None
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)
        self.mark()

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        now = perf_counter()
        if phase == "start":
            self._gc_started = now
            return
        stats = self._gc_stats.setdefault(str(info["generation"]), [0, 0.0, 0.0])
        took = now - self._gc_started
        stats[0] += 1
        stats[1] += took
        stats[2] = max(stats[2], took)

    def _sched(self) -> tuple[int, int]:
        """
        Nanoseconds the calling thread has run, and waited for a CPU.
        """
        if self._schedstat is None:
            return 0, 0
        ran, waited = os.pread(self._schedstat, 100, 0).split()[:2]
        return int(ran), int(waited)

    def start(self) -> None:
        now = perf_counter()
        self._due = now + self._interval
        self._last = (now, *self._sched())
        self._call = self._reactor.callLater(self._interval, self._tick)

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _tick(self) -> None:
        now = perf_counter()
        ran, waited = self._sched()
        late = now - self._due
        self._late.append(late)
        if late > self._worst_floor:
            then, ran0, waited0 = self._last
            self._worst.append((late, now - then, (ran - ran0) / 1e9, (waited - waited0) / 1e9))
            self._worst.sort(reverse=True)
            del self._worst[5:]
            self._worst_floor = self._worst[-1][0] if len(self._worst) == 5 else 0.0
        self._last = (now, ran, waited)
        self._due = now + self._interval
        self._call = self._reactor.callLater(self._interval, self._tick)

    def mark(self) -> None:
        self._late: list[float] = []
        #: The five latest ticks: (lateness, gap, ran, waited for a CPU).
        self._worst: list[tuple[float, float, float, float]] = []
        self._worst_floor = 0.0
        #: generation -> [collections, seconds, longest]
        self._gc_stats: dict[str, list[float]] = {}
        self._since = perf_counter()

    def report(self) -> dict[str, Any]:
        late = sorted(self._late)
        n = len(late)
        ms = [1000 * x for x in late]
        return {
            "event": "pauses",
            "seconds": perf_counter() - self._since,
            "ticks": n,
            "interval_ms": 1000 * self._interval,
            "max_ms": ms[-1] if n else None,
            "p50_ms": ms[n // 2] if n else None,
            "p99_ms": ms[min(n - 1, int(0.99 * n))] if n else None,
            "p999_ms": ms[min(n - 1, int(0.999 * n))] if n else None,
            "over_ms": {str(t): sum(1 for x in ms if x > t) for t in THRESHOLDS_MS},
            "gc": {
                generation: {"collections": n, "total_ms": 1000 * total, "max_ms": 1000 * longest}
                for generation, (n, total, longest) in sorted(self._gc_stats.items())
            },
            "worst": [
                {"late_ms": 1000 * late, "gap_ms": 1000 * gap, "ran_ms": 1000 * ran, "cpu_wait_ms": 1000 * waited}
                for late, gap, ran, waited in self._worst
            ],
        }


@implementer(IReadDescriptor)
class Commands:
    """
    Lines from stdin, given to L{PauseMonitor}; answers on stdout.
    """

    def __init__(self, reactor: Any, monitor: PauseMonitor):
        self._reactor = reactor
        self._monitor = monitor
        self._buffer = b""

    def start(self) -> None:
        self._reactor.addReader(self)

    def fileno(self) -> int:
        return 0

    def logPrefix(self) -> str:
        return "bench-commands"

    def doRead(self) -> None:
        data = os.read(0, 4096)
        if not data:
            self._reactor.removeReader(self)
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            self._command(line.decode().strip())

    def _command(self, command: str) -> None:
        if command == "mark":
            self._monitor.mark()
            answer: dict[str, Any] = {"event": "marked"}
        elif command == "report":
            answer = self._monitor.report()
        else:
            answer = {"event": "error", "error": f"unknown command {command!r}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    def connectionLost(self, reason: Any) -> None:
        pass


def install(reactor: Any) -> PauseMonitor:
    """
    Start a monitor and its command reader once the reactor runs.
    """
    monitor = PauseMonitor(reactor)
    commands = Commands(reactor, monitor)
    reactor.callWhenRunning(monitor.start)
    reactor.callWhenRunning(commands.start)
    return monitor
