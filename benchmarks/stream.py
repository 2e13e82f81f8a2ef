"""Benchmarks of stream replay: the Tracker against the floor and the SDK peer.

The stream is `gen_stream`'s reproducible 1,000,000 events over 200,000 steps
(written once to benchmarks/data/, which is ignored by git).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from pathlib import Path

from benchmarks import gen_stream
from benchmarks.baselines import floor_validate, sdk_peer
from steplife._validate import FileReport, validate_file

DATA = Path(__file__).parent / "data"
EVENTS, STEPS, SEED = 1_000_000, 200_000, 0
PEER_SLICE = 20_000


def stream_file(
    events: int = EVENTS,
    steps: int = STEPS,
    *,
    runs: bool = False,
    live: int = gen_stream.LIVE,
    non_step_share: float = gen_stream.NON_STEP_SHARE,
) -> Path:
    """The benchmark stream's path, generated on first use.

    `runs`, `live` and `non_step_share` shape it as in `gen_stream.generate`; a shape
    other than the default is named in the file name, so each shape is cached apart.
    """
    DATA.mkdir(exist_ok=True)
    shape = "-runs" if runs else ""
    if live != gen_stream.LIVE:
        shape += f"-live{live}"
    if non_step_share != gen_stream.NON_STEP_SHARE:
        shape += f"-other{non_step_share}"
    path = DATA / f"stream{shape}-{events}-{steps}-{SEED}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        gen_stream.write(
            partial, events, steps, SEED, runs=runs, live=live, non_step_share=non_step_share
        )
        partial.rename(path)
    return path


def _rate(events: int, seconds: float) -> float:
    return events / seconds


def steplife_and_floor(
    path: Path, clock: Callable[[], float] = time.perf_counter
) -> tuple[FileReport, float, float]:
    """`validate_file` (collect mode) and the floor on `path`: the report and both rates.

    Each run starts from a collected heap; `clock` times them (wall or CPU time).
    """
    gc.collect()
    start = clock()
    report = validate_file(str(path))
    ours = _rate(report.events, clock() - start)
    gc.collect()
    start = clock()
    with path.open("rb") as lines:
        floor_events = floor_validate(lines)
    return report, ours, _rate(floor_events, clock() - start)


def print_sections(sections: Iterable[tuple[str, Mapping[str, float]]]) -> None:
    """Print each section's title, then its figures, one per line."""
    for title, figures in sections:
        print(title)
        for measure, value in figures.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
            print(f"{measure:>30}: {shown}")


def replay_rates(path: Path) -> dict[str, float]:
    """Events per second of steplife (collect mode), the floor and the SDK peer."""
    report, ours, floor = steplife_and_floor(path)
    errors = sum(1 for f in report.findings if f.is_error)

    with path.open("rb") as lines:
        head = list(islice(lines, PEER_SLICE))
    start = time.perf_counter()
    peer_events = sdk_peer(head)
    peer = _rate(peer_events, time.perf_counter() - start)
    return {
        "events": report.events,
        "steps": sum(report.statuses.values()) + report.dangling,
        "errors_found": errors,
        "steplife_events_per_s": ours,
        "floor_events_per_s": floor,
        "sdk_peer_events_per_s": peer,
        "share_of_floor": ours / floor,
        "speedup_vs_peer": ours / peer,
    }


# VmHWM, not ru_maxrss: Linux carries the forking parent's peak over into a child's
# ru_maxrss across exec, which would measure the benchmark runner instead.
_RSS_SCRIPT = """
import sys
from steplife._validate import FileReport, validate_file
report = validate_file(sys.argv[1])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(report.events, peak)
"""


def _peak_rss_kib(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def replay_memory() -> dict[str, float]:
    """Peak RSS of a replay of 100k, 1M and 2M events (same ~50 live steps at a time)."""
    figures: dict[str, float] = {}
    for events in (100_000, 1_000_000, 2_000_000):
        path = stream_file(events, events // 5)
        count, kib = _peak_rss_kib(path)
        figures[f"peak_rss_mib_{count // 1000}k_events"] = kib / 1024
    return figures
