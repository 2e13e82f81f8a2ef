"""Hostile input, one table of mutations, through every door: the API, the command, the store.

Each case puts one hostile line (line 4) into an otherwise valid capture of one step
(created, in_progress, a delta, the hostile line, completed). Every door must answer
with the case's rule code at line 4 and never raise anything but a steplife error;
an event refused as an error changes nothing: the strict Tracker's state, and the
stored step, are as if the line had not been there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

import storeevents as sf
from steplife import Severity, StreamError, Tracker, read_events, to_dict, validate_file
from steplife.cli import main
from steplife.store import RejectedEventError, open_store

pytest_plugins = ["storefixtures"]

LINE = 4  # where every case puts its hostile line
STEP = "thread.run.step."
HUGE = "step_" + "x" * 1_000_000
BOUND = 20_000  # bytes of command output a case may produce, whatever it holds


class Case(NamedTuple):
    """One hostile line, and what every door must say of it."""

    line: bytes
    rule: str
    severity: Severity
    says: str  # part of the finding's message


def _line(name: str, data: Any) -> bytes:
    return orjson.dumps({"event": name, "data": data})


def _snapshot(**changes: Any) -> dict[str, Any]:
    data = sf.snapshot(details=sf.function_details())
    data.update(changes)
    return data


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


ERROR, WARNING = Severity.ERROR, Severity.WARNING
IN_PROGRESS = STEP + "in_progress"
_BROWSER = {"type": "tool_calls", "tool_calls": [{"id": "call_2", "type": "browser"}]}

CASES: dict[str, Case] = {
    "id is a list": Case(
        _line(IN_PROGRESS, {"id": []}),
        "malformed-event",
        ERROR,
        "id: expected a string, got an array",
    ),
    "id is an object": Case(
        _line(IN_PROGRESS, {"id": {"a": 1}}),
        "malformed-event",
        ERROR,
        "id: expected a string, got an object",
    ),
    "data is a list": Case(
        _line(IN_PROGRESS, [1, 2]), "malformed-event", ERROR, "$: expected an object, got an array"
    ),
    "data is null": Case(
        _line(IN_PROGRESS, None), "malformed-event", ERROR, "$: expected an object, got null"
    ),
    "status of the wrong type": Case(
        _line(IN_PROGRESS, _snapshot(status=5)),
        "malformed-event",
        ERROR,
        "status: expected a string, got a number",
    ),
    "an integer beyond 64 bits": Case(
        _line(IN_PROGRESS, _snapshot()).replace(b'"created_at":', b'"created_at":1' + b"0" * 30),
        "malformed-event",
        ERROR,
        "created_at: expected an integer, got 1e+40 (beyond 64 bits)",
    ),
    "a lone surrogate": Case(
        _line(IN_PROGRESS, _snapshot(metadata={"k": "SURROGATE"})).replace(
            b"SURROGATE", b"\\ud800"
        ),
        "malformed-event",
        ERROR,
        "no low surrogate in string",
    ),
    "a step type outside its set": Case(
        _line(IN_PROGRESS, _snapshot(type="reasoning")),
        "malformed-event",
        ERROR,
        "type: 'reasoning' is not one of",
    ),
    "a megabyte id": Case(
        _line(STEP + "delta", {"id": HUGE, "object": "thread.run.step.delta", "delta": {}}),
        "unknown-step",
        ERROR,
        "'step_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…', never seen before",
    ),
    "nested past the parser's limit": Case(
        b'{"event": "thread.run.step.in_progress", "data": ' + _nested(2000).encode() + b"}",
        "malformed-event",
        ERROR,
        "depth limit exceeded",
    ),
    "NaN": Case(
        b'{"event": "thread.run.step.in_progress", "data": {"id": "step_1", "x": NaN}}',
        "malformed-event",
        ERROR,
        "not valid JSON",
    ),
    "bad UTF-8": Case(
        b'{"event": "thread.run.step.in_progress", "data": {"id": "step_\xff"}}',
        "malformed-event",
        ERROR,
        "not valid UTF-8 at byte 62 of the line",
    ),
    "a truncated line": Case(
        _line(IN_PROGRESS, _snapshot())[:-40], "malformed-event", ERROR, "unexpected end of data"
    ),
    "a line that is not an object": Case(
        b"[1, 2, 3]",
        "malformed-event",
        ERROR,
        'the line is not a JSON object: a JSONL line is {"event"',
    ),
    "a bare step object": Case(
        orjson.dumps(_snapshot()),
        "malformed-event",
        ERROR,
        "the line is a bare thread.run.step object",
    ),
    "a misspelled event name": Case(
        _line(STEP + "complete", _snapshot()),
        "unknown-event",
        WARNING,
        "did you mean 'thread.run.step.completed'?",
    ),
    "an unknown tool-call type": Case(
        _line(IN_PROGRESS, _snapshot(step_details=_BROWSER)),
        "unknown-value",
        WARNING,
        "step_details.tool_calls[0].type 'browser'",
    ),
}
"""The hostile lines, by what they are. Errors are refused; warnings pass with a finding."""


def _capture(hostile: bytes | None) -> bytes:
    events = [*sf.started("step_1", details=sf.function_details()), sf.delta("step_1", "{}")]
    lines = [_line(name, data) for name, data in events]
    if hostile is not None:
        lines.append(hostile)
    name, data = sf.event("completed", details=sf.function_details("{}"))
    lines.append(_line(name, data))
    return b"\n".join(lines) + b"\n"


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Case, Path]:
    """A case and its capture file."""
    chosen = CASES[request.param]
    path = Path(request.getfixturevalue("tmp_path")) / "hostile.jsonl"
    path.write_bytes(_capture(chosen.line))
    return chosen, path


def _at_line(findings: Any, case: Case) -> list[Any]:
    """The findings of `case`'s rule and severity at its line (objects or JSON dicts)."""

    def fields(f: Any) -> tuple[Any, ...]:
        if isinstance(f, dict):
            return f["rule"], f["severity"], f["line"]
        return f.rule, f.severity.value, f.line

    return [f for f in findings if fields(f) == (case.rule, case.severity.value, LINE)]


# -- the API ---------------------------------------------------------------------------


def test_the_api_reports_the_case_at_its_line(case: tuple[Case, Path]) -> None:
    """`validate_file` returns the finding; nothing raises."""
    chosen, path = case
    report = validate_file(str(path))
    found = _at_line(report.findings, chosen)
    assert any(chosen.says in f.message for f in found), [f.message for f in found]
    assert all(len(f.message) < 2_000 for f in report.findings)


def test_a_strict_tracker_refuses_errors_and_keeps_its_state(case: tuple[Case, Path]) -> None:
    """Strict mode raises `StreamError` with the case's rule, and the step is as before."""
    chosen, path = case
    tracker = Tracker(strict=True)
    with path.open("rb") as raw:
        events = list(read_events(raw, str(path)))
    for event in events[: LINE - 1]:
        tracker.feed_event(event)
    before = (to_dict(tracker.snapshot("step_1")), tracker.events, dict(tracker.event_names))
    if chosen.severity is WARNING:
        assert _at_line(tracker.feed_event(events[LINE - 1]), chosen)
        return
    with pytest.raises(StreamError) as raised:
        tracker.feed_event(events[LINE - 1])
    assert (raised.value.finding.rule, raised.value.finding.line) == (chosen.rule, LINE)
    after = (to_dict(tracker.snapshot("step_1")), tracker.events, dict(tracker.event_names))
    assert after == before
    tracker.feed_event(events[LINE])  # and the step still completes
    assert tracker.status_of("step_1") == "completed"


# -- the command -----------------------------------------------------------------------


def test_the_command_reports_the_case_with_file_and_line(
    case: tuple[Case, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``steplife validate``: the finding with file and line, exit 1 for an error, bounded."""
    chosen, path = case
    code = main(["validate", str(path), "--output", "json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    found = _at_line(report["findings"], chosen)
    assert found
    assert found[0]["file"] == str(path)
    assert code == (1 if chosen.severity is ERROR else 0)
    assert "Traceback" not in err
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert f"{path}:{LINE}:" in out
    assert chosen.rule in out
    assert len(out.encode()) + len(err.encode()) < BOUND


def test_one_hostile_file_costs_the_others_nothing_in_parallel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--jobs 2`` over every case and a clean file: each file's findings as alone."""
    paths = []
    for number, chosen in enumerate(CASES.values()):
        path = tmp_path / f"case{number:02}.jsonl"
        path.write_bytes(_capture(chosen.line))
        paths.append(path)
    clean = tmp_path / "zclean.jsonl"
    clean.write_bytes(_capture(None))
    code = main(["validate", "--jobs", "2", "--output", "json", *map(str, paths), str(clean)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [f["file"] for f in report["files"]] == [*map(str, paths), str(clean)]
    assert report["files"][-1]["valid"] is True
    for path, chosen in zip(paths, CASES.values(), strict=True):
        mine = [f for f in report["findings"] if f["file"] == str(path)]
        assert _at_line(mine, chosen), path.name


# -- the store -------------------------------------------------------------------------


def _clean_twin(tmp_path: Path) -> tuple[dict[str, Any], int]:
    """The step as a store holds it after the capture without the hostile line."""
    path = tmp_path / "clean.jsonl"
    path.write_bytes(_capture(None))
    with open_store(tmp_path / "clean.db") as store, path.open("rb") as raw:
        assert store.ingest(read_events(raw, str(path))).ok
        stored = store.get("step_1")
    return to_dict(stored.step), stored.version


def test_the_store_reports_the_case_and_a_refused_event_writes_nothing(
    db: str, case: tuple[Case, Path], tmp_path: Path
) -> None:
    """``ingest`` reports the finding; after an error the step is stored as without it."""
    chosen, path = case
    with open_store(db) as store, path.open("rb") as raw:
        report = store.ingest(read_events(raw, str(path)))
        stored = store.get("step_1")
    assert _at_line(report.findings, chosen)
    assert stored.status == "completed"
    if chosen.severity is ERROR:
        assert report.rejected == 1
        assert (to_dict(stored.step), stored.version) == _clean_twin(tmp_path)


def _decoded_event(line: bytes) -> bool:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and "event" in value


REFUSED_EVENTS = [
    name for name, c in CASES.items() if c.severity is ERROR and _decoded_event(c.line)
]
"""The cases whose hostile line is an event that decodes: what `apply` can be given."""


@pytest.mark.parametrize("name", REFUSED_EVENTS)
def test_apply_refuses_what_ingest_refuses_and_writes_nothing(db: str, name: str) -> None:
    """`apply` of the decoded hostile event: `RejectedEventError`, the step unchanged."""
    hostile = orjson.loads(CASES[name].line)
    with open_store(db) as store:
        for event, data in sf.started("step_1", details=sf.function_details()):
            store.apply(event, data)
        before = store.get("step_1")
        with pytest.raises(RejectedEventError):
            store.apply(hostile["event"], hostile["data"])
        assert store.get("step_1") == before
