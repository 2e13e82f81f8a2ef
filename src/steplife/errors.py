"""The exceptions steplife raises.

Every exception derives from `SteplifeError`, and each also subclasses the builtin
exception it refines, so ``except ValueError`` keeps working for callers that predate
steplife.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from steplife._findings import shown

if TYPE_CHECKING:
    from steplife._findings import Finding

__all__ = [
    "ConflictError",
    "IllegalTransitionError",
    "InputError",
    "InvalidRecordError",
    "SteplifeError",
    "SteplifeWarning",
    "StoreError",
    "StreamError",
    "UnknownRuleError",
]


class SteplifeError(Exception):
    """Root of every error steplife raises."""


class SteplifeWarning(UserWarning):
    """Issued when a lifecycle operation succeeds but breaks a warning-level rule.

    Escalate it with ``warnings.simplefilter("error", SteplifeWarning)``, or make
    the rule an error through `Rules`.
    """

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.rule}: {finding.message}")
        self.finding = finding


def _listed(summary: str, findings: Sequence[Finding]) -> str:
    """`summary`, then one line per finding; `summary` alone when there is none."""
    if not findings:
        return summary
    lines = "\n".join(f"  - {f.severity.value} {f.rule}: {f.message}" for f in findings)
    return f"{summary}:\n{lines}"


class InvalidRecordError(SteplifeError, ValueError):
    """A record (a step or a run; loaded, constructed or moved) breaks error-level rules.

    `findings` holds every problem found, not just the first; the message lists
    them one per line, each with its JSON path where it has one.
    """

    def __init__(self, summary: str, findings: Sequence[Finding]) -> None:
        self.findings: tuple[Finding, ...] = tuple(findings)
        super().__init__(_listed(summary, self.findings))


class InputError(SteplifeError, OSError):
    """An input cannot be read at all (missing, unreadable, not a stream)."""


class StreamError(SteplifeError, ValueError):
    """Raised in strict mode at the first error-level finding; `finding` says which."""

    def __init__(self, finding: Finding) -> None:
        where = ":".join(str(p) for p in (finding.file, finding.line) if p is not None)
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{finding.rule}: {finding.message}")
        self.finding = finding


class IllegalTransitionError(SteplifeError, ValueError):
    """A trigger was fired that the lifecycle does not allow from the current status.

    The record is left exactly as it was. `entity` says what it is (``step``,
    ``run``); `record_id`, `status` and `trigger` say what was attempted; `terminal`
    whether that status is one nothing leaves.
    """

    rule = "illegal-transition"
    """The catalogue code of this refusal."""

    def __init__(
        self,
        record_id: str,
        status: str,
        trigger: str,
        *,
        entity: str = "step",
        terminal: bool = False,
    ) -> None:
        self.record_id = record_id
        self.status = status
        self.trigger = trigger
        self.entity = entity
        self.terminal = terminal
        hint = f"; {status!r} is terminal, no trigger leaves it" if terminal else ""
        super().__init__(
            f"{entity} {shown(record_id)}: cannot {trigger} from status {status!r}{hint}"
        )


class UnknownRuleError(SteplifeError, KeyError):
    """A rule code that is not in the catalogue was named (to ignore or re-grade it)."""

    def __init__(self, code: str, known: Sequence[str]) -> None:
        self.code = code
        super().__init__(f"unknown rule code {code!r}; known codes: {', '.join(sorted(known))}")

    def __str__(self) -> str:
        # KeyError's str() would quote the whole message again.
        return str(self.args[0])


class StoreError(SteplifeError, RuntimeError):
    """A step store could not be opened, read or written."""


class ConflictError(StoreError):
    """A store write named a version that another writer has already moved past.

    `current` is the step's snapshot as stored now and `version` its version, so the
    caller can decide what to do.
    """

    def __init__(self, step_id: str, expected: int, version: int, current: object) -> None:
        self.step_id = step_id
        self.expected = expected
        self.version = version
        self.current = current
        super().__init__(
            f"step {shown(step_id)}: expected version {expected}, but the store is at {version}; "
            "reload the step and decide again"
        )


class RejectedEventError(StoreError, ValueError):
    """A step store refused an event that breaks an error-level rule; nothing was written.

    `findings` says why (the rule codes are the catalogue's, as in validation);
    `current` is the step as stored now, or None when the store has no such step.
    """

    def __init__(self, summary: str, findings: Sequence[Finding], current: object = None) -> None:
        self.findings: tuple[Finding, ...] = tuple(findings)
        self.current = current
        super().__init__(_listed(summary, self.findings))


class StepNotFoundError(StoreError, KeyError):
    """A step store was asked for a step it has never recorded."""

    def __init__(self, step_id: str) -> None:
        self.step_id = step_id
        super().__init__(f"no step {shown(step_id)} in the store")

    def __str__(self) -> str:
        # KeyError's str() would quote the whole message again.
        return str(self.args[0])


class SchemaVersionError(StoreError):
    """A store's database has a schema newer than this steplife knows; it is not opened.

    `found` is the database's schema version, `supported` the newest this steplife
    can use.
    """

    def __init__(self, where: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"{where}: the database has schema version {found}, newer than the {supported} "
            "this steplife supports; upgrade steplife to open it (it was not changed)"
        )


__all__ += ["RejectedEventError", "SchemaVersionError", "StepNotFoundError"]
