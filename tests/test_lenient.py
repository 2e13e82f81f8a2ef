"""Sloppy servers: what the replay still reads of a payload that does not load as sent.

A value of the wrong type gets its finding, and the event still goes through the
lifecycle with what can be read: an ISO-8601 timestamp as the second it names (a
``timestamp-not-unix`` warning), another wrongly typed value as null where null fits
(a ``malformed-event`` error). A ``created`` event that cannot be read at all leaves a
note, so the step's next events say why the step is unknown.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from steplife import Rules, StreamError, Tracker
from steplife._findings import Severity
from steplife._wire import iso_instant, structure, structure_leniently, structure_run
from steplife.model import Run, RunStep
from streams import (
    CREATED,
    FINISHED,
    STEP_ID,
    completed,
    created,
    delta,
    in_progress,
    keys,
    message_details,
    replay,
    run_event,
    run_start,
    snapshot,
)

E, W = Severity.ERROR, Severity.WARNING
ISO_CREATED = "2023-11-14T22:13:20Z"
"""`CREATED` (1_700_000_000) as an ISO-8601 date-time."""
ISO_FINISHED = "2023-11-14T22:13:25+00:00"
"""`FINISHED` as an ISO-8601 date-time with an offset."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ISO_CREATED, (float(CREATED), True)),
        ("2023-11-14T22:13:20.25Z", (CREATED + 0.25, True)),
        ("2023-11-15T00:13:20+02:00", (float(CREATED), True)),
        ("2023-11-14T22:13:20", (float(CREATED), False)),
        ("2023-11-14 22:13:20.250000", (CREATED + 0.25, False)),
        ("2023-11-14t22:13:20z", (float(CREATED), True)),
    ],
)
def test_an_iso_date_time_names_its_instant(text: str, expected: tuple[float, bool]) -> None:
    """With an offset or without one (then UTC), a fraction or none."""
    assert expected == iso_instant(text)


@pytest.mark.parametrize(
    "value",
    ["1700000000", "2023-11-14", "2023-02-30T00:00:00Z", "yesterday", "", 1_700_000_000, None],
)
def test_anything_else_names_no_instant(value: object) -> None:
    """A number in a string, a date alone, an impossible date: not date-times."""
    assert None is iso_instant(value)


def _lenient(data: dict[str, Any], cls: type[Any] = RunStep) -> Any:
    loaded = structure(data) if cls is RunStep else structure_run(data)
    assert isinstance(loaded, list), "the payload must fail to load as sent"
    return structure_leniently(cls, data, loaded)


def test_an_iso_created_at_is_read_as_its_second() -> None:
    """The record carries the Unix second; the exact instant is kept by path."""
    data = snapshot(created_at="2023-11-14T22:13:20.75Z")
    before = copy.deepcopy(data)
    read = _lenient(data)
    assert read.record.created_at == CREATED
    assert [(f.rule, f.severity, f.path) for f in read.converted] == [
        ("timestamp-not-unix", W, "created_at")
    ]
    assert "read as 1700000000" in read.converted[0].message
    assert read.nulled == ()
    assert read.instants == {"created_at": CREATED + 0.75}
    assert before == data  # the caller's payload is not changed


def test_a_date_time_without_offset_says_it_was_read_as_utc() -> None:
    """``datetime.now().isoformat()`` names no offset."""
    read = _lenient(snapshot(created_at="2023-11-14T22:13:20.000001"))
    assert read.converted[0].message.endswith("(no UTC offset: read as UTC)")


def test_a_wrongly_typed_nullable_value_is_read_as_null() -> None:
    """The schema problem stays, said to be read as null."""
    read = _lenient(snapshot(last_error="boom", status="failed", failed_at=FINISHED))
    assert read.record.last_error is None
    assert [(f.rule, f.path) for f in read.nulled] == [("schema", "last_error")]
    assert read.nulled[0].message.endswith("; read as null")


def test_a_broken_nested_value_nulls_its_nearest_nullable_parent() -> None:
    """A usage count of the wrong type: the usage is read as null."""
    usage = {"prompt_tokens": "ten", "completion_tokens": 5, "total_tokens": 15}
    read = _lenient(snapshot(status="completed", completed_at=FINISHED, usage=usage))
    assert read.record.usage is None
    assert read.nulled[0].path == "usage.prompt_tokens"
    assert read.nulled[0].message.endswith("(usage read as null)")


def test_both_at_once() -> None:
    """Timestamps converted, a wrong value nulled, one record."""
    data = snapshot(
        status="completed", created_at=ISO_CREATED, completed_at=ISO_FINISHED, metadata=[1]
    )
    read = _lenient(data)
    assert (read.record.created_at, read.record.completed_at) == (CREATED, FINISHED)
    assert read.record.metadata is None
    assert [f.path for f in read.converted] == ["created_at", "completed_at"]
    assert [f.path for f in read.nulled] == ["metadata"]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": 5},
        {"id": None},
        {"created_at": "1700000000"},
        {"step_details": {"type": "message_creation", "message_creation": {"message_id": 1}}},
    ],
)
def test_what_null_cannot_stand_for_is_not_read(changes: dict[str, Any]) -> None:
    """A status, an id, a non-ISO creation time, a nested required value: None."""
    assert None is _lenient(snapshot(**changes))


def test_a_run_with_iso_stamps_is_read_too() -> None:
    """The run's stamps are Unix seconds as well."""
    _, data = run_event("in_progress", created_at=ISO_CREATED, started_at="2023-11-14T22:13:21Z")
    read = _lenient(data, Run)
    assert (read.record.created_at, read.record.started_at) == (CREATED, CREATED + 1)
    assert [f.path for f in read.converted] == ["created_at", "started_at"]


# -- in the replay --------------------------------------------------------------------


def _iso(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """`events` with every stamp written as an ISO-8601 date-time, as llamphouse writes them."""
    out = []
    for name, data in events:
        data = copy.deepcopy(data)
        for key in ("created_at", "completed_at", "started_at", "expires_at"):
            if isinstance(data.get(key), int):
                data[key] = iso_from(data[key])
        out.append((name, data))
    return out


def iso_from(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def test_iso_stamps_warn_and_the_lifecycle_is_checked() -> None:
    """A step completed twice is still after-terminal; each ISO stamp is a warning."""
    events = _iso([created(), in_progress(), completed(), completed()])
    tracker = replay(events)
    errors = [(f.rule, f.line) for f in tracker.findings if f.severity is E]
    assert errors == [("after-terminal", 4)]
    warnings = [(f.rule, f.line, f.path) for f in tracker.findings if f.severity is W]
    assert warnings == [
        ("timestamp-not-unix", 1, "data.created_at"),
        ("timestamp-not-unix", 2, "data.created_at"),
        ("timestamp-not-unix", 3, "data.created_at"),
        ("timestamp-not-unix", 3, "data.completed_at"),
        ("timestamp-not-unix", 4, "data.created_at"),
        ("timestamp-not-unix", 4, "data.completed_at"),
    ]
    assert tracker.status_of(STEP_ID) == "completed"
    assert tracker.steps[STEP_ID].completed_at == FINISHED


def test_ignoring_the_warning_leaves_a_clean_iso_stream_valid() -> None:
    """Nothing else is wrong with it: the lifecycle holds."""
    events = _iso([*run_start(), created(), in_progress(), completed(), run_event("completed")])
    tracker = replay(events)
    assert {f.rule for f in tracker.findings} == {"timestamp-not-unix"}
    assert tracker.valid
    assert tracker.runs["run_1"].status == "completed"


def test_a_nulled_value_is_a_malformed_event_and_the_step_goes_on() -> None:
    """The error names the path; the step still completes."""
    tracker = replay([created(), in_progress(), completed(metadata="none")])
    assert keys(tracker.findings) == [("malformed-event", E, 3, STEP_ID)]
    assert tracker.findings[0].path == "data.metadata"
    assert tracker.findings[0].message.endswith("; read as null")
    assert tracker.status_of(STEP_ID) == "completed"


def test_a_creation_time_that_moves_within_its_second_is_an_identity_change() -> None:
    """As Unix seconds the two are equal; the instants they name are not."""
    events = [
        created(created_at="2023-11-14T22:13:20.100000"),
        completed(created_at="2023-11-14T22:13:20.300000"),
    ]
    tracker = replay(events)
    changed = [f for f in tracker.findings if f.rule == "identity-changed"]
    assert [(f.line, f.step_id) for f in changed] == [(2, STEP_ID)]
    assert "created_at 2023-11-14T22:13:20.100000Z -> 2023-11-14T22:13:20.300000Z" in (
        changed[0].message
    )


def test_an_iso_creation_time_equal_to_the_unix_one_changes_nothing() -> None:
    """The same instant, written two ways."""
    tracker = replay([created(created_at=ISO_CREATED), completed()])
    assert "identity-changed" not in {f.rule for f in tracker.findings}


def test_a_refused_creation_is_named_by_the_next_events() -> None:
    """Not "never seen before" without a reason: the line of the refusal."""
    events = [
        created(status=7),
        delta(STEP_ID, message_details()),
        in_progress(),
        completed(),
    ]
    tracker = replay(events)
    found = {(f.rule, f.line): f.message for f in tracker.findings}
    assert "malformed-event" == tracker.findings[0].rule
    assert found[("unknown-step", 2)].endswith(
        "whose creation was refused at line 1 (malformed-event)"
    )
    assert "whose creation was refused at line 1" in found[("adopted-step", 3)]


def test_once_followed_the_refusal_is_forgotten() -> None:
    """A step adopted after its refused creation is an ordinary step again."""
    tracker = replay([created(status=7), in_progress(), delta(STEP_ID, message_details())])
    assert "unknown-step" not in {f.rule for f in tracker.findings}
    assert tracker._steps.refused == {}


def test_strict_mode_passes_the_warning_by() -> None:
    """A warning raises nothing; the step is followed."""
    tracker = Tracker(strict=True)
    tracker.feed(*created(created_at=ISO_CREATED))
    assert tracker.status_of(STEP_ID) == "in_progress"


def test_strict_mode_refuses_a_nulled_value_and_changes_nothing() -> None:
    """The malformed-event is an error: raised before the step is followed."""
    tracker = Tracker(strict=True)
    with pytest.raises(StreamError) as raised:
        tracker.feed(*created(metadata=[]))
    assert raised.value.finding.rule == "malformed-event"
    assert tracker.status_of(STEP_ID) is None
    assert tracker.events == 0
    assert tracker._steps.refused == {}


def test_an_ignored_timestamp_rule_still_reads_the_stamp() -> None:
    """Ignoring the warning does not refuse the event."""
    tracker = replay(_iso([created(), completed()]), rules=Rules(ignore={"timestamp-not-unix"}))
    assert tracker.findings == []
    assert tracker.steps[STEP_ID].created_at == CREATED
