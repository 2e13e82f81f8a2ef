"""The rule catalogue: every invariant steplife checks, with a stable code and severity.

Each entity rule is one small function of a `RunStep` returning a message when the
step breaks it; the same functions serve construction, transitions, JSON loading and
stream replay, so a rule is written exactly once. Stream rules (``unknown-step``,
``after-terminal``, ...) are listed here too, for one catalogue and one way to relax
them, but are detected by the `Tracker`, which alone sees the sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from steplife._findings import Finding, Severity
from steplife.errors import SteplifeError, UnknownRuleError
from steplife.model import (
    LAST_ERROR_CODES,
    RANKERS,
    RUN_END_STAMPS,
    RUN_STATUSES,
    RUN_TERMINAL_STATUSES,
    STATUSES,
    STEP_STAMPS,
    FileSearchToolCall,
    Run,
    RunStep,
    UnknownToolCall,
    Usage,
)

__all__ = ["CATALOGUE", "Rule", "Rules", "check"]


Check = Callable[[RunStep], str | None]
RunCheck = Callable[[Run], str | None]


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
    run_check: RunCheck | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)
    """For a rule about a run (not a step): the check, given the run."""
    found_by: str | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)
    """What finds a rule with no check function: ``load`` (the JSON loader) or the stream."""

    @property
    def scope(self) -> str:
        """Where the rule applies.

        ``step`` or ``run`` (checks of one object), ``load`` (the JSON loader's), or
        ``stream`` (found by the Tracker in a sequence of events).
        """
        if self.check is not None:
            return "step"
        if self.run_check is not None:
            return "run"
        return self.found_by or "stream"


_STAMPS: Final = tuple(sorted(STEP_STAMPS.values()))
"""The step's terminal stamps, in the order `_stamps` reads them."""
_OWN_STAMP: Final[Mapping[str, str | None]] = {"in_progress": None, **STEP_STAMPS}
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


def latest_stamp(step: RunStep) -> int:
    """The latest time `step` carries: its creation, or a later end stamp."""
    latest = step.created_at
    for stamp in _stamps(step):
        if stamp is not None and stamp > latest:
            latest = stamp
    return latest


def earliest_end_stamp(step: RunStep) -> int | None:
    """The earliest end stamp `step` carries, or None when it has none."""
    earliest = None
    for stamp in _stamps(step):
        if stamp is not None and (earliest is None or stamp < earliest):
            earliest = stamp
    return earliest


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
    return f"usage is set on the {step.status} step; only completed steps are expected to carry it"


def _usage_missing(step: RunStep) -> str | None:
    if step.usage is not None or step.status != "completed":
        return None
    return "the step completed without usage"


def _usage_total(step: RunStep) -> str | None:
    return _usage_problem(step.usage)


def _error_without_failure(step: RunStep) -> str | None:
    if step.last_error is None or step.status == "failed":
        return None
    return f"last_error is set on the {step.status} step; only failed steps carry one"


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
            if isinstance(call, UnknownToolCall):
                problems.append(f"step_details.tool_calls[{i}].type {call.type!r}")
            elif isinstance(call, FileSearchToolCall) and call.file_search.ranking_options:
                ranker = call.file_search.ranking_options.ranker
                if ranker not in RANKERS:
                    path = f"step_details.tool_calls[{i}].file_search.ranking_options.ranker"
                    problems.append(f"{path} {ranker!r}")
    if not problems:
        return None
    return "undocumented value: " + ", ".join(problems)


# -- run rules ---------------------------------------------------------------------

_RUN_OWN_STAMP: Final = RUN_END_STAMPS
_RUN_STAMPS: Final = tuple(RUN_END_STAMPS.values())
"""The run's ending stamps, in the order `_run_stamp_mismatch` reads them."""
_RUN_WAITING: Final = frozenset(("queued", "in_progress", "requires_action", "cancelling"))


def _run_object_type(run: Run) -> str | None:
    if run.object == "thread.run":
        return None
    return f"object is {run.object!r}, expected 'thread.run'"


def _run_stamp_mismatch(run: Run) -> str | None:
    # The clean cases first, in plain comparisons: this runs on every run event.
    if run.cancelled_at is None and run.failed_at is None:
        if run.completed_at is None:
            if run.status not in _RUN_OWN_STAMP:
                return None
        elif run.status == "completed" or run.status == "incomplete":
            return None
    # expired and incomplete runs have no stamp of their own (the API documents
    # none); only the stamps of the other endings are refused on them.
    own = _RUN_OWN_STAMP.get(run.status)
    problems = []
    for name, value in zip(
        _RUN_STAMPS, (run.cancelled_at, run.failed_at, run.completed_at), strict=True
    ):
        if name == own and value is None:
            problems.append(f"{name} is null")
        elif name != own and value is not None:
            if name == "completed_at" and run.status == "incomplete":
                continue  # an incomplete run did finish: the API may stamp completed_at
            problems.append(f"{name} is set")
    if not problems:
        return None
    expected = f"exactly {own}" if own else "none of cancelled_at, failed_at, completed_at"
    return f"run status {run.status!r} needs {expected}, but {' and '.join(problems)}"


def _run_stamp_before_created(run: Run) -> str | None:
    created = run.created_at
    if (
        (run.started_at is None or run.started_at >= created)
        and (run.cancelled_at is None or run.cancelled_at >= created)
        and (run.failed_at is None or run.failed_at >= created)
        and (run.completed_at is None or run.completed_at >= created)
    ):
        return None
    early = [
        f"{name}={value}"
        for name, value in (
            ("started_at", run.started_at),
            ("cancelled_at", run.cancelled_at),
            ("failed_at", run.failed_at),
            ("completed_at", run.completed_at),
        )
        if value is not None and value < created
    ]
    return f"{', '.join(early)} precedes created_at={created}" if early else None


def _run_usage_before_terminal(run: Run) -> str | None:
    if run.usage is None or run.status in RUN_TERMINAL_STATUSES:
        return None
    return f"usage is set while the run is {run.status}; it stays null until the run ends"


def _usage_problem(usage: Usage | None) -> str | None:
    if usage is None:
        return None
    prompt, completion, total = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if min(prompt, completion, total) < 0:
        return f"token counts must not be negative: {prompt}, {completion}, {total}"
    if total != prompt + completion:
        return f"total_tokens={total} but prompt_tokens + completion_tokens = {prompt + completion}"
    return None


def _run_usage_total(run: Run) -> str | None:
    return _usage_problem(run.usage)


def _run_required_action(run: Run) -> str | None:
    waiting = run.status == "requires_action"
    if waiting == (run.required_action is not None):
        return None
    if waiting:
        return "the run requires action but required_action is null"
    return f"required_action is set on the {run.status} run; only requires_action runs carry it"


def _run_error_without_failure(run: Run) -> str | None:
    if run.last_error is None or run.status == "failed":
        return None
    return f"last_error is set on the {run.status} run; only failed runs carry one"


def _run_failure_without_error(run: Run) -> str | None:
    if run.last_error is not None or run.status != "failed":
        return None
    return "the run failed without last_error"


def _run_incomplete_details(run: Run) -> str | None:
    incomplete = run.status == "incomplete"
    if incomplete == (run.incomplete_details is not None):
        return None
    if incomplete:
        return "the run is incomplete but incomplete_details is null"
    return f"incomplete_details is set on the {run.status} run"


E, W = Severity.ERROR, Severity.WARNING
_ANY_RUN_STATUS: Final = frozenset(RUN_STATUSES)


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
        "open value sets (error codes, rankers, tool-call types) hold a documented value",
        _unknown_value,
        reads=_f("last_error", "step_details"),
    ),
    # Loading rules: found by the JSON loader.
    Rule(
        "schema",
        E,
        "the JSON has every field, with the right JSON type and enum value",
        found_by="load",
    ),
    Rule(
        "unknown-key",
        E,
        "no undocumented keys (checked only when loading strictly)",
        found_by="load",
    ),
    # Run rules: checked on every run snapshot (`Rules.check_run`).
    Rule(
        "run-object-type",
        E,
        "a run's `object` is 'thread.run'",
        run_check=_run_object_type,
        statuses=_f(*RUN_STATUSES),
    ),
    Rule(
        "run-stamp-mismatch",
        E,
        "a run's cancelled_at/failed_at/completed_at agree with its status",
        run_check=_run_stamp_mismatch,
        statuses=_f(*RUN_STATUSES),
    ),
    Rule(
        "run-stamp-before-created",
        E,
        "no run stamp precedes the run's `created_at`",
        run_check=_run_stamp_before_created,
        statuses=_f(*RUN_STATUSES),
    ),
    Rule(
        "run-usage-before-terminal",
        E,
        "a run's usage stays null until the run ends",
        run_check=_run_usage_before_terminal,
        statuses=_RUN_WAITING,
    ),
    Rule(
        "run-usage-total",
        E,
        "a run's total = prompt + completion, none negative",
        run_check=_run_usage_total,
        statuses=_f(*RUN_STATUSES),
    ),
    Rule(
        "run-required-action",
        E,
        "required_action is set exactly while the run requires action",
        run_check=_run_required_action,
        statuses=_f(*RUN_STATUSES),
    ),
    Rule(
        "run-error-without-failure",
        E,
        "last_error only on failed runs",
        run_check=_run_error_without_failure,
        statuses=_f(*RUN_STATUSES) - {"failed"},
    ),
    Rule(
        "run-failure-without-error",
        W,
        "a failed run has last_error",
        run_check=_run_failure_without_error,
        statuses=_f("failed"),
    ),
    Rule(
        "run-incomplete-details",
        E,
        "incomplete_details is set exactly on incomplete runs",
        run_check=_run_incomplete_details,
        statuses=_f(*RUN_STATUSES),
    ),
    # Stream rules: found by the Tracker, which sees the sequence. The first ones
    # apply to steps and runs alike.
    Rule(
        "malformed-event",
        E,
        "each event parses and its payload is a valid step, delta, run, response or item",
    ),
    Rule("sse-missing-blank-line", W, "a blank line ends each SSE event"),
    Rule(
        "timestamp-not-unix",
        W,
        "timestamps are Unix seconds (an ISO-8601 date-time is read as the second it names)",
    ),
    Rule("unknown-step", E, "a delta belongs to a step already seen"),
    Rule("adopted-step", W, "a step's first event is `created`"),
    Rule("duplicate-created", E, "a step, run or response is created once, an item added once"),
    Rule(
        "after-terminal",
        E,
        "no event for a step, run, response or output item after its terminal event",
    ),
    Rule("status-mismatch", E, "the payload's status matches the event name"),
    Rule(
        "illegal-transition",
        E,
        "a status change follows its machine (step, run, response, output item)",
    ),
    Rule(
        "identity-changed",
        E,
        "a step's run, thread, assistant, type and created_at (a run's thread, "
        "assistant and created_at; a response's created_at; an item's id and type) never "
        "change",
    ),
    Rule("time-travel", E, "no stamp earlier than one already seen for the step"),
    Rule("delta-type-mismatch", E, "a delta's step_details.type equals the step's type"),
    Rule(
        "snapshot-diverged",
        W,
        "the terminal step_details equal what the deltas built (a finished response's "
        "output holds the very items its stream added)",
    ),
    Rule("dangling-step", W, "every step reaches a terminal status by the end of input"),
    Rule(
        "dangling-run",
        W,
        "every run created in the input reaches a terminal status by its end (one waiting "
        "for tool outputs waits on the client; one with a step open has its dangling-step)",
    ),
    Rule("empty-stream", W, "an input holds at least one event"),
    Rule(
        "unknown-event",
        W,
        "an event named under `thread.run.` (or `response.`) is one the API sends (else a "
        "misspelling, or a newer API's event: passed by)",
    ),
    # Cross-entity rules: a step against its run, when the stream carries run events.
    Rule(
        "step-outside-run",
        E,
        "steps are created only while their run is in_progress, and none moves once it ended",
    ),
    Rule(
        "run-finished-with-open-steps",
        E,
        "a run ends only after each of its steps ended",
    ),
    Rule(
        "step-run-mismatch",
        E,
        "a step's thread_id and assistant_id are its run's",
    ),
    Rule("step-outlives-run", E, "no step stamp is later than its run's terminal stamp"),
    Rule("expiry-not-propagated", W, "when a run expires, its open steps end expired"),
    Rule(
        "function-call-without-action",
        E,
        "a function call completes only after its run required action for it (the client "
        "submits its output)",
    ),
    # Conformance rules: what only the HTTP exchanges of a live server show, found by
    # `steplife conformance` (steplife.conformance), never by a Tracker.
    Rule(
        "stream-not-sse",
        E,
        "a request made with stream=true is answered with server-sent events (text/event-stream)",
        found_by="conformance",
    ),
    Rule(
        "stream-without-end",
        E,
        "an HTTP stream of a run ends with the run's terminal event, or with "
        "thread.run.requires_action (the client's turn)",
        found_by="conformance",
    ),
    Rule(
        "tool-call-not-requested",
        E,
        "a run asks the client for each function's output: thread.run.requires_action, "
        "its required_action listing the call",
        found_by="conformance",
    ),
    Rule(
        "cancel-ignored",
        E,
        "a run whose cancel the server acknowledged ends cancelled",
        found_by="conformance",
    ),
    Rule(
        "request-failed",
        E,
        "each request a scenario makes, as the API documents it, succeeds",
        found_by="conformance",
    ),
    Rule(
        "tool-calls-without-action",
        W,
        "a run requires action only with a function call in an in-progress step",
    ),
    # The Responses API (`steplife.responses`): the successors of runs and steps. Their
    # checks live with their records (`steplife/responses/_checks.py`, which reads
    # this catalogue for severities), so the scope is given here: `response` and `item`
    # for checks of one snapshot, `response_stream` for what a `ResponseTracker` finds
    # in a sequence. The stream rules above that are not about runs or steps alone
    # (malformed-event, after-terminal, status-mismatch, illegal-transition, ...) apply
    # to responses and items too, with the same codes.
    Rule("response-object-type", E, "a response's `object` is 'response'", found_by="response"),
    Rule(
        "response-usage-before-terminal",
        E,
        "a response's usage stays null until it ends",
        found_by="response",
    ),
    Rule(
        "response-usage-total",
        E,
        "a response's total = input + output tokens, none negative",
        found_by="response",
    ),
    Rule(
        "response-error-without-failure",
        E,
        "`error` only on failed responses",
        found_by="response",
    ),
    Rule("response-failure-without-error", W, "a failed response has `error`", found_by="response"),
    Rule(
        "response-incomplete-details",
        E,
        "`incomplete_details` is set exactly on incomplete responses",
        found_by="response",
    ),
    Rule(
        "response-completed-at",
        E,
        "`completed_at` only on completed responses, and not before `created_at`",
        found_by="response",
    ),
    Rule(
        "response-finished-with-open-items",
        E,
        "a response ends only after each of its output items ended (a computer_call, which "
        "waits for the client, excepted)",
        found_by="response",
    ),
    Rule(
        "item-status-type",
        E,
        "an output item's status is one its type has (a message is never `searching`)",
        found_by="item",
    ),
    Rule(
        "sequence-gap",
        E,
        "a numbered stream skips no `sequence_number` (a response's stream counts from 0)",
        found_by="response_stream",
    ),
    Rule(
        "sequence-repeated",
        E,
        "each `sequence_number` is greater than the last, across a resumed stream too",
        found_by="response_stream",
    ),
    Rule(
        "sequence-missing",
        E,
        "a stream numbers all its events or none (captures from before May 2025 number none)",
        found_by="response_stream",
    ),
    Rule(
        "event-type-mismatch",
        E,
        "an event's name (the SSE `event:` line) equals its `data.type`",
        found_by="response_stream",
    ),
    Rule(
        "unknown-item",
        E,
        "an item event, `.done` or delta, is for an output index already added",
        found_by="response_stream",
    ),
    Rule(
        "item-type-mismatch",
        E,
        "an item event is one its item's type sends (no text delta on a function_call)",
        found_by="response_stream",
    ),
    Rule(
        "item-index-mismatch",
        E,
        "an item keeps its output_index and item_id, and sits there in its response's output",
        found_by="response_stream",
    ),
    Rule(
        "item-done-missing",
        W,
        "an item its own event ended also gets `output_item.done` (real MCP streams omit it)",
        found_by="response_stream",
    ),
    Rule(
        "dangling-response",
        W,
        "every response reaches a terminal status by the end of input",
        found_by="response_stream",
    ),
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
    _run_checks: dict[str | None, tuple[tuple[str, Severity, RunCheck], ...]] = attrs.field(
        init=False, repr=False, eq=False
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
        run_checks: dict[str | None, tuple[tuple[str, Severity, RunCheck], ...]] = {
            status: tuple(
                (rule.code, self.severity.get(rule.code, rule.severity), rule.run_check)
                for rule in _ALL_RULES
                if rule.run_check is not None
                and rule.code not in self.ignore
                and status in rule.statuses
            )
            for status in RUN_STATUSES
        }
        # A status outside the nine (set by code that bypassed the loader) gets the
        # rules that apply whatever the status.
        run_checks[None] = tuple(
            (rule.code, self.severity.get(rule.code, rule.severity), rule.run_check)
            for rule in _ALL_RULES
            if rule.run_check is not None
            and rule.code not in self.ignore
            and rule.statuses >= _ANY_RUN_STATUS
        )
        object.__setattr__(self, "_checks", checks)
        object.__setattr__(self, "_narrowed", {})
        object.__setattr__(self, "_run_checks", run_checks)

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

    def check_run(self, run: Run) -> list[Finding]:
        """Every run rule `run` breaks, in catalogue order; empty when it is clean."""
        findings = []
        checks = self._run_checks.get(run.status)
        if checks is None:
            checks = self._run_checks[None]
        for code, severity, rule_check in checks:
            if (message := rule_check(run)) is not None:
                findings.append(
                    Finding(rule=code, severity=severity, message=message, run_id=run.id)
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


def check(entity: RunStep | Run, *, rules: Rules = DEFAULT_RULES) -> list[Finding]:
    """Every rule `entity` (a step or a run) breaks, as findings, without raising."""
    if type(entity) is Run:
        return rules.check_run(entity)
    return rules.check(entity)  # type: ignore[arg-type]
