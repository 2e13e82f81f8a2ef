"""What following run events costs a replay: ``Tracker()`` against ``follow_runs=False``.

The stream is `gen_stream`'s run-lifecycle mode (``runs=True``): the stream replay
benchmark's 200,000 steps, planned the same way (same steps per run, about the same
deltas per step), with every run's own events in place of the random ``thread.run.*``
ones: created, queued, in_progress before its first step, a ``requires_action`` round
trip for each function-call step that completes, and completed after its last step.
Those come to about 23 % of the 1,300,000 events, several times the share in a real
capture (where message deltas dominate), so the cost measured here is a high estimate.

Both trackers read the file as ``steplife validate`` does (`validate_file`: `open_input`,
`read_events`, a ``keep_finished=False`` Tracker, `finish`); the baseline, the behaviour
before runs were followed and the one the store uses, only counts run events. The two
are replayed alternately, so load from other processes falls on both alike, and timed in
CPU time of this process (one thread), so time spent waiting for a core while other
processes run is not counted: on an idle machine it is the wall time. Before any
figure counts, the followed replay must find no error-level finding: a stream that
broke rules would time the reporting of findings, not the following of runs.

For context, the floor of the stream replay benchmark (`baselines.floor_validate`, which
passes run events by) is timed once on the same file.

Run ``python -m benchmarks.runs [--repeat N]`` for this benchmark alone.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks import gen_stream
from benchmarks.baselines import floor_validate
from benchmarks.stream import DATA, SEED
from steplife import Tracker, open_input, read_events

EVENTS, STEPS = 1_300_000, 200_000
REPEAT = 5


def runs_stream_file(events: int = EVENTS, steps: int = STEPS) -> Path:
    """The run-lifecycle benchmark stream's path, generated on first use."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"stream-runs-{events}-{steps}-{SEED}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        gen_stream.write(partial, events, steps, SEED, runs=True)
        partial.rename(path)
    return path


def replay(path: Path, *, follow_runs: bool) -> tuple[Tracker, float]:
    """Replay `path` as `validate_file` does, with `follow_runs`; the tracker and CPU seconds."""
    gc.collect()
    start = time.process_time()
    tracker = Tracker(keep_finished=False, follow_runs=follow_runs)
    with open_input(path) as raw:
        tracker.consume(read_events(raw, str(path)))
    tracker.finish(file=str(path))
    return tracker, time.process_time() - start


def _clean(tracker: Tracker) -> None:
    """Raise unless the followed replay found no error and every run completed."""
    errors = Counter(f.rule for f in tracker.findings if f.is_error)
    if errors:
        raise RuntimeError(f"the run-lifecycle stream is not clean: {dict(errors)}")
    if tracker.live_ids or set(tracker.run_statuses) != {"completed"}:
        raise RuntimeError(
            f"the stream left {len(tracker.live_ids)} steps open and runs {tracker.run_statuses}"
        )


def follow_cost(path: Path, repeat: int = REPEAT) -> dict[str, float]:
    """Events/s followed and baseline (best of `repeat` alternating pairs), and the ratio.

    ``ratio`` is the median over the pairs of baseline time / followed time (the
    followed throughput as a share of the baseline's); min and max show the spread.
    """
    followed: list[float] = []
    baseline: list[float] = []
    tracker: Tracker | None = None
    for i in range(repeat):
        # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
        for follow in (True, False) if i % 2 == 0 else (False, True):
            done, seconds = replay(path, follow_runs=follow)
            (followed if follow else baseline).append(seconds)
            if follow and tracker is None:
                _clean(done)
                tracker = done
    assert tracker is not None  # repeat >= 1
    events = tracker.events
    run_events = sum(
        n
        for name, n in tracker.event_names.items()
        if name.startswith("thread.run.") and not name.startswith("thread.run.step.")
    )
    pairs = [b / f for f, b in zip(followed, baseline, strict=True)]
    best_f, best_b = min(followed), min(baseline)
    start = time.process_time()
    with path.open("rb") as lines:
        floor_validate(lines)
    floor_s = time.process_time() - start
    return {
        "events": events,
        "run_events": run_events,
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
        "floor_events_per_s": events / floor_s,
        "followed_share_of_floor": floor_s / best_f,
    }


def main(argv: list[str] | None = None) -> int:
    """Print this benchmark's figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=REPEAT, help="alternating pairs")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for measure, value in follow_cost(runs_stream_file(), args.repeat).items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        print(f"{measure:>26}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
