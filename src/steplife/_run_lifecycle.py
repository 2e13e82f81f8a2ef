"""The run's lifecycle: a second `transitions` machine, defined once like the step's.

A run moves through nine statuses. The edges are the ones the API documents and
real streams show: ``queued`` to ``in_progress``; ``in_progress`` to
``requires_action`` when the model calls functions, and back to ``queued`` (or
straight to ``in_progress``) once the tool outputs are submitted; a cancel request
goes through ``cancelling`` (which, as cancellation is not guaranteed, may still end
completed, failed, incomplete or expired); the five terminal statuses absorb.

As with steps, the machine is built once with ``model=None`` and fired on a run
explicitly, with the state in the run's own ``status``; a refused trigger or a
result that breaks an error-level run rule leaves the run exactly as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Final

import attrs

from steplife._findings import Finding, Severity, shown
from steplife._lifecycle import Clock, system_clock
from steplife._machine import Definition, Engine, Machine, Refused
from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import InvalidRecordError, SteplifeWarning
from steplife.model import (
    RUN_STAMPS,
    RUN_STATUSES,
    RUN_TERMINAL_STATUSES,
    IncompleteDetails,
    LastError,
    RequiredAction,
    Run,
    Usage,
)

__all__ = [
    "RUN_MACHINE_CONFIG",
    "RUN_TRIGGER_TARGETS",
    "RunLifecycle",
    "build_run_machine",
    "run_trigger_between",
]

RUN_TRIGGER_TARGETS: Final[Mapping[str, str]] = {
    "queue": "queued",
    "start": "in_progress",
    "require_action": "requires_action",
    "request_cancel": "cancelling",
    "cancel": "cancelled",
    "fail": "failed",
    "complete": "completed",
    "mark_incomplete": "incomplete",
    "expire": "expired",
}
_SOURCES: Final[Mapping[str, tuple[str, ...]]] = {
    # Tool outputs submitted: the API queues the run again (or resumes it at once).
    "queue": ("requires_action",),
    "start": ("queued", "requires_action"),
    "require_action": ("in_progress",),
    "request_cancel": ("queued", "in_progress", "requires_action"),
    "cancel": ("cancelling",),
    # Cancellation is attempted, not guaranteed: a cancelling run may end otherwise.
    "fail": ("queued", "in_progress", "cancelling"),
    "complete": ("in_progress", "cancelling"),
    "mark_incomplete": ("in_progress", "cancelling"),
    "expire": ("queued", "in_progress", "requires_action", "cancelling"),
}


@attrs.frozen
class _Payload:
    at: int
    usage: Usage | None = None
    last_error: LastError | None = None
    required_action: RequiredAction | None = None
    incomplete_details: IncompleteDetails | None = None


def _apply(run: Run, destination: str, payload: _Payload) -> None:
    """Stamp the run and set what the trigger carries; runs before the state moves."""
    stamp = RUN_STAMPS.get(destination)
    if stamp is not None:
        setattr(run, stamp, payload.at)
    # Only a run that requires action carries required_action: leaving that status
    # (or never entering it) clears it.
    run.required_action = payload.required_action
    if payload.usage is not None:
        run.usage = payload.usage
    if payload.last_error is not None:
        run.last_error = payload.last_error
    if payload.incomplete_details is not None:
        run.incomplete_details = payload.incomplete_details


RUN_LIFECYCLE: Final = Definition(
    entity="run",
    statuses=RUN_STATUSES,
    final=RUN_TERMINAL_STATUSES,
    sources=_SOURCES,
    targets=RUN_TRIGGER_TARGETS,
    stamps=RUN_STAMPS,
    apply=_apply,
)
"""The run's lifecycle as data: the one definition its machine, tables and diagrams use."""

RUN_MACHINE_CONFIG: Final[Mapping[str, Any]] = RUN_LIFECYCLE.config()
"""The run lifecycle as `transitions` configuration, derived from `RUN_LIFECYCLE`."""


def build_run_machine(
    machine_class: type[Machine] = Machine, model: object = None, **extra: Any
) -> Machine:
    """Build a machine of `machine_class` from the run lifecycle."""
    return RUN_LIFECYCLE.build(machine_class, model, **extra)


_ENGINE: Final = Engine(RUN_LIFECYCLE)
_FIRES: Final = _ENGINE.fires


def run_trigger_between(source: str, dest: str) -> str | None:
    """The trigger that moves a run from `source` to `dest`, or None when none does.

    Read off the machine itself, so the Tracker judges a status change exactly as
    `RunLifecycle` would.
    """
    return _ENGINE.between.get((source, dest))


_KNOWN_STATUSES: Final = frozenset(RUN_STATUSES)
_FIELD_NAMES: Final = tuple(field.name for field in attrs.fields(Run))


def _save(run: Run) -> tuple[Any, ...]:
    return tuple(getattr(run, name) for name in _FIELD_NAMES)


def _restore(run: Run, saved: tuple[Any, ...]) -> None:
    for name, value in zip(_FIELD_NAMES, saved, strict=True):
        setattr(run, name, value)


class RunLifecycle:
    """Creates runs and moves them through their lifecycle, checking every run rule.

    ``clock`` stamps ``created_at`` and the ``*_at`` fields when no ``at=`` is given;
    ``rules`` decides which rules apply. Warning-level findings are issued as
    `SteplifeWarning`; an error-level one rejects the operation with
    `InvalidRecordError` and leaves the run unchanged.
    """

    __slots__ = ("clock", "rules")

    def __init__(self, *, clock: Clock = system_clock, rules: Rules = DEFAULT_RULES) -> None:
        self.clock = clock
        self.rules = rules

    def __repr__(self) -> str:
        return f"RunLifecycle(clock={self.clock!r}, rules={self.rules!r})"

    def create(
        self,
        *,
        id: str,
        thread_id: str,
        assistant_id: str,
        created_at: int | None = None,
        expires_at: int | None = None,
    ) -> Run:
        """A ``queued`` run, stamped ``created_at`` from the clock.

        Raises `InvalidRecordError` when an id is not a string or a stamp not an int.
        """
        created = self.clock() if created_at is None else created_at
        ids = (("id", id), ("thread_id", thread_id), ("assistant_id", assistant_id))
        problems = [
            _schema(f"{name} must be a string, got {value!r}")
            for name, value in ids
            if type(value) is not str
        ] + [
            _schema(f"{name} must be an int of Unix seconds, got {value!r}")
            for name, value in (("created_at", created), ("expires_at", expires_at))
            if type(value) is not int and not (name == "expires_at" and value is None)
        ]
        if problems:
            raise InvalidRecordError(f"cannot create run {id!r}", problems)
        return Run(
            id=id,
            created_at=created,
            assistant_id=assistant_id,
            thread_id=thread_id,
            expires_at=expires_at,
        )

    def fire(
        self,
        run: Run,
        trigger: str,
        *,
        at: int | None = None,
        usage: Usage | None = None,
        last_error: LastError | None = None,
        required_action: RequiredAction | None = None,
        incomplete_details: IncompleteDetails | None = None,
    ) -> Run:
        """Fire `trigger` on `run` in place and return it.

        What a trigger carries goes with it: `required_action` with
        ``require_action``, `usage` with the endings, `last_error` with ``fail``,
        `incomplete_details` with ``mark_incomplete``. Raises
        `IllegalTransitionError` when the machine refuses `trigger` from the run's
        status (or `trigger` is no trigger at all, or the status no run status),
        `InvalidRecordError` when an argument has the wrong type or the result breaks
        an error-level rule (``require_action`` without `required_action`, say);
        either way the run is left exactly as it was.
        """
        findings = self.apply(
            run,
            trigger,
            at=at,
            usage=usage,
            last_error=last_error,
            required_action=required_action,
            incomplete_details=incomplete_details,
        )
        for finding in findings:
            warnings.warn(SteplifeWarning(finding), stacklevel=2)
        return run

    def apply(
        self,
        run: Run,
        trigger: str,
        *,
        at: int | None = None,
        usage: Usage | None = None,
        last_error: LastError | None = None,
        required_action: RequiredAction | None = None,
        incomplete_details: IncompleteDetails | None = None,
    ) -> list[Finding]:
        """Like `fire`, but return the warning-level findings instead of issuing them."""
        # A status the machine does not know (set by code that bypassed the loader)
        # has no way out; transitions would raise a bare ValueError for it.
        fire = _FIRES.get(trigger)
        if fire is None or run.status not in _KNOWN_STATUSES:
            raise _ENGINE.refusal(run, trigger)
        _check_payload(
            usage=(usage, Usage),
            last_error=(last_error, LastError),
            required_action=(required_action, RequiredAction),
            incomplete_details=(incomplete_details, IncompleteDetails),
        )
        stamp = self.clock() if at is None else at
        if type(stamp) is not int:  # bool and float are refused: stamps are whole seconds
            raise InvalidRecordError(
                "bad timestamp", [_schema(f"a stamp must be an int of Unix seconds, got {stamp!r}")]
            )
        saved = _save(run)
        payload = _Payload(stamp, usage, last_error, required_action, incomplete_details)
        try:
            fire(run, payload)
        except Refused:
            raise _ENGINE.refusal(run, trigger) from None
        findings = self.rules.check_run(run)
        if any(f.severity is Severity.ERROR for f in findings):
            _restore(run, saved)
            raise InvalidRecordError(
                f"run {shown(run.id)}: {trigger} rejected, the run is unchanged", findings
            )
        return findings


def _check_payload(**values: tuple[object, type]) -> None:
    problems = [
        _schema(f"{name} must be a {cls.__name__} or None, got {value!r}")
        for name, (value, cls) in values.items()
        if value is not None and type(value) is not cls
    ]
    if problems:
        raise InvalidRecordError("bad trigger argument", problems)


def _schema(message: str) -> Finding:
    return Finding(rule="schema", severity=Severity.ERROR, message=message)
