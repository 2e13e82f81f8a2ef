"""The Tracker: every stream rule on a small hand-written stream, strict and collect modes,
delta merging across steps and streams, and what it keeps of finished steps."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from steplife import CATALOGUE, InvalidRecordError, Rules, RunStep, Severity, from_dict, to_dict
from steplife._events import Event
from steplife._tracker import Tracker
from steplife.errors import StreamError
from streams import (
    CREATED,
    DONE,
    FINISHED,
    STEP_ID,
    USAGE,
    FindingKey,
    StreamEvent,
    code_call,
    code_fragment,
    completed,
    created,
    delta,
    failed,
    function_call,
    function_fragment,
    in_progress,
    keys,
    lifecycle,
    replay,
    run_event,
    snapshot,
    terminal,
    tool_calls_delta,
    tool_details,
)

E, W = Severity.ERROR, Severity.WARNING
CROSS_RULES = (
    "step-outside-run",
    "run-finished-with-open-steps",
    "step-run-mismatch",
    "step-outlives-run",
    "expiry-not-propagated",
    "tool-calls-without-action",
    "function-call-without-action",
    "dangling-run",
)
TOOLS = tool_details()  # a tool_calls step as `created` sends it: no calls yet
# A message delta carries no message_id again: strings concatenate when merged.
MESSAGE_DELTA = {"type": "message_creation"}


def tool_lifecycle_with_arguments(final_arguments: str) -> list[StreamEvent]:
    """A function step whose deltas build ``{"a":1}``; its terminal event says `final_arguments`."""
    return [
        created(details=TOOLS),
        tool_calls_delta(STEP_ID, function_fragment(0, call_id="call_1", name="f")),
        tool_calls_delta(STEP_ID, function_fragment(0, arguments='{"a":')),
        tool_calls_delta(STEP_ID, function_fragment(0, arguments="1}")),
        completed(details=tool_details(function_call("call_1", "f", final_arguments, "ok"))),
    ]


class Case(NamedTuple):
    """A stream rule's example: a clean stream, its broken twin, and what the twin breaks."""

    clean: list[StreamEvent]
    broken: list[StreamEvent]
    expected: list[FindingKey]
    options: dict[str, Any] = {}  # noqa: RUF012  (read-only default, never mutated)


CASES: dict[str, Case] = {
    "malformed-event": Case(
        clean=[created(), delta(STEP_ID, MESSAGE_DELTA), completed()],
        broken=[created(), ("thread.run.step.delta", {"id": STEP_ID}), completed()],
        expected=[("malformed-event", E, 2, STEP_ID)],
    ),
    "unknown-step": Case(
        clean=[created(), delta(STEP_ID, MESSAGE_DELTA), completed()],
        broken=[created(), delta("step_2", MESSAGE_DELTA), completed()],
        expected=[("unknown-step", E, 2, "step_2")],
    ),
    "adopted-step": Case(
        clean=[created(), in_progress(), completed()],
        broken=[in_progress(), completed()],
        expected=[("adopted-step", W, 1, STEP_ID)],
    ),
    "adopted-step (terminal first)": Case(
        clean=[created(), completed()],
        broken=[run_event("queued"), completed()],
        expected=[("adopted-step", W, 2, STEP_ID)],
    ),
    "duplicate-created": Case(
        clean=[created(), in_progress(), completed()],
        broken=[created(), created(), completed()],
        expected=[("duplicate-created", E, 2, STEP_ID)],
    ),
    "duplicate-created (after the end)": Case(
        clean=[created(), completed()],
        broken=[created(), completed(), created()],
        expected=[("duplicate-created", E, 3, STEP_ID)],
    ),
    "after-terminal": Case(
        clean=[created(), in_progress(), completed()],
        broken=[created(), completed(), completed()],
        expected=[("after-terminal", E, 3, STEP_ID)],
    ),
    "after-terminal (delta)": Case(
        clean=[created(), delta(STEP_ID, MESSAGE_DELTA), completed()],
        broken=[created(), completed(), delta(STEP_ID, MESSAGE_DELTA)],
        expected=[("after-terminal", E, 3, STEP_ID)],
    ),
    "status-mismatch": Case(
        clean=[created(), failed()],
        broken=[created(), ("thread.run.step.completed", failed()[1])],
        expected=[("status-mismatch", E, 2, STEP_ID)],
    ),
    "identity-changed": Case(
        clean=[created(), in_progress(), completed()],
        broken=[created(), in_progress(run_id="run_2"), completed()],
        expected=[("identity-changed", E, 2, STEP_ID)],
    ),
    "time-travel": Case(
        clean=[created(), in_progress(), completed(at=CREATED + 20)],
        # The in_progress payload moves created_at forward (itself an identity change);
        # the completion is then stamped before that already-seen stamp.
        broken=[created(), in_progress(created_at=CREATED + 10), completed(at=CREATED + 5)],
        expected=[("identity-changed", E, 2, STEP_ID), ("time-travel", E, 3, STEP_ID)],
    ),
    "delta-type-mismatch": Case(
        clean=[created(), delta(STEP_ID, MESSAGE_DELTA), completed()],
        broken=[
            created(),
            tool_calls_delta(STEP_ID, function_fragment(0, arguments="x")),
            completed(),
        ],
        expected=[("delta-type-mismatch", E, 2, STEP_ID)],
    ),
    "snapshot-diverged": Case(
        clean=tool_lifecycle_with_arguments('{"a":1}'),
        broken=tool_lifecycle_with_arguments('{"a":2}'),
        expected=[("snapshot-diverged", W, 5, STEP_ID)],
    ),
    "unknown-event": Case(
        clean=[created(), in_progress(), completed()],
        broken=[
            created(),
            in_progress(),
            ("thread.run.step.complete", completed()[1]),
            completed(),
        ],
        expected=[("unknown-event", W, 3, STEP_ID)],
    ),
    "dangling-step": Case(
        clean=[created(), in_progress(), completed()],
        broken=[created(), in_progress(), run_event("requires_action"), DONE],
        expected=[("dangling-step", W, 2, STEP_ID)],
    ),
    "timestamp-not-unix": Case(
        clean=[created(), completed()],
        broken=[created(created_at="2023-11-14T22:13:20Z"), completed()],
        expected=[("timestamp-not-unix", W, 1, STEP_ID)],
    ),
    "dangling-step (require_terminal)": Case(
        clean=[created(), in_progress(), completed()],
        broken=[created(), in_progress(), run_event("requires_action"), DONE],
        expected=[("dangling-step", E, 2, STEP_ID)],
        options={"require_terminal": True},
    ),
}
ERROR_CASES = [name for name, case in CASES.items() if any(k[1] is E for k in case.expected)]


def rule_of(case_name: str) -> str:
    return case_name.partition(" ")[0]


# -- every stream rule, clean and broken -------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_the_clean_twin_of_each_rule_example_has_no_finding(name: str) -> None:
    case = CASES[name]
    tracker = replay(case.clean, **case.options)
    assert keys(tracker.findings) == []
    assert tracker.valid


@pytest.mark.parametrize("name", list(CASES))
def test_each_stream_rule_is_reported_with_its_code_severity_line_and_step(name: str) -> None:
    case = CASES[name]
    tracker = replay(case.broken, **case.options)
    assert keys(tracker.findings) == case.expected
    for finding in tracker.findings:
        assert finding.file == "stream.jsonl"
        assert finding.event_index == finding.line  # one event per JSONL line
    assert tracker.valid is not any(k[1] is E for k in case.expected)


def test_the_rule_examples_cover_every_stream_rule_the_tracker_reports() -> None:
    """A new stream rule in the catalogue needs an example in CASES."""
    not_from_the_tracker = {
        "schema",  # loading rules: the JSON loader's
        "unknown-key",
        "empty-stream",  # reported per input by validate_file (see test_validate)
        "sse-missing-blank-line",  # in SSE text alone: test_events has its example
        "illegal-transition",  # a terminal event after the end is after-terminal instead
        *CROSS_RULES,  # a step against its run: test_runs.py has their examples
    }
    stream_rules = {code for code, rule in CATALOGUE.items() if rule.scope == "stream"}
    assert stream_rules - not_from_the_tracker == {rule_of(name) for name in CASES}


def test_an_invalid_step_payload_is_malformed_with_the_json_path_of_each_problem() -> None:
    bad_call = {"id": "call_1", "type": "function", "function": {"arguments": "{}"}}
    payload = snapshot(details=tool_details(bad_call), created_at="yesterday")
    tracker = replay([("thread.run.step.created", payload)])
    assert [(f.rule, f.severity, f.line, f.step_id) for f in tracker.findings] == [
        ("malformed-event", E, 1, STEP_ID),
        ("malformed-event", E, 1, STEP_ID),
    ]
    messages = [f.message for f in tracker.findings]
    assert messages[0].startswith("thread.run.step.created: created_at:")
    assert "step_details.tool_calls[0].function.name: missing" in messages[1]
    assert tracker.status_of(STEP_ID) is None  # nothing was tracked from it


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        (("thread.run.step.created", ["not", "an", "object"]), "$: expected an object"),
        (("thread.run.step.completed", None), "$: expected an object, got null"),
        (("thread.run.step.delta", "text"), "data: expected an object"),
        (("thread.run.step.delta", {"delta": {}}), "data.id: missing or not a string"),
        (("thread.run.step.delta", {"id": STEP_ID, "delta": 3}), "data.delta: missing"),
        (
            ("thread.run.step.delta", {"id": STEP_ID, "delta": {"step_details": [1]}}),
            "data.delta.step_details: expected an object",
        ),
    ],
)
def test_a_payload_of_the_wrong_shape_is_a_malformed_event(
    event: StreamEvent, fragment: str
) -> None:
    tracker = replay([created(), event, completed()])
    (finding,) = tracker.findings
    assert (finding.rule, finding.severity, finding.line) == ("malformed-event", E, 2)
    assert fragment in finding.message
    assert finding.message.startswith(event[0] + ": ")


def test_a_delta_that_cannot_be_merged_is_malformed_with_its_path() -> None:
    bad = tool_calls_delta(STEP_ID, {"index": "zero", "type": "function"})
    tracker = replay([created(details=TOOLS), bad], finish=False)
    (finding,) = tracker.findings
    assert (finding.rule, finding.line, finding.step_id) == ("malformed-event", 2, STEP_ID)
    assert "delta.step_details.tool_calls[0].index" in finding.message


def test_feed_event_locates_the_findings_of_a_readable_event_as_consume_does() -> None:
    name, data = in_progress()  # an in_progress never created: adopted, a warning
    event = Event(name, data, "capture.jsonl", 9, 4)
    fed = Tracker()
    findings = fed.feed_event(event)
    assert keys(findings) == [("adopted-step", W, 9, STEP_ID)]
    assert (findings[0].file, findings[0].event_index) == ("capture.jsonl", 4)
    assert Tracker().consume([event]).findings == findings
    assert fed.live_ids == [STEP_ID]


def test_an_unreadable_event_from_the_reader_is_a_malformed_event_at_its_line() -> None:
    tracker = Tracker()
    bad = Event(None, None, "capture.jsonl", 7, 3, "not valid JSON (oops)")
    findings = tracker.feed_event(bad)
    assert keys(findings) == [("malformed-event", E, 7, None)]
    assert findings[0].event_index == 3
    assert findings[0].file == "capture.jsonl"
    assert findings[0].message == "not valid JSON (oops)"


def test_the_duplicate_created_message_names_the_step() -> None:
    tracker = replay(CASES["duplicate-created"].broken)
    assert tracker.findings[0].message == f"step {STEP_ID!r} was created before"


def test_identity_changed_names_the_field_and_both_values() -> None:
    tracker = replay(CASES["identity-changed"].broken)
    assert "run_id 'run_1' -> 'run_2'" in tracker.findings[0].message


@pytest.mark.parametrize(
    "changes",
    [
        {"thread_id": "thread_2"},
        {"assistant_id": "asst_2"},
        {"created_at": CREATED + 1},
        {"details": tool_details(function_call())},  # type tool_calls instead of message
    ],
)
def test_every_identity_field_is_watched(changes: dict[str, Any]) -> None:
    tracker = replay([created(), in_progress(**changes)], finish=False)
    assert [f.rule for f in tracker.findings] == ["identity-changed"]


def test_snapshot_diverged_names_the_first_path_that_differs() -> None:
    tracker = replay(CASES["snapshot-diverged"].broken)
    assert "step_details.tool_calls[0].function.arguments" in tracker.findings[0].message


def test_a_terminal_snapshot_may_add_what_deltas_never_carry() -> None:
    # function.output and file-search results arrive only in the terminal snapshot.
    tracker = replay(tool_lifecycle_with_arguments('{"a":1}'))
    final = tracker.snapshot(STEP_ID)
    assert final.step_details.type == "tool_calls"
    assert to_dict(final)["step_details"]["tool_calls"][0]["function"]["output"] == "ok"
    assert tracker.findings == []


def test_a_stamp_before_created_is_not_also_time_travel() -> None:
    tracker = replay([created(), in_progress(), completed(at=CREATED - 18)])
    assert [f.rule for f in tracker.findings] == ["stamp-before-created"]


def test_dangling_step_points_at_the_last_event_of_the_step() -> None:
    events = [
        created(details=TOOLS),
        in_progress(details=TOOLS),
        tool_calls_delta(STEP_ID, function_fragment(0, call_id="c", name="f")),
        run_event("requires_action"),
    ]
    tracker = replay(events)
    assert keys(tracker.findings) == [("dangling-step", W, 3, STEP_ID)]
    assert tracker.live_ids == [STEP_ID]


def test_finish_reports_every_dangling_step_in_the_order_they_started() -> None:
    tracker = replay([created("step_b"), created("step_a"), created("step_c"), completed("step_a")])
    assert keys(tracker.findings) == [
        ("dangling-step", W, 1, "step_b"),
        ("dangling-step", W, 3, "step_c"),
    ]


# -- entity rules on every snapshot ----------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [created(), in_progress(usage=USAGE)],
            [("usage-before-completion", E, 2, STEP_ID)],
            id="usage on in_progress",
        ),
        pytest.param(
            [created(usage=USAGE)],
            [("usage-before-completion", E, 1, STEP_ID)],
            id="usage on created",
        ),
        pytest.param(
            [created(), completed(at=CREATED - 1)],
            [("stamp-before-created", E, 2, STEP_ID)],
            id="stamp before created on completed",
        ),
        pytest.param(
            [created(), completed(usage={**USAGE, "total_tokens": 99})],
            [("usage-total", E, 2, STEP_ID)],
            id="bad total on completed",
        ),
        pytest.param(
            [created(), completed(usage=None)],
            [("usage-missing", W, 2, STEP_ID)],
            id="completed without usage",
        ),
        pytest.param(
            [created(), failed(usage=USAGE)],
            [("usage-without-completion", W, 2, STEP_ID)],
            id="usage on failed",
        ),
        pytest.param(
            [created(), in_progress(last_error={"code": "server_error", "message": "x"})],
            [("error-without-failure", E, 2, STEP_ID)],
            id="last_error on in_progress",
        ),
        pytest.param(
            [created(), in_progress(completed_at=FINISHED)],
            [("stamp-mismatch", E, 2, STEP_ID)],
            id="stamp on in_progress",
        ),
        pytest.param(
            [created(metadata={f"k{i}": "v" for i in range(17)})],
            [("metadata-limits", E, 1, STEP_ID)],
            id="metadata over its limits",
        ),
        pytest.param(
            [created(object="thread.run")],
            [("object-type", E, 1, STEP_ID)],
            id="wrong object",
        ),
    ],
)
def test_entity_rules_are_checked_on_every_snapshot_event(
    events: list[StreamEvent], expected: list[FindingKey]
) -> None:
    tracker = replay(events, finish=False)
    assert keys(tracker.findings) == expected


def test_an_in_progress_identical_to_created_does_not_repeat_its_findings() -> None:
    tracker = replay([created(usage=USAGE), in_progress(usage=USAGE)], finish=False)
    assert keys(tracker.findings) == [("usage-before-completion", E, 1, STEP_ID)]


def test_one_dict_changed_in_place_and_fed_again_is_checked_each_time() -> None:
    # Not a repeat: the Tracker cannot tell what the dict held when it was first fed.
    _, data = created()
    tracker = Tracker()
    tracker.feed("thread.run.step.created", data)
    data["usage"] = USAGE
    tracker.feed("thread.run.step.in_progress", data)
    assert keys(tracker.findings) == [("usage-before-completion", E, None, STEP_ID)]
    assert tracker.snapshot(STEP_ID).usage is not None


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired"])
def test_a_snapshot_handed_out_stays_as_it_was_when_its_step_ends(status: str) -> None:
    """The end of a step replaces its record; it never changes a snapshot already given."""
    tracker = Tracker()
    for name, data in [created(), in_progress()]:
        tracker.feed(name, data)
    held = tracker.snapshot(STEP_ID)
    before = to_dict(held)
    tracker.feed(*terminal(status))
    assert before == to_dict(held)
    assert held.status == "in_progress"
    assert tracker.snapshot(STEP_ID).status == status


NOT_STRINGS = [[], {}, {"id": "step_1"}, 1.5, None, True]


@pytest.mark.parametrize(
    "name",
    [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.completed",
        "thread.run.step.delta",
        "thread.run.created",
    ],
)
@pytest.mark.parametrize("bad_id", NOT_STRINGS, ids=repr)
def test_an_id_that_is_no_string_is_a_malformed_event_and_never_a_crash(
    name: str, bad_id: Any
) -> None:
    """A list or an object as the id (no key to look a step up by) is reported, like
    any other malformed payload; a strict Tracker raises its own error for it."""
    tracker = Tracker()
    findings = tracker.feed(name, {"id": bad_id})
    assert {f.rule for f in findings} == {"malformed-event"}
    assert {f.step_id for f in findings} == {None}
    assert tracker.live_ids == []
    with pytest.raises(StreamError):
        Tracker(strict=True).feed(name, {"id": bad_id})


def test_real_stream_quirks_are_accepted_without_a_finding() -> None:
    # expires_at instead of expired_at, no metadata key, extra usage keys.
    quirky_usage = {
        **USAGE,
        "prompt_token_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    events = lifecycle(expires_at=CREATED + 600)
    for _, payload in events:
        del payload["expired_at"], payload["metadata"]
    events[-1][1]["usage"] = quirky_usage
    tracker = replay(events)
    assert tracker.findings == []
    assert tracker.status_of(STEP_ID) == "completed"


# -- relaxing stream rules ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_an_ignored_stream_rule_is_not_reported(name: str) -> None:
    case = CASES[name]
    rule = rule_of(name)
    tracker = replay(case.broken, rules=Rules(ignore={rule}), **case.options)
    assert keys(tracker.findings) == [k for k in case.expected if k[0] != rule]


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if not case.options])
def test_a_regraded_stream_rule_is_reported_at_its_new_severity(name: str) -> None:
    case = CASES[name]
    rule = rule_of(name)
    default = next(k[1] for k in case.expected if k[0] == rule)
    other = W if default is E else E
    tracker = replay(case.broken, rules=Rules(severity={rule: other.value}))
    expected = [(r, other if r == rule else s, line, step) for r, s, line, step in case.expected]
    assert keys(tracker.findings) == expected


def test_a_demoted_unknown_step_leaves_the_stream_valid() -> None:
    tracker = replay(
        CASES["unknown-step"].broken, rules=Rules(severity={"unknown-step": "warning"})
    )
    assert tracker.valid
    assert keys(tracker.findings) == [("unknown-step", W, 2, "step_2")]


# -- strict and collect modes ------------------------------------------------------------


def state_of(tracker: Tracker, ids: list[str]) -> tuple[Any, ...]:
    """Everything observable about what the tracker holds, as plain comparable data."""
    return (
        {step_id: to_dict(step) for step_id, step in tracker.steps.items()},
        {step_id: tracker.status_of(step_id) for step_id in ids},
        list(tracker.findings),
        tracker.live_ids,
        dict(tracker.statuses),
    )


@pytest.mark.parametrize("name", ERROR_CASES)
def test_strict_mode_raises_at_the_first_error_and_changes_nothing(name: str) -> None:
    case = CASES[name]
    first_error = next(k for k in case.expected if k[1] is E)
    tracker = Tracker(strict=True, **case.options)
    ids = [STEP_ID, "step_2"]
    for line, (event_name, data) in enumerate(case.broken, 1):
        before = state_of(tracker, ids)
        if line == first_error[2] and first_error[0] != "dangling-step":
            with pytest.raises(StreamError) as raised:
                tracker.feed(event_name, data, file="s.jsonl", line=line, index=line)
            finding = raised.value.finding
            assert (finding.rule, finding.severity, finding.line, finding.step_id) == first_error
            assert str(raised.value).startswith(f"s.jsonl:{line}: {first_error[0]}: ")
            assert state_of(tracker, ids) == before
            return
        tracker.feed(event_name, data, file="s.jsonl", line=line, index=line)
    before = state_of(tracker, ids)
    with pytest.raises(StreamError) as raised:
        tracker.finish()
    assert raised.value.finding.rule == first_error[0]
    assert state_of(tracker, ids) == before


def test_strict_mode_keeps_going_past_warnings() -> None:
    tracker = replay(CASES["adopted-step"].broken, strict=True)
    assert keys(tracker.findings) == [("adopted-step", W, 1, STEP_ID)]
    assert tracker.status_of(STEP_ID) == "completed"


def test_strict_mode_rejects_a_bad_delta_without_merging_any_of_it() -> None:
    tracker = Tracker(strict=True)
    tracker.feed(*created(details=TOOLS))
    tracker.feed(*tool_calls_delta(STEP_ID, function_fragment(0, call_id="c", name="f")))
    before = to_dict(tracker.snapshot(STEP_ID))
    half_bad = tool_calls_delta(
        STEP_ID,
        function_fragment(0, arguments="merged?"),
        {"index": -1, "type": "function"},
    )
    with pytest.raises(StreamError, match="malformed-event"):
        tracker.feed(*half_bad)
    assert to_dict(tracker.snapshot(STEP_ID)) == before


def test_strict_mode_rejects_an_entity_error_on_in_progress_and_keeps_the_old_snapshot() -> None:
    tracker = Tracker(strict=True)
    tracker.feed(*created())
    with pytest.raises(StreamError, match="usage-before-completion"):
        tracker.feed(*in_progress(usage=USAGE))
    assert tracker.snapshot(STEP_ID).usage is None
    tracker.feed(*completed())
    assert tracker.status_of(STEP_ID) == "completed"
    assert tracker.findings == []


def test_collect_mode_keeps_checking_a_step_after_its_first_error() -> None:
    events = [
        created(),
        in_progress(run_id="run_2"),
        tool_calls_delta(STEP_ID, function_fragment(0, arguments="x")),
        completed(at=CREATED - 3),
        completed(),
    ]
    tracker = replay(events)
    assert keys(tracker.findings) == [
        ("identity-changed", E, 2, STEP_ID),
        ("delta-type-mismatch", E, 3, STEP_ID),
        ("stamp-before-created", E, 4, STEP_ID),
        ("after-terminal", E, 5, STEP_ID),
    ]
    assert tracker.status_of(STEP_ID) == "completed"
    assert not tracker.valid


@pytest.mark.parametrize("kind", ["created", "in_progress"])
def test_a_step_whose_snapshot_had_a_terminal_status_is_still_checked_to_its_end(
    kind: str,
) -> None:
    early = ("thread.run.step." + kind, completed()[1])  # status completed, in a live event
    events = [created(), early, completed()] if kind == "in_progress" else [early, completed()]
    tracker = replay(events)
    assert keys(tracker.findings)[0] == ("status-mismatch", E, len(events) - 1, STEP_ID)
    assert tracker.status_of(STEP_ID) == "completed"


# -- merging across steps and streams ----------------------------------------------------


def test_two_consecutive_tool_steps_both_starting_at_index_0_merge_independently() -> None:
    events = [
        created("step_a", details=TOOLS),
        tool_calls_delta("step_a", function_fragment(0, call_id="call_a", name="fa")),
        tool_calls_delta("step_a", function_fragment(0, arguments='{"x":1}')),
        completed("step_a", details=tool_details(function_call("call_a", "fa", '{"x":1}', "1"))),
        created("step_b", details=TOOLS),
        tool_calls_delta("step_b", function_fragment(0, call_id="call_b", name="fb")),
        tool_calls_delta("step_b", function_fragment(0, arguments='{"y":2}')),
    ]
    tracker = replay(events, finish=False)
    live = to_dict(tracker.snapshot("step_b"))["step_details"]["tool_calls"]
    assert live == [function_call("call_b", "fb", '{"y":2}')]
    assert tracker.findings == []


def test_interleaved_tool_steps_keep_separate_merge_state() -> None:
    events = [
        created("step_a", details=TOOLS),
        created("step_b", details=TOOLS),
        tool_calls_delta("step_a", code_fragment(0, call_id="ci_a", code="print(")),
        tool_calls_delta("step_b", code_fragment(0, call_id="ci_b", code="1 +")),
        tool_calls_delta("step_a", code_fragment(0, code="'a')")),
        tool_calls_delta("step_b", code_fragment(0, code=" 1")),
    ]
    tracker = replay(events, finish=False)
    assert (
        tracker.snapshot("step_a").step_details
        == from_dict(
            snapshot("step_a", details=tool_details(code_call("ci_a", "print('a')"))), RunStep
        ).step_details
    )
    assert (
        tracker.snapshot("step_b").step_details
        == from_dict(
            snapshot("step_b", details=tool_details(code_call("ci_b", "1 + 1"))), RunStep
        ).step_details
    )


def test_out_of_order_tool_call_indices_are_placed_by_index() -> None:
    events = [
        created(details=TOOLS),
        tool_calls_delta(STEP_ID, function_fragment(1, call_id="call_b", name="g")),
        tool_calls_delta(STEP_ID, function_fragment(0, call_id="call_a", name="f")),
        tool_calls_delta(STEP_ID, function_fragment(1, arguments="B")),
        tool_calls_delta(STEP_ID, function_fragment(0, arguments="A")),
    ]
    tracker = replay(events, finish=False)
    calls = to_dict(tracker.snapshot(STEP_ID))["step_details"]["tool_calls"]
    assert calls == [function_call("call_a", "f", "A"), function_call("call_b", "g", "B")]
    final = tool_details(function_call("call_a", "f", "A"), function_call("call_b", "g", "B"))
    tracker.feed(*completed(details=final))
    assert tracker.findings == []


def test_a_gap_in_the_indices_makes_the_live_snapshot_invalid_not_a_crash() -> None:
    events = [
        created(details=TOOLS),
        tool_calls_delta(STEP_ID, function_fragment(1, call_id="call_b", name="g")),
    ]
    tracker = replay(events, finish=False)
    assert tracker.findings == []
    with pytest.raises(InvalidRecordError, match="merged deltas are invalid"):
        tracker.snapshot(STEP_ID)


def test_a_capture_of_two_streams_is_neither_dangling_nor_adopted() -> None:
    details = tool_details(function_call("call_1", "f", '{"q":1}', output="42"))
    first_stream = [
        run_event("created"),
        run_event("queued"),
        run_event("in_progress"),
        created(details=TOOLS),
        in_progress(details=TOOLS),
        tool_calls_delta(STEP_ID, function_fragment(0, call_id="call_1", name="f")),
        tool_calls_delta(STEP_ID, function_fragment(0, arguments='{"q":1}')),
        run_event("requires_action"),
        DONE,
    ]
    second_stream = [
        completed(details=details),
        run_event("queued"),
        run_event("in_progress"),
        *lifecycle("step_2"),
        run_event("completed"),
        DONE,
    ]
    tracker = replay(first_stream + second_stream)
    assert tracker.findings == []
    assert tracker.status_of(STEP_ID) == "completed"
    assert tracker.status_of("step_2") == "completed"
    assert tracker.event_names["done"] == 2


def test_the_terminal_payload_becomes_the_stored_snapshot() -> None:
    final = completed(details=tool_details(function_call("call_1", "f", '{"a":1}', "ok")))
    events = [*tool_lifecycle_with_arguments('{"a":1}')[:-1], final]
    tracker = replay(events)
    assert tracker.snapshot(STEP_ID) == from_dict(final[1])
    assert tracker.steps == {STEP_ID: from_dict(final[1])}


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired"])
def test_each_terminal_event_ends_the_step_with_its_status(status: str) -> None:
    tracker = replay(lifecycle(status=status))
    assert tracker.findings == []
    assert tracker.status_of(STEP_ID) == status
    assert tracker.statuses == {status: 1}
    assert tracker.snapshot(STEP_ID).status == status
    assert tracker.live_ids == []


def test_keep_finished_false_keeps_no_snapshot_but_still_knows_every_status() -> None:
    events = [*lifecycle("step_a"), *lifecycle("step_b", status="failed"), created("step_c")]
    tracker = replay(events, finish=False, keep_finished=False)
    assert list(tracker.steps) == ["step_c"]
    with pytest.raises(KeyError):
        tracker.snapshot("step_a")
    assert tracker.status_of("step_a") == "completed"
    assert tracker.status_of("step_b") == "failed"
    assert tracker.status_of("step_c") == "in_progress"
    assert tracker.status_of("step_never") is None


def test_on_finished_receives_each_final_snapshot_in_order() -> None:
    seen: list[RunStep] = []
    first = completed("step_a")
    adopted = failed("step_b")  # its lifecycle began in an earlier capture
    events = [created("step_a"), first, adopted]
    replay(events, keep_finished=False, on_finished=seen.append)
    assert seen == [from_dict(first[1]), from_dict(adopted[1])]


def test_events_of_other_kinds_are_counted_and_passed_by() -> None:
    events = [
        ("thread.created", {"id": "thread_1", "object": "thread"}),
        run_event("created"),
        ("thread.message.delta", {"id": "msg_1", "delta": {"content": []}}),
        ("this.is.invalid", {"id": "x"}),
        ("thread.run.step.archived", {"id": STEP_ID}),  # a future step event
        ("error", {"code": "server_error", "message": "boom"}),
        DONE,
    ]
    tracker = replay(events)
    # Only the unknown name under thread.run. is worth a word: a misspelling, or a newer
    # API's event; either way it is passed by.
    assert [(f.rule, f.severity, f.step_id) for f in tracker.findings] == [
        ("unknown-event", W, STEP_ID),
        ("dangling-run", W, None),  # the error left the run queued
    ]
    assert tracker.events == len(events)
    assert tracker.event_names["this.is.invalid"] == 1
    assert tracker.event_names["thread.run.step.archived"] == 1
    assert tracker.steps == {}


@pytest.mark.parametrize(
    ("name", "guess"),
    [
        ("thread.run.step.complete", "thread.run.step.completed"),
        ("thread.run.step.in-progress", "thread.run.step.in_progress"),
        ("thread.run.requires-action", "thread.run.requires_action"),
        ("thread.run.complet", "thread.run.completed"),
    ],
)
def test_a_misspelled_event_name_is_reported_with_the_closest_known_one(
    name: str, guess: str
) -> None:
    (finding,) = Tracker().feed(name, {"id": "x"})
    assert finding.rule == "unknown-event"
    assert finding.message.endswith(f"did you mean {guess!r}?")


def test_an_unknown_event_name_of_any_length_is_shown_short() -> None:
    name = "thread.run.step." + "x" * 10_000
    (finding,) = Tracker().feed(name, {})
    assert len(finding.message) < 200
    assert "did you mean" not in finding.message


def test_feed_returns_only_the_findings_of_that_event() -> None:
    tracker = Tracker()
    assert tracker.feed(*created()) == []
    findings = tracker.feed(*created(), line=2, index=2)
    assert keys(findings) == [("duplicate-created", E, 2, STEP_ID)]
    assert tracker.feed(*completed()) == []
    assert len(tracker.findings) == 1


def test_strict_mode_raises_for_an_unreadable_event_too() -> None:
    tracker = Tracker(strict=True)
    with pytest.raises(StreamError) as raised:
        tracker.feed_event(Event(None, None, "c.jsonl", 4, 2, "not valid JSON (oops)"))
    assert isinstance(raised.value, ValueError)
    assert str(raised.value) == "c.jsonl:4: malformed-event: not valid JSON (oops)"
    assert tracker.findings == []


def test_a_payload_nested_too_deeply_to_check_is_malformed_and_the_replay_goes_on() -> None:
    def deep() -> dict[str, Any]:
        nested: dict[str, Any] = {"a": "x"}
        for _ in range(2000):
            nested = {"a": nested}
        return nested

    # The replay carries an unknown key as decoded; comparing a repeat that deep is what
    # cannot be done, and that event alone is malformed.
    tracker = Tracker()
    tracker.feed(*created(extra=deep()), line=1)
    findings = tracker.feed(*in_progress(extra=deep()), line=2)
    assert keys(findings) == [("malformed-event", E, 2, STEP_ID)]
    tracker.feed(*completed(), line=3)
    assert tracker.status_of(STEP_ID) == "completed"
    assert len(tracker.findings) == 1


# -- behaviours pinned after review ---------------------------------------------------


def test_a_refused_event_in_strict_mode_leaves_the_counters_alone() -> None:
    """Strict mode: the event that raises leaves no trace, its count included."""
    tracker = Tracker(strict=True)
    tracker.feed(*created())
    before = (tracker.events, dict(tracker.event_names))
    with pytest.raises(StreamError):
        tracker.feed(*created())  # duplicate-created
    assert before == (tracker.events, dict(tracker.event_names))


def test_an_explicit_warning_for_dangling_steps_beats_require_terminal() -> None:
    """A severity the user chose for the rule is kept, even with require_terminal."""
    rules = Rules(severity={"dangling-step": "warning"})
    tracker = replay([created()], rules=rules, require_terminal=True)
    assert [("dangling-step", Severity.WARNING)] == [(f.rule, f.severity) for f in tracker.findings]


def test_require_terminal_escalates_the_default_dangling_warning() -> None:
    """Without an explicit choice, require_terminal makes a dangling step an error."""
    tracker = replay([created()], require_terminal=True)
    assert [("dangling-step", Severity.ERROR)] == [(f.rule, f.severity) for f in tracker.findings]


def test_a_malformed_payload_finding_carries_its_json_path() -> None:
    """`Finding.path` locates the problem inside the event, from `data`."""
    name, data = created()
    del data["run_id"]
    tracker = replay([(name, data)])
    (finding,) = [f for f in tracker.findings if f.rule == "malformed-event"]
    assert "data.run_id" == finding.path


def test_a_malformed_delta_finding_carries_its_json_path() -> None:
    """A delta that cannot merge is located at the offending index."""
    bad = tool_calls_delta(STEP_ID, {"index": -1, "type": "function"})
    tracker = replay([created(step_details=tool_details(), type="tool_calls"), bad])
    (finding,) = [f for f in tracker.findings if f.rule == "malformed-event"]
    assert "data.delta.step_details.tool_calls[0].index" == finding.path


def test_finish_reports_an_empty_input() -> None:
    """A tracker that saw no event says so at the end, located at the file given."""
    tracker = Tracker()
    findings = tracker.finish(file="capture.jsonl")
    assert [("empty-stream", Severity.WARNING, "capture.jsonl")] == [
        (f.rule, f.severity, f.file) for f in findings
    ]


def test_a_tracker_without_snapshots_remembers_a_bounded_number_of_finished_steps() -> None:
    """Memory stays bounded: the oldest finished steps are forgotten past the window."""
    events = [*lifecycle("step_a"), *lifecycle("step_b"), *lifecycle("step_c")]
    tracker = replay(events, keep_finished=False, remember_finished=2)
    assert [None, "completed", "completed"] == [
        tracker.status_of(step_id) for step_id in ("step_a", "step_b", "step_c")
    ]
    assert 3 == tracker.statuses["completed"]  # counting does not forget


def test_a_repeated_terminal_event_within_the_window_is_still_after_terminal() -> None:
    """Inside the window, an event for a finished step is reported as before."""
    events = [*lifecycle("step_a"), *lifecycle("step_b"), completed("step_b")]
    tracker = replay(events, keep_finished=False, remember_finished=1)
    assert ["after-terminal"] == [f.rule for f in tracker.findings]


def test_keeping_snapshots_remembers_every_finished_step() -> None:
    """With keep_finished (the default) nothing is forgotten."""
    events = [*lifecycle("step_a"), *lifecycle("step_b"), *lifecycle("step_c")]
    tracker = replay(events, remember_finished=1)
    assert {"step_a", "step_b", "step_c"} == set(tracker.steps)
    assert "completed" == tracker.status_of("step_a")
