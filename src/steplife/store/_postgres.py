"""The PostgreSQL backend: psycopg 3, for stores shared by many hosts.

Like the SQLite backend it holds a writing and a reading connection. A write is
one transaction: the snapshot upserts (in step-id order, so concurrent writers
lock rows in one order and cannot deadlock), each applied only over the version
it replaces, then the log rows. Any error rolls the transaction back; a
connection that dies mid-write (a restarted server, ``pg_terminate_backend``)
leaves nothing of it, and the next call reconnects. Tables live in the
connection's ``search_path``: put ``options=-csearch_path%3Dmyschema`` in the DSN
to keep a store in its own schema.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from steplife.errors import StoreError
from steplife.store import _schema
from steplife.store._backend import (
    CONSISTENCY,
    Conflict,
    EventRow,
    LoggedRow,
    SnapshotRow,
    StepRow,
    described,
    steps_query,
)
from steplife.store._state import HistoryRow

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError as exc:  # pragma: no cover - the extra is installed in every test run
    raise StoreError("PostgreSQL stores need psycopg 3: pip install 'steplife[postgres]'") from exc

__all__ = ["PostgresBackend", "redact"]


class _UnwindingNoise(logging.Filter):
    """Drops psycopg's "error ignored terminating" log records.

    When a write fails inside psycopg's pipeline (``executemany`` uses one), psycopg
    logs a second error met while it unwinds; the first reaches the caller as a
    `StoreError`, which says what went wrong. Logged without a handler, the second
    reached stderr as a stray line beside the command's own report.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


_PSYCOPG_LOG: Final = logging.getLogger("psycopg")
if not any(isinstance(f, _UnwindingNoise) for f in _PSYCOPG_LOG.filters):
    _PSYCOPG_LOG.addFilter(_UnwindingNoise())

T = TypeVar("T")

_LOCK_KEY: Final = 0x73746570  # pg_advisory_lock key for migrations ("step")

UPSERT_STEP: Final = """
INSERT INTO steplife_steps AS s (step_id, version, status, run_id, thread_id, assistant_id,
                                 type, created_at, snapshot, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::json, %s)
ON CONFLICT (step_id) DO UPDATE SET
    version = EXCLUDED.version, status = EXCLUDED.status, run_id = EXCLUDED.run_id,
    thread_id = EXCLUDED.thread_id, assistant_id = EXCLUDED.assistant_id, type = EXCLUDED.type,
    created_at = EXCLUDED.created_at, snapshot = EXCLUDED.snapshot,
    updated_at = EXCLUDED.updated_at
WHERE s.version = %s
"""

INSERT_EVENT: Final = """
INSERT INTO steplife_events (step_id, version, event, payload, digest, recorded_at)
VALUES (%s, %s, %s, %s::json, %s, %s)
"""

_CONFLICTS: Final = (
    pg_errors.UniqueViolation,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


def redact(dsn: str) -> str:
    """`dsn` with its password (if any) replaced by ``***``, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _reason(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


class PostgresBackend:
    """The `Backend` over a PostgreSQL database given by a ``postgresql://`` DSN."""

    dialect: Final = "postgresql"

    def __init__(self, dsn: str, *, timeout: float) -> None:
        self._dsn = dsn
        self.location = redact(dsn)
        self._timeout = timeout
        self._writer: psycopg.Connection[Any] | None = None
        self._reader: psycopg.Connection[Any] | None = None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=max(1, round(self._timeout))
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.location}: {_reason(exc)}"
            ) from exc

    def _conn(self, name: str) -> psycopg.Connection[Any]:
        """The named connection, opened again if it was lost."""
        conn: psycopg.Connection[Any] | None = getattr(self, name)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = self._connect()
            setattr(self, name, conn)
        return conn

    def _fail(self, exc: psycopg.Error, doing: str, conn: psycopg.Connection[Any]) -> StoreError:
        if conn.closed or conn.broken:
            return StoreError(
                f"{self.location}: lost the connection {doing} ({_reason(exc)}); the server "
                "rolls back what was not committed, and the next call reconnects"
            )
        return StoreError(f"{self.location}: {doing} failed: {_reason(exc)}")

    # -- schema --------------------------------------------------------------------

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        (table,) = conn.execute("SELECT to_regclass(%s)", (_schema.VERSION_TABLE,)).fetchone() or (
            None,
        )
        if table is None:
            return 0
        row = conn.execute(f"SELECT max(version) FROM {_schema.VERSION_TABLE}").fetchone()
        return int(row[0] or 0) if row else 0

    def _migrate(self) -> None:
        conn = self._conn("_writer")
        try:
            if not _schema.pending(self.dialect, self._version(conn), self.location):
                return
            # A session lock, taken before the transaction: a transaction that began
            # before another opener's DDL committed may not see it (catalog caches).
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                with conn.transaction():
                    todo = _schema.pending(self.dialect, self._version(conn), self.location)
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {_schema.VERSION_TABLE} "
                        "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                    )
                    for version, statements in todo:
                        for statement in statements:
                            conn.execute(statement)
                        conn.execute(
                            f"INSERT INTO {_schema.VERSION_TABLE} VALUES (%s, %s)",
                            (version, time.time()),
                        )
            finally:
                if not (conn.closed or conn.broken):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        except psycopg.Error as exc:
            raise self._fail(exc, "creating the schema", conn) from exc

    # -- reads ---------------------------------------------------------------------

    def _read(self, query: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `query` on the reading connection, once more on a new one if it was lost.

        Reads change nothing, so a read that met a dead connection (a restarted
        server, an idle session killed) is simply repeated.
        """
        for attempt in (1, 2):
            conn = self._conn("_reader")
            try:
                return query(conn)
            except psycopg.OperationalError as exc:
                if attempt == 2 or not (conn.closed or conn.broken):
                    raise self._fail(exc, "reading", conn) from exc
            except psycopg.Error as exc:
                raise self._fail(exc, "reading", conn) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def read_version(self, step_id: str) -> int:
        """The step's stored version, 0 when it has none."""

        def query(conn: psycopg.Connection[Any]) -> int:
            sql = "SELECT version FROM steplife_steps WHERE step_id = %s"
            row = conn.execute(sql, (step_id,)).fetchone()
            return int(row[0]) if row else 0

        return self._read(query)

    def read_histories(self, step_ids: Sequence[str]) -> dict[str, list[HistoryRow]]:
        """The recorded events of each step that has any, version 1 first."""

        def query(conn: psycopg.Connection[Any]) -> dict[str, list[HistoryRow]]:
            found: dict[str, list[HistoryRow]] = {}
            rows = conn.execute(
                "SELECT step_id, version, event, payload::text, digest FROM steplife_events "
                "WHERE step_id = ANY(%s) ORDER BY step_id, version",
                (list(step_ids),),
            )
            for step_id, version, event, payload, digest in rows:
                found.setdefault(step_id, []).append(HistoryRow(version, event, payload, digest))
            return found

        return self._read(query)

    def read_step(self, step_id: str) -> tuple[StepRow, list[LoggedRow]] | None:
        """The step's snapshot row and its log, from one repeatable-read transaction."""

        def query(conn: psycopg.Connection[Any]) -> tuple[StepRow, list[LoggedRow]] | None:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute(
                    "SELECT step_id, version, snapshot::text, updated_at FROM steplife_steps "
                    "WHERE step_id = %s",
                    (step_id,),
                ).fetchone()
                if row is None:
                    return None
                log = conn.execute(
                    "SELECT version, event, payload::text, recorded_at FROM steplife_events "
                    "WHERE step_id = %s ORDER BY version",
                    (step_id,),
                ).fetchall()
            return (row[0], row[1], row[2], row[3]), [(v, e, p, r) for v, e, p, r in log]

        return self._read(query)

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
        sql, params = steps_query(
            placeholder="%s",
            snapshot="snapshot::text",
            run_id=run_id,
            thread_id=thread_id,
            status=status,
            created_before=created_before,
            limit=limit,
        )

        def query(conn: psycopg.Connection[Any]) -> list[StepRow]:
            rows = conn.execute(sql, params).fetchall()
            return [(r[0], r[1], r[2], r[3]) for r in rows]

        return self._read(query)

    # -- the write -----------------------------------------------------------------

    def write(self, events: Sequence[EventRow], steps: Sequence[SnapshotRow]) -> None:
        """Upsert `steps` over their stated versions and append `events`, atomically."""
        conn = self._conn("_writer")
        try:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(UPSERT_STEP, steps)
                if cursor.rowcount != len(steps):
                    raise Conflict
                cursor.executemany(INSERT_EVENT, events)
        except _CONFLICTS as exc:
            raise Conflict from exc
        except psycopg.Error as exc:
            raise self._fail(exc, "writing", conn) from exc

    # -- checking ------------------------------------------------------------------

    def check(self, *, full: bool) -> list[str]:
        """The tables' agreement; PostgreSQL checks its own pages (``data_checksums``)."""
        del full  # the server's own tools (amcheck) check pages and indexes

        def query(conn: psycopg.Connection[Any]) -> list[str]:
            if not self._version(conn):
                return []
            return [
                described(message, row) for sql, message in CONSISTENCY for row in conn.execute(sql)
            ]

        return self._read(query)

    def close(self) -> None:
        """Close both connections (a no-op the second time)."""
        for name in ("_reader", "_writer"):
            conn: psycopg.Connection[Any] | None = getattr(self, name, None)
            if conn is not None:
                conn.close()
                setattr(self, name, None)
