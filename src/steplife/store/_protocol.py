"""The `StepStore` protocol: what every step store does, whatever holds the data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol, TypeAlias, runtime_checkable

from steplife._events import Event
from steplife._sdk import SDKEvent
from steplife.store._records import ApplyResult, IngestReport, RecordedEvent, StoredStep

__all__ = ["Age", "EventLike", "StepStore"]

EventLike: TypeAlias = Event | tuple[str, Any] | tuple[str, Any, Any] | Mapping[str, Any] | SDKEvent
"""An event to ingest: an `Event` as the stream readers yield it, a ``(name, data)``
pair, a ``{"event": name, "data": data}`` mapping (one JSONL line, decoded), or an SDK's
own stream event (openai's, azure-ai-agents' tuple), as `Tracker.feed` takes them."""

Age: TypeAlias = timedelta | float
"""A duration: a `timedelta`, or a number of seconds."""


@runtime_checkable
class StepStore(Protocol):
    """Durable run-step tracking: an event log and a current snapshot per step.

    Every event goes through the same lifecycle machine and rule catalogue as the
    in-memory `Tracker`; a rejected event writes nothing. Writes are atomic and
    versioned per step (1..n, no gap, no duplicate), so several threads, processes
    or hosts can share one store. `steplife.store.open_store` opens one.
    """

    @property
    def location(self) -> str:
        """Where the data lives: the SQLite path, or the DSN without its password."""
        ...

    def apply(
        self,
        event: str,
        data: Any,
        *,
        expected_version: int | None = None,
        occurrence: int = 1,
    ) -> ApplyResult:
        """Record one run-step event (its name and decoded JSON data) atomically.

        With `expected_version` the write happens only if the step is still at that
        version (0: the step must not exist yet), else `ConflictError` carries the
        current snapshot. An event already recorded for the step (same name and
        payload; `occurrence` says which copy when identical deltas legitimately
        repeat) is a no-op reported as ``duplicate``. Raises `RejectedEventError`
        when the event breaks an error-level rule or is not a run-step event.
        """
        ...

    def ingest(
        self,
        events: Iterable[EventLike],
        *,
        batch_size: int = 1000,
        on_commit: Callable[[int], object] | None = None,
    ) -> IngestReport:
        """Record a whole stream, `batch_size` events per transaction.

        Non-step events are counted and passed by; a rejected event is reported
        and skipped, the others are written. `on_commit` is called after each
        committed batch with the number of input events now durably handled.
        Raises `StoreError` when the database fails; batches committed before stay.
        """
        ...

    def get(self, step_id: str) -> StoredStep:
        """The step's snapshot, version and full history; `StepNotFoundError` if unknown."""
        ...

    def history(self, step_id: str) -> tuple[RecordedEvent, ...]:
        """The step's recorded events, version 1 first; `StepNotFoundError` if unknown."""
        ...

    def steps(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[StoredStep]:
        """The stored steps matching every given filter, oldest ``created_at`` first."""
        ...

    def stale(self, older_than: Age, *, now: int | None = None) -> list[StoredStep]:
        """The in-progress steps created more than `older_than` before `now`."""
        ...

    def expire_stale(self, older_than: Age, *, now: int | None = None) -> list[ApplyResult]:
        """Expire every `stale` step through the lifecycle, stamping ``expired_at=now``."""
        ...

    def check(self, *, full: bool = True) -> list[str]:
        """What is wrong with the stored data, one line each; an empty list when nothing."""
        ...

    def close(self) -> None:
        """Release the connections; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> StepStore: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
