"""Validating whole inputs into a Report: one Tracker per file, bad input never raising."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steplife import Finding, Rules, Severity
from steplife._validate import FileReport, Report, validate_file, validate_paths
from streams import (
    DONE,
    STEP_ID,
    completed,
    created,
    delta,
    in_progress,
    jsonl,
    lifecycle,
    run_event,
    run_start,
    sse,
)

STEPS_ALONE = [*lifecycle(), *lifecycle("step_2", status="failed"), DONE]
TWO_RUNS = [
    *run_start(),
    *lifecycle(),
    *lifecycle("step_2"),
    run_event("completed"),
    *run_start("run_2"),
    run_event("failed", "run_2"),
    DONE,
]

E, W = Severity.ERROR, Severity.WARNING
CLEAN = [*run_start(), *lifecycle(), run_event("completed"), DONE]
DANGLING = [*run_start(), created("step_2"), in_progress("step_2"), DONE]
BROKEN = [created(), delta("step_9", {"type": "message_creation"}), completed(), completed()]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_a_clean_capture_reports_its_events_and_statuses_and_no_finding(tmp_path: Path) -> None:
    path = write(tmp_path, "clean.sse", sse(CLEAN))
    assert validate_file(path) == FileReport(
        file=path,
        events=len(CLEAN),
        statuses={"completed": 1},
        dangling=0,
        findings=(),
        run_statuses={"completed": 1},
        steps_per_run={1: 1},
    )


def test_findings_carry_the_file_line_and_event_index(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.jsonl", jsonl(BROKEN))
    report = validate_file(path)
    assert [(f.rule, f.file, f.line, f.event_index, f.step_id) for f in report.findings] == [
        ("unknown-step", path, 2, 2, "step_9"),
        ("after-terminal", path, 4, 4, STEP_ID),
    ]


def test_sse_findings_point_at_the_line_where_their_event_starts(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.sse", sse(BROKEN))
    report = validate_file(path)
    # Each SSE event takes three lines: event:, data:, blank.
    assert [(f.rule, f.line, f.event_index) for f in report.findings] == [
        ("unknown-step", 4, 2),
        ("after-terminal", 10, 4),
    ]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("missing.jsonl", None, "cannot open"),
        ("garbage.bin", b"\x00\x01\x02binary\xff", "neither JSONL nor SSE"),
    ],
)
def test_an_unreadable_input_comes_back_with_its_error_and_never_raises(
    tmp_path: Path, name: str, data: bytes | None, reason: str
) -> None:
    path = str(tmp_path / name) if data is None else write(tmp_path, name, data)
    report = validate_file(path)
    assert report.file == path
    assert report.error is not None
    assert reason in report.error
    assert report.findings == ()
    assert not Report(files=(report,)).valid


@pytest.mark.parametrize("data", [b"", b"\n\n\n"])
def test_an_empty_input_is_an_empty_stream_warning(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "empty.jsonl", data)
    report = validate_file(path)
    assert report.findings == (
        Finding(rule="empty-stream", severity=W, message="no event in this input", file=path),
    )
    assert report.error is None
    assert Report(files=(report,)).valid


def test_the_empty_stream_rule_can_be_ignored_or_made_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.sse", b"")
    assert validate_file(path, rules=Rules(ignore={"empty-stream"})).findings == ()
    strict_rules = Rules(severity={"empty-stream": "error"})
    report = validate_file(path, rules=strict_rules)
    assert [(f.rule, f.severity) for f in report.findings] == [("empty-stream", E)]
    assert not Report(files=(report,)).valid


def test_an_input_of_malformed_lines_is_not_also_reported_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", b'{"event": "thread.run.created",\n')
    report = validate_file(path)
    assert [f.rule for f in report.findings] == ["malformed-event"]


def test_strict_mode_stops_the_input_at_its_first_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.jsonl", jsonl(BROKEN))
    report = validate_file(path, strict=True)
    assert [(f.rule, f.line) for f in report.findings] == [("unknown-step", 2)]
    assert report.events == 2  # read up to and including the failing event


def test_strict_mode_reports_warnings_before_the_first_error(tmp_path: Path) -> None:
    events = [in_progress(), completed(), completed()]  # adopted (warning), then after-terminal
    report = validate_file(write(tmp_path, "c.jsonl", jsonl(events)), strict=True)
    assert [(f.rule, f.severity, f.line) for f in report.findings] == [
        ("adopted-step", W, 1),
        ("after-terminal", E, 3),
    ]


def test_a_dangling_step_is_a_warning_and_counts_as_in_progress(tmp_path: Path) -> None:
    path = write(tmp_path, "dangling.sse", sse(DANGLING))
    report = validate_file(path)
    assert [(f.rule, f.severity, f.step_id) for f in report.findings] == [
        ("dangling-step", W, "step_2")
    ]
    assert report.dangling == 1
    assert Report(files=(report,)).by_status == {"in_progress": 1}


def test_require_terminal_makes_a_dangling_step_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "dangling.sse", sse(DANGLING))
    report = validate_file(path, require_terminal=True)
    assert [(f.rule, f.severity, f.line) for f in report.findings] == [("dangling-step", E, 13)]
    assert not Report(files=(report,)).valid


def test_strict_mode_with_require_terminal_reports_a_dangling_step(tmp_path: Path) -> None:
    path = write(tmp_path, "dangling.sse", sse(DANGLING))
    report = validate_file(path, strict=True, require_terminal=True)
    assert [(f.rule, f.severity) for f in report.findings] == [("dangling-step", E)]


def test_a_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "looks-like-jsonl.sse", sse(CLEAN))
    report = validate_file(path, fmt="jsonl")
    malformed = [f.line for f in report.findings if f.rule == "malformed-event"]
    # Every event: and data: line is a malformed JSONL line; blank lines are skipped.
    assert malformed == [line for line in range(1, 3 * len(CLEAN)) if line % 3 != 0]
    assert validate_file(path, fmt="sse").findings == ()


def test_the_report_gathers_every_input_in_order(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "clean.sse", sse(CLEAN)),
        write(tmp_path, "broken.jsonl", jsonl(BROKEN)),
        str(tmp_path / "missing.sse"),
        write(tmp_path, "dangling.sse", sse(DANGLING)),
    ]
    report = validate_paths(paths)
    assert [f.file for f in report.files] == paths
    assert [(f.file, f.rule) for f in report.findings] == [
        (paths[1], "unknown-step"),
        (paths[1], "after-terminal"),
        (paths[3], "dangling-step"),
    ]
    assert report.events == len(CLEAN) + len(BROKEN) + len(DANGLING)
    assert report.by_status == {"completed": 2, "in_progress": 1}
    assert report.by_rule() == {"unknown-step": 1, "after-terminal": 1, "dangling-step": 1}
    assert len(report.input_errors) == 1
    assert paths[2] in report.input_errors[0]
    assert not report.valid


def test_warnings_alone_leave_the_report_valid(tmp_path: Path) -> None:
    report = validate_paths([write(tmp_path, "dangling.sse", sse(DANGLING))])
    assert report.findings
    assert report.valid


def test_several_jobs_give_the_same_report_as_one(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "clean.sse", sse(CLEAN)),
        write(tmp_path, "broken.jsonl", jsonl(BROKEN)),
        str(tmp_path / "missing.sse"),
        write(tmp_path, "dangling.sse", sse(DANGLING)),
    ]
    rules = Rules(severity={"dangling-step": "error"})
    assert validate_paths(paths, jobs=2, rules=rules) == validate_paths(paths, jobs=1, rules=rules)


def test_dash_validates_stdin_under_the_name_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(jsonl(BROKEN))))
    )
    report = validate_paths(["-"], jobs=4)
    assert [(f.file, f.rule) for f in report.findings] == [
        ("<stdin>", "unknown-step"),
        ("<stdin>", "after-terminal"),
    ]


def test_wrap_sees_every_input_by_name_before_it_is_read(tmp_path: Path) -> None:
    seen: list[str] = []

    def wrap(stream: IO[bytes], name: str) -> IO[bytes]:
        seen.append(name)
        return stream

    paths = [write(tmp_path, "a.sse", sse(CLEAN)), write(tmp_path, "b.jsonl", jsonl(CLEAN))]
    report = validate_paths(paths, wrap=wrap)
    assert seen == paths
    assert report.valid


# -- runs -------------------------------------------------------------------------------


def test_an_input_without_run_events_reports_no_runs(tmp_path: Path) -> None:
    """Steps alone are counted as before; the runs' counters stay empty."""
    report = validate_file(write(tmp_path, "steps.jsonl", jsonl(STEPS_ALONE)))

    assert report.statuses == {"completed": 1, "failed": 1}
    assert report.run_statuses == {}
    assert report.steps_per_run == {}
    assert Report(files=(report,)).runs_by_status == {}
    assert Report(files=(report,)).steps_per_run == {}


def test_runs_are_counted_by_last_status_with_their_steps(tmp_path: Path) -> None:
    """Two steps in run_1 (completed); run_2 failed before any step: it counts under 0."""
    report = validate_file(write(tmp_path, "runs.jsonl", jsonl(TWO_RUNS)))

    assert report.findings == ()
    assert report.run_statuses == {"completed": 1, "failed": 1}
    assert report.steps_per_run == {0: 1, 2: 1}


def test_a_run_left_unfinished_counts_under_its_last_status(tmp_path: Path) -> None:
    """The input ends while the run waits for tool outputs: it counts as requires_action."""
    events = [*run_start(), run_event("requires_action"), DONE]
    report = validate_file(write(tmp_path, "waiting.sse", sse(events)))

    assert report.run_statuses == {"requires_action": 1}
    assert report.steps_per_run == {0: 1}


def test_the_report_merges_runs_over_every_input(tmp_path: Path) -> None:
    """Statuses add up; the histogram adds up per number of steps, fewest first."""
    paths = [
        write(tmp_path, "runs.jsonl", jsonl(TWO_RUNS)),
        write(tmp_path, "clean.sse", sse(CLEAN)),
        write(tmp_path, "steps.jsonl", jsonl(STEPS_ALONE)),
        str(tmp_path / "missing.sse"),
        write(tmp_path, "dangling.sse", sse(DANGLING)),
    ]
    report = validate_paths(paths)

    assert report.runs_by_status == {"completed": 2, "failed": 1, "in_progress": 1}
    assert report.steps_per_run == {0: 1, 1: 2, 2: 1}
    assert list(report.steps_per_run) == sorted(report.steps_per_run)
    assert report.files[3].run_statuses == {}  # the unreadable input


def test_runs_survive_the_trip_through_worker_processes(tmp_path: Path) -> None:
    """--jobs sends FileReports between processes: the runs' counters come back intact."""
    paths = [write(tmp_path, "runs.jsonl", jsonl(TWO_RUNS)), write(tmp_path, "c.sse", sse(CLEAN))]
    report = validate_paths(paths, jobs=2)

    assert report == validate_paths(paths, jobs=1)
    assert report.steps_per_run == {0: 1, 1: 1, 2: 1}


statuses = st.dictionaries(st.sampled_from(["completed", "failed", "expired"]), st.integers(1, 9))
histograms = st.dictionaries(st.integers(0, 50), st.integers(1, 9))


@given(st.lists(st.tuples(statuses, histograms), max_size=6))
def test_merged_run_counts_are_the_sums_of_each_input(
    inputs: list[tuple[dict[str, int], dict[int, int]]],
) -> None:
    """Whatever the inputs, the report's runs are the per-input counts added up."""
    files = tuple(
        FileReport(file=f"f{i}", run_statuses=runs, steps_per_run=steps)
        for i, (runs, steps) in enumerate(inputs)
    )
    report = Report(files=files)

    assert sum(report.runs_by_status.values()) == sum(sum(r.values()) for r, _ in inputs)
    assert sum(report.steps_per_run.values()) == sum(sum(h.values()) for _, h in inputs)
    for steps, count in report.steps_per_run.items():
        assert count == sum(h.get(steps, 0) for _, h in inputs)
    assert list(report.steps_per_run) == sorted(report.steps_per_run)
