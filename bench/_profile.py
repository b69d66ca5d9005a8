"""
Summaries of the server profiles taken with C{--profile}: py-spy's raw
(collapsed) stacks, or cProfile stats.

    python -m bench._profile FILE [--top N]
"""

from __future__ import annotations

import argparse
import pstats
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def _where(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip(), "?"
    path = m.group("file")
    for marker in ("site-packages/", "/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return m.group("func"), path


def _package(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else path


def collapsed(path: Path, top: int) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_where(f) for f in stack.split(";") if f]
        if not frames:
            continue
        func, file = frames[-1]
        self_time[f"{file}:{func}"] += n
        packages[_package(file)] += n
        for name in {f"{file}:{fn}" for fn, file in frames}:
            inclusive[name] += n
    if not total:
        return f"{path}: no samples"
    out = [f"{path.name}: {total} samples", "", "self time by package:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common(top)]
    out += ["", "self time by function:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    out += ["", "inclusive time by function:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def cprofile(path: Path, top: int) -> str:
    import io

    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._profile")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        print(cprofile(path, args.top) if path.suffix == ".prof" else collapsed(path, args.top))
        print()


if __name__ == "__main__":
    main()
