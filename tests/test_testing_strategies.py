"""steplife.testing's strategies: valid values the official SDK accepts, limits included."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai.types.beta.threads.runs import RunStep as SdkRunStep

import steplife.testing
from helpers import COSTLY, examples
from steplife import Run, RunStep, Severity, check, from_dict, from_json, to_dict, to_json
from steplife.model import FunctionToolCall, RunStatus, StepStatus
from steplife.testing import (
    function_tool_calls,
    functions,
    metadatas,
    run_steps,
    runs,
    step_details,
    tool_calls,
    tool_calls_details,
)

STATUSES: tuple[StepStatus, ...] = ("in_progress", "completed", "failed", "cancelled", "expired")
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "completed",
    "failed",
    "cancelled",
    "expired",
    "incomplete",
)
RUN_ENDINGS = RUN_STATUSES[4:]
QUIRKS = {"usage-missing", "failure-without-error", "usage-without-completion"}
STRATEGIES = sorted(
    name
    for name in steplife.testing.__all__
    if inspect.isfunction(getattr(steplife.testing, name))
    and "SearchStrategy"
    in str(inspect.signature(getattr(steplife.testing, name)).return_annotation)
)
"""Every public strategy (a plural noun), for the API-style checks."""
# `find` shows what it found; 16 pairs of long unicode text make a repr hypothesis
# warns about, which is no problem here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXISTS = settings(max_examples=2000, database=None, phases=[Phase.generate], derandomize=True)
"""For `find` when only the existence of an example matters: no shrinking.

Derandomized: whether the strategy can draw such an example is a fact about the
strategy, so the search is the same on every run and costs the same each time."""


@given(run_steps())
def test_run_steps_break_no_rule(step: RunStep) -> None:
    """By default a generated step has no finding at all, warnings included."""
    assert check(step) == []


@given(run_steps(allow_warnings=True))
def test_with_warnings_allowed_a_step_still_breaks_no_error_rule(step: RunStep) -> None:
    """``allow_warnings`` adds the quirks of real data, and nothing worse."""
    findings = check(step)
    assert not [f for f in findings if f.severity is Severity.ERROR]
    assert {f.rule for f in findings} <= QUIRKS


@given(run_steps(allow_warnings=True))
def test_the_official_sdk_accepts_every_step_unchanged(step: RunStep) -> None:
    """The SDK's RunStep model loads each step and writes back the same JSON."""
    data = to_dict(step)
    expected = data
    actual = SdkRunStep.model_validate(data).to_dict()
    assert expected == actual


@given(run_steps(allow_warnings=True))
def test_steps_survive_json_both_ways(step: RunStep) -> None:
    """Dict and JSON round trips give back an equal step."""
    assert from_dict(to_dict(step)) == step
    assert from_json(to_json(step)) == step


@examples(COSTLY)
@given(st.data(), st.sampled_from(STATUSES), st.sampled_from(("message_creation", "tool_calls")))
def test_status_and_type_are_the_ones_asked_for(
    data: st.DataObject, status: Any, kind: Any
) -> None:
    """``status=`` and ``type=`` fix what they name."""
    step = data.draw(run_steps(status=status, type=kind))
    assert (status, kind) == (step.status, step.type)


@examples(COSTLY)
@given(st.data())
def test_several_statuses_can_be_asked_for(data: st.DataObject) -> None:
    """``status=`` also takes a collection; every step is in one of them."""
    chosen = data.draw(st.sets(st.sampled_from(STATUSES), min_size=1))
    assert data.draw(run_steps(status=chosen)).status in chosen


@given(run_steps(type="tool_calls"))
def test_function_outputs_follow_the_status(step: RunStep) -> None:
    """No output before the tool outputs are submitted; always one once completed."""
    assert step.step_details.type == "tool_calls"
    outputs = [
        call.function.output
        for call in step.step_details.tool_calls
        if isinstance(call, FunctionToolCall)
    ]
    if step.status == "in_progress":
        assert all(output is None for output in outputs)
    if step.status == "completed":
        assert all(output is not None for output in outputs)


@given(run_steps(step_details=step_details(type="message_creation"), metadata=st.none()))
def test_details_and_metadata_strategies_can_be_given(step: RunStep) -> None:
    """``step_details=`` and ``metadata=`` replace the defaults."""
    assert step.type == "message_creation"
    assert step.metadata is None


@given(run_steps(status="completed"))
def test_stamps_never_precede_creation(step: RunStep) -> None:
    """The terminal stamp is at or after ``created_at``."""
    assert step.completed_at is not None
    assert step.completed_at >= step.created_at


@pytest.mark.parametrize(
    ("what", "condition"),
    [
        ("16 pairs", lambda m: len(m) == 16),
        ("a 64-char key", lambda m: any(len(k) == 64 for k in m)),
        ("a 512-char value", lambda m: any(len(v) == 512 for v in m.values())),
        (
            "everything at its limit",
            lambda m: len(m) == 16 and all(len(k) == 64 and len(v) == 512 for k, v in m.items()),
        ),
        ("non-ASCII text", lambda m: any(not (k + v).isascii() for k, v in m.items())),
        ("the empty metadata", lambda m: m == {}),
    ],
)
def test_metadata_reaches_every_limit(what: str, condition: Any) -> None:
    """Each boundary of the metadata rule is drawn, and never crossed."""
    found = find(metadatas(), condition, settings=EXISTS)
    assert len(found) <= 16, what
    assert all(len(k) <= 64 and len(v) <= 512 for k, v in found.items()), what


def test_a_step_shrinks_to_a_small_readable_one() -> None:
    """The smallest step is an in_progress message step with short ids and no metadata."""
    step = find(
        run_steps(),
        lambda s: True,
        settings=settings(database=None, phases=[Phase.generate, Phase.shrink]),
    )
    assert step.status == "in_progress"
    assert step.metadata is None
    assert len(to_json(step)) < 400


@given(tool_calls(types=["function"]))
def test_tool_calls_can_be_limited_to_some_variants(call: Any) -> None:
    """``types=`` picks the tool-call variants."""
    assert isinstance(call, FunctionToolCall)


@given(function_tool_calls(output=False), functions(output=True))
def test_function_output_can_be_forced_either_way(call: FunctionToolCall, body: Any) -> None:
    """``output=False`` never sets it, ``output=True`` always does."""
    assert call.function.output is None
    assert body.output is not None


@given(tool_calls_details(min_calls=2, max_calls=2))
def test_tool_calls_details_hold_as_many_calls_as_asked(details: Any) -> None:
    """``min_calls``/``max_calls`` bound the number of calls."""
    assert len(details.tool_calls) == 2


@given(runs())
def test_runs_break_no_rule(run: Run) -> None:
    """By default a generated run has no finding at all."""
    assert check(run) == []


@given(runs(allow_warnings=True))
def test_with_warnings_allowed_a_run_only_fails_without_its_error(run: Run) -> None:
    """The one warning-level run rule is the only one ``allow_warnings`` lets through."""
    assert {f.rule for f in check(run)} <= {"run-failure-without-error"}


@given(runs(allow_warnings=True))
def test_runs_survive_json_both_ways(run: Run) -> None:
    """Dict and JSON round trips give back an equal run."""
    assert from_dict(to_dict(run), Run) == run
    assert from_json(to_json(run), Run) == run


@given(st.data(), st.sampled_from(RUN_STATUSES))
def test_a_run_carries_what_its_status_does(data: st.DataObject, status: Any) -> None:
    """Each status has its fields, and only those; stamps follow creation and start."""
    run = data.draw(runs(status=status))
    assert run.status == status
    assert (run.required_action is not None) == (status == "requires_action")
    if run.required_action is not None:
        assert run.required_action.submit_tool_outputs is not None
        assert run.required_action.submit_tool_outputs.tool_calls
    assert (run.last_error is not None) == (status == "failed")
    assert (run.incomplete_details is not None) == (status == "incomplete")
    assert (run.usage is not None) <= (status in RUN_ENDINGS)
    assert (run.usage is not None) >= (status == "completed")
    if status in ("in_progress", "requires_action", "completed", "incomplete"):
        assert run.started_at is not None
    start = run.created_at if run.started_at is None else run.started_at
    assert start >= run.created_at
    for stamp in (run.cancelled_at, run.failed_at, run.completed_at):
        assert stamp is None or stamp >= start
    assert (run.expires_at is None) == (status in RUN_ENDINGS and status != "expired")


@given(st.data())
def test_several_run_statuses_can_be_asked_for(data: st.DataObject) -> None:
    """``status=`` also takes a collection; every run is in one of them."""
    chosen: set[RunStatus] = data.draw(st.sets(st.sampled_from(RUN_STATUSES), min_size=1))
    assert data.draw(runs(status=chosen)).status in chosen


def test_a_run_shrinks_to_a_small_readable_one() -> None:
    """The smallest run is a queued one, not started, with short ids."""
    run = find(
        runs(),
        lambda r: True,
        settings=settings(database=None, phases=[Phase.generate, Phase.shrink]),
    )
    assert run.status == "queued"
    assert run.started_at is None
    assert len(to_json(run)) < 400


@pytest.mark.parametrize(
    "make",
    [
        lambda: runs(status="done"),  # type: ignore[arg-type]
        lambda: runs(status=[]),
        lambda: runs(status="in_progres"),  # type: ignore[arg-type]
        lambda: runs(allow_warnings=1),  # type: ignore[arg-type]
        lambda: run_steps(status="done"),  # type: ignore[arg-type]
        lambda: run_steps(status=[]),
        lambda: run_steps(status=5),  # type: ignore[arg-type]
        lambda: run_steps(type="file_search"),  # type: ignore[arg-type]
        lambda: run_steps(type="tool_calls", step_details=step_details()),
        lambda: run_steps(step_details=5),  # type: ignore[arg-type]
        lambda: run_steps(metadata={}),  # type: ignore[arg-type]
        lambda: run_steps(allow_warnings="yes"),  # type: ignore[arg-type]
        lambda: step_details(type="function"),  # type: ignore[arg-type]
        lambda: tool_calls(types=["retrieval"]),
        lambda: tool_calls(types=[]),
        lambda: functions(output="yes"),  # type: ignore[arg-type]
        lambda: tool_calls_details(min_calls=3, max_calls=2),
        lambda: tool_calls_details(min_calls=-1),
        lambda: tool_calls_details(max_calls=True),
        lambda: steplife.testing.code_interpreters(max_outputs=-1),
    ],
)
def test_bad_arguments_are_refused_at_once(make: Any) -> None:
    """Arguments are checked when the strategy is made, before anything is drawn."""
    with pytest.raises(InvalidArgument):
        make()


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategies_follow_the_hypothesis_api_style(name: str) -> None:
    """Plural nouns, every argument keyword-only with a default, and a docstring."""
    strategy = getattr(steplife.testing, name)
    parameters = inspect.signature(strategy).parameters.values()
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters), name
    assert all(p.default is not p.empty for p in parameters), name
    assert strategy.__doc__


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_draws(name: str) -> None:
    """Each public strategy can be drawn from with its defaults."""
    find(getattr(steplife.testing, name)(), lambda _: True, settings=EXISTS)
