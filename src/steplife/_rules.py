"""The rule catalogue: every invariant steplife checks, with a stable code and severity.

Each entity rule is one small function of a `RunStep` returning a message when the
step breaks it; the same functions serve construction, transitions, JSON loading and
stream replay, so a rule is written exactly once. Stream rules (``unknown-step``,
``after-terminal``, ...) are listed here too, for one catalogue and one way to relax
them, but are detected by the `Tracker`, which alone sees the sequence.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from steplife._model import LAST_ERROR_CODES, RANKERS, STATUSES, FileSearchToolCall, RunStep
from steplife.errors import SteplifeError, UnknownRuleError

__all__ = ["CATALOGUE", "Finding", "Rule", "Rules", "Severity", "check"]


class Severity(enum.StrEnum):
    """How much a broken rule matters: errors fail validation, warnings inform."""

    ERROR = "error"
    WARNING = "warning"


Check = Callable[[RunStep], str | None]


@attrs.frozen
class Rule:
    """One entry of the catalogue: its code, default severity and what it means."""

    code: str
    severity: Severity
    summary: str
    check: Check | None = attrs.field(default=None, eq=False, repr=False)
    statuses: frozenset[str] = attrs.field(
        default=frozenset(STATUSES), kw_only=True, eq=False, repr=False
    )
    """The step statuses the check can fire on; the others skip it (a speed-up only)."""
    reads: frozenset[str] = attrs.field(default=frozenset(), kw_only=True, eq=False, repr=False)
    """The step fields the check looks at: a change elsewhere cannot break it."""


@attrs.frozen(kw_only=True)
class Finding:
    """A broken rule: what (``rule``), how bad, why, and where when known.

    ``path`` is a JSON path inside the step (``step_details.tool_calls[2].id``);
    ``file``, ``line`` (JSONL) and ``event_index`` (1-based, any format) locate the
    event in a stream.
    """

    rule: str
    severity: Severity
    message: str
    step_id: str | None = None
    path: str | None = None
    file: str | None = None
    line: int | None = None
    event_index: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether this finding fails validation."""
        return self.severity is Severity.ERROR


_STAMPS: Final = ("cancelled_at", "completed_at", "expired_at", "failed_at")
_OWN_STAMP: Final = {
    "in_progress": None,
    "cancelled": "cancelled_at",
    "completed": "completed_at",
    "expired": "expired_at",
    "failed": "failed_at",
}
_METADATA_PAIRS: Final = 16
_METADATA_KEY_CHARS: Final = 64
_METADATA_VALUE_CHARS: Final = 512


def _object_type(step: RunStep) -> str | None:
    if step.object == "thread.run.step":
        return None
    return f"object is {step.object!r}, expected 'thread.run.step'"


def _details_type_mismatch(step: RunStep) -> str | None:
    if step.step_details.type == step.type:
        return None
    return f"step_details.type is {step.step_details.type!r} but the step's type is {step.type!r}"


def _stamps(step: RunStep) -> tuple[int | None, int | None, int | None, int | None]:
    # Attribute reads in the order of _STAMPS: much cheaper than getattr in a loop.
    return (step.cancelled_at, step.completed_at, step.expired_at, step.failed_at)


_EXPECTED_SET: Final = {
    status: tuple(name == own for name in _STAMPS) for status, own in _OWN_STAMP.items()
}


def _stamp_mismatch(step: RunStep) -> str | None:
    stamps = _stamps(step)
    expected = _EXPECTED_SET[step.status]
    # Plain comparisons, no generator: this runs on every snapshot.
    if (
        stamps[0] is not None,
        stamps[1] is not None,
        stamps[2] is not None,
        stamps[3] is not None,
    ) == expected:
        return None
    problems = []
    for name, value, wanted in zip(_STAMPS, stamps, expected, strict=True):
        if wanted and value is None:
            problems.append(f"{name} is null")
        elif not wanted and value is not None:
            problems.append(f"{name} is set")
    own = _OWN_STAMP[step.status]
    expected_text = f"exactly {own}" if own else "none of the four *_at stamps"
    return f"status {step.status!r} needs {expected_text}, but {' and '.join(problems)}"


def _stamp_before_created(step: RunStep) -> str | None:
    created = step.created_at
    cancelled, completed, expired, failed = _stamps(step)
    if (
        (cancelled is None or cancelled >= created)
        and (completed is None or completed >= created)
        and (expired is None or expired >= created)
        and (failed is None or failed >= created)
    ):
        return None
    early = [
        f"{name}={value}"
        for name, value in zip(_STAMPS, _stamps(step), strict=True)
        if value is not None and value < created
    ]
    return f"{', '.join(early)} precedes created_at={created}"


def _usage_before_completion(step: RunStep) -> str | None:
    if step.usage is None or step.status != "in_progress":
        return None
    return "usage is set while the step is still in_progress; it must stay null until it ends"


def _usage_without_completion(step: RunStep) -> str | None:
    if step.usage is None or step.status in ("in_progress", "completed"):
        return None
    return f"usage is set on a {step.status} step; only completed steps are expected to carry it"


def _usage_missing(step: RunStep) -> str | None:
    if step.usage is not None or step.status != "completed":
        return None
    return "the step completed without usage"


def _usage_total(step: RunStep) -> str | None:
    usage = step.usage
    if usage is None:
        return None
    prompt, completion, total = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if min(prompt, completion, total) < 0:
        return f"token counts must not be negative: {prompt}, {completion}, {total}"
    if total != prompt + completion:
        return f"total_tokens={total} but prompt_tokens + completion_tokens = {prompt + completion}"
    return None


def _error_without_failure(step: RunStep) -> str | None:
    if step.last_error is None or step.status == "failed":
        return None
    return f"last_error is set on a {step.status} step; only failed steps carry one"


def _failure_without_error(step: RunStep) -> str | None:
    if step.last_error is not None or step.status != "failed":
        return None
    return "the step failed without last_error"


def _metadata_limits(step: RunStep) -> str | None:
    metadata = step.metadata
    if not metadata:
        return None
    problems = []
    if len(metadata) > _METADATA_PAIRS:
        problems.append(f"{len(metadata)} pairs (at most {_METADATA_PAIRS})")
    pairs: Mapping[Any, object] = metadata  # loaded data may hold any JSON value
    for key, value in pairs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(f"metadata[{key!r}] is not a string pair")
            continue
        if len(key) > _METADATA_KEY_CHARS:
            problems.append(f"key {key[:20]!r}... has {len(key)} chars (at most 64)")
        if len(value) > _METADATA_VALUE_CHARS:
            problems.append(f"metadata[{key!r}] has {len(value)} chars (at most 512)")
    return "; ".join(problems) or None


def _unknown_value(step: RunStep) -> str | None:
    # Values that do not decide the lifecycle drift over time (the API once sent the
    # ranker with hyphens); they load, with this warning.
    if step.last_error is None and step.step_details.type != "tool_calls":
        return None
    problems = []
    if step.last_error is not None and step.last_error.code not in LAST_ERROR_CODES:
        problems.append(f"last_error.code {step.last_error.code!r}")
    if step.step_details.type == "tool_calls":
        for i, call in enumerate(step.step_details.tool_calls):
            if isinstance(call, FileSearchToolCall) and call.file_search.ranking_options:
                ranker = call.file_search.ranking_options.ranker
                if ranker not in RANKERS:
                    path = f"step_details.tool_calls[{i}].file_search.ranking_options.ranker"
                    problems.append(f"{path} {ranker!r}")
    if not problems:
        return None
    return "undocumented value: " + ", ".join(problems)


E, W = Severity.ERROR, Severity.WARNING


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


_ALL_RULES: Final = (
    # Entity rules: checked on every snapshot, wherever it comes from. `reads` names
    # the fields each check looks at, so a transition re-checks only what it changed.
    Rule("object-type", E, "`object` is 'thread.run.step'", _object_type, reads=_f("object")),
    Rule(
        "details-type-mismatch",
        E,
        "`step_details.type` equals `type`",
        _details_type_mismatch,
        reads=_f("type", "step_details"),
    ),
    Rule(
        "stamp-mismatch",
        E,
        "the *_at stamps agree with the status",
        _stamp_mismatch,
        reads=_f("status", *_STAMPS),
    ),
    Rule(
        "stamp-before-created",
        E,
        "no stamp precedes `created_at`",
        _stamp_before_created,
        reads=_f("created_at", *_STAMPS),
    ),
    Rule(
        "usage-before-completion",
        E,
        "no usage while in_progress",
        _usage_before_completion,
        statuses=_f("in_progress"),
        reads=_f("status", "usage"),
    ),
    Rule(
        "usage-without-completion",
        W,
        "usage only on completed steps",
        _usage_without_completion,
        statuses=_f("failed", "cancelled", "expired"),
        reads=_f("status", "usage"),
    ),
    Rule(
        "usage-missing",
        W,
        "a completed step has usage",
        _usage_missing,
        statuses=_f("completed"),
        reads=_f("status", "usage"),
    ),
    Rule(
        "usage-total",
        E,
        "total = prompt + completion, none negative",
        _usage_total,
        reads=_f("usage"),
    ),
    Rule(
        "error-without-failure",
        E,
        "last_error only on failed steps",
        _error_without_failure,
        statuses=_f("in_progress", "completed", "cancelled", "expired"),
        reads=_f("status", "last_error"),
    ),
    Rule(
        "failure-without-error",
        W,
        "a failed step has last_error",
        _failure_without_error,
        statuses=_f("failed"),
        reads=_f("status", "last_error"),
    ),
    Rule(
        "metadata-limits",
        E,
        "metadata: <=16 string pairs, keys<=64, values<=512",
        _metadata_limits,
        reads=_f("metadata"),
    ),
    Rule(
        "unknown-value",
        W,
        "closed string sets hold a documented value",
        _unknown_value,
        reads=_f("last_error", "step_details"),
    ),
    # Loading rules: found by the JSON loader.
    Rule("schema", E, "the JSON has every field, with the right JSON type and enum value"),
    Rule("unknown-key", E, "no undocumented keys (checked only when loading strictly)"),
    # Stream rules: found by the Tracker, which sees the sequence.
    Rule("malformed-event", E, "each event parses and its payload is a valid step or delta"),
    Rule("unknown-step", E, "a delta belongs to a step already seen"),
    Rule("adopted-step", W, "a step's first event is `created`"),
    Rule("duplicate-created", E, "a step is created once"),
    Rule("after-terminal", E, "no event for a step after its terminal event"),
    Rule("status-mismatch", E, "the payload's status matches the event name"),
    Rule("illegal-transition", E, "a status change follows the lifecycle machine"),
    Rule("identity-changed", E, "run, thread, assistant, type and created_at never change"),
    Rule("time-travel", E, "no stamp earlier than one already seen for the step"),
    Rule("delta-type-mismatch", E, "a delta's step_details.type equals the step's type"),
    Rule("snapshot-diverged", W, "the terminal step_details equal what the deltas built"),
    Rule("dangling-step", W, "every step reaches a terminal status by the end of input"),
    Rule("empty-stream", W, "an input holds at least one event"),
)

CATALOGUE: Final[Mapping[str, Rule]] = {rule.code: rule for rule in _ALL_RULES}
"""Every rule steplife knows, by code."""


def _codes(value: Iterable[str]) -> frozenset[str]:
    # A lone string is one code, not a set of letters.
    return frozenset((value,) if isinstance(value, str) else value)


def _severities(value: Mapping[str, Severity | str]) -> Mapping[str, Severity]:
    levels = {}
    for code, severity in value.items():
        try:
            levels[code] = Severity(severity)
        except ValueError:
            raise SteplifeError(
                f"severity {severity!r} for {code!r}: expected 'error' or 'warning'"
            ) from None
    return levels


@attrs.frozen
class Rules:
    """Which rules apply and how severe each one is: the catalogue as a user tunes it.

    ``Rules(ignore={"usage-missing"}, severity={"usage-without-completion": "error"})``
    drops one rule and escalates another. Unknown codes raise `UnknownRuleError` at
    once, so a typo cannot silently disable nothing.
    """

    ignore: frozenset[str] = attrs.field(default=frozenset(), converter=_codes)
    severity: Mapping[str, Severity] = attrs.field(factory=dict, converter=_severities)
    _checks: dict[str, tuple[tuple[str, Severity, Check], ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _narrowed: dict[tuple[str, frozenset[str]], tuple[tuple[str, Severity, Check], ...]] = (
        attrs.field(init=False, repr=False, eq=False)
    )

    def __attrs_post_init__(self) -> None:
        for code in (*self.ignore, *self.severity):
            if code not in CATALOGUE:
                raise UnknownRuleError(code, list(CATALOGUE))
        # One list of checks per status, so a check that cannot fire is not even called.
        checks = {
            status: tuple(
                (rule.code, self.severity.get(rule.code, rule.severity), rule.check)
                for rule in _ALL_RULES
                if rule.check is not None
                and rule.code not in self.ignore
                and status in rule.statuses
            )
            for status in STATUSES
        }
        object.__setattr__(self, "_checks", checks)
        object.__setattr__(self, "_narrowed", {})

    def severity_of(self, code: str) -> Severity | None:
        """The severity `code` has under these rules, or None when it is ignored."""
        if code in self.ignore:
            return None
        return self.severity.get(code, CATALOGUE[code].severity)

    def finding(
        self,
        code: str,
        message: str,
        *,
        step_id: str | None = None,
        path: str | None = None,
    ) -> Finding | None:
        """A finding for `code` at its configured severity, or None when it is ignored."""
        severity = self.severity_of(code)
        if severity is None:
            return None
        return Finding(rule=code, severity=severity, message=message, step_id=step_id, path=path)

    def check(self, step: RunStep, *, changed: frozenset[str] | None = None) -> list[Finding]:
        """Every entity rule `step` breaks, in catalogue order; empty when it is clean.

        With `changed` (field names), only the rules that read one of those fields
        run: for a step known to be clean before those fields changed, the result
        is the same, for less work. The lifecycle uses it on transitions.
        """
        checks = self._checks[step.status] if changed is None else self._narrow(step, changed)
        findings = []
        for code, severity, rule_check in checks:
            if (message := rule_check(step)) is not None:
                findings.append(
                    Finding(rule=code, severity=severity, message=message, step_id=step.id)
                )
        return findings

    def _narrow(
        self, step: RunStep, changed: frozenset[str]
    ) -> tuple[tuple[str, Severity, Check], ...]:
        key = (step.status, changed)
        narrowed = self._narrowed.get(key)
        if narrowed is None:
            narrowed = self._narrowed[key] = tuple(
                entry for entry in self._checks[step.status] if CATALOGUE[entry[0]].reads & changed
            )
        return narrowed

    def ignoring(self, *codes: str) -> Rules:
        """A copy that also ignores `codes`."""
        return attrs.evolve(self, ignore=self.ignore | set(codes))

    def with_severity(self, overrides: Mapping[str, Severity | str]) -> Rules:
        """A copy with `overrides` (code to severity) applied on top."""
        return attrs.evolve(self, severity={**self.severity, **_severities(overrides)})


DEFAULT_RULES: Final = Rules()


def check(step: RunStep, *, rules: Rules = DEFAULT_RULES) -> list[Finding]:
    """Every rule `step` breaks, as findings, without raising."""
    return rules.check(step)
