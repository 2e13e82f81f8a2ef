"""Batched ingestion: decide a batch of events, write it in one transaction, go on.

A batch is decided against the steps the engine holds in memory, and optimistically
(a step whose first event is ``created`` is taken to be new without a read). The
write checks every assumption: it only replaces the versions the decisions were
based on. When another writer got there first, memory is forgotten and the batch
is decided again from the database, then written. Batches are all-or-nothing;
`on_commit` hears of a batch only once it is committed.

(A writer thread committing batch k while batch k+1 is decided was tried and
measured: with sqlite3 taking the GIL back after every row, or SQLite parsing the
batch as JSON in one statement, the two threads cost more CPU than they save, even
with two idle cores. One thread is faster and simpler.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Final

from steplife._findings import Finding
from steplife.errors import StoreError
from steplife.store._backend import Conflict
from steplife.store._engine import Engine, Prepared
from steplife.store._records import IngestReport
from steplife.store._state import Item, items_of

__all__ = ["RETRIES", "ingest"]

RETRIES: Final = 50
"""Conflicting writes in a row after which a store gives up."""


class _Totals:
    """The running report, fed only with committed batches."""

    def __init__(self) -> None:
        self.events = self.applied = self.duplicates = self.skipped = self.rejected = 0
        self.batches = 0
        self.findings: list[Finding] = []

    def add(self, prepared: Prepared) -> None:
        self.events += len(prepared.items)
        self.applied += prepared.applied
        self.duplicates += prepared.duplicates
        self.skipped += prepared.skipped
        self.rejected += prepared.rejected
        self.batches += 1 if prepared.events else 0
        self.findings.extend(prepared.findings)

    def report(self) -> IngestReport:
        return IngestReport(
            events=self.events,
            applied=self.applied,
            duplicates=self.duplicates,
            skipped=self.skipped,
            rejected=self.rejected,
            batches=self.batches,
            findings=tuple(self.findings),
        )


def _chunks(items: Iterator[Item | None], size: int) -> Iterator[list[Item | None]]:
    while chunk := list(islice(items, size)):
        yield chunk


def write_batch(engine: Engine, items: list[Item | None]) -> Prepared:
    """Decide and write one batch, deciding again after each conflict; what was written.

    Raises `StoreError` when the database fails, or after `RETRIES` conflicts in a
    row; memory is forgotten then, and nothing of the batch is kept.
    """
    for attempt in range(RETRIES):
        try:
            prepared = engine.prepare(items, optimistic=not attempt)
            if prepared.events:
                engine.backend.write(prepared.events, prepared.steps)
        except Conflict:
            engine.forget()
            continue
        except BaseException:
            engine.forget()
            raise
        engine.committed(prepared.batch, prepared.steps)
        return prepared
    raise StoreError(f"gave up a batch after {RETRIES} conflicting writes in a row")


def ingest(
    engine: Engine,
    events: Iterable[object],
    *,
    batch_size: int,
    on_commit: Callable[[int], object] | None,
) -> IngestReport:
    """Decide and write `events` in batches of `batch_size`; the report of what was done."""
    engine.trim()
    totals = _Totals()
    for chunk in _chunks(items_of(engine.rules, events), batch_size):
        totals.add(write_batch(engine, chunk))
        if on_commit is not None:
            on_commit(totals.events)
    return totals.report()
