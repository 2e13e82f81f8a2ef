"""Durable run-step tracking: SQLite by default, PostgreSQL for many hosts.

``open_store("steps.db")`` opens (or creates) a SQLite store;
``open_store("postgresql://user@host/db")`` a PostgreSQL one (``pip install
'steplife[postgres]'``). Both keep an append-only event log and a current snapshot
per step, put every event through the same lifecycle machine and rules as the
in-memory `steplife.Tracker`, and behave identically. See docs/store.md.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Final

from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import (
    ConflictError,
    RejectedEventError,
    SchemaVersionError,
    StepNotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    from steplife.store._async import AsyncStepStore, open_async_store
    from steplife.store._core import DatabaseStore
    from steplife.store._protocol import Age, EventLike, StepStore
    from steplife.store._records import ApplyResult, IngestReport, RecordedEvent, StoredStep

_LAZY: Final = {
    "AsyncStepStore": "_async",
    "open_async_store": "_async",
    "DatabaseStore": "_core",
    "Age": "_protocol",
    "EventLike": "_protocol",
    "StepStore": "_protocol",
    "ApplyResult": "_records",
    "IngestReport": "_records",
    "RecordedEvent": "_records",
    "StoredStep": "_records",
}
"""Names loaded on first use, with the module that defines them: a command that only
needs `DEFAULT_DB` (every ``steplife`` command builds its parser with it) does not pay
for the store's engine, its SQL and its records."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup finds it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFAULT_DB",
    "Age",
    "ApplyResult",
    "AsyncStepStore",
    "ConflictError",
    "DatabaseStore",
    "EventLike",
    "IngestReport",
    "RecordedEvent",
    "RejectedEventError",
    "SchemaVersionError",
    "StepNotFoundError",
    "StepStore",
    "StoreError",
    "StoredStep",
    "is_postgres_dsn",
    "open_async_store",
    "open_store",
]

DEFAULT_DB: Final = "steplife.db"
"""The SQLite file the command uses when neither ``--db`` nor ``STEPLIFE_DB`` is given."""

_DSN_PREFIXES: Final = ("postgresql://", "postgres://")


def is_postgres_dsn(db: str | os.PathLike[str]) -> bool:
    """Whether `db` names a PostgreSQL database (a ``postgresql://`` or ``postgres://`` DSN)."""
    return isinstance(db, str) and db.startswith(_DSN_PREFIXES)


def open_store(
    db: str | os.PathLike[str],
    *,
    rules: Rules = DEFAULT_RULES,
    timeout: float = 30.0,
    synchronous: str = "FULL",
    check: bool = False,
) -> DatabaseStore:
    """Open the store at `db`, creating or migrating its schema as needed.

    `db` is a ``postgresql://`` (or ``postgres://``) DSN, or else a SQLite file
    path (created when missing). `rules` decide which events are accepted, as for
    the Tracker. `timeout` is how long (seconds) to wait for a locked SQLite file
    or a PostgreSQL connection; `synchronous` is SQLite's durability level
    (``FULL``: a commit survives a power cut; ``NORMAL``: only a crash). With
    `check`, the store first runs its quick check (`DatabaseStore.check` with
    ``full=False``) and refuses a damaged database before anything is written: it
    reads the whole file (docs/store.md has the cost).

    Raises `StoreError` when the database cannot be reached, is not a SQLite
    file, or psycopg is missing (or, with `check`, is damaged); `SchemaVersionError`
    when a newer steplife wrote it.
    """
    if not isinstance(rules, Rules):
        raise TypeError(f"rules must be a steplife.Rules, not {type(rules).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    from steplife.store._core import DatabaseStore
    from steplife.store._sqlite import SQLiteBackend

    if is_postgres_dsn(db):
        from steplife.store._postgres import PostgresBackend  # psycopg only when asked for

        store = DatabaseStore(PostgresBackend(str(db), timeout=timeout), rules=rules)
    else:
        backend = SQLiteBackend(db, timeout=timeout, synchronous=synchronous.upper())
        store = DatabaseStore(backend, rules=rules)
    if not check:
        return store
    try:
        problems = store.check(full=False)
    except BaseException:
        store.close()
        raise
    if problems:
        store.close()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreError(
            f"{store.location}: the database is damaged, nothing was written: {problems[0]}{more}"
            "; `steplife check-store` lists every problem"
        )
    return store
