"""The response's and the output item's lifecycles: two definitions on steplife's engine.

A response is ``queued`` (background mode) or straight ``in_progress``, and ends
``completed``, ``failed``, ``cancelled`` or ``incomplete``; the endings absorb. An
output item is ``in_progress`` and ends ``completed``, ``incomplete`` or ``failed``;
tool items pass through an intermediate status first (``searching`` for web and file
search, ``interpreting`` for the code interpreter, ``generating`` for images,
``calling`` for MCP calls). Some items carry no status at all (``reasoning``, MCP tool
lists): the machine judges statuses where they are sent, and the stream's events
(``output_item.added`` then ``.done``) carry such an item's lifecycle alone.

Each is a `Definition` compiled by the `Engine`, exactly as the step's and the run's:
the drivers fire the real `transitions` triggers on the record (its own ``status``
holds the state), and the Tracker reads its moves off the same machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Final, cast

import attrs

from steplife._findings import Finding, Severity, shown
from steplife._lifecycle import Clock, system_clock
from steplife._machine import Definition, Engine, Machine, Refused
from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import IllegalTransitionError, InvalidRecordError, SteplifeWarning
from steplife.model import IncompleteDetails
from steplife.responses._checks import compiled
from steplife.responses._model import (
    ITEM_STATUSES,
    ITEM_TERMINAL_STATUSES,
    RESPONSE_STATUSES,
    RESPONSE_TERMINAL_STATUSES,
    OutputItem,
    Response,
    ResponseError,
    ResponseUsage,
)

__all__ = [
    "ITEM_LIFECYCLE",
    "ITEM_MOVES",
    "ITEM_TRIGGER_TARGETS",
    "RESPONSE_LIFECYCLE",
    "RESPONSE_MOVES",
    "RESPONSE_TRIGGER_TARGETS",
    "ResponseLifecycle",
    "build_item_machine",
    "build_response_machine",
    "item_trigger_between",
    "response_trigger_between",
]

RESPONSE_TRIGGER_TARGETS: Final[Mapping[str, str]] = {
    "start": "in_progress",
    "complete": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "mark_incomplete": "incomplete",
}
_RESPONSE_SOURCES: Final[Mapping[str, tuple[str, ...]]] = {
    "start": ("queued",),
    "complete": ("in_progress",),
    # A background response may fail or be cancelled before it starts.
    "fail": ("queued", "in_progress"),
    "cancel": ("queued", "in_progress"),
    "mark_incomplete": ("in_progress",),
}


@attrs.frozen
class _Payload:
    at: int
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None


def _apply_response(response: Response, destination: str, payload: _Payload) -> None:
    """Stamp the response and set what the trigger carries; runs before the state moves."""
    if destination == "completed":
        response.completed_at = payload.at
    if payload.usage is not None:
        response.usage = payload.usage
    if payload.error is not None:
        response.error = payload.error
    if payload.incomplete_details is not None:
        response.incomplete_details = payload.incomplete_details


RESPONSE_LIFECYCLE: Final = Definition(
    entity="response",
    statuses=RESPONSE_STATUSES,
    final=RESPONSE_TERMINAL_STATUSES,
    sources=_RESPONSE_SOURCES,
    targets=RESPONSE_TRIGGER_TARGETS,
    stamps={"completed": "completed_at"},
    apply=_apply_response,
)
"""The response's lifecycle as data: its machine, tables and diagram come from it."""

_OPEN_ITEM: Final = tuple(s for s in ITEM_STATUSES if s not in ITEM_TERMINAL_STATUSES)
ITEM_TRIGGER_TARGETS: Final[Mapping[str, str]] = {
    "search": "searching",
    "interpret": "interpreting",
    "generate": "generating",
    "call": "calling",
    "complete": "completed",
    "mark_incomplete": "incomplete",
    "fail": "failed",
}
_ITEM_SOURCES: Final[Mapping[str, tuple[str, ...]]] = {
    # The intermediate statuses are entered from in_progress, never left but to an end.
    "search": ("in_progress",),
    "interpret": ("in_progress",),
    "generate": ("in_progress",),
    "call": ("in_progress",),
    "complete": _OPEN_ITEM,
    "mark_incomplete": _OPEN_ITEM,
    "fail": _OPEN_ITEM,
}


def _apply_item(item: OutputItem, destination: str) -> None:
    """An item carries no stamp: a move changes its status alone."""


ITEM_LIFECYCLE: Final = Definition(
    entity="item",
    statuses=ITEM_STATUSES,
    final=ITEM_TERMINAL_STATUSES,
    sources=_ITEM_SOURCES,
    targets=ITEM_TRIGGER_TARGETS,
    stamps={},
    apply=_apply_item,
)
"""The output item's lifecycle as data (for the items that carry a status)."""


def build_response_machine(
    machine_class: type[Machine] = Machine, model: object = None, **extra: Any
) -> Machine:
    """Build a machine of `machine_class` from the response lifecycle (diagrams use this)."""
    return RESPONSE_LIFECYCLE.build(machine_class, model, **extra)


def build_item_machine(
    machine_class: type[Machine] = Machine, model: object = None, **extra: Any
) -> Machine:
    """Build a machine of `machine_class` from the output item lifecycle."""
    return ITEM_LIFECYCLE.build(machine_class, model, **extra)


_RESPONSE_ENGINE: Final = Engine(RESPONSE_LIFECYCLE)
_ITEM_ENGINE: Final = Engine(ITEM_LIFECYCLE)
RESPONSE_MOVES: Final = _RESPONSE_ENGINE.moves
"""(status, trigger) -> the status it leads to, read off the response machine once."""
ITEM_MOVES: Final = _ITEM_ENGINE.moves
"""(status, trigger) -> the status it leads to, read off the item machine once."""


def response_trigger_between(source: str, dest: str) -> str | None:
    """The trigger that moves a response from `source` to `dest`, or None when none does."""
    return _RESPONSE_ENGINE.between.get((source, dest))


def item_trigger_between(source: str, dest: str) -> str | None:
    """The trigger that moves an item from `source` to `dest`, or None when none does."""
    return _ITEM_ENGINE.between.get((source, dest))


_RESPONSE_STATUSES: Final = frozenset(RESPONSE_STATUSES)
_ITEM_KNOWN: Final = frozenset(ITEM_STATUSES)
_SAVED: Final = ("status", "completed_at", "usage", "error", "incomplete_details")


class ResponseLifecycle:
    """Creates responses and moves them and their output items through their lifecycles.

    ``clock`` stamps ``created_at`` and ``completed_at`` when no ``at=`` is given;
    ``rules`` decides which rules apply. Warning-level findings are issued as
    `SteplifeWarning`; an error-level one rejects the operation with
    `InvalidRecordError`, and a move the machine refuses raises
    `IllegalTransitionError`: either way the response and its items are left exactly
    as they were.
    """

    __slots__ = ("clock", "rules")

    def __init__(self, *, clock: Clock = system_clock, rules: Rules = DEFAULT_RULES) -> None:
        self.clock = clock
        self.rules = rules

    def __repr__(self) -> str:
        return f"ResponseLifecycle(clock={self.clock!r}, rules={self.rules!r})"

    def create(
        self, *, id: str, created_at: int | None = None, background: bool = False
    ) -> Response:
        """A new response: ``queued`` in background mode, else straight ``in_progress``.

        Raises `InvalidRecordError` when `id` is not a string or a stamp not an int.
        """
        created = self.clock() if created_at is None else created_at
        problems = []
        if type(id) is not str:
            problems.append(_schema(f"id must be a string, got {id!r}"))
        if type(created) is not int:
            problems.append(_schema(f"created_at must be an int of Unix seconds, got {created!r}"))
        if type(cast(object, background)) is not bool:  # from a caller without a type checker
            problems.append(_schema(f"background must be a bool, got {background!r}"))
        if problems:
            raise InvalidRecordError(f"cannot create response {id!r}", problems)
        return Response(
            id=id,
            created_at=created,
            status="queued" if background else "in_progress",
            background=background,
        )

    def start(self, response: Response, *, at: int | None = None) -> Response:
        """Move a queued (background) response to ``in_progress``."""
        return self.fire(response, "start", at=at)

    def complete(
        self, response: Response, *, usage: ResponseUsage | None, at: int | None = None
    ) -> Response:
        """Move `response` to ``completed`` with its `usage`, stamping ``completed_at``.

        Refused (`InvalidRecordError`, ``response-finished-with-open-items``) while an
        output item is still open.
        """
        return self.fire(response, "complete", at=at, usage=usage)

    def fail(
        self, response: Response, *, error: ResponseError | None, at: int | None = None
    ) -> Response:
        """Move `response` to ``failed`` with its `error`."""
        return self.fire(response, "fail", at=at, error=error)

    def cancel(self, response: Response, *, at: int | None = None) -> Response:
        """Move `response` to ``cancelled``."""
        return self.fire(response, "cancel", at=at)

    def mark_incomplete(
        self,
        response: Response,
        *,
        incomplete_details: IncompleteDetails | None,
        usage: ResponseUsage | None = None,
        at: int | None = None,
    ) -> Response:
        """Move `response` to ``incomplete``, saying why (``max_output_tokens``, ...)."""
        return self.fire(
            response, "mark_incomplete", at=at, usage=usage, incomplete_details=incomplete_details
        )

    def fire(
        self,
        response: Response,
        trigger: str,
        *,
        at: int | None = None,
        usage: ResponseUsage | None = None,
        error: ResponseError | None = None,
        incomplete_details: IncompleteDetails | None = None,
    ) -> Response:
        """Fire `trigger` on `response` in place and return it (see `apply`)."""
        findings = self.apply(
            response,
            trigger,
            at=at,
            usage=usage,
            error=error,
            incomplete_details=incomplete_details,
        )
        _warn(findings)
        return response

    def apply(
        self,
        response: Response,
        trigger: str,
        *,
        at: int | None = None,
        usage: ResponseUsage | None = None,
        error: ResponseError | None = None,
        incomplete_details: IncompleteDetails | None = None,
    ) -> list[Finding]:
        """Like `fire`, but return the warning-level findings instead of issuing them.

        Raises `IllegalTransitionError` when the machine refuses `trigger` from the
        response's status (or it is no trigger), `InvalidRecordError` when an argument
        has the wrong type or the result breaks an error-level rule.
        """
        fire = _RESPONSE_ENGINE.fires.get(trigger)
        if fire is None or response.status not in _RESPONSE_STATUSES:
            raise _RESPONSE_ENGINE.refusal(response, trigger)
        _check_payload(
            usage=(usage, ResponseUsage),
            error=(error, ResponseError),
            incomplete_details=(incomplete_details, IncompleteDetails),
        )
        stamp = self.clock() if at is None else at
        if type(stamp) is not int:  # bool and float are refused: stamps are whole seconds
            raise InvalidRecordError(
                "bad timestamp", [_schema(f"a stamp must be an int of Unix seconds, got {stamp!r}")]
            )
        saved = tuple(getattr(response, name) for name in _SAVED)
        try:
            fire(response, _Payload(stamp, usage, error, incomplete_details))
        except Refused:
            raise _RESPONSE_ENGINE.refusal(response, trigger) from None
        findings = compiled(self.rules).response(response)
        if any(f.severity is Severity.ERROR for f in findings):
            for name, value in zip(_SAVED, saved, strict=True):
                setattr(response, name, value)
            raise InvalidRecordError(
                f"response {shown(response.id)}: {trigger} rejected, the response is unchanged",
                findings,
            )
        return findings

    def add_item(self, response: Response, item: OutputItem) -> OutputItem:
        """Append `item` to the output of `response`, which must be ``in_progress``.

        The item starts ``in_progress`` or carries no status (``reasoning``). Raises
        `IllegalTransitionError` when the response is not in progress, and
        `InvalidRecordError` when the item already ended or breaks an item rule.
        """
        if response.status != "in_progress":
            raise IllegalTransitionError(
                response.id,
                response.status,
                "add_item",
                entity="response",
                terminal=response.is_terminal,
            )
        findings = compiled(self.rules).item(item, path=f"output[{len(response.output)}]")
        if item.status is not None and item.status in ITEM_TERMINAL_STATUSES:
            message = f"a new {item.type} item is already {item.status}"
            severity = self.rules.severity_of("status-mismatch")
            if severity is not None:
                findings.append(Finding(rule="status-mismatch", severity=severity, message=message))
        if any(f.severity is Severity.ERROR for f in findings):
            raise InvalidRecordError(f"cannot add item {shown(item.id)}", findings)
        response.output.append(item)
        _warn(findings)
        return item

    def fire_item(self, response: Response, item: OutputItem, trigger: str) -> OutputItem:
        """Fire `trigger` on `item`, an item of `response`'s output, and return it.

        An item with no status cannot move (its type has no lifecycle of statuses);
        raises `IllegalTransitionError` then, when the machine refuses `trigger`, or
        when the response already ended; `InvalidRecordError` when the new status is
        not one the item's type has (the item is then unchanged).
        """
        if response.is_terminal:
            raise IllegalTransitionError(
                response.id, response.status, trigger, entity="response", terminal=True
            )
        if not any(member is item for member in response.output):
            raise InvalidRecordError(
                f"item {shown(item.id)} is not in response {shown(response.id)}'s output",
                [_schema("the item must be one of the response's output items")],
            )
        fire = _ITEM_ENGINE.fires.get(trigger)
        if fire is None or item.status not in _ITEM_KNOWN:
            raise _ITEM_ENGINE.refusal(item, trigger)
        before = item.status
        try:
            fire(item)
        except Refused:
            raise _ITEM_ENGINE.refusal(item, trigger) from None
        findings = compiled(self.rules).item(item)
        if any(f.severity is Severity.ERROR for f in findings):
            item.status = before
            raise InvalidRecordError(
                f"item {shown(item.id)}: {trigger} rejected, the item is unchanged", findings
            )
        _warn(findings)
        return item


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


def _warn(findings: list[Finding]) -> None:
    for finding in findings:
        # stacklevel 3: the line that called the ResponseLifecycle method.
        warnings.warn(SteplifeWarning(finding), stacklevel=3)
