"""The store's tables, and the numbered migrations that create and upgrade them.

Each database records the migrations applied to it in ``steplife_schema_version``
(one row per version, with when it was applied). Opening a store applies the
missing ones in order, each in its own transaction, under a lock so two processes
opening a new database at once do not both create it. A database whose version is
newer than `LATEST` was written by a newer steplife: it is refused, untouched.

Both dialects hold the same tables with the same meaning:

``steplife_steps``
    one row per step: its current snapshot (wire JSON), version (events recorded),
    the columns queries filter on, and when it was last written.
``steplife_events``
    the append-only log: one row per recorded event, ``(step_id, version)``
    unique, with the event name, its JSON payload, a 64-bit digest of both (to
    recognise re-deliveries) and when it was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from steplife.errors import SchemaVersionError

__all__ = ["LATEST", "MIGRATIONS", "VERSION_TABLE", "pending"]

VERSION_TABLE: Final = "steplife_schema_version"

LATEST = 1
"""The newest schema version this steplife writes and reads."""

_SQLITE_V1: Final = (
    """CREATE TABLE steplife_steps (
        step_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version > 0),
        status TEXT NOT NULL,
        run_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        assistant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        snapshot TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX steplife_steps_run ON steplife_steps (run_id)",
    "CREATE INDEX steplife_steps_thread ON steplife_steps (thread_id)",
    "CREATE INDEX steplife_steps_status ON steplife_steps (status, created_at)",
    """CREATE TABLE steplife_events (
        seq INTEGER PRIMARY KEY,
        step_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        digest INTEGER NOT NULL,
        recorded_at REAL NOT NULL,
        UNIQUE (step_id, version)
    )""",
)

_POSTGRES_V1: Final = (
    """CREATE TABLE steplife_steps (
        step_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version > 0),
        status TEXT NOT NULL,
        run_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        assistant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        snapshot JSON NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX steplife_steps_run ON steplife_steps (run_id)",
    "CREATE INDEX steplife_steps_thread ON steplife_steps (thread_id)",
    "CREATE INDEX steplife_steps_status ON steplife_steps (status, created_at)",
    """CREATE TABLE steplife_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        step_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        event TEXT NOT NULL,
        payload JSON NOT NULL,
        digest BIGINT NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL,
        UNIQUE (step_id, version)
    )""",
)

MIGRATIONS: dict[str, dict[int, tuple[str, ...]]] = {
    "sqlite": {1: _SQLITE_V1},
    "postgresql": {1: _POSTGRES_V1},
}
"""Per dialect, the statements of each schema version, applied in order."""


def pending(dialect: str, current: int, where: str) -> list[tuple[int, tuple[str, ...]]]:
    """The migrations a database at version `current` still needs, oldest first.

    Raises `SchemaVersionError` when `current` is newer than this steplife knows.
    """
    if current > LATEST:
        raise SchemaVersionError(where, current, LATEST)
    steps: Mapping[int, tuple[str, ...]] = MIGRATIONS[dialect]
    return [(version, steps[version]) for version in range(current + 1, LATEST + 1)]
