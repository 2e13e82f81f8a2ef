"""The step book: what a Tracker holds for each open step, and what it compares a repeat with."""

from __future__ import annotations

import gc
import importlib
import io
import tracemalloc
from typing import Any

import orjson
import pytest

import storeevents
from steplife import Tracker
from steplife._events import read_jsonl
from streams import created, in_progress, keys, message_details, replay, terminal

assert storeevents.BENCHMARKS  # importing it put benchmarks/ on sys.path
gen_stream: Any = importlib.import_module("gen_stream")  # benchmarks/ is no package

OPEN_STEPS = 20_000
MOST_BYTES_PER_OPEN_STEP = 1024
TOO_MUCH_METADATA = {f"k{i}": "v" for i in range(17)}  # metadata-limits: 16 pairs at most


def created_lines(count: int) -> bytes:
    """JSONL of `count` step-created events of distinct steps, in gen_stream's mix of shapes."""
    events = gen_stream.generate(5 * count, count, 0, live=count)
    return b"".join(
        orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        for event in events
        if event["event"] == "thread.run.step.created"
    )


def test_an_open_step_costs_a_tracker_at_most_one_kibibyte() -> None:
    """Bytes held per open step, the parsed payload's parts it keeps included.

    Read from bytes in memory, so what the read leaves behind is only what the
    Tracker keeps of each payload, besides its own records.
    """
    source = io.BytesIO(created_lines(OPEN_STEPS))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracker = Tracker(follow_runs=True, keep_finished=False)
        tracker.consume(read_jsonl(source, "created.jsonl"))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(tracker.live_ids) == OPEN_STEPS
    assert tracker.valid
    assert grown / OPEN_STEPS <= MOST_BYTES_PER_OPEN_STEP


def test_an_identical_in_progress_is_not_checked_again() -> None:
    """The snapshot `created` sent, sent again: its findings are not repeated."""
    events = [created(metadata=TOO_MUCH_METADATA), in_progress(metadata=TOO_MUCH_METADATA)]
    tracker = replay(events, finish=False)
    assert [(f.rule, f.line) for f in tracker.findings] == [("metadata-limits", 1)]


@pytest.mark.parametrize(
    "change",
    [
        {"step_details": message_details("msg_2")},
        {"metadata": {**TOO_MUCH_METADATA, "k0": "w"}},
        {"usage": None, "extra": 1},
        {"last_error": None, "extra": [0]},
    ],
    ids=["details", "metadata", "a key the loader ignores", "another such key"],
)
def test_an_in_progress_that_differs_anywhere_is_checked(change: dict[str, Any]) -> None:
    """A repeat is one in every key of the payload, even keys no field loads."""
    first: dict[str, Any] = {"metadata": TOO_MUCH_METADATA, "extra": 0}
    events = [created(**first), in_progress(**{**first, **change})]
    tracker = replay(events, finish=False)
    assert [(f.rule, f.line) for f in tracker.findings] == [
        ("metadata-limits", 1),
        ("metadata-limits", 2),
    ]


def test_the_same_extra_keys_still_make_a_repeat() -> None:
    """Keys the loader ignores, sent again unchanged, do not make a repeat a new snapshot."""
    first: dict[str, Any] = {"metadata": TOO_MUCH_METADATA, "extra": {"nested": [1, 2]}}
    tracker = replay([created(**first), in_progress(**first)], finish=False)
    assert [(f.rule, f.line) for f in tracker.findings] == [("metadata-limits", 1)]


def test_a_step_is_compared_with_its_first_identity_after_an_in_progress_changed_it() -> None:
    """identity-changed is reported against what the step was created with, every time."""
    events = [
        created(),
        in_progress(run_id="run_other"),
        terminal("completed", run_id="run_other"),
    ]
    tracker = replay(events)
    assert [(rule, line) for rule, _, line, _ in keys(tracker.findings)] == [
        ("identity-changed", 2),
        ("identity-changed", 3),
    ]
    assert tracker.live_ids == []
    assert tracker.status_of("step_1") == "completed"
