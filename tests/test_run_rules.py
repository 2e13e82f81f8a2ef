"""The run entity rules: one clean and one broken example each, grading, and dispatch."""

from __future__ import annotations

import copy
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import steplife
from helpers import FakeClock, make_step
from steplife import CATALOGUE, Finding, Rules, Run, RunLifecycle, Severity, from_dict, to_dict
from steplife._rules import DEFAULT_RULES
from steplife.model import (
    IncompleteDetails,
    LastError,
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    SubmitToolOutputs,
    Usage,
)

CREATED: Final = 1_700_000_000
USAGE: Final = Usage.of(10, 5)
ERROR: Final = LastError(code="server_error", message="boom")
DETAILS: Final = IncompleteDetails(reason="max_prompt_tokens")
ACTION: Final = RequiredAction(
    submit_tool_outputs=SubmitToolOutputs(
        tool_calls=[
            RequiredToolCall(id="call_1", function=RequiredFunction(name="f", arguments="{}"))
        ]
    )
)
E, W = Severity.ERROR, Severity.WARNING


def run(status: str = "queued", **changes: Any) -> Run:
    """A clean run of `status` created at `CREATED`, then `changes` (which may break it)."""
    fields: dict[str, Any] = {}
    if status != "queued":
        fields["started_at"] = CREATED + 1
    stamp = {"cancelled": "cancelled_at", "failed": "failed_at", "completed": "completed_at"}
    if status in stamp:
        fields[stamp[status]] = CREATED + 5
    if status in ("cancelled", "failed", "completed", "incomplete", "expired"):
        fields["usage"] = USAGE
    if status == "requires_action":
        fields["required_action"] = ACTION
    if status == "failed":
        fields["last_error"] = ERROR
    if status == "incomplete":
        fields["incomplete_details"] = DETAILS
    base = Run(
        id="run_1",
        created_at=CREATED,
        assistant_id="asst_1",
        thread_id="thread_1",
        status=status,  # type: ignore[arg-type]  # the examples name statuses as str
        **fields,
    )
    return attrs.evolve(base, **changes)


@attrs.frozen
class Example:
    """A rule, a run that keeps it, a run that breaks it, and the exact finding."""

    code: str
    clean: Run
    broken: Run
    severity: Severity
    message: str


EXAMPLES: Final = [
    Example(
        "run-object-type",
        run("completed"),
        run("completed", object="thread.run.step"),
        E,
        "object is 'thread.run.step', expected 'thread.run'",
    ),
    Example(
        "run-stamp-mismatch",
        run("completed"),
        run("completed", completed_at=None),
        E,
        "run status 'completed' needs exactly completed_at, but completed_at is null",
    ),
    Example(
        "run-stamp-mismatch",
        run("in_progress"),
        run("in_progress", failed_at=CREATED + 2, cancelled_at=CREATED + 2),
        E,
        "run status 'in_progress' needs none of cancelled_at, failed_at, completed_at, "
        "but cancelled_at is set and failed_at is set",
    ),
    Example(
        "run-stamp-mismatch",
        # An incomplete run did finish: completed_at is allowed on it.
        run("incomplete", completed_at=CREATED + 5),
        run("expired", cancelled_at=CREATED + 5),
        E,
        "run status 'expired' needs none of cancelled_at, failed_at, completed_at, "
        "but cancelled_at is set",
    ),
    Example(
        "run-stamp-mismatch",
        run("cancelled"),
        run("cancelled", cancelled_at=None, completed_at=CREATED + 5),
        E,
        "run status 'cancelled' needs exactly cancelled_at, "
        "but cancelled_at is null and completed_at is set",
    ),
    Example(
        "run-stamp-before-created",
        run("failed", started_at=CREATED, failed_at=CREATED),
        run("failed", started_at=CREATED - 2, failed_at=CREATED - 1),
        E,
        f"started_at={CREATED - 2}, failed_at={CREATED - 1} precedes created_at={CREATED}",
    ),
    Example(
        "run-usage-before-terminal",
        run("expired"),
        run("requires_action", usage=USAGE),
        E,
        "usage is set while the run is requires_action; it stays null until the run ends",
    ),
    Example(
        "run-usage-total",
        run("completed", usage=Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)),
        run("completed", usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=4)),
        E,
        "total_tokens=4 but prompt_tokens + completion_tokens = 3",
    ),
    Example(
        "run-usage-total",
        run("incomplete"),
        run("incomplete", usage=Usage(prompt_tokens=-1, completion_tokens=2, total_tokens=1)),
        E,
        "token counts must not be negative: -1, 2, 1",
    ),
    Example(
        "run-required-action",
        run("requires_action"),
        run("requires_action", required_action=None),
        E,
        "the run requires action but required_action is null",
    ),
    Example(
        "run-required-action",
        run("cancelling"),
        run("cancelling", required_action=ACTION),
        E,
        "required_action is set on the cancelling run; only requires_action runs carry it",
    ),
    Example(
        "run-error-without-failure",
        run("failed"),
        run("completed", last_error=ERROR),
        E,
        "last_error is set on the completed run; only failed runs carry one",
    ),
    Example(
        "run-failure-without-error",
        run("failed"),
        run("failed", last_error=None),
        W,
        "the run failed without last_error",
    ),
    Example(
        "run-incomplete-details",
        run("incomplete"),
        run("incomplete", incomplete_details=None),
        E,
        "the run is incomplete but incomplete_details is null",
    ),
    Example(
        "run-incomplete-details",
        run("queued"),
        run("queued", incomplete_details=DETAILS),
        E,
        "incomplete_details is set on the queued run",
    ),
]
RUN_RULES: Final = frozenset(code for code, rule in CATALOGUE.items() if rule.scope == "run")


def example_id(example: Example) -> str:
    return f"{example.code}:{example.broken.status}"


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_the_clean_example_breaks_no_rule(example: Example) -> None:
    """The clean run of each example gives no finding at all."""
    expected: list[Finding] = []
    assert expected == DEFAULT_RULES.check_run(example.clean)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_the_broken_example_breaks_exactly_its_rule(example: Example) -> None:
    """The broken run gives one finding: the rule's code, severity and exact message."""
    expected = [
        Finding(
            rule=example.code,
            severity=example.severity,
            message=example.message,
            run_id="run_1",
        )
    ]
    assert expected == DEFAULT_RULES.check_run(example.broken)


def test_the_examples_cover_every_run_rule() -> None:
    """Each rule the catalogue scopes to runs has an example, and nothing else has."""
    assert RUN_RULES == {example.code for example in EXAMPLES}


def test_the_run_rules_are_the_documented_nine() -> None:
    """The catalogue holds the nine run rules the issue lists, with their severities."""
    expected = {
        "run-object-type": E,
        "run-stamp-mismatch": E,
        "run-stamp-before-created": E,
        "run-usage-before-terminal": E,
        "run-usage-total": E,
        "run-required-action": E,
        "run-error-without-failure": E,
        "run-failure-without-error": W,
        "run-incomplete-details": E,
    }
    assert expected == {code: CATALOGUE[code].severity for code in RUN_RULES}


def test_several_broken_rules_come_in_catalogue_order() -> None:
    """Every broken rule is reported, in the catalogue's order."""
    broken = run(
        "in_progress",
        object="run",
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=3),
        last_error=ERROR,
    )

    expected = [
        "run-object-type",
        "run-usage-before-terminal",
        "run-usage-total",
        "run-error-without-failure",
    ]
    order = list(CATALOGUE)
    actual = [f.rule for f in DEFAULT_RULES.check_run(broken)]
    assert expected == actual
    assert sorted(actual, key=order.index) == actual


# -- Rules(ignore=..., severity=...) -----------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_an_ignored_run_rule_is_not_reported(example: Example) -> None:
    """Rules(ignore=...) drops a run rule, as it does a step rule."""
    rules = Rules(ignore={example.code})

    expected: list[Finding] = []
    assert expected == rules.check_run(example.broken)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_a_regraded_run_rule_takes_its_new_severity(example: Example) -> None:
    """Rules(severity=...) turns a run error into a warning and a warning into an error."""
    flipped = W if example.severity is E else E
    rules = Rules(severity={example.code: flipped.value})

    expected = [(example.code, flipped)]
    assert expected == [(f.rule, f.severity) for f in rules.check_run(example.broken)]


def test_ignoring_and_with_severity_apply_to_run_rules() -> None:
    """The copying helpers work for run rules too."""
    broken = run("failed", last_error=None, object="x")
    rules = DEFAULT_RULES.ignoring("run-object-type").with_severity(
        {"run-failure-without-error": "error"}
    )

    expected = [("run-failure-without-error", E)]
    assert expected == [(f.rule, f.severity) for f in rules.check_run(broken)]


def test_a_relaxed_run_rule_lets_a_run_load() -> None:
    """Rules passed to run_from_dict grade run rules: an ignored break no longer raises."""
    data = to_dict(run("completed", completed_at=None))

    loaded = from_dict(data, Run, rules=Rules(ignore={"run-stamp-mismatch"}))

    assert run("completed", completed_at=None) == loaded


# -- steplife.check dispatch ------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_check_dispatches_a_run_to_the_run_rules(example: Example) -> None:
    """steplife.check(run) gives the run's findings, graded by the rules given."""
    expected: tuple[list[Finding], list[Finding]] = (
        DEFAULT_RULES.check_run(example.broken),
        [],
    )
    actual = (
        steplife.check(example.broken),
        steplife.check(example.broken, rules=Rules(ignore={example.code})),
    )
    assert expected == actual
    assert actual[0], "the broken example must give a finding"


def test_check_still_dispatches_a_step_to_the_step_rules() -> None:
    """A step is checked by the step rules, never the run rules."""
    findings = steplife.check(make_step(object="thread.run"))

    expected = [("object-type", None, "step_1")]
    assert expected == [(f.rule, f.run_id, f.step_id) for f in findings]


def test_run_findings_name_the_run_not_a_step() -> None:
    """A run finding carries run_id and no step_id or path."""
    (finding,) = steplife.check(run("queued", object="x"))

    expected = ("run_1", None, None)
    assert expected == (finding.run_id, finding.step_id, finding.path)


def test_a_run_with_an_unknown_status_gets_the_status_independent_rules() -> None:
    """A status set in code outside RunStatus still has its object checked."""
    broken = run("queued", object="x")
    bogus: Any = "bogus"
    broken.status = bogus

    expected = ["run-object-type"]
    assert expected == [f.rule for f in steplife.check(broken)]


# -- runs built by the lifecycle are clean --------------------------------------------------------

LEGAL_NEXT: Final = {
    "queued": ("start", "request_cancel", "fail", "expire"),
    "in_progress": (
        "require_action",
        "request_cancel",
        "fail",
        "complete",
        "mark_incomplete",
        "expire",
    ),
    "requires_action": ("queue", "start", "request_cancel", "expire"),
    "cancelling": ("cancel", "fail", "complete", "mark_incomplete", "expire"),
}
"""The triggers legal from each non-terminal status (the documented edges)."""


def payload_for(trigger: str, usage: Usage | None) -> dict[str, Any]:
    """What `trigger` needs to carry so that the move is clean."""
    payload: dict[str, Any] = {}
    if trigger == "require_action":
        payload["required_action"] = copy.deepcopy(ACTION)
    elif trigger == "fail":
        payload["last_error"] = ERROR
    elif trigger == "mark_incomplete":
        payload["incomplete_details"] = DETAILS
    if trigger in ("cancel", "fail", "complete", "mark_incomplete", "expire"):
        payload["usage"] = usage
    return payload


@given(
    choices=st.lists(st.integers(min_value=0, max_value=5), max_size=20),
    steps=st.lists(st.integers(min_value=0, max_value=3_600), min_size=20, max_size=20),
    usage=st.none() | st.builds(Usage.of, st.integers(0, 10**6), st.integers(0, 10**6)),
)
def test_runs_built_from_legal_triggers_are_always_clean(
    choices: list[int], steps: list[int], usage: Usage | None
) -> None:
    """Any legal trigger sequence, with its payloads, yields a run no rule objects to.

    Each snapshot also loads back from its JSON unchanged, so a lifecycle-built run
    is a valid wire run.
    """
    clock = FakeClock()
    lifecycle = RunLifecycle(clock=clock)
    current = lifecycle.create(id="run_1", thread_id="thread_1", assistant_id="asst_1")
    for choice, seconds in zip(choices, steps, strict=False):
        if current.is_terminal:
            break
        options = LEGAL_NEXT[current.status]
        trigger = options[choice % len(options)]
        clock.advance(seconds)

        lifecycle.fire(current, trigger, **payload_for(trigger, usage))

        assert [] == steplife.check(current)
        assert current == from_dict(to_dict(current), Run)
