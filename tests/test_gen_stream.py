"""The benchmark generator's run-lifecycle mode, which the run-following benchmark replays.

It must give exact counts and a stream in which a Tracker following runs finds no error,
at any size and seed: a benchmark over a broken stream would time the reporting of
findings. Its default stream must stay the same, event for event: the store tests use it.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import storeevents
from helpers import COSTLY, examples
from steplife import Tracker

assert storeevents.BENCHMARKS  # importing it put benchmarks/ on sys.path
gen_stream: Any = importlib.import_module("gen_stream")  # benchmarks/ is no package


@examples(COSTLY)
@given(
    steps=st.integers(0, 120),
    events_per_step=st.floats(4.6, 12),
    seed=st.integers(0, 2**32),
)
def test_run_lifecycle_streams_validate_clean(
    steps: int, events_per_step: float, seed: int
) -> None:
    """Exact counts, every run completed after its steps, and no error-level finding."""
    total = int(steps * events_per_step) + 5
    events = list(gen_stream.generate(total, steps, seed, runs=True))
    tracker = Tracker()
    for event in events:
        tracker.feed(event["event"], event["data"])
    tracker.finish()
    assert [f for f in tracker.findings if f.is_error] == []
    names = Counter(event["event"] for event in events)
    assert len(events) == total
    assert names["thread.run.step.created"] == steps
    assert tracker.live_ids == []
    assert set(tracker.run_statuses) <= {"completed"}
    assert sum(n * runs for n, runs in tracker.steps_per_run.items()) == steps


def test_run_lifecycle_streams_carry_round_trips() -> None:
    """Function-call steps that complete send their run through requires_action and back."""
    events = list(gen_stream.generate(6000, 1000, 0, runs=True))
    names = Counter(event["event"] for event in events)
    assert names["thread.run.requires_action"] > 0
    assert (
        names["thread.run.queued"]
        == names["thread.run.created"] + names["thread.run.requires_action"]
    )
    assert names["thread.run.completed"] == names["thread.run.created"]


def test_run_lifecycle_mode_refuses_too_few_events() -> None:
    """Fewer events than the steps' three and the runs' four each is a ValueError."""
    with pytest.raises(ValueError, match="events of their runs"):
        gen_stream.generate(3000, 1000, 0, runs=True)


def test_the_default_stream_is_pinned() -> None:
    """The default stream (random run events) is what it was, byte for byte."""
    lines = b"".join(orjson.dumps(e) + b"\n" for e in gen_stream.generate(3000, 600, 7))
    digest = hashlib.sha256(lines).hexdigest()
    assert digest == "63e6615af88ad7dcd83acd616451a2e3f6b8589581f1104756ade1537a7d5292"
