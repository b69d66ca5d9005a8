"""
Child processes: the servers under test and the load generators.

Every child is a Python process of its own, started with this
interpreter and the project root as working directory, and ended by its
PID (SIGTERM, then SIGKILL) by L{Children.stop_all} in a C{finally}.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The server module and arguments of each server kind.
SERVERS = {
    "socketnet": ("bench.server_socketnet", []),
    "autobahn": ("bench.server_autobahn", []),
    "socketio": ("bench.server_socketio", []),
    "socketio-uvloop": ("bench.server_socketio", ["--uvloop"]),
    # socketnet as another checkout has it (--ref-tree), for a before/after
    # comparison in one run.
    "socketnet-ref": ("bench.server_socketnet", []),
}

#: The load generator's dialect of each server kind.
DIALECT = {"socketio-uvloop": "socketio", "socketnet-ref": "socketnet"}

#: The server kinds that are socketnet.
SOCKETNET_KINDS = ("socketnet", "socketnet-ref")


class ChildFailed(Exception):
    pass


class Child:
    """
    A running child whose stdout is read line by line with a deadline.
    """

    def __init__(self, name: str, argv: list[str], log_dir: Path, cwd: Path = ROOT):
        self.name = name
        self.log_path = log_dir / f"{name}.stderr"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.pid = self.process.pid
        self._buffer = b""

    def read_line(self, timeout: float) -> str:
        """
        The next line of the child's stdout.

        @raise ChildFailed: if none comes within C{timeout} seconds or the
            child exits first.
        """
        deadline = time.monotonic() + timeout
        out = self.process.stdout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"{self.name}: no output within {timeout:.0f} s{self.tail()}")
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                chunk = os.read(out.fileno(), 65536)
                if not chunk:
                    self.process.wait(5)
                    raise ChildFailed(f"{self.name} exited with {self.process.returncode}{self.tail()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def read_event(self, timeout: float) -> dict[str, Any]:
        line = self.read_line(timeout)
        try:
            return json.loads(line)
        except ValueError:
            raise ChildFailed(f"{self.name} printed {line[:200]!r}{self.tail()}") from None

    def tell(self, line: str) -> None:
        try:
            self.process.stdin.write(line.encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signum)

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return ("\n  stderr of " + self.name + ":\n  " + "\n  ".join(text)) if text else ""

    def stop(self, timeout: float = 5.0) -> None:
        """
        End the child by its PID: SIGTERM, then SIGKILL after C{timeout}.
        """
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout)
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        self._log.close()


class Children:
    """
    Every child started for one benchmark run, so that all of them end.
    """

    def __init__(self, log_dir: Path, ref_tree: Path | None = None):
        """
        @param ref_tree: the checkout the C{socketnet-ref} server runs from
            (its own C{socketnet} package and C{bench/server_socketnet.py}).
        """
        self.log_dir = log_dir
        self.ref_tree = ref_tree
        self._children: list[Child] = []
        self._count = 0

    def start(self, name: str, module: str, args: list[str], cwd: Path = ROOT) -> Child:
        self._count += 1
        child = Child(f"{self._count:02d}-{name}", [sys.executable, "-m", module, *args], self.log_dir, cwd)
        self._children.append(child)
        return child

    def server(self, kind: str, workload: str, args: list[str], timeout: float = 30.0) -> tuple[Child, int]:
        """
        Start the server of C{kind} for C{workload}; return it and its
        port once it prints C{READY <port>}.
        """
        module, extra = SERVERS[kind]
        cwd = ROOT
        if kind == "socketnet-ref":
            if self.ref_tree is None:
                raise ChildFailed("the socketnet-ref server needs --ref-tree")
            cwd = self.ref_tree
        child = self.start(f"{kind}-{workload}", module, ["--workload", workload, *extra, *args], cwd)
        line = child.read_line(timeout)
        if not line.startswith("READY "):
            raise ChildFailed(f"{child.name} printed {line!r}{child.tail()}")
        return child, int(line.split()[1])

    def stop(self, child: Child) -> None:
        child.stop()
        self._children.remove(child)

    def stop_all(self) -> None:
        while self._children:
            self._children.pop().stop()
