"""The Tracker following runs: run stream rules and the rules tying steps to their run."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steplife import CATALOGUE, Rules, Severity, StreamError, Tracker
from streams import (
    DONE,
    RUN_ENDED,
    RUN_ID,
    STEP_ID,
    StreamEvent,
    completed,
    created,
    delta,
    function_call,
    function_fragment,
    in_progress,
    keys,
    lifecycle,
    replay,
    run_event,
    run_start,
    terminal,
    tool_calls_delta,
    tool_details,
)

E, W = Severity.ERROR, Severity.WARNING
TOOLS = tool_details()
MESSAGE_DELTA = {"type": "message_creation"}
CALL = function_fragment(0, call_id="call_1", name="f")
CALLED = tool_details(function_call("call_1", "f", "", output="42"))  # what CALL ends as


def tool_step_waiting(step_id: str = STEP_ID) -> list[StreamEvent]:
    """A function-call step that starts and streams its call: it is what a run waits for."""
    return [
        created(step_id, details=TOOLS),
        in_progress(step_id, details=TOOLS),
        tool_calls_delta(step_id, CALL),
    ]


def two_streams(step_id: str = STEP_ID) -> list[StreamEvent]:
    """A tool-call round trip: the first stream waits, the second completes the step."""
    return [
        *run_start(),
        *tool_step_waiting(step_id),
        run_event("requires_action"),
        DONE,
        completed(step_id, details=CALLED),
        run_event("queued"),
        run_event("in_progress"),
        *lifecycle("step_2"),
        run_event("completed"),
        DONE,
    ]


def run_keys(tracker: Tracker) -> list[tuple[Any, ...]]:
    return [(f.rule, f.severity, f.line, f.step_id, f.run_id) for f in tracker.findings]


class Case(NamedTuple):
    """A run rule's example: a clean stream, its broken twin, and what the twin breaks."""

    clean: list[StreamEvent]
    broken: list[StreamEvent]
    expected: list[tuple[Any, ...]]


CLEAN_RUN = [*run_start(), *lifecycle(), run_event("completed"), DONE]

CASES: dict[str, Case] = {
    "step-outside-run (created while queued)": Case(
        clean=CLEAN_RUN,
        broken=[
            run_event("created"),
            *lifecycle(),
            run_event("queued"),
            run_event("in_progress"),
            run_event("completed"),
        ],
        expected=[("step-outside-run", E, 2, STEP_ID, RUN_ID)],
    ),
    "step-outside-run (created while waiting for tool outputs)": Case(
        clean=two_streams(),
        broken=[
            *run_start(),
            *tool_step_waiting(),
            run_event("requires_action"),
            created("step_2"),
        ],
        expected=[
            ("step-outside-run", E, 8, "step_2", RUN_ID),
            ("dangling-step", W, 6, STEP_ID, None),
            ("dangling-step", W, 8, "step_2", None),
        ],
    ),
    "step-outside-run (a delta while waiting)": Case(
        clean=two_streams(),
        broken=[
            *run_start(),
            *tool_step_waiting(),
            run_event("requires_action"),
            tool_calls_delta(STEP_ID, function_fragment(0, arguments="{}")),
        ],
        expected=[
            ("step-outside-run", E, 8, STEP_ID, RUN_ID),
            ("dangling-step", W, 8, STEP_ID, None),
        ],
    ),
    "step-outside-run (an event after the run ended)": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), *lifecycle(), run_event("completed"), *lifecycle("step_2")],
        expected=[("step-outside-run", E, line, "step_2", RUN_ID) for line in (8, 9, 10)],
    ),
    "step-outside-run (created while cancelling)": Case(
        clean=[*run_start(), *lifecycle(), run_event("cancelling"), run_event("cancelled")],
        broken=[
            *run_start(),
            run_event("cancelling"),
            created(),
            terminal("cancelled"),
            run_event("cancelled"),
        ],
        expected=[("step-outside-run", E, 5, STEP_ID, RUN_ID)],
    ),
    "run-finished-with-open-steps": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), created(), in_progress(), run_event("completed"), DONE],
        expected=[
            ("run-finished-with-open-steps", E, 6, STEP_ID, RUN_ID),
            ("dangling-step", W, 5, STEP_ID, None),
        ],
    ),
    "step-run-mismatch": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), *lifecycle(thread_id="thread_9"), run_event("completed")],
        expected=[("step-run-mismatch", E, 4, STEP_ID, RUN_ID)],
    ),
    "step-run-mismatch (the run appears after its step)": Case(
        clean=[created(), run_event("in_progress"), completed(), run_event("completed")],
        broken=[
            created(assistant_id="asst_9"),
            run_event("in_progress"),
            completed(assistant_id="asst_9"),
            run_event("completed"),
        ],
        expected=[("step-run-mismatch", E, 2, STEP_ID, RUN_ID)],
    ),
    "step-outlives-run": Case(
        clean=CLEAN_RUN,
        broken=[
            *run_start(),
            created(),
            terminal("completed", at=RUN_ENDED + 1),
            run_event("completed"),
        ],
        expected=[("step-outlives-run", E, 6, STEP_ID, RUN_ID)],
    ),
    "expiry-not-propagated": Case(
        clean=[
            *run_start(),
            *tool_step_waiting(),
            run_event("requires_action"),
            run_event("expired"),
            terminal("expired", details=CALLED),
        ],
        broken=[
            *run_start(),
            *tool_step_waiting(),
            run_event("requires_action"),
            run_event("expired"),
        ],
        expected=[
            ("dangling-step", W, 6, STEP_ID, None),
            ("expiry-not-propagated", W, 8, STEP_ID, RUN_ID),
        ],
    ),
    "tool-calls-without-action": Case(
        clean=[*run_start(), *tool_step_waiting(), run_event("requires_action")],
        broken=[*run_start(), created(), in_progress(), run_event("requires_action")],
        expected=[
            ("tool-calls-without-action", W, 6, None, RUN_ID),
            ("dangling-step", W, 5, STEP_ID, None),
        ],
    ),
    # Stream rules the run shares with steps.
    "malformed-event (a run)": Case(
        clean=CLEAN_RUN,
        broken=[
            *run_start(),
            *lifecycle(),
            ("thread.run.completed", {"id": RUN_ID, "status": "completed"}),
        ],
        # The run's end was refused: it is left in progress.
        expected=[
            *[("malformed-event", E, 7, None, RUN_ID)] * 4,
            ("dangling-run", W, 3, None, RUN_ID),
        ],
    ),
    "duplicate-created (a run)": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), run_event("created"), *lifecycle(), run_event("completed")],
        expected=[("duplicate-created", E, 4, None, RUN_ID)],
    ),
    "after-terminal (a run)": Case(
        clean=CLEAN_RUN,
        broken=[*CLEAN_RUN, run_event("failed")],
        expected=[("after-terminal", E, 9, None, RUN_ID)],
    ),
    "status-mismatch (a run)": Case(
        clean=CLEAN_RUN,
        broken=[
            *run_start(),
            *lifecycle(),
            ("thread.run.completed", run_event("failed")[1]),
        ],
        expected=[("status-mismatch", E, 7, None, RUN_ID)],
    ),
    "illegal-transition (a run)": Case(
        clean=CLEAN_RUN,
        broken=[
            *run_start(),
            *lifecycle(),
            run_event("queued"),
            run_event("in_progress"),
            run_event("completed"),
        ],
        expected=[("illegal-transition", E, 7, None, RUN_ID)],
    ),
    "identity-changed (a run)": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), *lifecycle(), run_event("completed", created_at=1)],
        expected=[("identity-changed", E, 7, None, RUN_ID)],
    ),
    "function-call-without-action": Case(
        clean=two_streams(),
        broken=[
            *run_start(),
            *tool_step_waiting(),
            completed(details=CALLED),
            *lifecycle("step_2"),
            run_event("completed"),
            DONE,
        ],
        expected=[("function-call-without-action", E, 7, STEP_ID, RUN_ID)],
    ),
    "dangling-run": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), *lifecycle(), DONE],
        expected=[("dangling-run", W, 3, None, RUN_ID)],
    ),
    "run-stamp-mismatch (an entity rule, located)": Case(
        clean=CLEAN_RUN,
        broken=[*run_start(), *lifecycle(), run_event("completed", completed_at=None)],
        expected=[("run-stamp-mismatch", E, 7, None, RUN_ID)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_run_rule_is_reported_with_its_code_severity_line_step_and_run(name: str) -> None:
    case = CASES[name]
    assert [key for key in run_keys(replay(case.clean)) if key[1] is E] == []
    assert run_keys(replay(case.broken)) == case.expected


def test_the_examples_cover_every_cross_entity_rule() -> None:
    """A new rule tying steps to runs needs an example in CASES."""
    cross = {
        "step-outside-run",
        "run-finished-with-open-steps",
        "step-run-mismatch",
        "step-outlives-run",
        "expiry-not-propagated",
        "tool-calls-without-action",
        "function-call-without-action",
        "dangling-run",
    }
    assert cross <= set(CATALOGUE)
    assert cross <= {name.split(" ")[0] for name in CASES}


def test_the_clean_examples_have_no_finding_at_all() -> None:
    for name in ("step-run-mismatch", "step-outlives-run", "run-finished-with-open-steps"):
        tracker = replay(CASES[name].clean)
        assert tracker.findings == [], name


def test_a_tool_call_round_trip_across_two_streams_is_clean() -> None:
    tracker = replay(two_streams())
    assert tracker.findings == []
    assert tracker.run_statuses == {"completed": 1}
    assert tracker.steps_per_run == {2: 1}
    assert tracker.runs[RUN_ID].status == "completed"


def test_the_awaited_step_may_end_only_while_the_run_waits_or_after() -> None:
    # The awaited step completes before the run is queued again: clean. A step the
    # run did not wait for may not end while it waits.
    events = [
        *run_start(),
        *tool_step_waiting(),
        created("step_2"),
        in_progress("step_2"),
        run_event("requires_action"),
        completed(STEP_ID, details=CALLED),
        completed("step_2"),
    ]
    tracker = replay(events, finish=False)
    assert run_keys(tracker) == [("step-outside-run", E, 11, "step_2", RUN_ID)]


def test_a_run_first_seen_waiting_admits_the_end_of_any_of_its_steps() -> None:
    # The capture starts mid-run: what the run waits for is not known.
    events = [
        run_event("requires_action"),
        completed(details=CALLED),
        run_event("queued"),
        run_event("in_progress"),
        run_event("completed"),
    ]
    tracker = replay(events)
    assert keys(tracker.findings) == [("adopted-step", W, 2, STEP_ID)]


def test_a_late_expiry_of_a_step_open_when_its_run_expired_is_accepted() -> None:
    events = [*CASES["expiry-not-propagated"].clean]
    tracker = replay(events)
    assert tracker.findings == []
    assert tracker.run_statuses == {"expired": 1}
    assert tracker.status_of(STEP_ID) == "expired"


def test_a_step_ending_otherwise_after_its_run_expired_is_outside_the_run() -> None:
    events = [
        *run_start(),
        *tool_step_waiting(),
        run_event("requires_action"),
        run_event("expired"),
        completed(details=CALLED),
    ]
    tracker = replay(events)
    assert run_keys(tracker) == [
        ("step-outside-run", E, 9, STEP_ID, RUN_ID),
        ("expiry-not-propagated", W, 8, STEP_ID, RUN_ID),
    ]


def test_a_step_ending_after_its_run_with_a_later_stamp_also_outlives_it() -> None:
    events = [
        *run_start(),
        created(),
        in_progress(),
        run_event("completed"),
        terminal("completed", at=RUN_ENDED + 5),
    ]
    tracker = replay(events)
    assert [f.rule for f in tracker.findings] == [
        "run-finished-with-open-steps",
        "step-outside-run",
        "step-outlives-run",
    ]


def test_steps_whose_run_is_never_seen_are_checked_alone() -> None:
    tracker = replay([*lifecycle(), *lifecycle("step_2", run_id="run_2")])
    assert tracker.findings == []
    assert tracker.runs == {}
    assert tracker.run_statuses == {}


def test_run_events_are_only_counted_when_runs_are_not_followed() -> None:
    broken = CASES["step-outside-run (created while queued)"].broken
    tracker = replay(broken, follow_runs=False)
    assert tracker.findings == []
    assert tracker.event_names["thread.run.created"] == 1
    assert tracker.runs == {}
    assert tracker.steps_per_run == {}


def test_each_run_is_reported_by_its_last_status_with_its_number_of_steps() -> None:
    events = [
        *run_start("run_a"),
        *lifecycle("step_a1", run_id="run_a"),
        *lifecycle("step_a2", run_id="run_a"),
        run_event("completed", "run_a"),
        *run_start("run_b"),
        created("step_b1", run_id="run_b"),
        *run_start("run_c"),
    ]
    tracker = replay(events, finish=False)
    assert tracker.run_statuses == {"completed": 1, "in_progress": 2}
    assert tracker.steps_per_run == {2: 1, 1: 1, 0: 1}


def test_rules_can_relax_a_cross_entity_rule() -> None:
    broken = CASES["run-finished-with-open-steps"].broken
    relaxed = replay(broken, rules=Rules(severity={"run-finished-with-open-steps": "warning"}))
    assert (relaxed.findings[0].rule, relaxed.findings[0].severity) == (
        "run-finished-with-open-steps",
        W,
    )
    ignored = replay(broken, rules=Rules(ignore={"run-finished-with-open-steps"}))
    assert "run-finished-with-open-steps" not in {f.rule for f in ignored.findings}


@pytest.mark.parametrize(
    "name",
    [name for name, case in CASES.items() if any(key[1] is E for key in case.expected)],
)
def test_strict_mode_refuses_the_breaking_event_and_keeps_the_state(name: str) -> None:
    broken = CASES[name].broken
    tracker = Tracker(strict=True)
    for index, (event, data) in enumerate(broken, 1):
        before = (
            dict(tracker.runs),
            tracker.run_statuses,
            tracker.steps_per_run,
            tracker.live_ids,
            tracker.events,
        )
        try:
            tracker.feed(event, data, line=index)
        except StreamError as exc:
            severity = exc.finding.severity
        else:
            continue
        assert severity is E
        after = (
            dict(tracker.runs),
            tracker.run_statuses,
            tracker.steps_per_run,
            tracker.live_ids,
            tracker.events,
        )
        assert after == before
        return
    pytest.fail(f"{name}: strict mode raised nothing")


def test_a_cross_rule_finding_names_the_run_in_its_message() -> None:
    tracker = replay(CASES["step-outside-run (created while queued)"].broken)
    assert tracker.findings[0].message == (
        f"step {STEP_ID!r} was created while its run {RUN_ID!r} is queued"
    )


@given(st.permutations(["created", "queued", "in_progress", "completed"]))
def test_run_events_in_any_order_never_raise_and_keep_the_counts_consistent(
    order: list[str],
) -> None:
    events = [run_event(kind) for kind in order]
    tracker = replay(events)
    assert sum(tracker.run_statuses.values()) == 1
    assert sum(tracker.steps_per_run.values()) == 1
    # Any other order repeats a creation, goes backwards or follows the end.
    assert tracker.valid == (order == ["created", "queued", "in_progress", "completed"])


def test_a_message_delta_under_an_in_progress_run_is_admitted() -> None:
    events = [
        *run_start(),
        created(),
        delta(STEP_ID, MESSAGE_DELTA),
        completed(),
        run_event("completed"),
    ]
    assert replay(events).findings == []


def test_a_run_snapshot_repeated_as_sent_is_checked_once() -> None:
    # ``created`` then ``queued`` usually carry one payload: its problem is reported
    # once, at the event that first sent it, not again for the identical repeat.
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    name, queued = run_event("created", usage=usage)
    events = [(name, queued), ("thread.run.queued", queued), run_event("in_progress")]
    tracker = replay([*events, run_event("completed")])
    assert run_keys(tracker) == [("run-usage-before-terminal", E, 1, None, RUN_ID)]


def test_a_repeated_run_snapshot_under_another_event_name_is_still_a_mismatch() -> None:
    # The repeat skips the snapshot's checks, not what the event's name claims.
    _, queued = run_event("created")
    tracker = replay([("thread.run.created", queued), ("thread.run.in_progress", queued)])
    assert run_keys(tracker) == [
        ("status-mismatch", E, 2, None, RUN_ID),
        ("dangling-run", W, 2, None, RUN_ID),
    ]
    assert tracker.run_statuses == {"queued": 1}


def test_a_repeated_run_snapshot_after_the_run_ended_is_after_terminal() -> None:
    ended = run_event("completed")
    tracker = replay([*run_start(), ended, ended])
    assert run_keys(tracker) == [("after-terminal", E, 5, None, RUN_ID)]
    assert tracker.run_statuses == {"completed": 1}


def test_a_second_created_with_the_same_snapshot_is_a_duplicate() -> None:
    tracker = replay([run_event("created"), run_event("created")])
    assert run_keys(tracker) == [
        ("duplicate-created", E, 2, None, RUN_ID),
        ("dangling-run", W, 1, None, RUN_ID),
    ]


def test_one_run_dict_changed_in_place_and_fed_again_is_followed_each_time() -> None:
    _, data = run_event("created")
    tracker = Tracker()
    for kind in ("created", "queued", "in_progress"):
        data["status"] = "queued" if kind == "created" else kind
        if kind == "in_progress":
            data["started_at"] = data["created_at"]
        tracker.feed(f"thread.run.{kind}", data)
    assert tracker.findings == []
    assert tracker.run_statuses == {"in_progress": 1}
    assert tracker.runs[RUN_ID].started_at == data["created_at"]
