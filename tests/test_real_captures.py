"""Real recorded streams (../shared/fixtures/real) and the bundled examples, validated whole.

The real captures are read where they are, never copied into the project; every test
here is skipped, with the reason, when that folder is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import MISSING_REAL_FIXTURES, REAL_FIXTURES
from steplife import Severity, from_dict, to_dict
from steplife._events import detect_format, open_input, read_events
from steplife._tracker import Tracker
from steplife._validate import validate_file
from streams import BROKEN_EXAMPLE, EXAMPLES, VALID_EXAMPLES

E, W = Severity.ERROR, Severity.WARNING
SPEC = "openai-openapi"
PHP_DELTA = "openai-php/ThreadRunStreamRunStepDeltaResponse.txt"


def is_stream(path: Path) -> bool:
    if path.suffix == ".sse":
        return True
    return path.suffix == ".txt" and detect_format(path.read_bytes()[:4096]) == "sse"


def real_streams() -> list[str]:
    """Every recorded stream, relative to the real fixtures folder."""
    if not REAL_FIXTURES.is_dir():
        return []
    paths = (p for p in sorted(REAL_FIXTURES.rglob("*")) if p.is_file() and is_stream(p))
    return [p.relative_to(REAL_FIXTURES).as_posix() for p in paths]


STREAMS = real_streams()
ABSENT = [pytest.param("absent", marks=pytest.mark.skip(reason=MISSING_REAL_FIXTURES))]


def params(names: list[str]) -> list[Any]:
    return [pytest.param(name, id=name) for name in names] or ABSENT


def real(name: str) -> Path:
    if not REAL_FIXTURES.is_dir():
        pytest.skip(MISSING_REAL_FIXTURES)
    return REAL_FIXTURES / name


def events_of(path: Path) -> list[Any]:
    with open_input(path) as stream:
        return list(read_events(stream, str(path)))


def malformed_event_lines(text: str) -> list[int]:
    """An independent oracle: the lines of the SSE events whose data is missing or not JSON."""
    lines = text.splitlines()
    bad = []
    for number, line in enumerate(lines, 1):
        if not line.startswith("event:"):
            continue
        name = line.partition(":")[2].strip()
        data = []
        for follower in lines[number:]:
            if not follower.strip() or follower.startswith("event:"):
                break
            if follower.startswith("data:"):
                data.append(follower.partition(":")[2].removeprefix(" "))
        joined = "\n".join(data)
        if not data:
            if name != "done":
                bad.append(number)
            continue
        if joined == "[DONE]":
            continue
        try:
            json.loads(joined)
        except ValueError:
            bad.append(number)
    return bad


def test_every_recorded_stream_is_found() -> None:
    if not STREAMS:
        pytest.skip(MISSING_REAL_FIXTURES)
    # SOURCES.md: 37 recorded streams (21 .sse, 16 .txt holding server-sent events).
    assert len(STREAMS) == 37


LIVE = [name for name in STREAMS if not name.startswith(SPEC) and name != PHP_DELTA]


@pytest.mark.parametrize("name", params(LIVE))
def test_every_live_capture_validates_with_no_error(name: str) -> None:
    report = validate_file(str(real(name)))
    assert report.error is None
    errors = [(f.rule, f.line, f.message) for f in report.findings if f.severity is E]
    assert errors == []


@pytest.mark.parametrize("name", params(STREAMS))
def test_every_event_line_of_a_recorded_stream_is_read_as_one_event(name: str) -> None:
    path = real(name)
    starts = [
        number
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith("event:")
    ]
    assert [event.line for event in events_of(path)] == starts


SPEC_STREAMS = [name for name in STREAMS if name.startswith(SPEC)]


@pytest.mark.parametrize("name", params(SPEC_STREAMS))
def test_the_spec_examples_malformed_lines_are_flagged_where_their_event_starts(
    name: str,
) -> None:
    path = real(name)
    report = validate_file(str(path))
    flagged = [f.line for f in report.findings if f.rule == "malformed-event"]
    assert flagged
    assert malformed_event_lines(path.read_text()) == flagged
    assert {f.rule for f in report.findings if f.severity is E} == {"malformed-event"}


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        (f"{SPEC}/createRun.Streaming.sse", [1, 4, 7, 39]),
        (f"{SPEC}/submitToolOutputsToRun.Streaming.sse", [4, 7, 45]),
        (f"{SPEC}/createThreadAndRun.StreamingwithFunctions.sse", [4, 7, 10, 36]),
        (f"{SPEC}/createThreadAndRun.Streaming.sse", [42]),  # a data line lost its "data:"
    ],
)
def test_the_spec_examples_malformed_events_are_at_these_exact_lines(
    name: str, lines: list[int]
) -> None:
    report = validate_file(str(real(name)))
    assert [f.line for f in report.findings if f.rule == "malformed-event"] == lines


def test_the_spec_examples_step_lifecycles_are_still_checked() -> None:
    report = validate_file(str(real(f"{SPEC}/createRun.Streaming.sse")))
    assert report.statuses == {"completed": 1}
    assert report.dangling == 0


def test_the_lone_php_delta_is_an_unknown_step() -> None:
    report = validate_file(str(real(PHP_DELTA)))
    assert [(f.rule, f.severity, f.line, f.step_id) for f in report.findings] == [
        ("unknown-step", E, 1, "step_rQmJPtF2uOyGhSCCHqk1zoVd")
    ]


TOOL_CALL_PAIRS = [
    f"openai-dotnet/{folder}/{test}"
    for folder in ("rec-2025-09-29", "rec-2025-10-30")
    for test in ("StreamingToolCall", "StreamingToolCallAsync")
]


def pair_of(prefix: str) -> tuple[Path, Path]:
    folder = real(prefix).parent
    stem = Path(prefix).name
    (first,) = folder.glob(f"{stem}.01.*.sse")
    (second,) = folder.glob(f"{stem}.02.*.sse")
    return first, second


@pytest.mark.parametrize("prefix", TOOL_CALL_PAIRS)
def test_each_half_of_a_tool_call_alone_is_dangling_then_adopted(prefix: str) -> None:
    first, second = pair_of(prefix)
    created = validate_file(str(first))
    completed = validate_file(str(second))
    (dangling,) = created.findings
    (adopted,) = completed.findings
    assert (dangling.rule, dangling.severity) == ("dangling-step", W)
    assert (adopted.rule, adopted.severity, adopted.line) == ("adopted-step", W, 1)
    assert dangling.step_id is not None
    assert dangling.step_id == adopted.step_id


@pytest.mark.parametrize("prefix", TOOL_CALL_PAIRS)
def test_both_halves_of_a_tool_call_in_one_replay_are_one_clean_lifecycle(prefix: str) -> None:
    first, second = pair_of(prefix)
    tracker = Tracker()
    tracker.consume(events_of(first))
    step_id = tracker.live_ids[0]
    second_events = events_of(second)
    tracker.consume(second_events)
    tracker.finish()
    assert tracker.findings == []
    assert tracker.status_of(step_id) == "completed"
    final = next(
        e.data
        for e in second_events
        if e.name == "thread.run.step.completed" and e.data["id"] == step_id
    )
    assert tracker.snapshot(step_id) == from_dict(final)


# -- the bundled examples --------------------------------------------------------------


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda p: p.name)
def test_the_valid_examples_have_no_error(path: Path) -> None:
    report = validate_file(str(path))
    assert report.error is None
    assert [f for f in report.findings if f.severity is E] == []
    assert report.dangling == 0


@pytest.mark.parametrize("name", ["message-step.sse", "function-call.sse", "expired-run.jsonl"])
def test_the_examples_that_should_report_nothing_report_nothing(name: str) -> None:
    assert validate_file(str(EXAMPLES / name)).findings == ()


def test_the_failed_step_example_has_only_its_usage_warning() -> None:
    report = validate_file(str(EXAMPLES / "failed-step.jsonl"))
    assert [(f.rule, f.severity) for f in report.findings] == [("usage-without-completion", W)]
    assert report.statuses == {"failed": 1}


def documented_defects(name: str = "broken.jsonl") -> list[tuple[int, str, str | None]]:
    """A defects table of examples/README.md: line, rule code, and the step it names."""
    text = (EXAMPLES / "README.md").read_text()
    table = text.split(f"## Defects in `{name}`", 1)[1].split("\n## ", 1)[0]
    defects = []
    for match in re.finditer(r"(?m)^\| (\d+) \| (.*) \| `([a-z-]+)` \|$", table):
        step = re.search(r"`(step_\w+)`", match.group(2))
        defects.append((int(match.group(1)), match.group(3), step.group(1) if step else None))
    return defects


def test_the_broken_example_reports_exactly_the_documented_defects() -> None:
    defects = documented_defects()
    assert len(defects) == 5
    report = validate_file(str(BROKEN_EXAMPLE))
    assert [(f.line, f.rule, f.step_id) for f in report.findings] == defects
    assert all(f.severity is E for f in report.findings)


def test_the_broken_runs_example_reports_the_documented_defects_and_two_warnings() -> None:
    defects = documented_defects("broken-runs.jsonl")
    assert len(defects) == 4
    report = validate_file(str(EXAMPLES / "broken-runs.jsonl"))
    errors = [(f.line, f.rule, f.step_id) for f in report.findings if f.severity is E]
    warnings = [(f.line, f.rule) for f in report.findings if f.severity is W]
    assert errors == defects
    assert warnings == [(17, "dangling-step"), (19, "expiry-not-propagated")]


@pytest.mark.parametrize("prefix", TOOL_CALL_PAIRS)
def test_both_halves_of_a_tool_call_follow_one_run_to_its_end(prefix: str) -> None:
    tracker = Tracker()
    for half in pair_of(prefix):
        tracker.consume(events_of(half))
    tracker.finish()
    ((run_id, run),) = tracker.runs.items()
    assert tracker.run_statuses == {"completed": 1}
    assert tracker.steps_per_run == {2: 1}
    assert run.completed_at is not None
    assert all(step.run_id == run_id for step in tracker.steps.values())
    assert max(step.completed_at or 0 for step in tracker.steps.values()) <= run.completed_at


@pytest.mark.parametrize("name", params(LIVE))
def test_every_live_capture_is_clean_with_or_without_following_runs(name: str) -> None:
    followed = Tracker().consume(events_of(real(name)))
    alone = Tracker(follow_runs=False).consume(events_of(real(name)))
    assert followed.findings == alone.findings
    assert followed.statuses == alone.statuses


def test_a_file_search_call_repeated_whole_in_its_deltas_merges_to_its_snapshot() -> None:
    """The live capture repeats the call's id and ranker in each delta: no false alarm,
    and the step's live snapshot before its end has the id once and the last ranker."""
    path = real("simple-openai/threads_runssteps_delta.txt")
    assert {f.rule for f in validate_file(str(path)).findings} == {"unknown-value"}
    events = events_of(path)
    end = next(i for i, e in enumerate(events) if e.name == "thread.run.step.completed")
    tracker = Tracker()
    tracker.consume(events[:end])
    (step_id,) = tracker.live_ids
    (call,) = to_dict(tracker.snapshot(step_id))["step_details"]["tool_calls"]
    assert call["id"] == "call_PdjWRYNa6h5fwFUHDJZKmody"
    assert call["file_search"]["ranking_options"]["ranker"] == "default-2024-08-21"
