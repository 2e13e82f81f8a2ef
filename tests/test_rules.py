"""The rule catalogue: each entity rule's clean and broken case, and tuning with `Rules`."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import steplife
from helpers import CREATED, finished, make_step, make_tool_step
from steplife import CATALOGUE, Finding, Rules, RunStep, Severity, SteplifeError, UnknownRuleError
from steplife.model import (
    STEP_STAMPS,
    FileSearch,
    FileSearchRankingOptions,
    FileSearchToolCall,
    LastError,
    ToolCallsDetails,
    Usage,
)

ERROR, WARNING = Severity.ERROR, Severity.WARNING

CHECKED_RULES = {
    "object-type",
    "details-type-mismatch",
    "stamp-mismatch",
    "stamp-before-created",
    "usage-before-completion",
    "usage-without-completion",
    "usage-missing",
    "usage-total",
    "error-without-failure",
    "failure-without-error",
    "metadata-limits",
    "unknown-value",
}


def ranked(ranker: str) -> RunStep:
    options = FileSearchRankingOptions(ranker=ranker, score_threshold=0.5)
    call = FileSearchToolCall(id="call_1", file_search=FileSearch(ranking_options=options))
    details = ToolCallsDetails(tool_calls=[call])
    return finished("completed", type="tool_calls", step_details=details)


def broken(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule, f.severity) for f in findings]


def test_every_rule_with_a_check_has_a_case_here() -> None:
    """A new entity rule must get a clean and a broken case in this module."""
    expected = CHECKED_RULES
    assert expected == {code for code, rule in CATALOGUE.items() if rule.check is not None}


def test_catalogue_is_keyed_by_code_and_codes_are_kebab_case() -> None:
    """Every entry is filed under its own code, a lowercase hyphenated word."""
    expected = list(CATALOGUE)
    assert expected == [rule.code for rule in CATALOGUE.values()]
    bad = [
        code for code in CATALOGUE if not code.replace("-", "").isalpha() or code.lower() != code
    ]
    expected_bad: list[str] = []
    assert expected_bad == bad


@pytest.mark.parametrize(
    "step",
    [
        make_step(),
        make_tool_step(),
        finished("completed"),
        finished("failed"),
        finished("cancelled"),
        finished("expired"),
        finished("completed", completed_at=CREATED),  # a stamp may equal created_at
        finished("completed", usage=Usage.of(0, 0)),
        ranked("auto"),
        ranked("default_2024_08_21"),
        finished("failed", last_error=LastError(code="rate_limit_exceeded", message="slow")),
        make_step(metadata={}),
        make_step(metadata={f"k{i}": "v" for i in range(16)}),
        make_step(metadata={"k" * 64: "v" * 512}),
    ],
    ids=lambda step: f"{step.status}-{step.type}",
)
def test_clean_steps_break_no_rule(step: RunStep) -> None:
    """Valid steps of every status, at the limits of each rule, give no finding."""
    expected: list[Finding] = []
    assert expected == steplife.check(step)


BROKEN: list[Any] = [
    pytest.param(
        make_step(object="thread.run"),
        "object-type",
        ERROR,
        ["'thread.run'", "'thread.run.step'"],
        id="object-type",
    ),
    pytest.param(
        make_step(type="tool_calls"),
        "details-type-mismatch",
        ERROR,
        ["'message_creation'", "'tool_calls'"],
        id="details-type-mismatch",
    ),
    pytest.param(
        finished("completed", completed_at=None),
        "stamp-mismatch",
        ERROR,
        ["'completed'", "completed_at is null"],
        id="stamp-mismatch-missing",
    ),
    pytest.param(
        make_step(failed_at=CREATED + 1),
        "stamp-mismatch",
        ERROR,
        ["'in_progress'", "none of the four", "failed_at is set"],
        id="stamp-mismatch-extra",
    ),
    pytest.param(
        finished("completed", cancelled_at=CREATED + 1),
        "stamp-mismatch",
        ERROR,
        ["exactly completed_at", "cancelled_at is set"],
        id="stamp-mismatch-two-stamps",
    ),
    pytest.param(
        finished("cancelled", cancelled_at=CREATED - 1),
        "stamp-before-created",
        ERROR,
        [f"cancelled_at={CREATED - 1}", f"created_at={CREATED}"],
        id="stamp-before-created",
    ),
    pytest.param(
        make_step(usage=Usage.of(1, 2)),
        "usage-before-completion",
        ERROR,
        ["in_progress"],
        id="usage-before-completion",
    ),
    pytest.param(
        finished("expired", usage=Usage.of(1, 2)),
        "usage-without-completion",
        WARNING,
        ["expired step"],
        id="usage-without-completion",
    ),
    pytest.param(
        finished("completed", usage=None),
        "usage-missing",
        WARNING,
        ["completed without usage"],
        id="usage-missing",
    ),
    pytest.param(
        finished("completed", usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=4)),
        "usage-total",
        ERROR,
        ["total_tokens=4", "= 3"],
        id="usage-total-sum",
    ),
    pytest.param(
        finished("completed", usage=Usage(prompt_tokens=-1, completion_tokens=2, total_tokens=1)),
        "usage-total",
        ERROR,
        ["negative", "-1"],
        id="usage-total-negative",
    ),
    pytest.param(
        finished("completed", last_error=LastError(code="server_error", message="x")),
        "error-without-failure",
        ERROR,
        ["completed step"],
        id="error-without-failure",
    ),
    pytest.param(
        finished("failed", last_error=None),
        "failure-without-error",
        WARNING,
        ["without last_error"],
        id="failure-without-error",
    ),
    pytest.param(
        make_step(metadata={f"k{i}": "v" for i in range(17)}),
        "metadata-limits",
        ERROR,
        ["17 pairs", "at most 16"],
        id="metadata-limits-pairs",
    ),
    pytest.param(
        make_step(metadata={"k" * 65: "v"}),
        "metadata-limits",
        ERROR,
        ["65 chars", "at most 64"],
        id="metadata-limits-key",
    ),
    pytest.param(
        make_step(metadata={"key": "v" * 513}),
        "metadata-limits",
        ERROR,
        ["metadata['key']", "513 chars", "at most 512"],
        id="metadata-limits-value",
    ),
    pytest.param(
        make_step(metadata={"key": 5}),
        "metadata-limits",
        ERROR,
        ["metadata['key']", "not a string"],
        id="metadata-limits-type",
    ),
    pytest.param(
        finished("failed", last_error=LastError(code="overloaded", message="x")),
        "unknown-value",
        WARNING,
        ["last_error.code", "'overloaded'"],
        id="unknown-value-error-code",
    ),
    pytest.param(
        ranked("default-2024-08-21"),
        "unknown-value",
        WARNING,
        [
            "step_details.tool_calls[0].file_search.ranking_options.ranker",
            "'default-2024-08-21'",
        ],
        id="unknown-value-ranker",
    ),
]


@pytest.mark.parametrize(("step", "code", "severity", "mentions"), BROKEN)
def test_broken_step_gives_exactly_its_rule(
    step: RunStep, code: str, severity: Severity, mentions: list[str]
) -> None:
    """Each broken case yields one finding: its code, its severity, a specific message."""
    findings = steplife.check(step)

    expected = [(code, severity)]
    assert expected == broken(findings)
    finding = findings[0]
    assert step.id == finding.step_id
    missing = [text for text in mentions if text not in finding.message]
    not_mentioned: list[str] = []
    assert not_mentioned == missing, finding.message


def test_broken_cases_cover_every_checked_rule() -> None:
    """The table above breaks every rule that has a check at least once."""
    expected = CHECKED_RULES
    assert expected == {param.values[1] for param in BROKEN}


def test_findings_come_in_catalogue_order() -> None:
    """Several broken rules are reported together, in the catalogue's order."""
    step = make_step(object="x", usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=5))

    expected = ["object-type", "usage-before-completion", "usage-total"]
    assert expected == [f.rule for f in steplife.check(step)]


def test_finding_is_error_follows_severity() -> None:
    """`Finding.is_error` is true exactly for error-level findings."""
    expected = [True, False]
    actual = [
        Finding(rule="schema", severity=ERROR, message="m").is_error,
        Finding(rule="usage-missing", severity=WARNING, message="m").is_error,
    ]
    assert expected == actual


def test_rules_ignore_drops_the_rule() -> None:
    """An ignored rule is not checked at all."""
    step = finished("completed", usage=None)

    expected: list[Finding] = []
    assert expected == steplife.check(step, rules=Rules(ignore={"usage-missing"}))


def test_rules_severity_regrades_the_rule() -> None:
    """A severity override applies to the finding, given as a string or a Severity."""
    step = finished("completed", usage=None)

    expected = [("usage-missing", ERROR)]
    assert expected == broken(Rules(severity={"usage-missing": "error"}).check(step))
    assert expected == broken(Rules(severity={"usage-missing": ERROR}).check(step))


def test_rules_can_downgrade_an_error() -> None:
    """Errors can be relaxed to warnings."""
    step = make_step(object="x")

    expected = [("object-type", WARNING)]
    assert expected == broken(Rules(severity={"object-type": "warning"}).check(step))


def test_ignoring_returns_a_new_rules_and_keeps_the_old_one() -> None:
    """`ignoring` adds codes to a copy; the original still checks them."""
    base = Rules(ignore={"usage-missing"})
    relaxed = base.ignoring("failure-without-error", "object-type")

    expected = frozenset({"usage-missing", "failure-without-error", "object-type"})
    assert expected == relaxed.ignore
    original = frozenset({"usage-missing"})
    assert original == base.ignore
    still_checked = ["failure-without-error"]
    assert still_checked == [f.rule for f in base.check(finished("failed", last_error=None))]


def test_with_severity_layers_overrides() -> None:
    """`with_severity` applies new overrides on top of the existing ones, on a copy."""
    base = Rules(severity={"usage-missing": "error", "failure-without-error": "error"})
    changed = base.with_severity({"usage-missing": "warning"})

    expected = {"usage-missing": WARNING, "failure-without-error": ERROR}
    assert expected == dict(changed.severity)
    unchanged = ERROR
    assert unchanged == base.severity_of("usage-missing")


def test_severity_of_reports_default_override_and_ignored() -> None:
    """`severity_of` gives the catalogue default, the override, or None when ignored."""
    rules = Rules(ignore={"usage-missing"}, severity={"object-type": "warning"})

    expected = [ERROR, WARNING, None]
    actual = [
        rules.severity_of("usage-total"),
        rules.severity_of("object-type"),
        rules.severity_of("usage-missing"),
    ]
    assert expected == actual


def test_finding_builds_at_the_configured_severity_or_none() -> None:
    """`Rules.finding` grades a stream rule's finding, or drops it when ignored."""
    rules = Rules(ignore={"dangling-step"}, severity={"adopted-step": "error"})

    expected = Finding(rule="adopted-step", severity=ERROR, message="m", step_id="s", path="p")
    assert expected == rules.finding("adopted-step", "m", step_id="s", path="p")
    assert None is rules.finding("dangling-step", "m")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Rules(ignore={"no-such-rule"}),
        lambda: Rules(severity={"no-such-rule": "error"}),
        lambda: Rules().ignoring("no-such-rule"),
        lambda: Rules().with_severity({"no-such-rule": "warning"}),
    ],
    ids=["ignore", "severity", "ignoring", "with_severity"],
)
def test_unknown_rule_code_raises_at_once(make: Any) -> None:
    """A typo in a rule code raises `UnknownRuleError` naming it and the known codes."""
    with pytest.raises(UnknownRuleError) as caught:
        make()

    message = str(caught.value)
    assert message.startswith("unknown rule code 'no-such-rule'; known codes: ")
    assert "usage-missing" in message
    code = "no-such-rule"
    assert code == caught.value.code


def test_unknown_rule_error_is_a_key_error() -> None:
    """`UnknownRuleError` can be caught as KeyError, as a bad lookup would be."""
    with pytest.raises(KeyError):
        Rules(ignore={"nope"})


def test_check_uses_default_rules_unless_given() -> None:
    """`steplife.check` applies the catalogue defaults; `rules=` overrides them."""
    step = finished("completed", usage=None)

    by_default = [("usage-missing", WARNING)]
    assert by_default == broken(steplife.check(step))
    ignored: list[Finding] = []
    assert ignored == steplife.check(step, rules=Rules(ignore={"usage-missing"}))


def test_rules_compare_by_configuration() -> None:
    """Two Rules with the same configuration are equal."""
    assert Rules(ignore={"usage-missing"}) == Rules().ignoring("usage-missing")
    assert Rules() != Rules(ignore={"usage-missing"})


def test_a_lone_string_to_ignore_is_one_code() -> None:
    """`Rules(ignore="usage-missing")` ignores that rule, not the letters of its name."""
    rules = Rules(ignore="usage-missing")
    assert frozenset({"usage-missing"}) == rules.ignore


def test_an_unknown_severity_is_a_steplife_error() -> None:
    """A severity other than error/warning is refused with a message naming both."""
    with pytest.raises(SteplifeError) as caught:
        Rules(severity={"usage-missing": "fatal"})
    assert "expected 'error' or 'warning'" in str(caught.value)
    assert isinstance(caught.value, SteplifeError)


def test_the_stamp_reads_follow_the_stamp_table() -> None:
    """`_stamps` reads the fields in the order of `_STAMPS`, derived from the model's table."""
    from steplife import _rules

    values: dict[str, Any] = {name: index for index, name in enumerate(_rules._STAMPS, start=1)}
    step = attrs.evolve(make_step(), **values)

    assert tuple(values.values()) == _rules._stamps(step)
    assert set(_rules._STAMPS) == set(STEP_STAMPS.values())
