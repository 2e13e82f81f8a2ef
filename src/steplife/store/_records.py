"""What a step store hands back: recorded events, stored steps and reports.

Plain frozen attrs records with no behaviour beyond a few derived properties;
the store builds them, callers read them.
"""

from __future__ import annotations

from typing import Any

import attrs

from steplife._findings import Finding
from steplife.model import RunStep

__all__ = ["ApplyResult", "IngestReport", "RecordedEvent", "StoredStep"]


@attrs.frozen(kw_only=True)
class RecordedEvent:
    """One entry of a step's append-only log.

    ``version`` runs 1..n per step with no gap; ``event`` is the stream event's name
    (``thread.run.step.completed``...), ``data`` its decoded JSON payload as it was
    applied, ``recorded_at`` the store's clock (Unix seconds) when it was written.
    """

    step_id: str
    version: int
    event: str
    data: Any
    recorded_at: float


@attrs.frozen(kw_only=True)
class StoredStep:
    """A step as stored: its current snapshot, version, and (from `get`) its history.

    ``version`` is the number of events recorded for the step; pass it as
    ``expected_version`` to make the next write conditional on nobody having
    written in between. ``updated_at`` is when the last event was recorded.
    """

    step: RunStep
    version: int
    updated_at: float
    history: tuple[RecordedEvent, ...] = ()

    @property
    def id(self) -> str:
        """The step's id."""
        return self.step.id

    @property
    def status(self) -> str:
        """The step's current status."""
        return self.step.status


@attrs.frozen(kw_only=True)
class ApplyResult:
    """What `StepStore.apply` did with one event.

    ``duplicate`` is True when the event was already recorded and nothing was
    written (``step`` and ``version`` are then the stored ones); ``findings`` are
    the warnings the event raised (errors reject it instead).
    """

    step: RunStep
    version: int
    duplicate: bool
    findings: tuple[Finding, ...] = ()


@attrs.frozen(kw_only=True)
class IngestReport:
    """What `StepStore.ingest` did with a stream.

    Every input event is counted once: ``applied`` (written), ``duplicates``
    (already recorded, skipped), ``skipped`` (not a run-step event: runs, messages,
    ``done``...) or ``rejected`` (broke an error-level rule, nothing written).
    ``batches`` is the number of transactions committed; ``findings`` holds the
    warnings of applied events and the error of each rejected one, in input order.
    """

    events: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    batches: int = 0
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no event was rejected."""
        return self.rejected == 0
