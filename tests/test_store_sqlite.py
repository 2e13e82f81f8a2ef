"""What only the SQLite store has to prove: its settings, its files, and surviving SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import storeevents as sf
from steplife import Tracker, to_dict
from steplife.errors import StoreError
from steplife.store import DatabaseStore, open_store
from storeevents import event

pytest_plugins = ["storefixtures"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "steps.db"


def _pragma(conn: sqlite3.Connection, name: str) -> Any:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def _connections(store: DatabaseStore) -> list[sqlite3.Connection]:
    backend: Any = store._backend
    return [backend._writer, backend._reader]


def test_connections_use_wal_full_sync_and_a_busy_timeout(path: Path) -> None:
    """WAL, synchronous=FULL (2) and the busy timeout, on both connections."""
    with open_store(path, timeout=7.5) as store:
        for conn in _connections(store):
            assert _pragma(conn, "journal_mode") == "wal"
            assert _pragma(conn, "synchronous") == 2
            assert _pragma(conn, "busy_timeout") == 7500


def test_synchronous_can_be_relaxed_and_is_checked(path: Path) -> None:
    """``synchronous="normal"`` is honoured; a level SQLite lacks is refused."""
    with open_store(path, synchronous="normal") as store:
        assert {_pragma(c, "synchronous") for c in _connections(store)} == {1}
    with pytest.raises(StoreError, match="synchronous='FAST'"):
        open_store(path, synchronous="fast")


def test_a_new_file_gets_the_current_schema(path: Path) -> None:
    """Opening creates the tables and records schema version 1."""
    open_store(path).close()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = conn.execute("SELECT version FROM steplife_schema_version").fetchall()
    assert {"steplife_steps", "steplife_events", "steplife_schema_version"} <= tables
    assert versions == [(1,)]


def test_a_file_that_is_not_sqlite_is_refused_untouched(path: Path) -> None:
    """A text file is not a database: a clear StoreError, the file unchanged."""
    path.write_text("event: thread.run.created\ndata: {}\n" * 200)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(path)
    assert path.read_bytes() == before


def test_a_corrupt_database_gives_a_store_error(path: Path) -> None:
    """Garbage over the data pages surfaces as StoreError, never a bare sqlite3 error."""
    with open_store(path) as store:
        store.ingest(sf.generated(600, 120, seed=2))
    data = bytearray(path.read_bytes())
    page = 4096
    data[page : len(data) - page] = os.urandom(len(data) - 2 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"corrupt|not a SQLite database"), open_store(path) as s:
        s.steps()


@pytest.mark.parametrize("where", ["", ":memory:", "file::memory:?cache=shared"])
def test_a_store_needs_a_file(where: str) -> None:
    """In-memory databases cannot be shared by the store's two connections."""
    with pytest.raises(StoreError, match="needs a file path"):
        open_store(where)


def test_a_directory_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """Clear messages for paths that cannot hold a database file."""
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)
    with pytest.raises(StoreError, match="cannot open the database file"):
        open_store(tmp_path / "missing" / "steps.db")


def test_a_lock_held_past_the_timeout_is_a_store_error(path: Path) -> None:
    """Another process holding the write lock: wait `timeout`, then a clear error."""
    with open_store(path, timeout=0.3) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        started_at = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.apply(*event("created", "step_a"))
        assert time.monotonic() - started_at >= 0.25
        other.execute("ROLLBACK")
        other.close()
        assert store.apply(*event("created", "step_a")).version == 1


def test_a_lock_released_within_the_timeout_is_waited_for(path: Path) -> None:
    """Writers queue behind each other instead of failing."""
    with open_store(path, timeout=10) as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.2, lambda: other.execute("ROLLBACK"))
        release.start()
        assert store.apply(*event("created", "step_a")).version == 1
        release.join()
        other.close()


# -- SIGKILL mid-batch -----------------------------------------------------------------

_WRITER = """
import sys
from steplife._events import open_input, read_events
from steplife.store import open_store

db, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_store(db) as store, open_input(path) as raw:
    store.ingest(read_events(raw, path), batch_size=batch, on_commit=lambda n: print(n, flush=True))
print("done", flush=True)
"""

_BATCH = 400


def _expected_rows(events: list[dict[str, Any]]) -> tuple[list[tuple[str, int, str]], list[int]]:
    """Every step event's (step_id, version, name) in order, and how many precede each input."""
    rows: list[tuple[str, int, str]] = []
    before: list[int] = []
    counts: Counter[str] = Counter()
    for e in events:
        before.append(len(rows))
        if e["event"].startswith("thread.run.step."):
            step_id = e["data"]["id"]
            counts[step_id] += 1
            rows.append((step_id, counts[step_id], e["event"]))
    before.append(len(rows))
    return rows, before


def _check_after_kill(
    path: Path, expected: list[tuple[str, int, str]], before: list[int], acked: int
) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT step_id, version, event FROM steplife_events ORDER BY seq"
        ).fetchall()
        snapshots = dict(conn.execute("SELECT step_id, version FROM steplife_steps"))
    assert rows == expected[: len(rows)]  # the log is a prefix of the stream, in order
    boundaries = {before[min(k, len(before) - 1)] for k in range(0, len(before) + _BATCH, _BATCH)}
    assert len(rows) in boundaries  # ...ending at a batch boundary: no partial batch
    assert len(rows) >= before[acked]  # every acknowledged batch is there
    last = {step_id: version for step_id, version, _ in rows}
    assert snapshots == last  # each snapshot is at its log's last version
    return len(rows)


def test_a_writer_killed_mid_batch_leaves_whole_batches_only(tmp_path: Path) -> None:
    """SIGKILL a writer four times at random points: acknowledged batches stay, no partial one."""
    events = sf.generated(16_000, 3_200, seed=21)
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    path = tmp_path / "steps.db"
    expected, before = _expected_rows(events)
    rng = random.Random(5)
    progress = 0
    for _ in range(4):
        with subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(stream), str(_BATCH)],
            stdout=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            acked, wait_for = 0, rng.randint(3, 8)
            for _ack in range(wait_for):
                line = writer.stdout.readline().strip()
                if not line.isdigit():
                    break
                acked = int(line)
            time.sleep(rng.uniform(0, 0.03))
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
        assert writer.returncode == -signal.SIGKILL
        kept = _check_after_kill(path, expected, before, acked)
        assert kept >= progress
        progress = kept
    # A last, uninterrupted run resumes where the killed ones stopped and finishes the job.
    done = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path), str(stream), str(_BATCH)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "done"
    _check_after_kill(path, expected, before, len(events))
    tracker = Tracker()
    for e in events:
        tracker.feed(e["event"], e["data"])
    with open_store(path) as store:
        stored = {s.id: to_dict(s.step) for s in store.steps()}
    assert stored == {step_id: to_dict(step) for step_id, step in tracker.steps.items()}
