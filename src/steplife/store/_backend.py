"""What the store's engine needs from a database: a few reads and one atomic write.

The engine (`_core`) holds every decision; a backend only moves rows. Both
backends implement `Backend` with the same semantics, which the conformance tests
check on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, TypeAlias

from steplife._findings import shown
from steplife.store._state import HistoryRow

__all__ = [
    "CONSISTENCY",
    "Backend",
    "Conflict",
    "EventRow",
    "LoggedRow",
    "SnapshotRow",
    "StepRow",
    "described",
]

EventRow: TypeAlias = tuple[str, int, str, str, int, float]
"""A log row to insert: step_id, version, event, payload JSON, digest, recorded_at."""

SnapshotRow: TypeAlias = tuple[str, int, str, str, str, str, str, int, str, float, int]
"""A snapshot to upsert: step_id, version, status, run_id, thread_id, assistant_id,
type, created_at, snapshot JSON, updated_at, and the version it replaces (0: none)."""

StepRow: TypeAlias = tuple[str, int, str, float]
"""A stored snapshot as read: step_id, version, snapshot JSON, updated_at."""

LoggedRow: TypeAlias = tuple[int, str, str, float]
"""A log row as read for display: version, event, payload JSON, recorded_at."""


CONSISTENCY: Final = (
    (
        "SELECT s.step_id, s.version, count(e.version), max(e.version) FROM steplife_steps s "
        "LEFT JOIN steplife_events e ON e.step_id = s.step_id GROUP BY s.step_id, s.version "
        "HAVING count(e.version) <> s.version OR max(e.version) <> s.version "
        "ORDER BY s.step_id LIMIT 100",
        "step {0}: the snapshot is at version {1}, the log holds {2} events up to version {3}",
    ),
    (
        "SELECT DISTINCT e.step_id FROM steplife_events e "
        "LEFT JOIN steplife_steps s ON s.step_id = e.step_id WHERE s.step_id IS NULL "
        "ORDER BY e.step_id LIMIT 100",
        "step {0}: the log holds events but there is no snapshot",
    ),
)
"""The queries that find a log and snapshots that disagree, each with its message.

Every write keeps them in agreement in one transaction, so a row they return means
the database was changed by something else (or damaged). At most 100 rows each.
"""


def described(message: str, row: Sequence[object]) -> str:
    """A `CONSISTENCY` message for one row; its first column, a step id, shortened."""
    return message.format(shown(str(row[0])), *row[1:])


class Conflict(Exception):
    """A conditional write found a step at another version than it replaces.

    Nothing of the write was kept; the engine re-reads the step and decides again.
    """


class Backend(Protocol):
    """The rows a store reads and writes, in one dialect."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    @property
    def location(self) -> str:
        """Where the data lives, fit for messages (no password)."""
        ...

    def read_version(self, step_id: str) -> int:
        """The step's stored version, 0 when it has none."""
        ...

    def read_histories(self, step_ids: Sequence[str]) -> dict[str, list[HistoryRow]]:
        """The recorded events of each step that has any, version 1 first."""
        ...

    def read_step(self, step_id: str) -> tuple[StepRow, list[LoggedRow]] | None:
        """The step's snapshot row and its log, read consistently; None when unknown."""
        ...

    def select_steps(
        self,
        *,
        run_id: str | None,
        thread_id: str | None,
        status: str | None,
        created_before: int | None,
        limit: int | None,
    ) -> list[StepRow]:
        """Snapshot rows matching every given filter, oldest ``created_at`` first."""
        ...

    def write(self, events: Sequence[EventRow], steps: Sequence[SnapshotRow]) -> None:
        """Upsert `steps` (each only from its stated version) and append `events`, atomically.

        Raises `Conflict` when a step is no longer at the version a row replaces
        (another writer won), `StoreError` when the database fails; either way
        nothing of it is kept.
        """
        ...

    def check(self, *, full: bool) -> list[str]:
        """What is wrong with the database's pages and tables, one line each; [] if nothing.

        `full` reads every page and index (SQLite's integrity check); otherwise a
        quicker pass that skips matching the indexes to their tables.
        """
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


def steps_query(
    *,
    placeholder: str,
    snapshot: str,
    run_id: str | None,
    thread_id: str | None,
    status: str | None,
    created_before: int | None,
    limit: int | None,
) -> tuple[str, list[object]]:
    """The SQL and parameters of `select_steps` for a backend's `placeholder` style.

    `snapshot` is the backend's expression for the snapshot column as text.
    """
    where: list[str] = []
    params: list[object] = []
    for column, value in (("run_id", run_id), ("thread_id", thread_id), ("status", status)):
        if value is not None:
            where.append(f"{column} = {placeholder}")
            params.append(value)
    if created_before is not None:
        where.append(f"created_at < {placeholder}")
        params.append(created_before)
    sql = f"SELECT step_id, version, {snapshot}, updated_at FROM steplife_steps"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at, step_id"
    if limit is not None:
        sql += f" LIMIT {placeholder}"
        params.append(limit)
    return sql, params
