"""The store's decisions, whatever the database: which events to write, at which versions.

The engine keeps the steps it has recently written in memory (`StepState`, live
steps only: a finished step is dropped once its last write is committed) and
rebuilds any other from the log. It trusts that memory only optimistically: every
write names, per step, the version it replaces, and the backend refuses the whole
write (`Conflict`) when another writer got there first. The engine then forgets
what it held, re-reads, and decides again: whatever is written was decided against
the latest committed state of the steps it touches, and no update is lost. (A
refusal, which writes nothing, is decided against the state last read or written.)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence

import attrs

from steplife._findings import Finding
from steplife._rules import Rules
from steplife._wire import to_json
from steplife.model import RunStep
from steplife.store._backend import Backend, EventRow, SnapshotRow
from steplife.store._state import CREATED, Item, StepState, offer_or_reject

__all__ = ["Engine", "Prepared"]

CACHE_LIMIT = 100_000
"""Steps held in memory beyond which the engine forgets them all between calls."""


@attrs.define
class Prepared:
    """A batch decided and ready to write, with what it did to each input event."""

    batch: int
    items: Sequence[Item | None]
    events: list[EventRow] = attrs.Factory(list)
    steps: list[SnapshotRow] = attrs.Factory(list)
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    findings: list[Finding] = attrs.Factory(list)


class Engine:
    """Decides batches against the steps held in memory or rebuilt from `backend`."""

    def __init__(self, backend: Backend, rules: Rules) -> None:
        self.backend = backend
        self.rules = rules
        self.cache: dict[str, StepState] = {}
        self._batches = itertools.count(1)

    def next_batch(self) -> int:
        """A fresh batch number."""
        return next(self._batches)

    def forget(self, step_id: str | None = None) -> None:
        """Drop one step (or, with no id, every step) from memory."""
        if step_id is None:
            self.cache.clear()
        else:
            self.cache.pop(step_id, None)

    def trim(self) -> None:
        """Forget everything when memory holds too many steps (call between writes)."""
        if len(self.cache) > CACHE_LIMIT:
            self.cache.clear()

    def _load(self, step_ids: Iterable[str]) -> None:
        ids = list(step_ids)
        if not ids:
            return
        histories = self.backend.read_histories(ids)
        for step_id in ids:
            rows = histories.get(step_id)
            self.cache[step_id] = (
                StepState.replay(step_id, rows, self.rules)
                if rows
                else StepState(step_id, self.rules)
            )

    def fresh(self, step_id: str) -> StepState:
        """The step as the database holds it now (its memory checked, or rebuilt)."""
        version = self.backend.read_version(step_id)
        state = self.cache.get(step_id)
        if state is None or state.version != version or state.stored != version:
            if version:
                self._load([step_id])
                state = self.cache[step_id]
            else:
                state = self.cache[step_id] = StepState(step_id, self.rules)
        return state

    def snapshot_row(self, state: StepState, now: float) -> tuple[RunStep, SnapshotRow]:
        """The step's current snapshot and the row that writes it over `state.base`."""
        step = state.snapshot()
        row = (
            state.step_id,
            state.version,
            step.status,
            step.run_id,
            step.thread_id,
            step.assistant_id,
            step.type,
            step.created_at,
            to_json(step).decode(),
            now,
            state.base,
        )
        return step, row

    def prepare(self, items: Sequence[Item | None], *, optimistic: bool = True) -> Prepared:
        """Decide every event of a batch in order, changing the steps held in memory.

        The result holds until written: if the write fails, `forget` must be called,
        as memory is then ahead of the database. A step not in memory is read from
        the database, except (when `optimistic`) one whose first event here is
        ``created``: it is taken to be new, which the write then checks (it only
        replaces version 0). That spares a read per step of a live stream; after a
        conflict, decide again with ``optimistic=False``.
        """
        prepared = Prepared(self.next_batch(), items)
        cache = self.cache
        missing: dict[str, bool] = {}  # step id -> whether it must be read
        for item in items:
            if item is None or item.finding is not None:
                continue
            step_id = item.step_id
            if step_id is not None and step_id not in cache and step_id not in missing:
                missing[step_id] = not (optimistic and item.event == CREATED)
        if missing:
            self._load([step_id for step_id, read in missing.items() if read])
            for step_id, read in missing.items():
                if not read:
                    cache[step_id] = StepState(step_id, self.rules)
        now = time.time()
        batch = prepared.batch
        events = prepared.events
        findings = prepared.findings
        touched: dict[str, StepState] = {}
        for item in items:
            if item is None:
                prepared.skipped += 1
                continue
            if item.notes:
                findings.extend(item.notes)
            if item.finding is not None:
                prepared.rejected += 1
                findings.append(item.finding)
                continue
            step_id = item.step_id
            if step_id is None:
                prepared.skipped += 1  # passed by, with its warnings
                continue
            state = cache[step_id]
            if state.is_duplicate(item):
                prepared.duplicates += 1
                continue
            warnings, error = offer_or_reject(state, item, batch)
            if error is not None:
                prepared.rejected += 1
                findings.append(error)
                continue
            prepared.applied += 1
            if warnings:
                findings.extend(warnings)
            events.append((step_id, state.version, item.event, item.payload, item.digest, now))
            touched[step_id] = state
        # Rows in id order: concurrent PostgreSQL writers then lock steps in one order.
        prepared.steps = [self.snapshot_row(touched[i], now)[1] for i in sorted(touched)]
        for step_id in missing:
            if cache[step_id].version == 0:
                del cache[step_id]  # never existed: nothing worth holding
        return prepared

    def committed(self, batch: int, steps: Sequence[SnapshotRow]) -> None:
        """Note that `steps` were written by `batch`; drop the steps that have ended."""
        cache = self.cache
        for row in steps:
            state = cache.get(row[0])
            if state is None:
                continue
            state.stored = max(state.stored, row[1])
            if state.batch == batch and state.status != "in_progress":
                del cache[row[0]]
