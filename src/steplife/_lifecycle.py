"""The lifecycle: one `transitions` machine, defined once, driving every run step.

The machine is built once at import time with ``model=None``: a step is never added
to it (``add_model`` is slow and grows with the number of live models, and slotted
attrs classes cannot take the methods it injects). Instead each trigger is fired on
the step explicitly, with the state kept in the step's own ``status`` field.

A rejected trigger leaves the step exactly as it was: the fields a transition touches
are saved before it runs and put back if the machine refuses it or the result breaks
an error-level rule.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from steplife._findings import Finding, Severity, shown
from steplife._machine import Definition, Engine, Machine, Refused
from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import InvalidRecordError, SteplifeWarning
from steplife.model import (
    STATUSES,
    STEP_STAMPS,
    LastError,
    MessageCreationDetails,
    Metadata,
    RunStep,
    StepDetails,
    StepStatus,
    ToolCallsDetails,
    Usage,
)

__all__ = [
    "EVENT_KINDS",
    "MACHINE_CONFIG",
    "STEP_EVENT_KINDS",
    "STEP_MOVES",
    "STEP_PREFIX",
    "TERMINAL_KINDS",
    "Clock",
    "Lifecycle",
    "build_machine",
]

Clock: TypeAlias = Callable[[], int]
"""A zero-argument callable returning the current Unix time in whole seconds."""


def system_clock() -> int:
    """The current Unix time in whole seconds, as the API stamps it."""
    return int(time.time())


TRIGGER_TARGETS: Final[Mapping[str, str]] = {
    "complete": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "expire": "expired",
}


def _apply(
    step: RunStep, destination: str, at: int, usage: Usage | None, last_error: LastError | None
) -> None:
    """Stamp the step and set what the trigger carries; runs before the state moves."""
    setattr(step, STEP_STAMPS[destination], at)
    if usage is not None:
        step.usage = usage
    if last_error is not None:
        step.last_error = last_error


STEP_LIFECYCLE: Final = Definition(
    entity="step",
    statuses=STATUSES,
    final=frozenset(STEP_STAMPS),
    sources=dict.fromkeys(TRIGGER_TARGETS, ("in_progress",)),
    targets=TRIGGER_TARGETS,
    stamps=STEP_STAMPS,
    apply=_apply,
)
"""The step's lifecycle as data: the one definition its machine, tables and diagram use."""

MACHINE_CONFIG: Final[Mapping[str, Any]] = STEP_LIFECYCLE.config()
"""The lifecycle as `transitions` configuration, derived from `STEP_LIFECYCLE`."""


def build_machine(
    machine_class: type[Machine] = Machine, model: object = None, **extra: Any
) -> Machine:
    """Build a machine of `machine_class` from the step lifecycle (the diagram uses this)."""
    return STEP_LIFECYCLE.build(machine_class, model, **extra)


_ENGINE: Final = Engine(STEP_LIFECYCLE)
_FIRES: Final = _ENGINE.fires  # the hot path: `apply` checks what `Engine.fire` would
STEP_MOVES: Final = _ENGINE.moves
"""(status, trigger) -> the status it leads to, read off the machine once.

For callers that judge a move without firing it on a step (the Tracker, which keeps
the checked payload as the result): the machine stays the one definition. A move the
machine refuses has no entry."""
STEP_PREFIX: Final = "thread.run.step."
TERMINAL_KINDS: Final = frozenset(
    # The event suffixes that end a step: each names a status the machine moves an
    # in_progress step to.
    status
    for (source, _trigger), status in STEP_MOVES.items()
    if source == "in_progress"
)
EVENT_KINDS: Final = (
    "created",
    "in_progress",
    "delta",
    *(status for status in STEP_LIFECYCLE.statuses if status in TERMINAL_KINDS),
)
"""The kinds of ``thread.run.step.*`` events, in the order a step sends them: the
stream's own two (``created``, ``delta``) and one per status the machine reaches."""
STEP_EVENT_KINDS: Final[Mapping[str, str]] = {STEP_PREFIX + kind: kind for kind in EVENT_KINDS}
"""Each step event's name and its kind (the name less the prefix)."""
_TRANSITION_FIELDS: Final = frozenset(
    ("status", "cancelled_at", "completed_at", "expired_at", "failed_at", "usage", "last_error")
)
_CALLER_FIELDS: Final = {
    # (metadata given, tool calls given) -> the fields start must check
    (False, False): frozenset[str](),
    (True, False): frozenset(("metadata",)),
    (False, True): frozenset(("step_details",)),
    (True, True): frozenset(("metadata", "step_details")),
}
_DETAILS_TYPES: Final = frozenset((MessageCreationDetails, ToolCallsDetails))
_Saved: TypeAlias = tuple[
    StepStatus, int | None, int | None, int | None, int | None, Usage | None, LastError | None
]


def _save(step: RunStep) -> _Saved:
    """Every field a transition may touch (plain reads: this is on the hot path)."""
    return (
        step.status,
        step.cancelled_at,
        step.completed_at,
        step.expired_at,
        step.failed_at,
        step.usage,
        step.last_error,
    )


def _restore(step: RunStep, saved: _Saved) -> None:
    (
        step.status,
        step.cancelled_at,
        step.completed_at,
        step.expired_at,
        step.failed_at,
        step.usage,
        step.last_error,
    ) = saved


class Lifecycle:
    """Creates run steps and moves them through their lifecycle, checking every rule.

    ``clock`` stamps ``created_at`` and the terminal ``*_at`` fields when no explicit
    ``at=`` is given; ``rules`` decides which rules apply and how severe they are.
    Warning-level findings are issued as `SteplifeWarning`; error-level ones reject
    the operation with `InvalidRecordError` and leave the step unchanged.
    """

    __slots__ = ("clock", "rules")

    def __init__(self, *, clock: Clock = system_clock, rules: Rules = DEFAULT_RULES) -> None:
        self.clock = clock
        self.rules = rules

    def __repr__(self) -> str:
        return f"Lifecycle(clock={self.clock!r}, rules={self.rules!r})"

    def start(
        self,
        *,
        id: str,
        run_id: str,
        thread_id: str,
        assistant_id: str,
        step_details: StepDetails,
        created_at: int | None = None,
        metadata: Metadata | None = None,
    ) -> RunStep:
        """Create an ``in_progress`` step, stamping ``created_at`` from the clock.

        The step's ``type`` follows from `step_details`. Raises `InvalidRecordError`
        when the new step breaks an error-level rule (for example `metadata` over
        its limits).
        """
        if not (
            type(id) is str
            and type(run_id) is str
            and type(thread_id) is str
            and type(assistant_id) is str
            and type(step_details) in _DETAILS_TYPES
        ):
            raise InvalidRecordError(
                f"cannot start step {id!r}",
                _argument_findings(
                    id=id, run_id=run_id, thread_id=thread_id, assistant_id=assistant_id
                )
                + _details_findings(step_details),
            )
        created = self.clock() if created_at is None else created_at
        if type(created) is not int:
            created = _stamp(created)  # raises: stamps are whole seconds
        step = RunStep(
            id=id,
            created_at=created,
            run_id=run_id,
            assistant_id=assistant_id,
            thread_id=thread_id,
            type=step_details.type,
            step_details=step_details,
            metadata=metadata,
        )
        # Built here, the step has no stamp, usage or error and takes its type from
        # its details: only the caller's metadata and tool calls can break a rule.
        changed = _CALLER_FIELDS[metadata is not None, step_details.type == "tool_calls"]
        if changed and (findings := self.rules.check(step, changed=changed)):
            _raise_or_warn(f"cannot start step {id!r}", findings)
        return step

    def complete(self, step: RunStep, *, usage: Usage | None, at: int | None = None) -> RunStep:
        """Move `step` to ``completed`` with its `usage`, stamping ``completed_at``."""
        if findings := self.apply(step, "complete", at=at, usage=usage):
            _warn(findings)
        return step

    def fail(
        self,
        step: RunStep,
        *,
        last_error: LastError | None,
        usage: Usage | None = None,
        at: int | None = None,
    ) -> RunStep:
        """Move `step` to ``failed`` with its `last_error`, stamping ``failed_at``.

        Real failed steps sometimes carry `usage`; that passes with a
        ``usage-without-completion`` warning.
        """
        if findings := self.apply(step, "fail", at=at, usage=usage, last_error=last_error):
            _warn(findings)
        return step

    def cancel(self, step: RunStep, *, at: int | None = None) -> RunStep:
        """Move `step` to ``cancelled``, stamping ``cancelled_at``."""
        if findings := self.apply(step, "cancel", at=at):
            _warn(findings)
        return step

    def expire(self, step: RunStep, *, at: int | None = None) -> RunStep:
        """Move `step` to ``expired``, stamping ``expired_at``."""
        if findings := self.apply(step, "expire", at=at):
            _warn(findings)
        return step

    def fire(
        self,
        step: RunStep,
        trigger: str,
        *,
        at: int | None = None,
        usage: Usage | None = None,
        last_error: LastError | None = None,
    ) -> RunStep:
        """Fire `trigger` on `step` in place and return it.

        Raises `IllegalTransitionError` when `trigger` is not allowed from the step's
        status (or is no trigger at all), `InvalidRecordError` when the result would
        break an error-level rule; either way the step is left exactly as it was.
        """
        if findings := self.apply(step, trigger, at=at, usage=usage, last_error=last_error):
            _warn(findings)
        return step

    def apply(
        self,
        step: RunStep,
        trigger: str,
        *,
        at: int | None = None,
        usage: Usage | None = None,
        last_error: LastError | None = None,
    ) -> list[Finding]:
        """Like `fire`, but return the warning-level findings instead of issuing them."""
        fire = _FIRES.get(trigger)
        if fire is None:
            raise _ENGINE.refusal(step, trigger)
        if (usage is not None and type(usage) is not Usage) or (
            last_error is not None and type(last_error) is not LastError
        ):
            _reject_payload(usage, last_error)
        if at is None:
            stamp = self.clock()
            if type(stamp) is not int:
                stamp = _stamp(stamp)  # a clock must give whole seconds, as the API does
        elif type(at) is int:
            stamp = at
        else:
            stamp = _stamp(at)  # raises with a clear message
        saved = _save(step)
        try:
            fire(step, stamp, usage, last_error)
        except Refused:
            raise _ENGINE.refusal(step, trigger) from None
        # The step was clean before (start and from_dict check it whole), so only the
        # rules reading what the transition changed need to run again.
        findings = self.rules.check(step, changed=_TRANSITION_FIELDS)
        for finding in findings:
            if finding.severity is Severity.ERROR:
                _restore(step, saved)
                raise InvalidRecordError(
                    f"step {shown(step.id)}: {trigger} rejected, the step is unchanged", findings
                )
        return findings


def _stamp(value: object) -> int:
    if type(value) is not int:  # bool and float are refused too: stamps are whole seconds
        raise InvalidRecordError(
            "bad timestamp",
            [_schema_finding(f"a stamp must be an int of Unix seconds, got {value!r}")],
        )
    return value


def _argument_findings(**values: object) -> list[Finding]:
    return [
        _schema_finding(f"{name} must be a string, got {value!r}")
        for name, value in values.items()
        if type(value) is not str
    ]


def _details_findings(details: object) -> list[Finding]:
    if type(details) in _DETAILS_TYPES:
        return []
    return [
        _schema_finding(
            f"step_details must be a MessageCreationDetails or ToolCallsDetails, got {details!r}"
        )
    ]


def _reject_payload(usage: object, last_error: object) -> None:
    problems = []
    if usage is not None and not isinstance(usage, Usage):
        problems.append(_schema_finding(f"usage must be a Usage or None, got {usage!r}"))
    if last_error is not None and not isinstance(last_error, LastError):
        problems.append(
            _schema_finding(f"last_error must be a LastError or None, got {last_error!r}")
        )
    if problems:
        raise InvalidRecordError("bad trigger argument", problems)


def _schema_finding(message: str) -> Finding:
    return Finding(rule="schema", severity=Severity.ERROR, message=message)


def _raise_or_warn(summary: str, findings: list[Finding]) -> None:
    if any(f.severity is Severity.ERROR for f in findings):
        raise InvalidRecordError(summary, findings)
    _warn(findings, stacklevel=4)


def _warn(findings: list[Finding], *, stacklevel: int = 3) -> None:
    # stacklevel 3 points at the line that called the Lifecycle method.
    for finding in findings:
        warnings.warn(SteplifeWarning(finding), stacklevel=stacklevel)
