"""Benchmarks of many steps in flight at once: replay throughput and memory per open step.

The stream replay benchmark keeps about 50 steps in flight; a busy service following many
runs keeps thousands open. Two figures show what that costs:

* replay: `validate_file` (collect mode, the ``steplife validate`` path) on `gen_stream`'s
  1,000,000-event, 200,000-step stream with up to 20,000 (and, for information, 100,000)
  steps in flight, as a share of `baselines.floor_validate` on the same file;
* memory: what a ``Tracker(keep_finished=False)`` holds per open step (tracemalloc growth
  over N step-created events, divided by N), the parsed payload it keeps included, since a
  replay parses it for the Tracker and the Tracker keeps it.

Run ``python -m benchmarks.in_flight [--quick]`` for these benchmarks alone.
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

from benchmarks import gen_stream
from benchmarks.stream import EVENTS, SEED, STEPS, print_sections, steplife_and_floor, stream_file
from steplife import Tracker, read_events

IN_FLIGHT = 20_000  # the target's shape
WIDE_IN_FLIGHT = 100_000  # informational: the same stream, five times as many open
OPEN_STEPS = 20_000  # step-created events fed to the Tracker in the memory benchmark

_CREATED = b'{"event":"thread.run.step.created"'
_ENDED = tuple(b'{"event":"thread.run.step.' + end.encode() for end in gen_stream._TERMINALS)


def in_flight_stream_file(live: int, events: int = EVENTS, steps: int = STEPS) -> Path:
    """The stream replay benchmark's stream with up to `live` steps in flight (cached)."""
    return stream_file(events, steps, live=live)


def in_flight_profile(path: Path) -> tuple[int, float]:
    """Most and mean steps in flight over the events of a `gen_stream` file.

    Read off each line's prefix (`gen_stream` writes ``event`` first, without spaces),
    so a profile of a million lines costs a fraction of a second.
    """
    open_now = most = total = lines = 0
    with path.open("rb") as stream:
        for line in stream:
            lines += 1
            if line.startswith(_CREATED):
                open_now += 1
                most = max(most, open_now)
            elif line.startswith(_ENDED):
                open_now -= 1
            total += open_now
    return most, total / max(lines, 1)


def replay_in_flight(path: Path) -> dict[str, float]:
    """Events/s of `validate_file` and of the floor on `path`, and steplife's share of it.

    Timed in CPU time of this process, as `runs.follow_cost` is: these replays take
    a minute at 100,000 in flight, long enough for other processes to take turns on
    the cores, and waiting for a core is not the replay's cost.
    """
    most, mean = in_flight_profile(path)
    report, ours, floor = steplife_and_floor(path, time.process_time)
    return {
        "events": report.events,
        "steps": sum(report.statuses.values()) + report.dangling,
        "most_in_flight": most,
        "mean_in_flight": mean,
        "errors_found": sum(1 for f in report.findings if f.is_error),
        "steplife_events_per_s": ours,
        "floor_events_per_s": floor,
        "share_of_floor": ours / floor,
    }


def created_lines(count: int, seed: int = SEED) -> list[bytes]:
    """JSONL lines of `count` step-created events (with their mix of step shapes).

    Taken from a `gen_stream` stream that opens every step before ending any, so no
    two of them name the same step.
    """
    events = gen_stream.generate(5 * count, count, seed, live=count)
    return [
        orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        for event in events
        if event["event"] == "thread.run.step.created"
    ]


def open_step_memory(count: int = OPEN_STEPS) -> dict[str, float]:
    """Bytes a ``Tracker(keep_finished=False)`` holds per open step, after `count` created.

    The events are read from bytes already in memory, so only what the read leaves
    behind (the parsed payloads the Tracker keeps) and the Tracker's own records count.
    """
    lines = created_lines(count)
    source = io.BytesIO(b"".join(lines))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracker = Tracker(keep_finished=False)
        tracker.consume(read_events(source, "created.jsonl"))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    open_steps = len(tracker.live_ids)
    if open_steps != count or not tracker.valid:
        raise RuntimeError(f"{open_steps} of {count} steps open, findings {tracker.findings[:3]}")
    return {
        "open_steps": open_steps,
        "json_bytes_per_event": sum(map(len, lines)) / count,
        "bytes_per_open_step": grown / open_steps,
    }


def main(argv: list[str] | None = None) -> int:
    """Print these benchmarks' figures (``--quick``: without 100,000 in flight)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="skip 100,000 steps in flight")
    args = parser.parse_args(argv)
    sections = {
        f"replay, {IN_FLIGHT:,} in flight": replay_in_flight(in_flight_stream_file(IN_FLIGHT)),
        "memory per open step": open_step_memory(),
    }
    if not args.quick:
        wide = in_flight_stream_file(WIDE_IN_FLIGHT)
        sections[f"replay, {WIDE_IN_FLIGHT:,} in flight"] = replay_in_flight(wide)
    print_sections(sections.items())
    return 0


if __name__ == "__main__":
    sys.exit(main())
