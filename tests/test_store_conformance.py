"""The step-store conformance suite: every test runs on SQLite and on PostgreSQL.

Both backends must behave identically, so this one suite is the specification of
`steplife.store`: what an event does, versions, re-delivery, conflicts, queries,
expiry, restarts, and racing writers (threads and processes).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

import storeevents as sf
from steplife import Rules, RunStep, Tracker, to_dict
from steplife._events import Event
from steplife.errors import (
    ConflictError,
    RejectedEventError,
    StepNotFoundError,
    StoreError,
)
from steplife.store import DatabaseStore, StepStore, StoredStep, _engine, open_store
from storeevents import T0, delta, event, started

pytest_plugins = ["storefixtures"]


def versions(store: DatabaseStore, step_id: str) -> list[int]:
    return [e.version for e in store.history(step_id)]


# -- applying one event ----------------------------------------------------------------


def test_the_store_implements_the_protocol(store: DatabaseStore) -> None:
    """Both backends satisfy the public `StepStore` protocol."""
    assert isinstance(store, StepStore)


def test_apply_records_each_event_with_the_next_version(store: DatabaseStore) -> None:
    """created, in_progress, completed: versions 1..3, the snapshot is the terminal one."""
    results = [store.apply(*e) for e in [*started("step_a"), event("completed", "step_a")]]
    assert [r.version for r in results] == [1, 2, 3]
    assert [r.duplicate for r in results] == [False, False, False]
    stored = store.get("step_a")
    assert stored.version == 3
    assert stored.status == "completed"
    assert to_dict(stored.step) == sf.snapshot("step_a", "completed")
    assert [e.event for e in stored.history] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.completed",
    ]
    assert stored.history[2].data == sf.snapshot("step_a", "completed")


def test_the_stored_snapshot_keeps_every_key_it_was_sent(store: DatabaseStore) -> None:
    """Keys steplife does not model (a real capture's ``expires_at``, token details)
    are stored with the snapshot and come back as they were sent."""
    name, data = event("completed", "step_x")
    data["expires_at"] = T0 + 600
    data["usage"]["prompt_token_details"] = {"cached_tokens": 3}
    for created in started("step_x"):
        store.apply(*created)
    store.apply(name, data)

    stored = store.get("step_x")

    assert data == to_dict(stored.step)
    assert data == stored.history[-1].data


def test_apply_returns_the_warnings_of_an_accepted_event(store: DatabaseStore) -> None:
    """A terminal event for a step never created is adopted, with its warning."""
    result = store.apply(*event("failed", "step_late"))
    assert result.version == 1
    assert [f.rule for f in result.findings] == ["adopted-step"]
    assert store.get("step_late").status == "failed"


def test_redelivered_event_is_a_reported_no_op(store: DatabaseStore) -> None:
    """The same event twice: the second is a duplicate, nothing is written."""
    first = store.apply(*event("created", "step_a"))
    again = store.apply(*event("created", "step_a"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.version == 1
    assert versions(store, "step_a") == [1]


def test_redelivered_terminal_event_after_completion_is_a_duplicate_not_an_error(
    store: DatabaseStore,
) -> None:
    """At-least-once delivery of the last event is safe: reported, not rejected."""
    for e in [*started("step_a"), event("completed", "step_a")]:
        store.apply(*e)
    again = store.apply(*event("completed", "step_a"))
    assert again.duplicate
    assert again.step.status == "completed"
    assert versions(store, "step_a") == [1, 2, 3]


def test_identical_deltas_are_told_apart_by_occurrence(store: DatabaseStore) -> None:
    """Two identical chunks are two deltas; `occurrence` names which copy is re-sent."""
    store.apply(*event("created", "step_t", details=sf.function_details()))
    chunk = delta("step_t", '":"')
    assert not store.apply(*chunk).duplicate
    assert store.apply(*chunk).duplicate  # occurrence 1 again: a re-delivery
    assert not store.apply(*chunk, occurrence=2).duplicate
    assert store.apply(*chunk, occurrence=2).duplicate
    step = store.get("step_t").step
    assert step.step_details.tool_calls[0].function.arguments == '":"":"'  # type: ignore[union-attr]


def test_event_breaking_a_rule_is_rejected_and_writes_nothing(store: DatabaseStore) -> None:
    """A completed step with a wrong usage total: rejected with the rule, step unchanged."""
    for e in started("step_a"):
        store.apply(*e)
    name, data = event("completed", "step_a")
    data["usage"]["total_tokens"] = 999
    with pytest.raises(RejectedEventError) as caught:
        store.apply(name, data)
    assert [f.rule for f in caught.value.findings] == ["usage-total"]
    assert isinstance(caught.value.current, RunStep)
    assert caught.value.current.status == "in_progress"
    stored = store.get("step_a")
    assert (stored.version, stored.status) == (2, "in_progress")


def test_event_after_the_end_is_rejected(store: DatabaseStore) -> None:
    """A second, different terminal event breaks ``after-terminal``."""
    for e in [*started("step_a"), event("completed", "step_a")]:
        store.apply(*e)
    with pytest.raises(RejectedEventError) as caught:
        store.apply(*event("failed", "step_a"))
    assert [f.rule for f in caught.value.findings] == ["after-terminal"]
    assert versions(store, "step_a") == [1, 2, 3]


def test_delta_for_an_unknown_step_is_rejected(store: DatabaseStore) -> None:
    """``unknown-step``: no row is created for a step that has no snapshot."""
    with pytest.raises(RejectedEventError) as caught:
        store.apply(*delta("step_ghost", "x"))
    assert [f.rule for f in caught.value.findings] == ["unknown-step"]
    assert caught.value.current is None
    with pytest.raises(StepNotFoundError):
        store.get("step_ghost")


def test_unknown_step_is_refused_even_when_the_rule_is_ignored(db: str) -> None:
    """A store keeps a snapshot per step: a delta with none is refused whatever the rules."""
    with open_store(db, rules=Rules(ignore={"unknown-step"})) as store:
        with pytest.raises(RejectedEventError) as caught:
            store.apply(*delta("step_ghost", "x"))
        assert [f.rule for f in caught.value.findings] == ["unknown-step"]
        assert store.steps() == []


def test_the_store_applies_the_rules_it_was_opened_with(db: str) -> None:
    """``usage-missing`` escalated to an error rejects a completed step without usage."""
    name, data = event("completed", "step_a")
    data["usage"] = None
    with open_store(db, rules=Rules(severity={"usage-missing": "error"})) as strict:
        with pytest.raises(RejectedEventError) as caught:
            strict.apply(name, data)
        assert "usage-missing" in [f.rule for f in caught.value.findings]
    with open_store(db) as lenient:
        assert sorted(f.rule for f in lenient.apply(name, data).findings) == [
            "adopted-step",
            "usage-missing",
        ]


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("thread.run.step.created", {"id": 5}, "malformed-event"),
        ("thread.run.step.created", ["not", "a", "step"], "malformed-event"),
        (
            "thread.run.step.created",
            {"id": "step_x", "object": "thread.run.step"},
            "malformed-event",
        ),
        ("thread.run.step.delta", {"id": "step_x", "delta": 3}, "malformed-event"),
        ("thread.run.step.created", {"id": "step_x", "bad": {1, 2}}, "malformed-event"),
    ],
)
def test_malformed_payload_is_rejected(
    store: DatabaseStore, name: str, data: Any, rule: str
) -> None:
    """Payloads that are not steps (or not JSON) are refused with ``malformed-event``."""
    with pytest.raises(RejectedEventError) as caught:
        store.apply(name, data)
    assert [f.rule for f in caught.value.findings] == [rule]
    assert store.steps() == []


def test_a_non_step_event_is_refused_by_apply(store: DatabaseStore) -> None:
    """apply() records run-step events only."""
    with pytest.raises(RejectedEventError, match="not a run-step event"):
        store.apply("thread.run.created", {"id": "run_1"})


@pytest.mark.parametrize(
    "kwargs",
    [{"expected_version": -1}, {"expected_version": "1"}, {"occurrence": 0}],
)
def test_bad_arguments_raise_value_error(store: DatabaseStore, kwargs: dict[str, Any]) -> None:
    """Arguments are checked before anything is read or written."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the next line's business
        store.apply(*event("created", "step_a"), **kwargs)
    assert store.steps() == []


# -- optimistic concurrency ------------------------------------------------------------


def test_expected_version_must_match(store: DatabaseStore) -> None:
    """A stale expected version gets a ConflictError with the current snapshot."""
    store.apply(*event("created", "step_a"), expected_version=0)
    store.apply(*event("in_progress", "step_a"), expected_version=1)
    with pytest.raises(ConflictError) as caught:
        store.apply(*event("completed", "step_a"), expected_version=1)
    conflict = caught.value
    assert (conflict.step_id, conflict.expected, conflict.version) == ("step_a", 1, 2)
    assert isinstance(conflict.current, RunStep)
    assert conflict.current.status == "in_progress"
    assert versions(store, "step_a") == [1, 2]


def test_expected_version_zero_means_the_step_must_be_new(store: DatabaseStore) -> None:
    """Creating a step twice under ``expected_version=0`` conflicts the second time."""
    store.apply(*event("created", "step_a"), expected_version=0)
    with pytest.raises(ConflictError) as caught:
        store.apply(*event("created", "step_a", run_id="run_2"), expected_version=0)
    assert caught.value.version == 1


def test_expected_version_for_a_missing_step_carries_no_snapshot(store: DatabaseStore) -> None:
    """Expecting version 3 of a step the store lacks: conflict at version 0, current None."""
    with pytest.raises(ConflictError) as caught:
        store.apply(*event("created", "step_a"), expected_version=3)
    assert (caught.value.version, caught.value.current) == (0, None)


def test_redelivery_wins_over_a_stale_expected_version(store: DatabaseStore) -> None:
    """A retried write that did land is a duplicate, not a conflict."""
    store.apply(*event("created", "step_a"), expected_version=0)
    again = store.apply(*event("created", "step_a"), expected_version=0)
    assert again.duplicate


def test_a_second_store_sees_the_first_stores_writes(db: str) -> None:
    """Two stores on one database: no write is decided on stale memory."""
    with open_store(db) as one, open_store(db) as two:
        for e in started("step_a", details=sf.function_details()):
            one.apply(*e)
        one.apply(*delta("step_a", "ab"))
        two.apply(*delta("step_a", "cd"))
        result = one.apply(*delta("step_a", "ef"))
        assert result.version == 5
        two.apply(*event("completed", "step_a", details=sf.function_details("abcdef")))
        with pytest.raises(RejectedEventError) as caught:
            one.apply(*delta("step_a", "gh"))
        assert [f.rule for f in caught.value.findings] == ["after-terminal"]
        assert versions(one, "step_a") == [1, 2, 3, 4, 5, 6]


def test_an_ingest_batch_is_decided_again_when_another_writer_moved_a_step(db: str) -> None:
    """A batch built on stale memory conflicts, is re-decided, and loses no update."""
    with open_store(db) as one, open_store(db) as two:
        one.ingest(started("step_a", details=sf.function_details()))
        two.apply(*delta("step_a", "12"))  # `one` still holds version 2 in memory
        report = one.ingest([delta("step_a", "34"), *started("step_b")], batch_size=100)
        assert (report.applied, report.rejected) == (3, 0)
        stored = one.get("step_a")
        assert [e.version for e in stored.history] == [1, 2, 3, 4]
        assert stored.step.step_details.tool_calls[0].function.arguments == "1234"  # type: ignore[union-attr]


def _race_in_threads(db: str, steps: list[str], expected: bool) -> dict[int, dict[str, Any]]:
    barrier = threading.Barrier(4)
    results: Any = _Results()
    threads = [
        threading.Thread(target=sf.race, args=(db, worker, steps, expected, barrier, results))
        for worker in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return dict(results.items)


class _Results:
    """A thread-safe stand-in for a multiprocessing queue."""

    def __init__(self) -> None:
        self.items: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def put(self, item: tuple[int, dict[str, Any]]) -> None:
        with self._lock:
            self.items.append(item)


def _race_in_processes(db: str, steps: list[str], expected: bool) -> dict[int, dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    queue = context.Queue()
    processes = [
        context.Process(target=sf.race, args=(db, worker, steps, expected, barrier, queue))
        for worker in range(4)
    ]
    for process in processes:
        process.start()
    outcomes = dict(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes


def _check_race(
    store: DatabaseStore, steps: list[str], outcomes: dict[int, dict[str, Any]], expected: bool
) -> None:
    assert sorted(outcomes) == [0, 1, 2, 3]
    for step_id in steps:
        per_worker = {worker: outcomes[worker][step_id] for worker in outcomes}
        winners = [w for w, outcome in per_worker.items() if outcome[0] == "won"]
        assert len(winners) == 1, per_worker
        stored = store.get(step_id)
        assert [e.version for e in stored.history] == [1, 2, 3]
        winner_event = sf.terminal_for(winners[0], step_id)
        assert stored.history[2].data == winner_event[1]
        for worker, outcome in per_worker.items():
            if worker == winners[0]:
                assert outcome[1:] == (3, False)
            elif expected:
                assert outcome == ("conflict", stored.status, 3)
            else:
                assert outcome == ("rejected", ("after-terminal",))


@pytest.mark.parametrize("expected", [True, False], ids=["expected-version", "latest"])
def test_threads_racing_to_end_the_same_steps_have_one_winner_each(db: str, expected: bool) -> None:
    """Four threads, one store each, end the same steps differently: one winner per step."""
    steps = [f"step_{i:03d}" for i in range(40)]
    with open_store(db) as store:
        store.ingest([e for s in steps for e in started(s)])
        outcomes = _race_in_threads(db, steps, expected)
        _check_race(store, steps, outcomes, expected)


def test_processes_racing_to_end_the_same_steps_have_one_winner_each(db: str) -> None:
    """Four processes race with expected versions: one winner, versions contiguous."""
    steps = [f"step_{i:03d}" for i in range(80)]
    with open_store(db) as store:
        store.ingest([e for s in steps for e in started(s)])
        outcomes = _race_in_processes(db, steps, expected=True)
        _check_race(store, steps, outcomes, expected=True)


def test_threads_may_share_one_store(store: DatabaseStore) -> None:
    """Calls on one store object are serialised: concurrent threads lose nothing."""
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                step_id = f"step_{worker}_{i}"
                for e in [*started(step_id), event("completed", step_id)]:
                    store.apply(*e)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Counter(s.status for s in store.steps()) == {"completed": 60}


def test_a_failed_write_is_rolled_back_entirely(store: DatabaseStore, db: str) -> None:
    """When the log insert fails after the snapshot was written, neither is kept."""
    store.apply(*event("created", "step_a"))
    _insert_log_row(store, db, "step_a", 2)  # a stray row the next write collides with
    with pytest.raises(StoreError, match="conflicting writes"):
        store.apply(*event("in_progress", "step_a"), expected_version=None)
    stored = store.get("step_a")
    assert stored.version == 1
    assert stored.step.status == "in_progress"
    assert [e.event for e in stored.history] == [
        "thread.run.step.created",
        "thread.run.step.created",  # the stray row, read back as it was put
    ]


def _insert_log_row(store: DatabaseStore, db: str, step_id: str, version: int) -> None:
    name, _ = event("created", step_id)
    row = (step_id, version, name, json.dumps({"id": step_id}), 0, 0.0)
    if store.dialect == "sqlite":
        import sqlite3

        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO steplife_events (step_id, version, event, payload, digest, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
    else:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO steplife_events (step_id, version, event, payload, digest, "
                "recorded_at) VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )


# -- ingestion -------------------------------------------------------------------------


def test_ingest_counts_every_event_once(store: DatabaseStore) -> None:
    """applied + duplicates + skipped + rejected = events; findings say why."""
    events: list[Any] = [
        ("thread.run.created", {"id": "run_1"}),
        *started("step_a"),
        event("created", "step_a"),  # re-delivered
        delta("step_ghost", "x"),  # unknown step
        {"event": "thread.run.step.completed", "data": sf.snapshot("step_a", "completed")},
        ("done", "[DONE]"),
    ]
    report = store.ingest(events, batch_size=2)
    assert (report.events, report.applied, report.duplicates) == (7, 3, 1)
    assert (report.skipped, report.rejected) == (2, 1)
    assert not report.ok
    assert [(f.rule, f.event_index) for f in report.findings] == [("unknown-step", 5)]
    assert report.batches == 3  # the batches with something to write
    assert store.get("step_a").status == "completed"


def test_ingest_takes_events_as_the_stream_readers_yield_them(store: DatabaseStore) -> None:
    """`Event`s keep their file and line in findings; malformed ones are rejected."""
    name, data = event("created", "step_a")
    events = [
        Event(name, data, "capture.jsonl", 1, 1),
        Event(None, None, "capture.jsonl", 2, 2, "not valid JSON"),
        Event(*delta("step_b", "x"), "capture.jsonl", 3, 3),
    ]
    report = store.ingest(events)
    assert [(f.rule, f.file, f.line) for f in report.findings] == [
        ("malformed-event", "capture.jsonl", 2),
        ("unknown-step", "capture.jsonl", 3),
    ]
    assert report.applied == 1


def test_ingest_rejects_things_that_are_not_events(store: DatabaseStore) -> None:
    """Garbage in a stream is a rejected event each, not a crash."""
    report = store.ingest([42, {"data": {}}, ("only-a-name",)])  # type: ignore[list-item]
    assert (report.events, report.rejected) == (3, 3)
    assert {f.rule for f in report.findings} == {"malformed-event"}


def test_ingest_of_a_real_stream_matches_the_tracker(store: DatabaseStore) -> None:
    """Every stored snapshot, version count and finding equals in-memory replay.

    The store keeps steps, not runs: it is compared with a Tracker that does not
    follow runs either.
    """
    events = sf.generated(3000, 600, seed=7)
    report = store.ingest(events, batch_size=250)
    tracker = Tracker(follow_runs=False)
    for e in events:
        tracker.feed(e["event"], e["data"])
    assert report.applied == sum(1 for e in events if e["event"].startswith("thread.run.step."))
    assert report.rejected == 0
    assert [(f.rule, f.step_id) for f in report.findings] == [
        (f.rule, f.step_id) for f in tracker.findings
    ]
    stored = {s.id: s for s in store.steps()}
    assert stored.keys() == tracker.steps.keys()
    per_step = Counter(e["data"]["id"] for e in events if e["event"].startswith("thread.run.step."))
    for step_id, step in tracker.steps.items():
        assert to_dict(stored[step_id].step) == to_dict(step)
        assert stored[step_id].version == per_step[step_id]


def test_ingesting_a_stream_twice_writes_it_once(store: DatabaseStore) -> None:
    """Re-ingesting, even a stream with identical deltas, is a no-op reported as such."""
    events = sf.generated(1500, 300, seed=3)
    first = store.ingest(events, batch_size=200)
    second = store.ingest(events, batch_size=97)
    assert second.applied == 0
    assert second.duplicates == first.applied
    assert second.batches == 0


def test_a_restart_loses_nothing_of_live_steps(db: str) -> None:
    """Stop mid-stream, reopen, go on: the result equals one uninterrupted replay."""
    events = sf.generated(3000, 600, seed=11)
    half = 1300
    with open_store(db) as first:
        first.ingest(events[:half], batch_size=128)
        live = first.steps(status="in_progress")
        assert live  # the cut leaves steps in flight, some with merged deltas
    with open_store(db) as second:
        second.ingest(events[half:], batch_size=128)
        stored = {s.id: s for s in second.steps()}
    tracker = Tracker().consume(
        Event(e["event"], e["data"], None, 0, i) for i, e in enumerate(events)
    )
    assert {k: to_dict(v.step) for k, v in stored.items()} == {
        k: to_dict(v) for k, v in tracker.steps.items()
    }


def test_live_snapshots_show_the_deltas_merged_so_far(store: DatabaseStore) -> None:
    """A live step's stored snapshot has every delta merged, not just its last snapshot."""
    store.ingest(
        [
            *started("step_t", details=sf.function_details()),
            delta("step_t", '{"a"'),
            delta("step_t", ":1}"),
        ]
    )
    step = store.get("step_t").step
    assert step.step_details.tool_calls[0].function.arguments == '{"a":1}'  # type: ignore[union-attr]


def test_on_commit_is_told_after_each_committed_batch(store: DatabaseStore) -> None:
    """The callback gets the running count of input events, ending with all of them."""
    events = sf.generated(600, 120, seed=5)
    seen: list[int] = []
    store.ingest(events, batch_size=100, on_commit=seen.append)
    assert seen == list(range(100, 601, 100))


def test_ingest_batch_size_must_be_positive(store: DatabaseStore) -> None:
    """A batch size of 0 is refused up front."""
    with pytest.raises(ValueError, match="batch_size"):
        store.ingest([], batch_size=0)


def test_a_batch_that_assumed_a_step_new_is_decided_again(db: str) -> None:
    """A ``created`` that opens a batch is assumed new; if the step exists, the write says so."""
    with open_store(db) as one, open_store(db) as two:
        one.ingest(started("step_a"))
        report = two.ingest([event("created", "step_a"), event("completed", "step_a")])
        assert (report.applied, report.duplicates, report.rejected) == (1, 1, 0)
        assert versions(one, "step_a") == [1, 2, 3]
        assert one.get("step_a").status == "completed"


# -- queries ---------------------------------------------------------------------------


def ids(stored: list[StoredStep]) -> list[str]:
    return [s.id for s in stored]


def test_steps_filter_by_run_thread_and_status(store: DatabaseStore) -> None:
    """Each filter narrows the list; together they intersect; order is created_at."""
    store.ingest(
        [
            *started("step_1", run_id="run_a", thread_id="th_1", created_at=T0 + 2),
            *started("step_2", run_id="run_a", thread_id="th_2", created_at=T0 + 1),
            *started("step_3", run_id="run_b", thread_id="th_2", created_at=T0),
            event("completed", "step_2", run_id="run_a", thread_id="th_2", created_at=T0 + 1),
        ]
    )
    assert ids(store.steps()) == ["step_3", "step_2", "step_1"]
    assert ids(store.steps(run_id="run_a")) == ["step_2", "step_1"]
    assert ids(store.steps(thread_id="th_2")) == ["step_3", "step_2"]
    assert ids(store.steps(status="in_progress")) == ["step_3", "step_1"]
    assert ids(store.steps(run_id="run_a", status="completed")) == ["step_2"]
    assert ids(store.steps(limit=1)) == ["step_3"]
    assert store.steps(run_id="run_zzz") == []


def test_get_and_history_of_an_unknown_step_raise(store: DatabaseStore) -> None:
    """StepNotFoundError is also a KeyError."""
    with pytest.raises(KeyError, match="step_nope"):
        store.get("step_nope")
    with pytest.raises(StepNotFoundError):
        store.history("step_nope")


def test_history_records_when_each_event_was_written(store: DatabaseStore) -> None:
    """recorded_at is the store's clock, non-decreasing along the log."""
    for e in started("step_a"):
        store.apply(*e)
    history = store.history("step_a")
    assert history[0].recorded_at <= history[1].recorded_at
    assert history[1].recorded_at == store.get("step_a").updated_at


# -- staleness and expiry --------------------------------------------------------------


def _three_steps(store: DatabaseStore) -> None:
    store.ingest(
        [
            *started("step_old", created_at=T0),
            *started("step_young", created_at=T0 + 500),
            *started("step_done", created_at=T0),
            event("completed", "step_done", created_at=T0),
        ]
    )


def test_stale_lists_in_progress_steps_older_than_the_age(store: DatabaseStore) -> None:
    """Only in-progress steps created more than the age before `now`."""
    _three_steps(store)
    now = T0 + 600
    assert [s.id for s in store.stale(timedelta(minutes=5), now=now)] == ["step_old"]
    assert [s.id for s in store.stale(60, now=now)] == ["step_old", "step_young"]
    assert store.stale(600, now=now) == []  # exactly as old is not older


def test_expire_stale_expires_through_the_machine(store: DatabaseStore) -> None:
    """The stale step is expired at `now`, by a recorded ``expired`` event; others untouched."""
    _three_steps(store)
    results = store.expire_stale(timedelta(minutes=5), now=T0 + 600)
    assert [(r.step.id, r.step.status, r.version) for r in results] == [("step_old", "expired", 3)]
    stored = store.get("step_old")
    assert stored.step.expired_at == T0 + 600
    assert stored.history[-1].event == "thread.run.step.expired"
    assert stored.history[-1].data == to_dict(stored.step)
    assert store.get("step_young").status == "in_progress"
    assert store.expire_stale(timedelta(minutes=5), now=T0 + 600) == []


def test_expire_stale_keeps_the_merged_deltas(store: DatabaseStore) -> None:
    """The expired snapshot carries what the deltas built, with no divergence warning."""
    store.ingest([*started("step_t", details=sf.function_details()), delta("step_t", "{}")])
    (result,) = store.expire_stale(60, now=T0 + 3600)
    assert result.findings == ()
    assert result.step.step_details.tool_calls[0].function.arguments == "{}"  # type: ignore[union-attr]


@pytest.mark.parametrize("age", [-1, "10m", None])
def test_an_age_must_be_a_non_negative_duration(store: DatabaseStore, age: Any) -> None:
    """Ages are seconds or timedeltas; anything else is a ValueError."""
    with pytest.raises(ValueError, match="age"):
        store.stale(age)


# -- schema and lifetime ---------------------------------------------------------------


def test_reopening_keeps_the_data_and_migrates_nothing(db: str) -> None:
    """A second open finds the schema current and the steps there."""
    with open_store(db) as store:
        store.apply(*event("created", "step_a"))
    with open_store(db) as store:
        assert store.get("step_a").version == 1


def test_concurrent_first_opens_create_the_schema_once(db: str) -> None:
    """Several openers of a new database at once: one creates the schema, all succeed."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            open_store(db).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _execute(db, "SELECT version FROM steplife_schema_version") == [(1,)]


def test_a_newer_schema_is_refused_untouched(db: str) -> None:
    """A database written by a newer steplife is not opened, and not changed."""
    from steplife.errors import SchemaVersionError

    with open_store(db) as store:
        store.apply(*event("created", "step_a"))
    _execute(db, "INSERT INTO steplife_schema_version VALUES (99, 0)")
    with pytest.raises(SchemaVersionError, match="schema version 99, newer than the 1") as caught:
        open_store(db)
    assert (caught.value.found, caught.value.supported) == (99, 1)
    assert _execute(db, "SELECT max(version) FROM steplife_schema_version") == [(99,)]


def test_pending_migrations_run_in_order_on_open(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at version 1 gets migration 2 (and only it) when this steplife knows 2."""
    from steplife.store import _schema

    with open_store(db) as store:
        store.apply(*event("created", "step_a"))
    index = "CREATE INDEX steplife_events_event ON steplife_events (event)"
    for dialect in ("sqlite", "postgresql"):
        monkeypatch.setitem(
            _schema.MIGRATIONS, dialect, {**_schema.MIGRATIONS[dialect], 2: (index,)}
        )
    monkeypatch.setattr(_schema, "LATEST", 2)
    with open_store(db) as store:
        assert store.get("step_a").version == 1
    assert [
        v for (v,) in _execute(db, "SELECT version FROM steplife_schema_version ORDER BY 1")
    ] == [1, 2]


def _execute(db: str, sql: str) -> list[tuple[Any, ...]]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_closed_store_refuses_calls(db: str) -> None:
    """After close(), every call raises StoreError; closing twice is fine."""
    store = open_store(db)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.steps()
    with pytest.raises(StoreError, match="closed"):
        store.apply(*event("created", "step_a"))


def test_memory_is_bounded_by_forgetting(
    store: DatabaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cache limit the store forgets what it held, and still decides correctly."""
    monkeypatch.setattr(_engine, "CACHE_LIMIT", 3)
    store.ingest([e for i in range(5) for e in started(f"step_{i}")])
    assert len(store._engine.cache) == 5  # live steps are held...
    store.ingest([event("completed", f"step_{i}") for i in range(5)])
    assert store._engine.cache == {}  # ...until the limit is passed, or they end
    assert Counter(s.status for s in store.steps()) == {"completed": 5}
