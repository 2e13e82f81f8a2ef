"""The benchmarks of steps in flight, of memory per open step and of following runs on a
realistic stream: each must measure what its figure claims, on streams of the shape it names.

Small sizes only, and no timing is asserted: the figures are `make bench`'s to report.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import storeevents
from steplife import Tracker

ROOT = storeevents.BENCHMARKS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
stream: Any = importlib.import_module("benchmarks.stream")
in_flight: Any = importlib.import_module("benchmarks.in_flight")
runs: Any = importlib.import_module("benchmarks.runs")
run: Any = importlib.import_module("benchmarks.run")
gen_stream: Any = importlib.import_module("benchmarks.gen_stream")

ENDS = {"thread.run.step." + end for end in ("completed", "failed", "cancelled", "expired")}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The benchmark streams' cache, in a folder of the test's own."""
    monkeypatch.setattr(stream, "DATA", tmp_path)
    return tmp_path


def most_open(events: list[dict[str, Any]]) -> int:
    open_now = most = 0
    for event in events:
        open_now += event["event"] == "thread.run.step.created"
        open_now -= event["event"] in ENDS
        most = max(most, open_now)
    return most


def test_the_in_flight_cap_holds_that_many_steps_open() -> None:
    events = list(gen_stream.generate(3000, 600, 1, live=300))
    assert len(events) == 3000
    assert most_open(events) == 300
    assert most_open(list(gen_stream.generate(3000, 600, 1))) <= gen_stream.LIVE


def test_each_stream_shape_is_cached_in_a_file_of_its_own(data: Path) -> None:
    default = stream.stream_file(1000, 200)
    wide = in_flight.in_flight_stream_file(100, 1000, 200)
    realistic = runs.realistic_stream_file(2000, 100)
    assert default.name == "stream-1000-200-0.jsonl"  # the default shape keeps its name
    assert len({default, wide, realistic}) == 3
    assert {p.name for p in data.iterdir()} == {default.name, wide.name, realistic.name}
    made = wide.stat().st_mtime_ns
    assert in_flight.in_flight_stream_file(100, 1000, 200) == wide
    assert wide.stat().st_mtime_ns == made  # read from the cache, not written again


def test_the_in_flight_profile_counts_the_open_steps(data: Path) -> None:
    path = in_flight.in_flight_stream_file(150, 2000, 400)
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    most, mean = in_flight.in_flight_profile(path)
    assert most == most_open(events) == 150
    assert 0 < mean < most


def test_the_in_flight_replay_reports_its_share_of_the_floor(data: Path) -> None:
    figures = in_flight.replay_in_flight(in_flight.in_flight_stream_file(200, 3000, 600))
    assert figures["events"] == 3000
    assert figures["steps"] == 600
    assert figures["most_in_flight"] == 200
    assert figures["share_of_floor"] == pytest.approx(
        figures["steplife_events_per_s"] / figures["floor_events_per_s"]
    )
    assert figures["share_of_floor"] > 0


def test_the_created_events_open_distinct_steps() -> None:
    lines = in_flight.created_lines(250)
    events = [orjson.loads(line) for line in lines]
    assert len(events) == 250
    assert {e["event"] for e in events} == {"thread.run.step.created"}
    assert len({e["data"]["id"] for e in events}) == 250
    assert {e["data"]["type"] for e in events} == {"message_creation", "tool_calls"}


def test_memory_per_open_step_counts_what_the_open_steps_hold() -> None:
    figures = in_flight.open_step_memory(300)
    assert figures["open_steps"] == 300
    # The Tracker keeps the parsed payload, bigger than its JSON: more than nothing, and
    # far less than a step's share of everything the test process holds.
    assert figures["json_bytes_per_event"] < figures["bytes_per_open_step"] < 100_000


def test_the_realistic_stream_has_the_real_captures_share_of_run_events(data: Path) -> None:
    path = runs.realistic_stream_file(20_000, 970)
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    names = Counter(event["event"] for event in events)
    run_events = sum(n for name, n in names.items() if name in runs.RUN_EVENT_STATUS)
    messages = sum(n for name, n in names.items() if name.startswith("thread.message."))
    assert 0.06 <= run_events / len(events) <= 0.085  # 7.3 % in the captures, by name
    assert messages / len(events) == pytest.approx(runs.REALISTIC_MESSAGE_SHARE, abs=0.01)
    assert names["thread.run.requires_action"] > 0
    tracker = Tracker()
    for event in events:
        tracker.feed(event["event"], event["data"])
    tracker.finish()
    assert [f for f in tracker.findings if f.is_error] == []
    assert set(tracker.run_statuses) == {"completed"}


def test_the_follow_cost_compares_the_full_follower_with_the_least(data: Path) -> None:
    figures = runs.follow_cost(runs.realistic_stream_file(4000, 190), repeat=1)
    assert figures["errors_found"] == 0
    assert figures["run_event_share"] == figures["run_events"] / figures["events"]
    least = figures["least_extra_us_per_run_event"]
    extra = figures["extra_cost_vs_least"]
    if least > 0:  # a stream this small may not show the least follower's cost at all
        assert extra == pytest.approx(figures["extra_us_per_run_event"] / least)
    else:
        assert math.isnan(extra)


NEW_SECTIONS = (
    run.IN_FLIGHT,
    run.WIDE_IN_FLIGHT,
    "memory per open step (Tracker)",
    "following runs (run-heavy stream)",
    "following runs (realistic stream)",
)


def small_sections(quick: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """The new benchmarks of `run._sections`, on streams small enough for a test."""
    assert quick
    yield (
        NEW_SECTIONS[0],
        in_flight.replay_in_flight(in_flight.in_flight_stream_file(100, 1500, 300)),
    )
    yield (
        NEW_SECTIONS[1],
        in_flight.replay_in_flight(in_flight.in_flight_stream_file(250, 1500, 300)),
    )
    yield NEW_SECTIONS[2], in_flight.open_step_memory(200)
    realistic = runs.follow_cost(runs.realistic_stream_file(3000, 140), repeat=1)
    yield NEW_SECTIONS[3], realistic  # the same figures serve both sections' rows here
    yield NEW_SECTIONS[4], realistic


def table(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(benchmark, measure) -> (target, verdict) of each row of a written table."""
    cells = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| ")
    ]
    return {(row[0], row[1]): (row[3], row[4]) for row in cells[1:]}  # under the header


def test_every_new_figure_is_a_row_of_the_table_with_its_target(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "_sections", small_sections)
    out = tmp_path / "benchmarks.md"
    assert run.main(["--quick", "--write", str(out)]) == 0
    rows = table(out.read_text())
    targeted = {key: shown for key, shown in rows.items() if any(shown)}
    expected = {(name, run.TARGETS[name][0]): run.TARGETS[name][1] for name in NEW_SECTIONS}
    assert {key: target for key, (target, _) in targeted.items()} == expected
    verdicts = {verdict for _, verdict in targeted.values()}
    assert verdicts <= {"met", "**not met**", "information"}
    assert targeted[run.WIDE_IN_FLIGHT, "share_of_floor"] == ("", "information")
    assert (run.IN_FLIGHT, "mean_in_flight") in rows


def test_the_start_up_figure_compares_validate_with_importing_the_dependencies() -> None:
    """One pair: both sides are timed, the 5-event file validates clean, the ratio is theirs."""
    from benchmarks import startup

    figures = startup.startup_cost(repeat=1)
    assert figures["validate CPU ms"] > 0
    assert figures["dependencies CPU ms"] > 0
    expected = figures["validate CPU ms"] / figures["dependencies CPU ms"]
    assert figures["ratio"] == pytest.approx(expected)
