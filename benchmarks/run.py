"""Run every benchmark and write the figures to a Markdown file.

Usage: ``python -m benchmarks.run [--write docs/benchmarks.md] [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import core, stream

TARGETS = {
    "attach at 10 live steps": ("ratio", "<= 1.5"),
    "attach at 100,000 live steps": ("ratio", "<= 1.5"),
    "memory per live step": ("ratio", "<= 1.25"),
    "transition": ("ratio_vs_bare", "<= 1.5"),
    "JSON round trip": ("speedup", ">= 1.3"),
    "stream replay": ("share_of_floor", ">= 0.20"),
    "store ingest (SQLite)": ("share_of_floor", ">= 0.50"),
}


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def _met(value: float, target: str) -> str:
    op, bound = target.split()
    ok = value <= float(bound) if op == "<=" else value >= float(bound)
    return "met" if ok else "**not met**"


def _sections(quick: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    path = stream.stream_file()
    yield from core.run_all(str(path))
    yield "stream replay", stream.replay_rates(path)
    if not quick:
        yield "stream replay memory", stream.replay_memory()
    try:
        from benchmarks import bench_store
    except ImportError:
        return
    yield from bench_store.run(str(path)).items()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", metavar="PATH")
    parser.add_argument("--quick", action="store_true", help="skip the slow memory runs")
    args = parser.parse_args(argv)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run --write docs/benchmarks.md`).",
        "Every target is a ratio to a baseline measured in the same run on the same machine.",
        "",
        f"- machine: {_machine()}",
        f"- date: {datetime.date.today().isoformat()}",
        "",
        "| benchmark | measure | value | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for name, figures in _sections(args.quick):
        print(name, figures, file=sys.stderr)
        key, target = TARGETS.get(name, (None, ""))
        for measure, value in figures.items():
            is_target = measure == key
            verdict = _met(value, target) if is_target else ""
            shown_target = target if is_target else ""
            lines.append(f"| {name} | {measure} | {_fmt(value)} | {shown_target} | {verdict} |")
    text = "\n".join(lines) + "\n"
    if args.write:
        Path(args.write).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
