"""`AsyncStepStore`: the step store from async code, without blocking the event loop.

Each store owns one worker thread (a ``ThreadPoolExecutor`` with one worker) that
runs the synchronous `DatabaseStore`; every coroutine hands its call to that thread
and awaits it (``loop.run_in_executor``). Why this rather than psycopg's async
connection:

- one code path for both backends: the standard library's sqlite3 has no async
  API, and an async PostgreSQL path would be a second engine, ingest and retry
  loop to keep identical to the first;
- the same guarantees, because the same code runs: optimistic concurrency with
  `ConflictError`, idempotent re-delivery, a rejected event writes nothing, a
  batch is committed whole or not at all;
- what waits is the database round trip (a commit's sync to disk, a lock another
  writer holds, a server), and it waits in the worker, off the loop. Validation is
  Python code in the worker: it shares the interpreter lock with the loop, so the
  loop runs between its slices (every few milliseconds), not beside it.

The one worker also serialises the calls of all the tasks sharing a store, in the
order they were made, as `DatabaseStore`'s lock does for threads. Opening happens in
the worker too: it can wait on a SQLite lock or a PostgreSQL connection.

`ingest` reads an async iterable on the loop (in a task of its own, one batch ahead
of the worker) and hands the worker whole batches; the worker runs one synchronous
``ingest`` over them all, so identical deltas are counted and findings numbered
across the whole stream, exactly as for a list. `on_commit` runs on the loop too (it
may be a coroutine function), and the worker waits for it, as the synchronous store
does.

Cancellation: a call whose task is cancelled before the worker starts it never
runs; a call the worker has started finishes (a write is atomic either way) and its
result is dropped. An `ingest` stops at the next batch boundary: the batch the
worker holds (reading or writing it) is written whole, the batches before it stay,
nothing after it is read or written, as when a synchronous ingest fails half-way.
`close` cannot be cancelled half-way: once asked for, the worker closes the store.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from types import TracebackType
from typing import Any, Final, TypeVar

from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import StoreError
from steplife.store._core import DatabaseStore
from steplife.store._protocol import Age, EventLike
from steplife.store._records import ApplyResult, IngestReport, RecordedEvent, StoredStep

__all__ = ["AsyncStepStore", "open_async_store"]

_T = TypeVar("_T")

_NEXT: Final = "next"
_COMMIT: Final = "commit"


class AsyncStepStore:
    """A `StepStore` for async code: every method a coroutine, run by a worker thread.

    Open one with `steplife.store.open_async_store`; ``async with`` closes it. The
    methods take what `DatabaseStore`'s take, return what they return and raise what
    they raise; `ingest` also takes an async iterable. Tasks may share a store: its
    calls run one at a time, in the order they were made. Module docstring:
    the design, and what cancelling a call does.
    """

    def __init__(self, store: DatabaseStore, executor: ThreadPoolExecutor) -> None:
        """Wrap `store`, which from now on only `executor` (with one worker) may call."""
        self._store = store
        self._executor = executor
        self._closing: Future[None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dialect} {self.location}>"

    @property
    def location(self) -> str:
        """Where the data lives: the SQLite path, or the DSN without its password."""
        return self._store.location

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._store.dialect

    @property
    def rules(self) -> Rules:
        """The rules that decide which events the store accepts."""
        return self._store.rules

    async def _run(self, call: Callable[[], _T]) -> _T:
        if self._closing is not None:
            raise StoreError(f"{self.location}: the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # -- writing -------------------------------------------------------------------

    async def apply(
        self,
        event: str,
        data: Any,
        *,
        expected_version: int | None = None,
        occurrence: int = 1,
    ) -> ApplyResult:
        """Record one run-step event atomically (see `StepStore.apply`).

        Raises `ConflictError` when `expected_version` is given and the step has
        moved, `RejectedEventError` when the event is refused (nothing is written).
        """
        call = functools.partial(
            self._store.apply, event, data, expected_version=expected_version, occurrence=occurrence
        )
        return await self._run(call)

    async def ingest(
        self,
        events: Iterable[EventLike] | AsyncIterable[EventLike],
        *,
        batch_size: int = 1000,
        on_commit: Callable[[int], object] | None = None,
    ) -> IngestReport:
        """Record a whole stream, `batch_size` events per transaction (see `StepStore.ingest`).

        `events` is an iterable (the worker iterates it) or an async iterable (read
        here, on the loop, one batch ahead of the worker). `on_commit(n)` is called
        on the loop after each committed batch, and awaited when it returns an
        awaitable; the next batch waits for it. Raises `StoreError` when the database
        fails (batches committed before stay), and what `events` or `on_commit` raise.
        """
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        if self._closing is not None:
            raise StoreError(f"{self.location}: the store is closed")
        loop = asyncio.get_running_loop()
        line = _Line(loop)
        source: AsyncIterator[EventLike] | None = None
        if isinstance(events, AsyncIterable):
            source = aiter(events)
            stream = _pulled(line, batch_size)
        else:
            stream = _watched(events, line, batch_size)
        committed = None if on_commit is None else functools.partial(line.ask, _COMMIT)
        call = functools.partial(
            self._store.ingest, stream, batch_size=batch_size, on_commit=committed
        )
        done = loop.run_in_executor(self._executor, call)
        reader = None if source is None else _Reader(source, batch_size)
        asked: asyncio.Future[tuple[str, int, Future[Any]]] | None = None
        try:
            while True:
                if asked is None:
                    asked = asyncio.ensure_future(line.questions.get())
                await asyncio.wait((asked, done), return_when=asyncio.FIRST_COMPLETED)
                if done.done():
                    return done.result()
                kind, count, answer = asked.result()
                asked = None
                await _answer(answer, kind, count, reader, on_commit)
        finally:
            if asked is not None:
                asked.cancel()
            if reader is not None:
                reader.task.cancel()  # a no-op once the source has ended
            line.hang_up()  # when cancelled: the worker stops at its next question
            done.cancel()  # a no-op once done; else its outcome is no one's to see

    async def expire_stale(self, older_than: Age, *, now: int | None = None) -> list[ApplyResult]:
        """Expire every stale step through the lifecycle (see `StepStore.expire_stale`)."""
        return await self._run(functools.partial(self._store.expire_stale, older_than, now=now))

    # -- reading -------------------------------------------------------------------

    async def get(self, step_id: str) -> StoredStep:
        """The step's snapshot, version and history; `StepNotFoundError` if unknown."""
        return await self._run(functools.partial(self._store.get, step_id))

    async def history(self, step_id: str) -> tuple[RecordedEvent, ...]:
        """The step's recorded events, version 1 first; `StepNotFoundError` if unknown."""
        return await self._run(functools.partial(self._store.history, step_id))

    async def steps(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[StoredStep]:
        """The stored steps matching every given filter, oldest ``created_at`` first."""
        call = functools.partial(
            self._store.steps, run_id=run_id, thread_id=thread_id, status=status, limit=limit
        )
        return await self._run(call)

    async def stale(self, older_than: Age, *, now: int | None = None) -> list[StoredStep]:
        """The in-progress steps created more than `older_than` before `now`."""
        return await self._run(functools.partial(self._store.stale, older_than, now=now))

    # -- lifetime ------------------------------------------------------------------

    async def check(self, *, full: bool = True) -> list[str]:
        """What is wrong with the stored data, one line each (see `DatabaseStore.check`)."""
        return await self._run(functools.partial(self._store.check, full=full))

    async def close(self) -> None:
        """Wait for the calls already made, close the store, and end the worker.

        Later calls raise `StoreError`; closing again waits for the first close.
        Cancelling the wait does not stop the close: the worker still does it.
        """
        if self._closing is None:
            self._closing = self._executor.submit(self._store.close)
            self._executor.shutdown(wait=False)  # the queued calls and the close still run
        # Shielded: cancelling must not withdraw a close still queued behind other calls.
        await asyncio.shield(asyncio.wrap_future(self._closing))

    async def __aenter__(self) -> AsyncStepStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_async_store(
    db: str | os.PathLike[str],
    *,
    rules: Rules = DEFAULT_RULES,
    timeout: float = 30.0,
    synchronous: str = "FULL",
    check: bool = False,
) -> AsyncStepStore:
    """Open the store at `db` in a worker thread of its own (see `open_store`).

    Takes and raises what `open_store` does. If the awaiting task is cancelled while
    the worker opens the store, the store is closed once opened.
    """
    # Imported here: steplife.store imports this module before it defines open_store.
    from steplife.store import open_store

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="steplife-store")
    opening = executor.submit(
        open_store, db, rules=rules, timeout=timeout, synchronous=synchronous, check=check
    )
    try:
        store = await asyncio.wrap_future(opening)
    except BaseException:
        opening.add_done_callback(_close_unclaimed)
        executor.shutdown(wait=False)
        raise
    return AsyncStepStore(store, executor)


def _close_unclaimed(opening: Future[DatabaseStore]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


# -- ingest: the worker asks, the awaiting task answers ------------------------------


class _Abandoned(Exception):
    """The task awaiting an ingest is gone: the worker stops at its next question."""


class _Line:
    """The worker's line to the task awaiting an `ingest`.

    The worker asks (the next batch of an async source, or to run `on_commit`) and
    waits for the answer. `hang_up`, when the task ends, fails every question asked
    and every one to come, so the worker never waits for an answer that cannot come.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.questions: asyncio.Queue[tuple[str, int, Future[Any]]] = asyncio.Queue()
        self._loop = loop
        self._lock = threading.Lock()
        self._waiting: set[Future[Any]] = set()
        self._hung_up = False

    def ask(self, kind: str, count: int) -> Any:
        """In the worker: the task's answer to `kind`; `_Abandoned` once it is gone."""
        answer: Future[Any] = Future()
        with self._lock:
            if self._hung_up:
                raise _Abandoned
            self._waiting.add(answer)
        try:
            self._loop.call_soon_threadsafe(self.questions.put_nowait, (kind, count, answer))
        except RuntimeError:  # the loop is closed
            raise _Abandoned from None
        try:
            return answer.result()
        finally:
            with self._lock:
                self._waiting.discard(answer)

    def check(self) -> None:
        """In the worker: raise `_Abandoned` if the task is gone."""
        if self._hung_up:
            raise _Abandoned

    def hang_up(self) -> None:
        """On the loop: no more answers; fail the questions still waiting."""
        with self._lock:
            self._hung_up = True
            waiting = list(self._waiting)
        for answer in waiting:
            if not answer.done():  # answers are only ever set on the loop: no race
                answer.set_exception(_Abandoned())


def _pulled(line: _Line, batch_size: int) -> Iterator[EventLike]:
    """In the worker: an async source's events, batch by batch as the task reads them.

    A short batch is the last: not asking again then lets ingest finish it, even
    once the task is gone.
    """
    while True:
        batch = line.ask(_NEXT, 0)
        yield from batch
        if len(batch) < batch_size:
            return


def _watched(events: Iterable[EventLike], line: _Line, batch_size: int) -> Iterator[EventLike]:
    """In the worker: `events`, ending before a batch is read once the task is gone."""
    source = iter(events)
    while True:
        line.check()
        batch = list(islice(source, batch_size))  # what ingest reads next anyway
        yield from batch
        if len(batch) < batch_size:
            return  # the end: no check, ingest writes the short batch it holds


class _Reader:
    """Reads an async source on the loop, in a task of its own, one batch ahead.

    It reads a batch, then the next one once the worker has taken the one before:
    reading overlaps writing, and at most one batch waits unwritten.
    """

    def __init__(self, source: AsyncIterator[EventLike], size: int) -> None:
        self._batches: asyncio.Queue[list[EventLike] | Exception] = asyncio.Queue()
        self._room = asyncio.Semaphore(1)
        self.task = asyncio.create_task(self._read(source, size))

    async def _read(self, source: AsyncIterator[EventLike], size: int) -> None:
        while True:
            await self._room.acquire()
            batch: list[EventLike] = []
            try:
                while len(batch) < size:
                    batch.append(await anext(source))
            except StopAsyncIteration:
                self._batches.put_nowait(batch)  # short (maybe empty): the end
                return
            except Exception as exc:  # the worker raises it, as a synchronous ingest would
                self._batches.put_nowait(exc)
                return
            self._batches.put_nowait(batch)

    async def take(self) -> list[EventLike]:
        """The next batch (a short one is the last); what the source raised, if it did."""
        batch = await self._batches.get()
        if isinstance(batch, Exception):
            raise batch
        self._room.release()  # read the next one while the worker writes this one
        return batch


async def _answer(
    answer: Future[Any],
    kind: str,
    count: int,
    reader: _Reader | None,
    on_commit: Callable[[int], object] | None,
) -> None:
    """Answer one of the worker's questions; its failure is the worker's to raise."""
    try:
        if kind == _NEXT:
            assert reader is not None  # only an async source is pulled
            value: object = await reader.take()
        else:
            assert on_commit is not None  # only asked for when given
            value = on_commit(count)
            if inspect.isawaitable(value):
                value = await value
    except Exception as exc:
        answer.set_exception(exc)
    else:
        answer.set_result(value)
