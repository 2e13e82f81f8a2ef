"""Event builders and helpers for the step-store tests (no fixtures: see storefixtures).

`race` runs in spawned processes, so it lives in an importable module.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from steplife.errors import ConflictError, RejectedEventError
from steplife.store import open_store

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

T0 = 1_700_000_000
PREFIX = "thread.run.step."
STAMPS = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"}
STAMPS["expired"] = "expired_at"

Event = tuple[str, dict[str, Any]]


# -- event builders --------------------------------------------------------------------


def message_details(message_id: str = "msg_1") -> dict[str, Any]:
    return {"type": "message_creation", "message_creation": {"message_id": message_id}}


def function_details(arguments: str = "", output: str | None = None) -> dict[str, Any]:
    call = {"name": "lookup", "arguments": arguments, "output": output}
    return {
        "type": "tool_calls",
        "tool_calls": [{"id": "call_1", "type": "function", "function": call}],
    }


def snapshot(
    step_id: str = "step_1",
    status: str = "in_progress",
    *,
    run_id: str = "run_1",
    thread_id: str = "thread_1",
    created_at: int = T0,
    at: int | None = None,
    details: dict[str, Any] | None = None,
    usage: tuple[int, int] = (10, 5),
    error_code: str = "server_error",
) -> dict[str, Any]:
    """A full wire snapshot; a terminal one carries its stamp (and usage or last_error)."""
    details = details if details is not None else message_details()
    data: dict[str, Any] = {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": created_at,
        "run_id": run_id,
        "assistant_id": "asst_1",
        "thread_id": thread_id,
        "type": details["type"],
        "status": status,
        "cancelled_at": None,
        "completed_at": None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "step_details": details,
        "usage": None,
        "metadata": None,
    }
    if status != "in_progress":
        data[STAMPS[status]] = created_at + 1 if at is None else at
    if status == "completed":
        prompt, completion = usage
        data["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    if status == "failed":
        data["last_error"] = {"code": error_code, "message": "boom"}
    return data


def event(kind: str, step_id: str = "step_1", **fields: Any) -> Event:
    """``(name, data)`` of a snapshot event: created, in_progress or a terminal one."""
    status = "in_progress" if kind in ("created", "in_progress") else kind
    return PREFIX + kind, snapshot(step_id, status, **fields)


def delta(step_id: str, arguments: str, index: int = 0) -> Event:
    """A function-call delta appending `arguments` to tool call `index`."""
    call = {"index": index, "type": "function", "function": {"arguments": arguments}}
    body = {"step_details": {"type": "tool_calls", "tool_calls": [call]}}
    return PREFIX + "delta", {"id": step_id, "object": "thread.run.step.delta", "delta": body}


def started(step_id: str, **fields: Any) -> list[Event]:
    """``created`` then ``in_progress`` for a step."""
    return [event("created", step_id, **fields), event("in_progress", step_id, **fields)]


def generated(n_events: int, n_steps: int, seed: int = 0) -> list[dict[str, Any]]:
    """A realistic stream from the benchmark generator."""
    gen_stream: Any = importlib.import_module("gen_stream")  # benchmarks/ is no package
    return list(gen_stream.generate(n_events, n_steps, seed))


# -- racing writers (run in spawned processes, so importable) ------------------------


def terminal_for(worker: int, step_id: str) -> Event:
    """Worker `worker`'s terminal event for `step_id`: each worker ends steps its own way."""
    kind = ("completed", "failed", "cancelled", "completed")[worker % 4]
    return event(kind, step_id, at=T0 + 10 + worker, usage=(10 + worker, 5))


def race(
    db: str, worker: int, step_ids: list[str], expected: bool, barrier: Any, results: Any
) -> None:
    """Apply this worker's terminal event to every step, once all workers are ready."""
    outcomes: dict[str, tuple[Any, ...]] = {}
    with open_store(db) as store:
        barrier.wait(timeout=60)
        for step_id in step_ids:
            name, data = terminal_for(worker, step_id)
            try:
                result = store.apply(name, data, expected_version=2 if expected else None)
            except ConflictError as exc:
                status = getattr(exc.current, "status", None)
                outcomes[step_id] = ("conflict", status, exc.version)
            except RejectedEventError as exc:
                outcomes[step_id] = ("rejected", tuple(f.rule for f in exc.findings))
            else:
                outcomes[step_id] = ("won", result.version, result.duplicate)
    results.put((worker, outcomes))
