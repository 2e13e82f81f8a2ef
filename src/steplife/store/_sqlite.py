"""The SQLite backend: one file, stdlib `sqlite3`, safe across threads and processes.

Two connections per store: one writes, one reads, so the reads a decision needs
never sit inside a write transaction and the write lock is held briefly. Both use
WAL (readers never block the writer), ``synchronous=FULL`` by default (a committed
batch survives a power cut, not just a crash), and a busy timeout, so several
processes share a file by waiting their turn. Every write is ``BEGIN IMMEDIATE``:
it takes the write lock before it reads anything, so it cannot fail half-way on a
lock upgrade, and it only replaces the versions its decisions were based on.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

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

__all__ = ["INSERT_EVENT", "SYNCHRONOUS", "UPSERT_STEP", "SQLiteBackend", "connect"]

T = TypeVar("T")

SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")
_CHUNK: Final = 500  # ids per IN (...) query, far below SQLite's variable limit

UPSERT_STEP: Final = """
INSERT INTO steplife_steps (step_id, version, status, run_id, thread_id, assistant_id, type,
                            created_at, snapshot, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (step_id) DO UPDATE SET
    version = excluded.version, status = excluded.status, run_id = excluded.run_id,
    thread_id = excluded.thread_id, assistant_id = excluded.assistant_id, type = excluded.type,
    created_at = excluded.created_at, snapshot = excluded.snapshot,
    updated_at = excluded.updated_at
WHERE steplife_steps.version = ?
"""
"""Write a snapshot only over the version it replaces (the last parameter)."""

INSERT_EVENT: Final = """
INSERT INTO steplife_events (step_id, version, event, payload, digest, recorded_at)
VALUES (?, ?, ?, ?, ?, ?)
"""


def _unwritable(path: str) -> str | None:
    """Why this user cannot write the database at `path`, when permissions say so."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is read-only"
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        # WAL mode creates the -wal and -shm files beside the database, even to read.
        return f"the folder {folder} is not writable, and SQLite writes its -wal file there"
    return None


def _error(where: str, exc: sqlite3.Error, timeout: float) -> StoreError:
    message = str(exc)
    if "not a database" in message or "malformed" in message:
        text = f"{where}: not a SQLite database, or a corrupt one ({message})"
    elif ("unable to open" in message or "readonly" in message) and (why := _unwritable(where)):
        text = f"{where}: cannot write: {why} ({message})"
    elif "unable to open" in message:
        text = f"{where}: cannot open the database file ({message})"
    elif "readonly" in message:
        text = f"{where}: cannot write: the file, or the folder it is in, is read-only ({message})"
    elif "locked" in message or "busy" in message:
        text = f"{where}: the database stayed locked for {timeout:g}s ({message})"
    else:
        text = f"{where}: {message}"
    return StoreError(text)


def _patiently(timeout: float, attempt: Callable[[], T]) -> T:
    """`attempt()`, tried again while SQLite reports a lock, for up to `timeout` seconds.

    SQLite skips the busy handler where waiting could deadlock: switching a new file
    to WAL, or a reader's lock upgrade while another connection does the same. Those
    give up at once with "database is locked"; starting over is the documented cure.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def connect(path: str, *, timeout: float, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL, with `synchronous` and a busy timeout.

    Raises `StoreError` when the file cannot be opened or is not a SQLite database.
    """
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _error(path, exc, timeout) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        (mode,) = _patiently(timeout, lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot use WAL mode (journal_mode is {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    except sqlite3.Error as exc:
        conn.close()
        raise _error(path, exc, timeout) from exc
    except StoreError:
        conn.close()
        raise
    return conn


class SQLiteBackend:
    """The `Backend` over one SQLite file (created when missing)."""

    dialect: Final = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float, synchronous: str) -> None:
        self.location = os.fspath(path)
        if self.location in ("", ":memory:") or self.location.startswith("file:"):
            raise StoreError(f"{self.location!r}: a store needs a file path")
        if Path(path).is_dir():
            raise StoreError(f"{self.location}: is a directory, not a database file")
        if synchronous.upper() not in SYNCHRONOUS:
            raise StoreError(f"synchronous={synchronous!r}: expected one of {SYNCHRONOUS}")
        self._timeout = timeout
        self._writer = connect(self.location, timeout=timeout, synchronous=synchronous)
        try:
            self._reader = connect(self.location, timeout=timeout, synchronous=synchronous)
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _fail(self, exc: sqlite3.Error) -> StoreError:
        return _error(self.location, exc, self._timeout)

    # -- schema --------------------------------------------------------------------

    def _version(self, conn: sqlite3.Connection) -> int:
        table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (_schema.VERSION_TABLE,),
        ).fetchone()
        if table is None:
            return 0
        (version,) = conn.execute(f"SELECT max(version) FROM {_schema.VERSION_TABLE}").fetchone()
        return int(version or 0)

    def _migrate(self) -> None:
        try:
            _patiently(self._timeout, self._migrate_once)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def _migrate_once(self) -> None:
        conn = self._writer
        if not _schema.pending(self.dialect, self._version(conn), self.location):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            todo = _schema.pending(self.dialect, self._version(conn), self.location)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_schema.VERSION_TABLE} "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            for version, statements in todo:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {_schema.VERSION_TABLE} VALUES (?, ?)", (version, time.time())
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- reads ---------------------------------------------------------------------

    def read_version(self, step_id: str) -> int:
        """The step's stored version, 0 when it has none."""
        try:
            row = self._reader.execute(
                "SELECT version FROM steplife_steps WHERE step_id = ?", (step_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        return int(row[0]) if row else 0

    def read_histories(self, step_ids: Sequence[str]) -> dict[str, list[HistoryRow]]:
        """The recorded events of each step that has any, version 1 first."""
        found: dict[str, list[HistoryRow]] = {}
        ids = list(step_ids)
        try:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._reader.execute(
                    "SELECT step_id, version, event, payload, digest FROM steplife_events "
                    f"WHERE step_id IN ({marks}) ORDER BY step_id, version",
                    chunk,
                )
                for step_id, version, event, payload, digest in rows:
                    found.setdefault(step_id, []).append(
                        HistoryRow(version, event, payload, digest)
                    )
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        return found

    def read_step(self, step_id: str) -> tuple[StepRow, list[LoggedRow]] | None:
        """The step's snapshot row and its log, from one read transaction."""
        conn = self._reader
        try:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT step_id, version, snapshot, updated_at FROM steplife_steps "
                    "WHERE step_id = ?",
                    (step_id,),
                ).fetchone()
                if row is None:
                    return None
                log = conn.execute(
                    "SELECT version, event, payload, recorded_at FROM steplife_events "
                    "WHERE step_id = ? ORDER BY version",
                    (step_id,),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        return row, log

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
            placeholder="?",
            snapshot="snapshot",
            run_id=run_id,
            thread_id=thread_id,
            status=status,
            created_before=created_before,
            limit=limit,
        )
        try:
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    # -- the write -----------------------------------------------------------------

    def write(self, events: Sequence[EventRow], steps: Sequence[SnapshotRow]) -> None:
        """Upsert `steps` over their stated versions and append `events`, atomically."""
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        try:
            changed = conn.executemany(UPSERT_STEP, steps).rowcount
            if changed != len(steps):
                raise Conflict
            conn.executemany(INSERT_EVENT, events)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error says more
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise Conflict from exc
            if isinstance(exc, sqlite3.Error):
                raise self._fail(exc) from exc
            raise

    # -- checking ------------------------------------------------------------------

    def check(self, *, full: bool) -> list[str]:
        """SQLite's own check of every page (`full`: and index), then the tables' agreement."""
        pragma = "integrity_check" if full else "quick_check"
        try:
            rows = self._reader.execute(f"PRAGMA {pragma}(100)").fetchall()
            # A row may hold several lines, under a "*** in database main ***" heading.
            problems = [
                line
                for (row,) in rows
                if row != "ok"
                for line in str(row).splitlines()
                if not line.startswith("***")
            ]
            if problems or not self._version(self._reader):
                return problems  # a damaged or empty file: the queries would say no more
            for sql, message in CONSISTENCY:
                problems.extend(described(message, row) for row in self._reader.execute(sql))
        except sqlite3.Error as exc:
            problems = [f"SQLite cannot read it: {exc}"]
        return problems

    def close(self) -> None:
        """Close both connections (a no-op the second time)."""
        for name in ("_reader", "_writer"):
            conn: sqlite3.Connection | None = getattr(self, name, None)
            if conn is not None:
                conn.close()
