"""Benchmarks of the core (one step: attach, memory, transition, JSON round trip).

Every figure is a ratio against a baseline measured in the same run, on the same
machine, so the targets hold whatever the machine's speed.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from openai.types.beta.threads.runs import RunStep as SdkRunStep
from statemachine import State, StateMachine
from transitions import Machine

from steplife import Lifecycle, RunStep, from_json, to_json
from steplife.model import MessageCreation, MessageCreationDetails, Usage

DETAILS = MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1"))
LIFECYCLE = Lifecycle(clock=lambda: 1_770_000_000)


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The smallest of `runs` timings (seconds per operation): the least disturbed one."""
    return min(fn() for _ in range(runs))


def _per_op(fn: Callable[[int], None], n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(n)
    return (time.perf_counter() - start) / n


def bare_step(i: int) -> RunStep:
    return RunStep(
        id=f"step_{i}",
        created_at=1_770_000_000,
        run_id="run_1",
        assistant_id="asst_1",
        thread_id="thread_1",
        type="message_creation",
        step_details=DETAILS,
    )


def started_step(i: int) -> RunStep:
    return LIFECYCLE.start(
        id=f"step_{i}",
        run_id="run_1",
        assistant_id="asst_1",
        thread_id="thread_1",
        step_details=DETAILS,
    )


def attach(live: int, n: int = 20_000) -> dict[str, float]:
    """Cost of a new step with its lifecycle (`Lifecycle.start`) vs the bare record."""
    keep = [bare_step(i) for i in range(live)]  # steps already alive

    def bare(k: int) -> None:
        for i in range(k):
            keep.append(bare_step(i))

    def started(k: int) -> None:
        for i in range(k):
            keep.append(started_step(i))

    bare_s = best_of(5, lambda: _per_op(bare, n))
    start_s = best_of(5, lambda: _per_op(started, n))
    keep.clear()
    return {"bare_us": bare_s * 1e6, "start_us": start_s * 1e6, "ratio": start_s / bare_s}


def _allocated(make: Callable[[int], Any], n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [make(i) for i in range(n)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / n


def memory(n: int = 20_000) -> dict[str, float]:
    """Bytes per live in-progress step: started through the lifecycle vs bare."""
    bare_b = _allocated(bare_step, n)
    started_b = _allocated(started_step, n)
    return {"bare_bytes": bare_b, "started_bytes": started_b, "ratio": started_b / bare_b}


class _Plain:
    def __init__(self) -> None:
        self.state = "in_progress"


class _PsmLifecycle(StateMachine):
    in_progress = State(initial=True)
    completed = State(final=True)
    failed = State(final=True)
    cancelled = State(final=True)
    expired = State(final=True)
    complete = in_progress.to(completed)
    fail = in_progress.to(failed)
    cancel = in_progress.to(cancelled)
    expire = in_progress.to(expired)


def transition(n: int = 20_000) -> dict[str, float]:
    """One `complete` (trigger, stamp, rule check) vs a bare transitions trigger and PSM."""
    usage = Usage.of(10, 5)

    def ours(k: int) -> Callable[[int], None]:
        steps = [bare_step(i) for i in range(k)]

        def run(_: int) -> None:
            for step in steps:
                LIFECYCLE.complete(step, usage=usage, at=1_770_000_001)

        return run

    def bare(k: int) -> Callable[[int], None]:
        machine = Machine(
            model=None,
            states=["in_progress", "completed", "failed", "cancelled", "expired"],
            initial="in_progress",
            transitions=[["complete", "in_progress", "completed"]],
            auto_transitions=False,
        )
        event = machine.events["complete"]
        objects = [_Plain() for _ in range(k)]

        def run(_: int) -> None:
            for obj in objects:
                event.trigger(obj)

        return run

    def psm(k: int) -> Callable[[int], None]:
        machines = [_PsmLifecycle() for _ in range(k)]

        def run(_: int) -> None:
            for machine in machines:
                machine.complete()

        return run

    ours_s = best_of(5, lambda: _per_op(ours(n), n))
    bare_s = best_of(5, lambda: _per_op(bare(n), n))
    psm_n = n // 10
    psm_s = best_of(3, lambda: _per_op(psm(psm_n), psm_n))
    return {
        "ours_us": ours_s * 1e6,
        "bare_transitions_us": bare_s * 1e6,
        "python_statemachine_us": psm_s * 1e6,
        "ratio_vs_bare": ours_s / bare_s,
        "speedup_vs_psm": psm_s / ours_s,
    }


def snapshots(path: str, limit: int = 5_000) -> list[bytes]:
    """Full step snapshots (raw JSON) from a benchmark stream."""
    found: list[bytes] = []
    with open(path, "rb") as stream:
        for line in stream:
            event = orjson.loads(line)
            name = event["event"]
            if name.startswith("thread.run.step.") and not name.endswith(".delta"):
                found.append(orjson.dumps(event["data"]))
                if len(found) >= limit:
                    break
    return found


def round_trip(payloads: list[bytes]) -> dict[str, float]:
    """`from_json` + `to_json` vs the SDK's pydantic validate + dump, same payloads."""

    def ours(_: int) -> None:
        for raw in payloads:
            to_json(from_json(raw))

    def sdk(_: int) -> None:
        for raw in payloads:
            SdkRunStep.model_validate_json(raw).model_dump_json()

    n = len(payloads)
    ours_s = best_of(5, lambda: _per_op(ours, n))
    sdk_s = best_of(5, lambda: _per_op(sdk, n))
    return {"ours_us": ours_s * 1e6, "sdk_us": sdk_s * 1e6, "speedup": sdk_s / ours_s}


def run_all(stream_path: str) -> Iterator[tuple[str, dict[str, float]]]:
    """Every core benchmark, by name."""
    yield "attach at 10 live steps", attach(10)
    yield "attach at 100,000 live steps", attach(100_000)
    yield "memory per live step", memory()
    yield "transition", transition()
    yield "JSON round trip", round_trip(snapshots(stream_path))
