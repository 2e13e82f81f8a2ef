"""Benchmarks of the step store: batched ingestion against a bare-insert floor, and latency.

* **Ingest** (SQLite): `DatabaseStore.ingest` of a whole stream (JSONL, one event
  per line), against the *floor*: a minimal script that reads the same lines and
  writes the same rows (one log row per step event, one snapshot upsert per step
  touched in a batch, with the store's own SQL, schema and pragmas) by
  ``executemany``, with no validation at all. Both take batches of the same size,
  one transaction each, ``synchronous=FULL``. The figure that matters is
  ``share_of_floor``: the store's rate as a share of the floor's (target >= 0.50).
  Each side runs twice, alternately, and keeps its best time, so that a noisy
  neighbour on the machine does not decide the ratio.
* **Check** (SQLite): `DatabaseStore.check` of the store the ingest wrote, quick (what
  ``open_store(check=True)`` and the writing commands run first) and full, in MB/s, and
  the quick check's time as a share of the time the ingest of that stream took.
* **Apply latency**: `DatabaseStore.apply` of single events (each its own
  transaction, committed durably), median and 99th percentile, for SQLite and for
  PostgreSQL (when ``STEPLIFE_BENCH_POSTGRES_DSN`` or ``STEPLIFE_TEST_POSTGRES_DSN``
  names a server; the tables go in a schema of their own, dropped afterwards).

Run ``python -m benchmarks.bench_store [PATH]`` (PATH defaults to the 1,000,000-event
benchmark stream, generated on first use).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Final

import orjson

from steplife.store import open_store
from steplife.store._sqlite import INSERT_EVENT, UPSERT_STEP
from steplife.store._state import digest_of

BATCH: Final = 1_000  # the store's default batch size
APPLY_EVENTS: Final = 2_000
ROUNDS: Final = 2
_STEP: Final = "thread.run.step."
_DELTA: Final = _STEP + "delta"


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The stream's events as decoded JSON, the same cheap way for both sides."""
    loads = orjson.loads
    with path.open("rb") as lines:
        for line in lines:
            yield loads(line)


def _fresh(directory: Path, name: str) -> Path:
    db = directory / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


# -- the floor -------------------------------------------------------------------------


def floor_ingest(path: Path, db: Path, batch: int = BATCH) -> tuple[int, float]:
    """Write the store's rows for `path` with plain executemany; (step events, seconds)."""
    open_store(db).close()  # the very same schema
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    versions: dict[str, int] = {}
    last: dict[str, tuple[Any, ...]] = {}  # a step's last full snapshot columns
    events: list[tuple[Any, ...]] = []
    touched: dict[str, int] = {}  # step -> version before this batch
    written = 0

    def flush() -> None:
        now = time.time()
        snapshots = [(s, versions[s], *last[s][1:], now, base) for s, base in touched.items()]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(UPSERT_STEP, snapshots)
        conn.executemany(INSERT_EVENT, [(*e, now) for e in events])
        conn.execute("COMMIT")
        events.clear()
        touched.clear()

    start = time.perf_counter()
    for seen, item in enumerate(_lines(path), 1):
        name = item["event"]
        if name.startswith(_STEP):
            data = item["data"]
            step_id = data["id"]
            version = versions.get(step_id, 0)
            touched.setdefault(step_id, version)
            versions[step_id] = version + 1
            payload = orjson.dumps(data)
            events.append((step_id, version + 1, name, payload.decode(), digest_of(name, payload)))
            if name != _DELTA:
                last[step_id] = (
                    step_id,
                    data["status"],
                    data["run_id"],
                    data["thread_id"],
                    data["assistant_id"],
                    data["type"],
                    data["created_at"],
                    payload.decode(),
                )
            written += 1
        if seen % batch == 0:
            flush()
    flush()
    seconds = time.perf_counter() - start
    conn.close()
    return written, seconds


# -- the store -------------------------------------------------------------------------


def store_ingest(path: Path, db: Path, batch: int = BATCH) -> tuple[int, float]:
    """`DatabaseStore.ingest` of `path`; (events applied, seconds)."""
    with open_store(db) as store:
        start = time.perf_counter()
        report = store.ingest(_lines(path), batch_size=batch)
        seconds = time.perf_counter() - start
    if report.rejected:
        raise RuntimeError(f"the benchmark stream had {report.rejected} rejected events")
    return report.applied, seconds


def ingest_figures(path: Path, directory: Path, rounds: int = ROUNDS) -> dict[str, float]:
    """Best-of-`rounds` rates of the floor and the store, and the store's share."""
    floor_best = store_best = float("inf")
    events = 0
    for _ in range(rounds):
        floor_events, seconds = floor_ingest(path, _fresh(directory, "floor.db"))
        floor_best = min(floor_best, seconds)
        events, seconds = store_ingest(path, _fresh(directory, "store.db"))
        store_best = min(store_best, seconds)
        if events != floor_events:
            raise RuntimeError(f"store wrote {events} events, the floor {floor_events}")
    floor_rate, store_rate = events / floor_best, events / store_best
    return {
        "step events": events,
        "batch size": BATCH,
        "store events/s": store_rate,
        "floor events/s": floor_rate,
        "share_of_floor": store_rate / floor_rate,
        "store seconds": store_best,
    }


def check_figures(db: Path, ingest_seconds: float) -> dict[str, float]:
    """Seconds and MB/s of the quick and the full check of the store at `db`."""
    megabytes = db.stat().st_size / 1e6
    timings = {}
    with open_store(db) as store:
        for full in (False, True):
            start = time.perf_counter()
            problems = store.check(full=full)
            timings[full] = time.perf_counter() - start
            if problems:
                raise RuntimeError(f"the benchmark store is damaged: {problems[0]}")
    return {
        "store MB": megabytes,
        "quick check s": timings[False],
        "quick check MB/s": megabytes / timings[False],
        "full check s": timings[True],
        "full check MB/s": megabytes / timings[True],
        "quick_share_of_ingest": timings[False] / ingest_seconds,
    }


# -- latency ---------------------------------------------------------------------------


def apply_latency(db: str, path: Path, count: int = APPLY_EVENTS) -> dict[str, float]:
    """Median and p99 milliseconds of single-event `apply` calls (the stream's first events)."""
    step_events = (e for e in _lines(path) if e["event"].startswith(_STEP))
    timings = []
    with open_store(db) as store:
        for item in islice(step_events, count):
            start = time.perf_counter()
            store.apply(item["event"], item["data"])
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {
        "applies": len(timings),
        "median ms": statistics.median(timings),
        "p99 ms": timings[min(len(timings) - 1, round(len(timings) * 0.99))],
    }


def _postgres_dsn() -> str | None:
    return os.environ.get("STEPLIFE_BENCH_POSTGRES_DSN") or os.environ.get(
        "STEPLIFE_TEST_POSTGRES_DSN"
    )


def postgres_latency(path: Path) -> dict[str, float] | None:
    """Apply latency on PostgreSQL in a throw-away schema, or None without a server."""
    dsn = _postgres_dsn()
    if not dsn:
        return None
    import psycopg

    schema = f"steplife_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        print(f"bench_store: PostgreSQL skipped: {exc}", file=sys.stderr)
        return None
    separator = "&" if "?" in dsn else "?"
    try:
        return apply_latency(f"{dsn}{separator}options=-csearch_path%3D{schema}", path)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(events_path: str) -> dict[str, dict[str, float]]:
    """Every store figure, by benchmark name (the runner writes them to docs/benchmarks.md)."""
    path = Path(events_path)
    with tempfile.TemporaryDirectory(prefix="steplife-bench-") as tmp:
        directory = Path(tmp)
        ingest = ingest_figures(path, directory)
        figures = {"store ingest (SQLite)": ingest}
        figures["store check (SQLite)"] = check_figures(
            directory / "store.db", ingest["store seconds"]
        )
        figures["store apply latency (SQLite)"] = apply_latency(
            str(_fresh(directory, "apply.db")), path
        )
    postgres = postgres_latency(path)
    if postgres is not None:
        figures["store apply latency (PostgreSQL)"] = postgres
    return figures


def main(argv: list[str]) -> int:
    """Print the figures for the stream at argv[0] (default: the benchmark stream)."""
    if argv:
        path = argv[0]
    else:
        from benchmarks.stream import stream_file

        path = str(stream_file())
    for name, figures in run(path).items():
        print(name)
        for measure, value in figures.items():
            print(
                f"  {measure}: {value:,.3f}"
                if isinstance(value, float)
                else f"  {measure}: {value:,}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
