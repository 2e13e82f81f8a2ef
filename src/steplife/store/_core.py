"""`DatabaseStore`: the `StepStore` both backends share, so they behave identically."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, Final

import attrs
import orjson

from steplife._findings import shown
from steplife._lifecycle import Lifecycle
from steplife._rules import Rules
from steplife._wire import structure, to_dict
from steplife.errors import (
    ConflictError,
    RejectedEventError,
    SteplifeError,
    StepNotFoundError,
    StoreError,
)
from steplife.model import RunStep
from steplife.store._backend import Backend, Conflict, StepRow
from steplife.store._engine import Engine
from steplife.store._ingest import RETRIES, ingest
from steplife.store._protocol import Age, EventLike
from steplife.store._records import ApplyResult, IngestReport, RecordedEvent, StoredStep
from steplife.store._state import Item, StepState, offer_or_reject, step_item

__all__ = ["DatabaseStore", "load_snapshot", "seconds"]

EXPIRED: Final = "thread.run.step.expired"


def seconds(age: Age) -> float:
    """`age` in seconds; raises `ValueError` when it is negative or not a duration."""
    value = age.total_seconds() if isinstance(age, timedelta) else age
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"an age must be a non-negative timedelta or number, got {age!r}")
    return float(value)


def load_snapshot(step_id: str, text: str) -> RunStep:
    """A stored snapshot as a `RunStep`; `StoreError` if the database holds garbage."""
    try:
        loaded = structure(orjson.loads(text))
    except orjson.JSONDecodeError as exc:
        raise StoreError(
            f"step {shown(step_id)}: the stored snapshot is not JSON ({exc})"
        ) from None
    if isinstance(loaded, list):
        problems = "; ".join(f.message for f in loaded)
        raise StoreError(f"step {shown(step_id)}: the stored snapshot is not a step ({problems})")
    return loaded


def _stored(row: StepRow, history: tuple[RecordedEvent, ...] = ()) -> StoredStep:
    step_id, version, snapshot, updated_at = row
    return StoredStep(
        step=load_snapshot(step_id, snapshot),
        version=version,
        updated_at=updated_at,
        history=history,
    )


def _check_version(expected_version: int | None, occurrence: int) -> None:
    if expected_version is not None and (type(expected_version) is not int or expected_version < 0):
        raise ValueError(f"expected_version must be None or an int >= 0, not {expected_version!r}")
    if type(occurrence) is not int or occurrence < 1:
        raise ValueError(f"occurrence must be an int >= 1, not {occurrence!r}")


class DatabaseStore:
    """A `StepStore` over a `Backend`; open one with `steplife.store.open_store`.

    Calls on one store are serialised by a lock, so threads may share it; for
    parallel writers, open one store per thread or process: they coordinate
    through the database.
    """

    def __init__(self, backend: Backend, *, rules: Rules) -> None:
        self._backend = backend
        self._engine = Engine(backend, rules)
        self._mover = Lifecycle(rules=rules)
        self._lock = threading.RLock()
        self._closed = False
        self.rules = rules

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._backend.dialect} {self.location}>"

    @property
    def location(self) -> str:
        """Where the data lives: the SQLite path, or the DSN without its password."""
        return self._backend.location

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend.dialect

    def _open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.location}: the store is closed")

    # -- writing -------------------------------------------------------------------

    def apply(
        self,
        event: str,
        data: Any,
        *,
        expected_version: int | None = None,
        occurrence: int = 1,
    ) -> ApplyResult:
        """Record one run-step event atomically (see `StepStore.apply`)."""
        _check_version(expected_version, occurrence)
        item = step_item(self.rules, event, data, occurrence=occurrence)
        if item is None:
            raise RejectedEventError(
                f"{event!r} is not a run-step event; a step store records only "
                "thread.run.step.* events",
                [],
            )
        if item.finding is not None:
            raise RejectedEventError(f"{event} rejected, nothing written", [item.finding])
        with self._lock:
            self._open()
            self._engine.trim()
            for _ in range(RETRIES):
                try:
                    return self._apply_once(item, expected_version)
                except Conflict:
                    continue
            raise StoreError(
                f"step {shown(item.step_id)}: gave up after {RETRIES} conflicting writes"
            )

    def _apply_once(self, item: Item, expected_version: int | None) -> ApplyResult:
        """Decide and write `item` against the step as stored now; `Conflict` if it moved."""
        step_id = item.step_id
        assert step_id is not None  # items with no finding have one
        state = self._engine.fresh(step_id)
        if state.is_duplicate(item):
            return ApplyResult(step=state.snapshot(), version=state.version, duplicate=True)
        if expected_version is not None and state.version != expected_version:
            raise ConflictError(step_id, expected_version, state.version, _current(state))
        current = _current(state)  # before the event changes it
        warnings, error = offer_or_reject(state, item, self._engine.next_batch())
        if error is not None:
            raise RejectedEventError(
                f"{item.event} for step {shown(step_id)} rejected, nothing written",
                [error],
                current,
            )
        try:  # memory is now ahead of the database, until the write succeeds
            now = time.time()
            step, row = self._engine.snapshot_row(state, now)
            event_row = (step_id, state.version, item.event, item.payload, item.digest, now)
            self._backend.write([event_row], [row])
        except BaseException:
            self._engine.forget(step_id)
            raise
        self._engine.committed(state.batch, [row])
        return ApplyResult(
            step=step, version=state.version, duplicate=False, findings=tuple(warnings)
        )

    def ingest(
        self,
        events: Iterable[EventLike],
        *,
        batch_size: int = 1000,
        on_commit: Callable[[int], object] | None = None,
    ) -> IngestReport:
        """Record a whole stream in batches (see `StepStore.ingest`)."""
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        with self._lock:
            self._open()
            return ingest(self._engine, events, batch_size=batch_size, on_commit=on_commit)

    def expire_stale(self, older_than: Age, *, now: int | None = None) -> list[ApplyResult]:
        """Expire every stale step through the lifecycle (see `StepStore.expire_stale`).

        A step another writer ends or expires meanwhile is left as it is.
        """
        now, cutoff = _cutoff(older_than, now)
        results = []
        with self._lock:
            self._open()
            rows = self._backend.select_steps(
                run_id=None, thread_id=None, status="in_progress", created_before=cutoff, limit=None
            )
            for row in rows:
                result = self._expire(row[0], now, cutoff)
                if result is not None:
                    results.append(result)
        return results

    def _expire(self, step_id: str, now: int, cutoff: int) -> ApplyResult | None:
        for _ in range(RETRIES):
            state = self._engine.fresh(step_id)
            item = self._expiry(state, now, cutoff)
            if item is None:
                return None
            try:
                result = self._apply_once(item, state.version)
            except (Conflict, ConflictError):
                continue  # it moved: look again
            return None if result.duplicate else result
        raise StoreError(f"step {shown(step_id)}: gave up after {RETRIES} conflicting writes")

    def _expiry(self, state: StepState, now: int, cutoff: int) -> Item | None:
        """The ``expired`` event for a step still stale, built by the lifecycle machine."""
        if state.status != "in_progress":
            return None
        step = attrs.evolve(state.snapshot())  # the machine moves a copy
        if step.created_at >= cutoff:
            return None
        try:
            self._mover.apply(step, "expire", at=now)
        except SteplifeError as exc:
            raise RejectedEventError(
                f"step {shown(step.id)} cannot expire",
                getattr(exc, "findings", []),
                _current(state),
            ) from exc
        return step_item(self.rules, EXPIRED, to_dict(step))

    # -- reading -------------------------------------------------------------------

    def get(self, step_id: str) -> StoredStep:
        """The step's snapshot, version and history (see `StepStore.get`)."""
        with self._lock:
            self._open()
            found = self._backend.read_step(step_id)
        if found is None:
            raise StepNotFoundError(step_id)
        row, log = found
        history = tuple(
            RecordedEvent(
                step_id=step_id,
                version=version,
                event=event,
                data=orjson.loads(payload),
                recorded_at=recorded_at,
            )
            for version, event, payload, recorded_at in log
        )
        return _stored(row, history)

    def history(self, step_id: str) -> tuple[RecordedEvent, ...]:
        """The step's recorded events, version 1 first (see `StepStore.history`)."""
        return self.get(step_id).history

    def steps(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[StoredStep]:
        """The stored steps matching every given filter (see `StepStore.steps`)."""
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ValueError(f"limit must be None or an int >= 0, not {limit!r}")
        with self._lock:
            self._open()
            rows = self._backend.select_steps(
                run_id=run_id, thread_id=thread_id, status=status, created_before=None, limit=limit
            )
        return [_stored(row) for row in rows]

    def stale(self, older_than: Age, *, now: int | None = None) -> list[StoredStep]:
        """The in-progress steps created more than `older_than` before `now`."""
        _, cutoff = _cutoff(older_than, now)
        with self._lock:
            self._open()
            rows = self._backend.select_steps(
                run_id=None, thread_id=None, status="in_progress", created_before=cutoff, limit=None
            )
        return [_stored(row) for row in rows]

    # -- lifetime ------------------------------------------------------------------

    def check(self, *, full: bool = True) -> list[str]:
        """What is wrong with the stored data, one line each; an empty list when nothing.

        Checks the database's pages (SQLite: its integrity check; `full=False` its
        quicker check that skips the indexes), that every step's snapshot agrees with
        its log, and (`full`) that every snapshot loads as a step. It reads the whole
        database: about a second per few hundred MB (docs/store.md has figures).
        Raises `StoreError` only when the database cannot be read at all.
        """
        with self._lock:
            self._open()
            problems = self._backend.check(full=full)
            if full and not problems:
                problems = self._unloadable()
            return problems

    def _unloadable(self) -> list[str]:
        problems = []
        rows = self._backend.select_steps(
            run_id=None, thread_id=None, status=None, created_before=None, limit=None
        )
        for step_id, _, snapshot, _ in rows:
            try:
                load_snapshot(step_id, snapshot)
            except StoreError as exc:
                problems.append(str(exc))
        return problems

    def close(self) -> None:
        """Release the connections; later calls raise `StoreError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._engine.forget()
                self._backend.close()

    def __enter__(self) -> DatabaseStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _current(state: StepState) -> RunStep | None:
    return state.snapshot() if state.version else None


def _cutoff(older_than: Age, now: int | None) -> tuple[int, int]:
    if now is None:
        now = int(time.time())
    elif type(now) is not int:
        raise ValueError(f"now must be an int of Unix seconds, not {now!r}")
    return now, now - int(seconds(older_than))
