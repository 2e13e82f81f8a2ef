"""The run-following benchmark's least follower: it passes events through and refuses bad runs.

Its figure (`least_follower_ratio`) is only worth its claim, the least any follower of runs
must do, if it does that work and leaves the replay it feeds unchanged.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import storeevents
from steplife import Event, Tracker, read_events

ROOT = storeevents.BENCHMARKS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
runs: Any = importlib.import_module("benchmarks.runs")
gen_stream: Any = importlib.import_module("gen_stream")


def stream(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    path = tmp_path / "stream.jsonl"
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    return path


def read(path: Path) -> list[Event]:
    with path.open("rb") as raw:
        return list(read_events(raw, str(path)))


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return stream(tmp_path, list(gen_stream.generate(3000, 400, 7, runs=True)))


def test_the_passes_hand_every_event_on_unchanged(clean: Path) -> None:
    events = read(clean)
    assert list(runs.least_following(iter(events))) == events
    assert list(runs.passing(iter(events))) == events


def test_a_replay_through_the_least_follower_is_the_baseline_replay(clean: Path) -> None:
    plain, _ = runs.replay(clean, follow_runs=False)
    through, _ = runs.replay(clean, follow_runs=False, through=runs.least_following)
    assert through.events == plain.events > 0
    assert through.findings == plain.findings
    assert through.statuses == plain.statuses


def test_the_least_follower_loads_and_checks_every_run(clean: Path) -> None:
    loaded: Counter[str] = Counter()
    original = runs.parse

    def counting(data: dict[str, Any], kind: Any) -> Any:
        loaded[data["status"]] += 1
        return original(data, kind)

    runs.parse = counting
    try:
        list(runs.least_following(iter(read(clean))))
    finally:
        runs.parse = original
    names = Counter(event.name for event in read(clean))
    # Each run's queued repeats its created snapshot: only that one is skipped.
    assert loaded["queued"] == names["thread.run.queued"]
    assert loaded["completed"] == names["thread.run.completed"] > 0
    assert loaded["requires_action"] == names["thread.run.requires_action"] > 0


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"status": "cancelled"}, id="an illegal transition"),
        pytest.param({"created_at": "soon"}, id="a snapshot that does not load"),
    ],
)
def test_the_least_follower_refuses_a_run_event_that_is_not_clean(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    events = list(gen_stream.generate(300, 40, 3, runs=True))
    at = next(i for i, e in enumerate(events) if e["event"] == "thread.run.in_progress")
    events[at] = {"event": events[at]["event"], "data": {**events[at]["data"], **change}}
    with pytest.raises(RuntimeError, match=f"line {at + 1}: not a clean run event"):
        list(runs.least_following(iter(read(stream(tmp_path, events)))))


def test_the_baseline_tracker_is_not_following_runs(clean: Path) -> None:
    tracker, seconds = runs.replay(clean, follow_runs=False)
    assert isinstance(tracker, Tracker)
    assert tracker.runs == {}
    assert seconds >= 0


def test_the_real_captures_are_the_streams_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a.sse").write_bytes(b"event: thread.run.created\ndata: {}\n\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.jsonl").write_bytes(b'{"event": "done", "data": "[DONE]"}\n')
    (tmp_path / "SOURCES.md").write_bytes(b"# where they come from\n")
    (tmp_path / "c.txt").write_bytes(b"not a stream\n")
    found = runs.real_streams(tmp_path)
    assert sorted(Path(name).name for name in found) == ["a.sse", "b.jsonl"]
    assert runs.real_streams(tmp_path / "absent") == {}


def test_the_real_captures_cost_counts_their_events(tmp_path: Path) -> None:
    events = list(gen_stream.generate(400, 50, 5, runs=True))
    captures = {"one.jsonl": stream(tmp_path, events).read_bytes()}
    figures = runs.real_captures_cost(captures, repeat=2, rounds=1)
    names = Counter(event["event"] for event in events)
    run_events = sum(n for name, n in names.items() if name in runs.RUN_EVENT_STATUS)
    assert figures["captures"] == 1
    assert figures["events"] == len(events)
    assert figures["run_events"] == run_events > 0
    assert figures["pair_ratio_min"] <= figures["ratio"] <= figures["pair_ratio_max"]
