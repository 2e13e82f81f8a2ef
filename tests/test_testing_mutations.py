"""steplife.testing's invalid streams: each mutation is reported as exactly its rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from helpers import COSTLY, examples
from steplife import (
    CATALOGUE,
    IllegalTransitionError,
    Lifecycle,
    Severity,
    StreamError,
    Tracker,
    parse,
    validate_file,
)
from steplife.testing import (
    MUTATIONS,
    UNREACHABLE_RULES,
    EventStream,
    InvalidStream,
    event_streams,
    invalid_event_streams,
    replay,
    replay_lines,
    run_steps,
)

# Hypothesis warns when it shows a large example (16 pairs of long metadata, say):
# no problem for these tests, which show examples on purpose or on failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


SHRUNK = settings(database=None, phases=[Phase.generate, Phase.shrink], derandomize=True)
"""For `find` when the smallest example matters: a fixed search, the same on every run.

A random one may stop at a local minimum now and then, which would make a test of the
smallest example flaky.
"""


PER_RULE = settings(max_examples=max(10, settings().max_examples // 8))
"""An eighth of the profile's examples for each rule: 12 by default, 125 in CI.

With some forty rules, that is five times the profile's examples in all, on top of
the test that draws every rule at once."""


CROSS_ENTITY_RULES = (
    "step-outside-run",
    "run-finished-with-open-steps",
    "step-run-mismatch",
    "step-outlives-run",
    "expiry-not-propagated",
    "tool-calls-without-action",
)
RUN_RULES = tuple(code for code, rule in CATALOGUE.items() if rule.scope == "run")


def assert_reported(stream: InvalidStream) -> None:
    """A fresh Tracker (then finish) reports `stream.rule`, and no other error.

    In strict mode the first error raises: it is `stream.rule` too; a warning-level
    rule raises nothing.
    """
    findings = replay_lines(stream.lines).findings
    errors = {f.rule for f in findings if f.severity is Severity.ERROR}
    codes = {f.rule for f in findings}
    if stream.severity is Severity.ERROR:
        assert errors == {stream.rule}, stream.description
        with pytest.raises(StreamError) as raised:
            replay_lines(stream.lines, tracker=Tracker(strict=True))
        assert raised.value.finding.rule == stream.rule, stream.description
    else:
        assert stream.rule in codes, stream.description
        assert errors == set(), stream.description
        strict = replay_lines(stream.lines, tracker=Tracker(strict=True))
        assert stream.rule in {f.rule for f in strict.findings}, stream.description


@examples(COSTLY)
@given(invalid_event_streams())
def test_every_mutation_is_reported_as_exactly_its_rule(stream: InvalidStream) -> None:
    """No false negative, and no other error alongside."""
    assert_reported(stream)


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
@PER_RULE
@given(data=st.data())
def test_each_rule_is_produced_and_reported(rule: str, data: Any) -> None:
    """Every rule of the mapping, drawn on its own, many times each."""
    stream = data.draw(invalid_event_streams(rule=rule))
    assert stream.rule == rule
    assert_reported(stream)


@PER_RULE
@given(invalid_event_streams(base=event_streams(max_steps=2, dangling=True, quirks=True)))
def test_mutations_work_on_any_base_stream(stream: InvalidStream) -> None:
    """A user's base (here: real-capture shapes, steps left open) works too."""
    assert_reported(stream)


@PER_RULE
@given(
    invalid_event_streams(
        base=event_streams(
            max_runs=2,
            types=["tool_calls"],
            run_statuses=["cancelled", "expired", "incomplete"],
            interleave=True,
        )
    )
)
def test_mutations_work_where_runs_and_steps_interlock(stream: InvalidStream) -> None:
    """Runs cancelled while steps stream, expiring before their steps, pausing for tools."""
    assert_reported(stream)


@PER_RULE
@given(invalid_event_streams(base=event_streams(run_events=False, max_steps=2)))
def test_step_rules_need_no_run_events(stream: InvalidStream) -> None:
    """Without run events the step rules are still produced, and reported alone."""
    assert stream.events is None or not any(
        e["event"].startswith("thread.run.") and not e["event"].startswith("thread.run.step.")
        for e in stream.events
    )
    assert_reported(stream)


def test_cross_entity_and_run_rules_each_have_a_mutation() -> None:
    """The rules that tie steps to their run, and the run's own, are all produced."""
    assert set(CROSS_ENTITY_RULES) <= set(MUTATIONS)
    assert set(RUN_RULES) <= set(MUTATIONS)
    assert "illegal-transition" in MUTATIONS


@PER_RULE
@given(invalid_event_streams(rule="dangling-step"))
def test_a_dangling_step_leaves_its_run_without_an_end(stream: InvalidStream) -> None:
    """The capture stops before the run ends: its end is dropped with the step's."""
    tracker = replay_lines(stream.lines)
    dangling = [f.step_id for f in tracker.findings if f.rule == "dangling-step"]
    assert dangling
    for step_id in filter(None, dangling):
        run = tracker.runs.get(tracker.live[step_id].run_id)
        assert run is None or not run.is_terminal


@pytest.mark.parametrize(
    "rule", ["after-terminal", "duplicate-created", "status-mismatch", "identity-changed"]
)
def test_stream_rules_are_produced_on_runs_too(rule: str) -> None:
    """The stream rules that apply to runs have a mutation that breaks them on a run."""
    stream = find(
        invalid_event_streams(rule=rule),
        lambda s: any(f.run_id and not f.step_id for f in replay_lines(s.lines).findings),
        settings=settings(
            database=None, max_examples=2000, phases=[Phase.generate], derandomize=True
        ),
    )
    findings = replay_lines(stream.lines).findings
    assert {f.rule for f in findings if f.severity is Severity.ERROR} == {rule}


RESPONSES_SCOPES = ("response", "item", "response_stream")
"""The Responses API's rules: steplife.testing.responses breaks those (test_responses_testing)."""


def test_the_mapping_covers_the_catalogue() -> None:
    """Each catalogue rule has a mutation or a documented reason why it has none."""
    assistants = {code for code, rule in CATALOGUE.items() if rule.scope not in RESPONSES_SCOPES}
    assert set(MUTATIONS) | set(UNREACHABLE_RULES) == assistants
    assert set(MUTATIONS) & set(UNREACHABLE_RULES) == set()
    assert all(reason for reason in UNREACHABLE_RULES.values())


@pytest.mark.parametrize("rule", sorted(UNREACHABLE_RULES))
def test_unreachable_rules_are_refused_with_their_reason(rule: str) -> None:
    """Asking for a rule no mutation produces says why, at once."""
    with pytest.raises(InvalidArgument, match="no stream mutation"):
        invalid_event_streams(rule=rule)


@pytest.mark.parametrize(
    "arguments",
    [{"rule": "no-such-rule"}, {"rule": []}, {"rule": [1]}, {"base": [1, 2]}],
)
def test_bad_arguments_are_refused_at_once(arguments: dict[str, Any]) -> None:
    """Unknown codes and non-strategies are refused when the strategy is made."""
    with pytest.raises(InvalidArgument):
        invalid_event_streams(**arguments)


@examples(COSTLY)
@given(invalid_event_streams(rule=["after-terminal", "malformed-event"]))
def test_several_rules_can_be_asked_for(stream: InvalidStream) -> None:
    """``rule=`` takes a collection of codes."""
    assert stream.rule in ("after-terminal", "malformed-event")
    assert_reported(stream)


@examples(COSTLY)
@given(invalid_event_streams())
def test_an_invalid_stream_describes_itself(stream: InvalidStream) -> None:
    """Lines end in newlines but perhaps the last; events are there unless a line was cut."""
    assert all(line.endswith(b"\n") for line in stream.lines[:-1])
    assert "line" in stream.description
    assert stream.jsonl == b"".join(stream.lines)
    if stream.events is None:
        assert stream.rule in ("malformed-event", "empty-stream")
    else:
        assert replay(stream.events).findings == replay_lines(stream.lines).findings


def test_an_invalid_stream_shrinks_to_a_few_lines() -> None:
    """The smallest repeated-end stream: one step, its end repeated."""
    stream = find(
        invalid_event_streams(rule="after-terminal", base=event_streams(run_events=False)),
        lambda s: True,
        settings=SHRUNK,
    )
    assert stream.events is not None
    assert [e["event"] for e in stream.events] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.completed",
        "thread.run.step.completed",
    ]


def one_step() -> EventStream:
    return find(
        event_streams(run_events=False, statuses=["completed"]),
        lambda s: True,
        settings=SHRUNK,
    )


def test_time_travel_never_comes_alone() -> None:
    """The nearest stream to time travel also breaks stamp-mismatch: why it is unreachable."""
    stream = copy.deepcopy(one_step())
    _, in_progress, completed = stream
    in_progress["data"]["cancelled_at"] = completed["data"]["completed_at"] + 10
    errors = {f.rule for f in replay(stream).findings if f.severity is Severity.ERROR}
    assert errors == {"stamp-mismatch", "time-travel"}


def test_an_empty_input_is_reported_by_the_tracker_and_validate_file(tmp_path: Path) -> None:
    """No event at all: an empty-stream warning, from the Tracker as from validate_file."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert [f.rule for f in validate_file(str(empty)).findings] == ["empty-stream"]
    assert [f.rule for f in Tracker().finish()] == ["empty-stream"]


def test_illegal_transitions_are_the_lifecycles_and_streams_report_after_terminal() -> None:
    """The Lifecycle refuses a second end; the same in a stream is after-terminal."""
    step = find(run_steps(status="completed"), lambda s: True)
    with pytest.raises(IllegalTransitionError):
        Lifecycle().cancel(step)
    stream = copy.deepcopy(one_step())
    end = copy.deepcopy(stream[-1])
    end["event"] = "thread.run.step.cancelled"
    end["data"].update(status="cancelled", cancelled_at=end["data"]["completed_at"])
    end["data"].update(completed_at=None, usage=None)
    rules = {f.rule for f in replay([*stream, end]).findings}
    assert rules == {"after-terminal"}


def test_schema_problems_in_a_stream_are_malformed_events() -> None:
    """What the loader calls schema, the Tracker reports as a malformed event."""
    stream = copy.deepcopy(one_step())
    stream[-1]["data"]["created_at"] = "yesterday"
    assert {f.rule for f in parse(stream[-1]["data"]).findings} == {"schema"}
    errors = {f.rule for f in replay(stream).findings if f.severity is Severity.ERROR}
    assert errors == {"malformed-event"}
