"""The exception hierarchy and the messages each exception builds."""

from __future__ import annotations

import pytest

import steplife
from steplife import (
    Finding,
    IllegalTransitionError,
    InvalidRecordError,
    Severity,
    SteplifeError,
    SteplifeWarning,
    UnknownRuleError,
)
from steplife.errors import ConflictError, RejectedEventError, StoreError

FINDINGS = [
    Finding(rule="schema", severity=Severity.ERROR, message="id: missing", path="id"),
    Finding(rule="usage-missing", severity=Severity.WARNING, message="the step completed"),
]


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (InvalidRecordError, ValueError),
        (IllegalTransitionError, ValueError),
        (UnknownRuleError, KeyError),
        (StoreError, RuntimeError),
        (ConflictError, StoreError),
    ],
)
def test_each_error_is_a_steplife_error_and_its_builtin(
    error: type[Exception], builtin: type[Exception]
) -> None:
    """``except SteplifeError`` and ``except <builtin>`` both catch every steplife error."""
    expected = (True, True)
    assert expected == (issubclass(error, SteplifeError), issubclass(error, builtin))


def test_steplife_warning_is_a_user_warning_carrying_its_finding() -> None:
    """The warning names the rule in its text and keeps the finding."""
    warning = SteplifeWarning(FINDINGS[1])

    expected = ("usage-missing: the step completed", FINDINGS[1])
    assert expected == (str(warning), warning.finding)
    assert isinstance(warning, UserWarning)


def test_invalid_step_error_lists_every_finding() -> None:
    """The message is the summary, then one bullet per finding; all findings are kept."""
    error = InvalidRecordError("invalid run step", FINDINGS)

    expected = (
        "invalid run step:\n"
        "  - error schema: id: missing\n"
        "  - warning usage-missing: the step completed"
    )
    assert expected == str(error)
    assert tuple(FINDINGS) == error.findings


def test_illegal_transition_error_names_step_status_and_trigger() -> None:
    """From in_progress the message says what was tried; the parts are attributes too."""
    error = IllegalTransitionError("step_1", "in_progress", "explode")

    expected = "step 'step_1': cannot explode from status 'in_progress'"
    assert expected == str(error)
    parts = ("step_1", "in_progress", "explode")
    assert parts == (error.record_id, error.status, error.trigger)


def test_illegal_transition_error_from_a_terminal_status_says_so() -> None:
    """From a terminal status the message explains that nothing leaves it."""
    error = IllegalTransitionError("step_1", "completed", "fail", terminal=True)

    expected = (
        "step 'step_1': cannot fail from status 'completed'; "
        "'completed' is terminal, no trigger leaves it"
    )
    assert expected == str(error)


def test_unknown_rule_error_message_is_not_quoted_twice() -> None:
    """Unlike a plain KeyError, str() is the readable message itself."""
    error = UnknownRuleError("nope", ["b-rule", "a-rule"])

    expected = "unknown rule code 'nope'; known codes: a-rule, b-rule"
    assert expected == str(error)
    code = "nope"
    assert code == error.code


def test_conflict_error_keeps_the_current_snapshot() -> None:
    """A conflict says both versions and hands back what the store holds now."""
    current = object()
    error = ConflictError("step_1", expected=3, version=5, current=current)

    expected = (
        "step 'step_1': expected version 3, but the store is at 5; reload the step and decide again"
    )
    assert expected == str(error)
    parts = ("step_1", 3, 5)
    assert parts == (error.step_id, error.expected, error.version)
    assert current is error.current


def test_an_illegal_transition_names_its_catalogue_rule() -> None:
    """The refusal carries the code the catalogue lists for it."""
    error = IllegalTransitionError("step_1", "completed", "cancel")
    assert "illegal-transition" == error.rule
    assert "illegal-transition" in steplife.CATALOGUE


def test_an_error_with_no_finding_ends_with_its_summary() -> None:
    """No dangling colon and empty list: the summary is the whole message."""
    assert "step 'x' rejected" == str(RejectedEventError("step 'x' rejected", []))
    assert "invalid run" == str(InvalidRecordError("invalid run", []))
