"""Two baselines to put steplife's throughput in context, both over JSONL lines.

* :func:`floor_validate` is the least a lifecycle validator can do in pure Python: parse,
  look up ``(status, event)`` in a dict, remember each step's status. No models, no checks
  on the payload. Anything slower than this is paying for real work.
* :func:`sdk_peer` is what the official ``openai`` SDK does per event when it streams an
  Assistants run: build the typed event, then fold run steps with ``accumulate_run_step``.
  It checks no lifecycle rule at all.

Run ``python benchmarks/baselines.py [PATH]`` for a quick rate of each (PATH defaults to a
50,000-event stream made by ``gen_stream``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, cast

import orjson
from openai._models import construct_type
from openai.lib.streaming._assistants import accumulate_run_step
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads.runs import RunStep

_P = "thread.run.step."
_CREATED, _IN_PROGRESS, _DELTA = _P + "created", _P + "in_progress", _P + "delta"
_TERMINAL = ("completed", "failed", "cancelled", "expired")
STEP_EVENTS = frozenset([_CREATED, _IN_PROGRESS, _DELTA] + [_P + t for t in _TERMINAL])


def _table() -> dict[tuple[str | None, str], str]:
    """Legal ``(current status, event) -> new status``; ``None`` is "never seen".

    ``created`` is the state between ``.created`` and ``.in_progress`` (the snapshot already
    says ``in_progress``). An unseen step may be adopted by a full snapshot (a later HTTP
    stream can open with the terminal event of a step created in an earlier one), never by
    a delta.
    """
    t: dict[tuple[str | None, str], str] = {
        (None, _CREATED): "created",
        (None, _IN_PROGRESS): "in_progress",
        ("created", _IN_PROGRESS): "in_progress",
        ("created", _DELTA): "created",
        ("in_progress", _DELTA): "in_progress",
    }
    for term in _TERMINAL:
        for cur in (None, "created", "in_progress"):
            t[cur, _P + term] = term
    return t


TRANSITIONS = _table()


def floor_validate(lines: Iterable[bytes], errors: Counter[str] | None = None) -> int:
    """Validate step lifecycles with a dict transition table; return events processed.

    Errors are counted by rule code into ``errors`` if given: ``malformed-event`` (bad
    JSON, or a step event without ``data.id``), ``unknown-step`` (delta for an unseen step),
    ``after-terminal`` (any event for an ended step), ``illegal-transition`` (the rest, e.g.
    a second ``created``). Non-step and unknown events are passed by.
    """
    loads, table, steps = orjson.loads, TRANSITIONS, STEP_EVENTS
    status: dict[str, str] = {}
    n = 0
    for line in lines:
        n += 1
        try:
            ev = loads(line)
            name = ev["event"]
            if name not in steps:
                continue
            sid = ev["data"]["id"]
            cur = status.get(sid)
            status[sid] = table[cur, name]
        except KeyError:
            if errors is not None:
                errors[_classify(ev, status)] += 1
        except (orjson.JSONDecodeError, TypeError):
            if errors is not None:
                errors["malformed-event"] += 1
    return n


def _classify(ev: Any, status: dict[str, str]) -> str:
    """Rule code for an event the transition table rejected (the slow path)."""
    try:
        sid = ev["data"]["id"]
        if ev["event"] not in STEP_EVENTS:  # no "event" key at all
            raise KeyError("event")
    except (KeyError, TypeError):
        return "malformed-event"
    cur = status.get(sid)
    if cur in _TERMINAL:
        return "after-terminal"
    return "unknown-step" if cur is None else "illegal-transition"


def sdk_peer(lines: Iterable[bytes]) -> int:
    """Fold run steps the way the official SDK's stream helper does; return events processed.

    Per line: ``orjson.loads``, then ``openai._models.construct_type(type_=AssistantStreamEvent,
    value={"event": ..., "data": ...})``, which is exactly what ``Stream.__stream__`` hands to
    ``_process_response_data`` for Assistants events: ``construct_type`` (no validation) is the
    SDK's default path, ``validate_type`` only runs with ``_strict_response_validation``. Then
    ``accumulate_run_step(event=..., run_step_snapshots=...)`` as ``AssistantEventHandler``
    does, keeping every step in a dict. (The SDK parses SSE data with ``json.loads``; orjson
    here keeps the parse cost equal to the floor's, so the gap is the SDK's own work.)
    ``done`` events (``data: [DONE]``) are counted and skipped: the SDK ends a stream there.
    Raises what the SDK raises, e.g. ``KeyError`` on a delta for an unseen step.
    """
    snapshots: dict[str, RunStep] = {}
    loads = orjson.loads
    n = 0
    for line in lines:
        n += 1
        raw = loads(line)
        if raw.get("data") == "[DONE]":
            continue
        event = cast(AssistantStreamEvent, construct_type(type_=AssistantStreamEvent, value=raw))
        accumulate_run_step(event=event, run_step_snapshots=snapshots)
    return n


def _rate(name: str, fn: Callable[[list[bytes]], int], lines: list[bytes]) -> None:
    t = time.perf_counter()
    n = fn(lines)
    dt = time.perf_counter() - t
    print(f"{name:>14}: {n:,} events in {dt:.2f} s = {n / dt:,.0f} events/s")


def main(argv: list[str]) -> None:
    """Print events/s of both baselines on a JSONL file, or a fresh 50k-event stream."""
    if argv:
        with open(argv[0], "rb") as f:
            lines = f.read().splitlines()
    else:
        from benchmarks.gen_stream import generate

        lines = [orjson.dumps(e) for e in generate(50_000, 10_000, seed=0)]
    errors: Counter[str] = Counter()
    _rate("floor_validate", lambda ls: floor_validate(ls, errors), lines)
    print(f"{'':>14}  errors: {dict(errors) or 0}")
    _rate("sdk_peer", sdk_peer, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
