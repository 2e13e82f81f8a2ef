"""`AsyncStepStore`: the step store from async code, on SQLite and on PostgreSQL.

The same guarantees as the synchronous store (it runs the same code in a worker
thread), the loop left free while the worker writes, calls from several tasks
serialised, and what closing and cancelling do. Coroutines are driven with
``asyncio.run`` inside plain test functions.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import steplife.store
import storeevents as sf
from steplife import Rules
from steplife.errors import ConflictError, RejectedEventError, StepNotFoundError, StoreError
from steplife.store import (
    AsyncStepStore,
    IngestReport,
    StepStore,
    open_async_store,
    open_store,
)
from storeevents import T0, delta, event, started

pytest_plugins = ["storefixtures"]

_T = TypeVar("_T")


def run(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run the coroutine function `main` in a fresh event loop."""

    async def wrapped() -> _T:
        return await main()

    return asyncio.run(wrapped())


async def wait_for(flag: threading.Event) -> None:
    """Wait, without blocking the loop, until another thread sets `flag`."""
    for _ in range(10_000):
        if flag.is_set():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the worker never got there")


def stored_ids(db: str) -> list[str]:
    """The ids of the steps stored at `db`, read with the synchronous store."""
    with open_store(db) as store:
        return sorted(s.id for s in store.steps())


def mixed_stream(seed: int) -> list[Any]:
    """A generated stream plus what makes a report interesting: a rejected event,
    re-deliveries, identical deltas, a misspelled event name."""
    stream: list[Any] = list(sf.generated(300, 30, seed))
    tool = f"step_tool_{seed}"
    stream += [
        event("created", tool, details=sf.function_details()),
        delta(tool, '":"'),
        delta(tool, '":"'),  # a second identical chunk: not a re-delivery
        event("created", tool, details=sf.function_details()),  # a re-delivery
        ("thread.run.step.complete", {"id": tool}),  # misspelled: an unknown-event warning
    ]
    name, data = event("completed", f"step_bad_{seed}")
    data["usage"]["total_tokens"] = 999  # usage-total: rejected
    stream.append((name, data))
    return stream


async def agen(events: list[Any]) -> AsyncIterator[Any]:
    """`events` as an async generator that gives the loop a turn between events."""
    for position, item in enumerate(events):
        if position % 5 == 0:
            await asyncio.sleep(0)
        yield item


def sync_ingest(path: Path, events: list[Any], batch_size: int) -> tuple[IngestReport, list[int]]:
    """What the synchronous store reports for `events` in a fresh SQLite store."""
    commits: list[int] = []
    with open_store(path) as store:
        report = store.ingest(events, batch_size=batch_size, on_commit=commits.append)
    return report, commits


# -- the API ---------------------------------------------------------------------------


def test_every_step_store_method_is_a_coroutine_with_the_same_parameters() -> None:
    """Each `StepStore` method is there, as a coroutine function taking the same names."""
    names = ["apply", "ingest", "get", "history", "steps", "stale", "expire_stale", "check"]
    for name in [*names, "close"]:
        method = getattr(AsyncStepStore, name)
        assert inspect.iscoroutinefunction(method), name
        expected = list(inspect.signature(getattr(StepStore, name)).parameters)
        assert expected == list(inspect.signature(method).parameters), name
    for name in ["__aenter__", "__aexit__"]:
        assert inspect.iscoroutinefunction(getattr(AsyncStepStore, name)), name


def test_properties_are_the_synchronous_store_s(db: str) -> None:
    """``location``, ``dialect`` and ``rules`` are those of the store underneath."""
    rules = Rules(ignore={"adopted-step"})

    async def main() -> None:
        store = await open_async_store(db, rules=rules)
        with open_store(db) as sync:
            assert (sync.location, sync.dialect) == (store.location, store.dialect)
        assert store.rules is rules
        assert repr(store) == f"<AsyncStepStore {store.dialect} {store.location}>"
        await store.close()

    run(main)


# -- the same guarantees as the synchronous store ----------------------------------------


def test_apply_get_and_history_round_trip(db: str) -> None:
    """created, in_progress, completed: versions 1..3; get and history read them back."""

    async def main() -> None:
        async with await open_async_store(db) as store:
            results = [
                await store.apply(*e) for e in [*started("step_a"), event("completed", "step_a")]
            ]
            assert [1, 2, 3] == [r.version for r in results]
            stored = await store.get("step_a")
            history = await store.history("step_a")
        assert (3, "completed") == (stored.version, stored.status)
        assert stored.history == history
        assert [sf.PREFIX + k for k in ("created", "in_progress", "completed")] == [
            e.event for e in history
        ]
        assert sf.snapshot("step_a", "completed") == history[-1].data

    run(main)


def test_a_stale_write_with_expected_version_raises_conflict_error(db: str) -> None:
    """The loser of a race gets `ConflictError` carrying the step as it is now."""

    async def main() -> None:
        async with await open_async_store(db) as store:
            for e in started("step_a"):
                await store.apply(*e)
            await store.apply(*event("completed", "step_a"), expected_version=2)
            with pytest.raises(ConflictError) as caught:
                await store.apply(*event("failed", "step_a"), expected_version=2)
            assert (2, 3) == (caught.value.expected, caught.value.version)
            assert "completed" == getattr(caught.value.current, "status", None)
            assert 3 == (await store.get("step_a")).version

    run(main)


def test_a_redelivered_event_is_a_reported_no_op(db: str) -> None:
    """The same event twice: the second is a duplicate and nothing is written."""

    async def main() -> None:
        async with await open_async_store(db) as store:
            first = await store.apply(*event("created", "step_a"))
            again = await store.apply(*event("created", "step_a"))
            assert (False, True) == (first.duplicate, again.duplicate)
            assert [1] == [e.version for e in await store.history("step_a")]

    run(main)


def test_a_rejected_event_writes_nothing(db: str) -> None:
    """A wrong usage total raises `RejectedEventError` with its rule; the step is as it was."""

    async def main() -> None:
        async with await open_async_store(db) as store:
            for e in started("step_a"):
                await store.apply(*e)
            name, data = event("completed", "step_a")
            data["usage"]["total_tokens"] = 999
            with pytest.raises(RejectedEventError) as caught:
                await store.apply(name, data)
            assert ["usage-total"] == [f.rule for f in caught.value.findings]
            stored = await store.get("step_a")
            assert (2, "in_progress") == (stored.version, stored.status)
            with pytest.raises(RejectedEventError):
                await store.apply(*delta("step_ghost", "x"))
            with pytest.raises(StepNotFoundError):
                await store.get("step_ghost")

    run(main)


def test_queries_and_expiry(db: str) -> None:
    """``steps``, ``stale``, ``expire_stale`` and ``check`` do what the synchronous ones do."""

    async def main() -> None:
        async with await open_async_store(db) as store:
            for step_id in ["step_a", "step_b"]:
                await store.apply(*event("created", step_id))
            await store.apply(*event("completed", "step_b"))
            assert ["step_b"] == [s.id for s in await store.steps(status="completed")]
            assert ["step_a"] == [s.id for s in await store.stale(600, now=T0 + 601)]
            expired = await store.expire_stale(600, now=T0 + 601)
            assert [("step_a", T0 + 601)] == [(r.step.id, r.step.expired_at) for r in expired]
            assert [] == await store.stale(600, now=T0 + 601)
            assert [] == await store.check()
            assert [] == await store.check(full=False)

    run(main)


# -- ingest ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["list", "async generator"])
def test_ingest_reports_what_the_synchronous_store_reports(
    db: str, tmp_path: Path, source: str
) -> None:
    """From a list or an async generator: the same report, and `on_commit` called with
    the same counts, as the synchronous store on the same stream."""
    stream = mixed_stream(seed=1)
    expected, expected_commits = sync_ingest(tmp_path / "reference.db", stream, batch_size=7)
    commits: list[int] = []

    async def main() -> IngestReport:
        async with await open_async_store(db) as store:
            events = stream if source == "list" else agen(stream)
            return await store.ingest(events, batch_size=7, on_commit=commits.append)

    assert expected == run(main)
    assert expected_commits == commits
    assert (1, True, True) == (
        expected.rejected,
        expected.duplicates >= 1,
        expected.batches > 40,
    )


def test_ingest_awaits_an_async_on_commit_on_the_loop(db: str) -> None:
    """`on_commit` runs on the loop's thread, and one returning an awaitable is awaited
    before the next batch is written."""
    seen: list[tuple[int, bool]] = []
    loop_thread = threading.get_ident()

    async def on_commit(count: int) -> None:
        await asyncio.sleep(0)
        seen.append((count, threading.get_ident() == loop_thread))

    async def main() -> IngestReport:
        async with await open_async_store(db) as store:
            return await store.ingest(
                agen([*started("step_a"), *started("step_b")]), batch_size=3, on_commit=on_commit
            )

    report = run(main)
    assert (4, 2) == (report.applied, report.batches)
    assert [(3, True), (4, True)] == seen


def test_what_the_source_raises_ends_the_ingest_and_earlier_batches_stay(db: str) -> None:
    """An async source that fails: its error is raised, the batches committed before it
    stay, and the batch it broke off is not written, as with the synchronous store."""

    async def failing() -> AsyncIterator[Any]:
        for e in [*started("step_a"), event("created", "step_b")]:
            yield e
        raise LookupError("the source broke")

    async def main() -> None:
        async with await open_async_store(db) as store:
            with pytest.raises(LookupError, match="the source broke"):
                await store.ingest(failing(), batch_size=2)

    run(main)
    assert ["step_a"] == stored_ids(db)


def test_what_on_commit_raises_ends_the_ingest_after_its_batch(db: str) -> None:
    """`on_commit` failing: its error is raised, the batch it was told of is written."""

    def on_commit(count: int) -> None:
        raise OSError(f"could not checkpoint {count}")

    async def main() -> None:
        async with await open_async_store(db) as store:
            with pytest.raises(OSError, match="could not checkpoint 2"):
                await store.ingest(
                    [*started("step_a"), *started("step_b")], batch_size=2, on_commit=on_commit
                )

    run(main)
    assert ["step_a"] == stored_ids(db)


def test_a_bad_batch_size_is_refused_before_anything_is_read(db: str) -> None:
    """``batch_size`` is checked first, as by the synchronous store."""
    read: list[Any] = []

    async def source() -> AsyncIterator[Any]:
        read.append(1)
        yield event("created")

    async def main() -> None:
        async with await open_async_store(db) as store:
            for size in (0, 1.5, True):
                with pytest.raises(ValueError, match="batch_size"):
                    await store.ingest(source(), batch_size=size)  # type: ignore[arg-type]

    run(main)
    assert [] == read


# -- the loop stays free, tasks are serialised --------------------------------------------


def test_the_loop_keeps_running_during_a_large_ingest(db: str) -> None:
    """A task ticking every 2 ms ticks many times while the worker ingests 20,000 events
    (a blocking ingest would let it tick at most once)."""
    stream = sf.generated(20_000, 2_000, 3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.002)
            ticks += 1

    async def main() -> tuple[IngestReport, int, int]:
        async with await open_async_store(db) as store:
            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0)  # the ticker starts
            before = ticks
            report = await store.ingest(stream)
            during = ticks - before
            ticking.cancel()
        return report, during, ticks

    report, during, _ = run(main)
    assert 20_000 == report.events
    assert during >= 20


def test_calls_from_many_tasks_run_one_at_a_time_in_the_order_made(db: str) -> None:
    """Twenty tasks each append a delta to one step at once: versions 2..21, no gap, in
    the order the tasks awaited, every chunk merged."""
    chunks = [f"<{n:02d}>" for n in range(20)]

    async def main() -> None:
        async with await open_async_store(db) as store:
            await store.apply(*event("created", "step_t", details=sf.function_details()))
            results = await asyncio.gather(*(store.apply(*delta("step_t", c)) for c in chunks))
            assert list(range(2, 22)) == [r.version for r in results]
            stored = await store.get("step_t")
        assert list(range(1, 22)) == [e.version for e in stored.history]
        arguments = stored.step.step_details.tool_calls[0].function.arguments  # type: ignore[union-attr]
        assert "".join(chunks) == arguments

    run(main)


def test_tasks_racing_with_expected_versions_each_win_once(db: str) -> None:
    """Tasks that read a version, then write expecting it, interleave: the losers get
    `ConflictError` and try again, and the log still runs 1..n with no gap."""
    conflicts = 0

    async def writer(store: AsyncStepStore, chunk: str) -> None:
        nonlocal conflicts
        while True:
            version = (await store.get("step_t")).version
            try:
                await store.apply(*delta("step_t", chunk), expected_version=version)
            except ConflictError:
                conflicts += 1
                continue
            return

    async def main() -> list[int]:
        async with await open_async_store(db) as store:
            await store.apply(*event("created", "step_t", details=sf.function_details()))
            await asyncio.gather(*(writer(store, f"<{n}>") for n in range(8)))
            return [e.version for e in await store.history("step_t")]

    assert list(range(1, 10)) == run(main)
    assert conflicts > 0


# -- opening, closing, cancelling ---------------------------------------------------------


def test_a_closed_store_refuses_every_call(db: str) -> None:
    """After `close`, each method raises `StoreError`; closing again is harmless."""

    async def main() -> None:
        store = await open_async_store(db)
        await store.close()
        calls: list[Awaitable[object]] = [
            store.apply(*event("created")),
            store.ingest([event("created")]),
            store.get("step_1"),
            store.history("step_1"),
            store.steps(),
            store.stale(10),
            store.expire_stale(10),
            store.check(),
        ]
        for call in calls:
            with pytest.raises(StoreError, match="the store is closed"):
                await call
        await store.close()

    run(main)


def test_async_with_closes_the_store_on_the_way_out(db: str) -> None:
    """``async with`` gives the store and closes it, even when the block raises."""

    async def main() -> AsyncStepStore:
        opened = await open_async_store(db)
        try:
            async with opened as store:
                await store.apply(*event("created"))
                raise KeyError("the block fails")
        except KeyError:
            pass
        return opened

    store = run(main)

    async def use() -> None:
        with pytest.raises(StoreError):
            await store.get("step_1")

    run(use)
    assert ["step_1"] == stored_ids(db)


def test_close_waits_for_the_calls_already_made(db: str) -> None:
    """Writes still queued when `close` is called are made before the store closes."""

    async def main() -> None:
        store = await open_async_store(db)
        writes = [
            asyncio.create_task(store.apply(*event("created", f"step_{n}"))) for n in range(5)
        ]
        await asyncio.sleep(0)  # the writes are handed to the worker
        await store.close()
        assert all(w.done() and not w.cancelled() for w in writes)

    run(main)
    assert [f"step_{n}" for n in range(5)] == stored_ids(db)


def test_opening_errors_are_raised_by_open_async_store(db: str, tmp_path: Path) -> None:
    """What `open_store` refuses, `open_async_store` refuses the same way."""
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not SQLite, not at all" * 100)

    async def main() -> None:
        with pytest.raises(ValueError, match="timeout"):
            await open_async_store(db, timeout=0)
        with pytest.raises(TypeError, match="rules"):
            await open_async_store(db, rules="strict")  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            await open_async_store(not_a_database)

    run(main)


def held_stream(
    first: list[Any], rest: list[Any], reached: threading.Event, gate: threading.Event
) -> Iterator[Any]:
    """`first`, then (in the worker) wait for `gate`, then `rest`; `reached` says it waits."""
    yield from first
    reached.set()
    assert gate.wait(timeout=60)
    yield from rest


def test_a_cancelled_call_the_worker_started_finishes(db: str) -> None:
    """Cancelling the task does not stop the worker mid-batch: the batch it was reading
    is written whole once it can go on."""
    reached, gate = threading.Event(), threading.Event()

    async def main() -> None:
        store = await open_async_store(db)
        stream = held_stream(started("step_a")[:1], started("step_a")[1:], reached, gate)
        task = asyncio.create_task(store.ingest(stream, batch_size=10))
        await wait_for(reached)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await store.close()

    run(main)
    with open_store(db) as store:
        assert 2 == store.get("step_a").version


def test_a_cancelled_ingest_stops_at_the_next_batch_boundary(db: str) -> None:
    """The batch being read when the task is cancelled is written; nothing after it
    is read from the source."""
    reached, gate = threading.Event(), threading.Event()
    taken: list[Any] = []
    later = [*started("step_b"), *started("step_c")]

    def counted() -> Iterator[Any]:
        for e in later:
            taken.append(e)
            yield e

    async def main() -> None:
        store = await open_async_store(db)
        stream = held_stream([event("created", "step_a")], [], reached, gate)
        chained = (e for part in (stream, counted()) for e in part)
        task = asyncio.create_task(store.ingest(chained, batch_size=2))
        await wait_for(reached)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await store.close()

    run(main)
    # The worker read step_b's first event to complete the batch, then stopped.
    assert 1 == len(taken)
    assert ["step_a", "step_b"] == stored_ids(db)


def test_a_cancelled_async_ingest_keeps_the_batches_handed_over(db: str) -> None:
    """Cancelled while its async source waits: the batch the worker has is written,
    and the worker stops instead of waiting for more."""

    async def main() -> None:
        stalled = asyncio.Event()

        async def source() -> AsyncIterator[Any]:
            for e in started("step_a"):
                yield e
            stalled.set()
            await asyncio.Event().wait()  # never comes
            yield event("created", "step_b")

        store = await open_async_store(db)
        task = asyncio.create_task(store.ingest(source(), batch_size=2))
        await stalled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.close()

    run(main)
    assert ["step_a"] == stored_ids(db)


def test_a_cancelled_call_still_waiting_its_turn_never_runs(db: str) -> None:
    """A write queued behind a busy worker and cancelled before it starts is not made."""
    reached, gate = threading.Event(), threading.Event()

    async def main() -> None:
        store = await open_async_store(db)
        stream = held_stream([event("created", "step_a")], [], reached, gate)
        busy = asyncio.create_task(store.ingest(stream))
        await wait_for(reached)
        queued = asyncio.create_task(store.apply(*event("created", "step_z")))
        await asyncio.sleep(0)  # handed to the worker, behind the ingest
        queued.cancel()
        gate.set()
        assert 1 == (await busy).applied
        with pytest.raises(asyncio.CancelledError):
            await queued
        await store.close()

    run(main)
    assert ["step_a"] == stored_ids(db)


def test_the_store_is_opened_in_the_worker_and_closed_if_the_opener_is_cancelled(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening runs in the store's worker thread; cancelled meanwhile, the store it
    opens is closed rather than left open with no one to close it."""
    reached, gate = threading.Event(), threading.Event()
    opened: list[tuple[str, Any]] = []

    def held_open(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        assert gate.wait(timeout=60)
        store = open_store(*args, **kwargs)
        opened.append((threading.current_thread().name, store))
        return store

    monkeypatch.setattr(steplife.store, "open_store", held_open)

    async def main() -> None:
        task = asyncio.create_task(open_async_store(db))
        await wait_for(reached)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()

    run(main)
    eventually(lambda: bool(opened))
    [(thread, store)] = opened
    assert thread.startswith("steplife-store")
    eventually(lambda: "closed" in repr(catch(store.steps)))


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds, as another thread makes it so."""
    for _ in range(10_000):
        if condition():
            return
        time.sleep(0.002)
    raise AssertionError("it never happened")


def catch(call: Callable[[], object]) -> BaseException | None:
    """What `call` raises, or None."""
    try:
        call()
    except Exception as exc:
        return exc
    return None
