"""What following run events costs a replay: ``Tracker()`` against ``follow_runs=False``.

The stream is `gen_stream`'s run-lifecycle mode (``runs=True``): the stream replay
benchmark's 200,000 steps, planned the same way (same steps per run, about the same
deltas per step), with every run's own events in place of the random ``thread.run.*``
ones: created, queued, in_progress before its first step, a ``requires_action`` round
trip for each function-call step that completes, and completed after its last step.
Those come to about 23 % of the 1,300,000 events, several times the share in a real
capture (where message deltas dominate), so the cost measured here is a high estimate.
The realistic stream (`realistic_stream_file`) is the same mode with message events as
common as in the real captures (``non_step_share`` 0.69): 600,000 events over 29,000
steps, about 7 % of them run events, as in the captures (7.3 % of their events by name).

Both trackers read the file as ``steplife validate`` does (`validate_file`: `open_input`,
`read_events`, a ``keep_finished=False`` Tracker, `finish`); the baseline, the behaviour
before runs were followed and the one the store uses, only counts run events. The two
are replayed alternately, so load from other processes falls on both alike, and timed in
CPU time of this process (one thread), so time spent waiting for a core while other
processes run is not counted: on an idle machine it is the wall time. Before any
figure counts, the followed replay must find no error-level finding: a stream that
broke rules would time the reporting of findings, not the following of runs.

The least any follower of runs must do is measured too, in pairs of its own: load and
check each run snapshot (`parse_run`, which runs the run rules) and check its status
change against the run machine, skipping a snapshot identical to the run's last, with
no bookkeeping of steps and no cross-entity rule. It runs as a pass over the events on
their way into a ``follow_runs=False`` Tracker, whose own pairs get an empty pass of the
same kind, so both pay the same for the pass itself. ``least_follower_ratio`` is the best
ratio any implementation checking every run snapshot could reach on this stream, and
``extra_cost_vs_least`` is what following runs adds to the baseline replay over what the
least follower adds: 1.0 would be a Tracker that follows runs for no more than that.

For context, the floor of the stream replay benchmark (`baselines.floor_validate`, which
passes run events by) is timed once on the same file.

Run ``python -m benchmarks.runs [--repeat N]`` for this benchmark alone.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from math import nan
from pathlib import Path
from typing import Any

from benchmarks.baselines import floor_validate
from benchmarks.stream import print_sections, stream_file
from steplife import Event, Run, Tracker, open_input, parse, read_events
from steplife._events import detect_format
from steplife._run_lifecycle import run_trigger_between
from steplife._runs import RUN_EVENT_STATUS

EVENTS, STEPS = 1_300_000, 200_000
REPEAT = 5

# The realistic stream: the same run lifecycles and step plans, with message events as
# common as in the real captures (69 % of their 1,625 events), so run events come to
# about their share there (7.3 % by event name; 6.3 % of the events load as runs).
REALISTIC_EVENTS, REALISTIC_STEPS, REALISTIC_MESSAGE_SHARE = 600_000, 29_000, 0.69


def runs_stream_file(events: int = EVENTS, steps: int = STEPS) -> Path:
    """The run-lifecycle benchmark stream's path, generated on first use."""
    return stream_file(events, steps, runs=True)


def realistic_stream_file(
    events: int = REALISTIC_EVENTS,
    steps: int = REALISTIC_STEPS,
    message_share: float = REALISTIC_MESSAGE_SHARE,
) -> Path:
    """The run-lifecycle stream with the real captures' share of message events (cached)."""
    return stream_file(events, steps, runs=True, non_step_share=message_share)


Pass = Callable[[Iterable[Event]], Iterator[Event]]


def replay(path: Path, *, follow_runs: bool, through: Pass | None = None) -> tuple[Tracker, float]:
    """Replay `path` as `validate_file` does, with `follow_runs`; the tracker and CPU seconds.

    `through`, when given, is a pass every event goes through on its way in.
    """
    gc.collect()
    start = time.process_time()
    tracker = Tracker(keep_finished=False, follow_runs=follow_runs)
    with open_input(path) as raw:
        events = read_events(raw, str(path))
        tracker.consume(events if through is None else through(events))
    tracker.finish(file=str(path))
    return tracker, time.process_time() - start


def passing(events: Iterable[Event]) -> Iterator[Event]:
    """The empty pass: what `least_following` costs beyond its work."""
    yield from events


def least_following(events: Iterable[Event]) -> Iterator[Event]:
    """Load, check and move each run, and nothing else (see the module docstring).

    Raises `RuntimeError` on a run snapshot that does not load or moves illegally: on
    this stream none does, and a pass that went wrong must not time anything.
    """
    last: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for event in events:
        if event.name in RUN_EVENT_STATUS:
            data = event.data
            previous = last.get(data["id"])
            if previous is None or previous[1] != data:
                run = parse(data, Run).record
                if run is None or (
                    previous is not None
                    and previous[0] != run.status
                    and run_trigger_between(previous[0], run.status) is None
                ):
                    raise RuntimeError(f"line {event.line}: not a clean run event")
                # An ended run takes no more events: its last snapshot is not kept.
                last[run.id] = (run.status, None if run.is_terminal else data)
        yield event


def _run_events(tracker: Tracker) -> int:
    """How many of the events `tracker` read were run events (``thread.run.*``)."""
    return sum(n for name, n in tracker.event_names.items() if name in RUN_EVENT_STATUS)


def _clean(tracker: Tracker) -> None:
    """Raise unless the followed replay found no error and every run completed."""
    errors = Counter(f.rule for f in tracker.findings if f.is_error)
    if errors:
        raise RuntimeError(f"the run-lifecycle stream is not clean: {dict(errors)}")
    if tracker.live_ids or set(tracker.run_statuses) != {"completed"}:
        raise RuntimeError(
            f"the stream left {len(tracker.live_ids)} steps open and runs {tracker.run_statuses}"
        )


_REPLAYS: dict[str, dict[str, Any]] = {
    "followed": {"follow_runs": True},
    "baseline": {"follow_runs": False},
    "least": {"follow_runs": False, "through": least_following},
    "passed": {"follow_runs": False, "through": passing},
}


def follow_cost(path: Path, repeat: int = REPEAT) -> dict[str, float]:
    """Events/s followed and baseline (best of `repeat` alternating pairs), and the ratios.

    ``ratio`` is the median over the pairs of baseline time / followed time (the
    followed throughput as a share of the baseline's); min and max show the spread.
    ``least_follower_ratio`` is the same median for the least follower's pairs.
    """
    times: dict[str, list[float]] = {kind: [] for kind in _REPLAYS}
    tracker: Tracker | None = None
    for i in range(repeat):
        # Alternate the order, so no replay always runs on a warmer (or busier) machine;
        # each pair (followed and baseline, least and passed) stays back to back.
        for kind in _REPLAYS if i % 2 == 0 else reversed(_REPLAYS):
            done, seconds = replay(path, **_REPLAYS[kind])
            times[kind].append(seconds)
            if kind == "followed" and tracker is None:
                _clean(done)
                tracker = done
    followed, baseline = times["followed"], times["baseline"]
    assert tracker is not None  # repeat >= 1
    events = tracker.events
    run_events = _run_events(tracker)
    pairs = [b / f for f, b in zip(followed, baseline, strict=True)]
    least_pairs = [p / f for f, p in zip(times["least"], times["passed"], strict=True)]
    best_f, best_b = min(followed), min(baseline)
    least_extra_s = min(times["least"]) - min(times["passed"])
    start = time.process_time()
    with path.open("rb") as lines:
        floor_validate(lines)
    floor_s = time.process_time() - start
    return {
        "events": events,
        "run_events": run_events,
        "run_event_share": run_events / events,
        "runs": sum(tracker.run_statuses.values()),
        "steps": sum(tracker.statuses.values()),
        "errors_found": sum(1 for f in tracker.findings if f.is_error),
        "repetitions": repeat,
        "followed_events_per_s": events / best_f,
        "baseline_events_per_s": events / best_b,
        # Each pair ran back to back, under the same load: the median pair is the figure.
        "ratio": statistics.median(pairs),
        "pair_ratio_min": min(pairs),
        "pair_ratio_max": max(pairs),
        "followed_spread_pct": 100 * (max(followed) - best_f) / best_f,
        "baseline_spread_pct": 100 * (max(baseline) - best_b) / best_b,
        "extra_us_per_run_event": (best_f - best_b) / run_events * 1e6,
        "least_follower_ratio": statistics.median(least_pairs),
        "least_extra_us_per_run_event": least_extra_s / run_events * 1e6,
        # What the Tracker adds per run event beyond what any follower must do. A stream
        # too small to time (the tests') may show the least follower costing nothing.
        "extra_cost_vs_least": (best_f - best_b) / least_extra_s if least_extra_s > 0 else nan,
        "floor_events_per_s": events / floor_s,
        "followed_share_of_floor": floor_s / best_f,
    }


REAL_CAPTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "real"
"""The recorded streams the tests read, when this checkout has them beside it."""
REAL_ROUNDS = 40  # each replay reads every capture this many times: about a second's work


def real_streams(folder: Path = REAL_CAPTURES) -> dict[str, bytes]:
    """Every recorded stream (SSE or JSONL) under `folder`, by path; empty when absent."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".sse", ".txt", ".jsonl"):
            data = path.read_bytes()
            if detect_format(data[:4096]) is not None:
                found[str(path)] = data
    return found


def _replay_all(captures: dict[str, bytes], rounds: int, *, follow_runs: bool) -> float:
    """CPU seconds to validate every capture `rounds` times, each from its bytes."""
    gc.collect()
    start = time.process_time()
    for _ in range(rounds):
        for name, data in captures.items():
            tracker = Tracker(keep_finished=False, follow_runs=follow_runs)
            tracker.consume(read_events(io.BytesIO(data), name))
            tracker.finish(file=name)
    return time.process_time() - start


def real_captures_cost(
    captures: dict[str, bytes], repeat: int = REPEAT, rounds: int = REAL_ROUNDS
) -> dict[str, float]:
    """The followed/baseline ratio on the recorded streams, as `follow_cost` measures it.

    The captures are read from memory, so disk time does not dilute the difference.
    """
    counted = Tracker()
    for name, data in captures.items():
        counted.consume(read_events(io.BytesIO(data), name))
    run_events = _run_events(counted)
    pairs = []
    for i in range(repeat):
        order = (True, False) if i % 2 == 0 else (False, True)
        seconds = {follow: _replay_all(captures, rounds, follow_runs=follow) for follow in order}
        pairs.append(seconds[False] / seconds[True])
    return {
        "captures": len(captures),
        "events": counted.events,
        "run_events": run_events,
        "run_event_share": run_events / counted.events,
        "ratio": statistics.median(pairs),
        "pair_ratio_min": min(pairs),
        "pair_ratio_max": max(pairs),
    }


def main(argv: list[str] | None = None) -> int:
    """Print this benchmark's figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=REPEAT, help="alternating pairs")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    sections = [
        ("run-heavy stream", follow_cost(runs_stream_file(), args.repeat)),
        ("realistic stream", follow_cost(realistic_stream_file(), args.repeat)),
    ]
    if captures := real_streams():
        sections.append(("real captures", real_captures_cost(captures, args.repeat)))
    print_sections(sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
