"""
What every benchmark server process shares: its command line, the file
descriptor limit, quiet logging, the C{READY <port>} line the launcher
waits for, and an optional cProfile of the measured window.

With C{--cprofile PATH}, SIGUSR1 starts the profiler and SIGUSR2 stops it
and writes its stats to C{PATH}; the launcher sends them when the load
generator reports the start and end of its window.  With C{--tracemalloc
PATH}, SIGUSR1 starts tracing allocations and SIGUSR2 writes the ones
still alive, grouped by where they were made (for C{idle}: memory per
session, by source line).
"""

from __future__ import annotations

import argparse
import resource
import signal
import sys
from typing import Any

WORKLOADS = ("request", "direct", "fanout", "idle", "handshake", "burst")


def parse(prog: str, argv: list[str] | None = None, extra: Any = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workload", choices=WORKLOADS, required=True)
    parser.add_argument("--cprofile", metavar="PATH", help="profile between SIGUSR1 and SIGUSR2")
    parser.add_argument("--tracemalloc", metavar="PATH",
                        help="trace allocations from SIGUSR1; at SIGUSR2 write what is still allocated")
    if extra is not None:
        extra(parser)
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ready(port: int) -> None:
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()


def quiet_twisted_logging() -> None:
    """
    Twisted log events at warn and above go to stderr.  Without a
    beginning, Twisted would buffer every event in memory.
    """
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    observer = FilteringLogObserver(
        textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(LogLevel.warn)]
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def install_profiler(args: argparse.Namespace) -> None:
    """
    Install the SIGUSR1/SIGUSR2 handlers that C{--cprofile} or
    C{--tracemalloc} ask for.
    """
    if args.tracemalloc:
        _install_tracemalloc(args.tracemalloc)
    if not args.cprofile:
        return
    path = args.cprofile
    import cProfile

    profiler = cProfile.Profile()

    def start(signum: int, frame: Any) -> None:
        profiler.enable()

    def stop(signum: int, frame: Any) -> None:
        profiler.disable()
        profiler.dump_stats(path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


def _install_tracemalloc(path: str) -> None:
    import tracemalloc

    def start(signum: int, frame: Any) -> None:
        tracemalloc.start(8)

    def stop(signum: int, frame: Any) -> None:
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        total = sum(s.size for s in snapshot.statistics("filename"))
        with open(path, "w") as out:
            out.write(f"{total} bytes still allocated since SIGUSR1\n\nby line:\n")
            for stat in snapshot.statistics("lineno")[:40]:
                out.write(f"{stat.size:>12,} B {stat.count:>9,} blocks  {stat.traceback.format()[-1].strip()}\n")
            out.write("\nby file:\n")
            for stat in snapshot.statistics("filename")[:25]:
                out.write(f"{stat.size:>12,} B {stat.count:>9,} blocks  {stat.traceback[0].filename}\n")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
