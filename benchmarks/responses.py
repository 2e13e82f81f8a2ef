"""Benchmark of Responses stream replay: `validate_file` against a floor of orjson and a dict table.

The stream imitates the real captures' mix (SSE with ``event:`` lines, numbered events,
mostly text deltas): 1,000,000 events over about 12,000 responses, each a created /
in_progress pair, then a reasoning item (summary deltas) in half of them, a message
(text deltas) and a function call in a third, then completed. It is generated once,
reproducibly, into benchmarks/data/ (ignored by git).

The floor does the least a validator of this stream must: read each ``data:`` line,
decode it with orjson, and move the response and the item at its ``output_index``
through a dict transition table (an item event for an item not open is an error).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson

from steplife._validate import validate_file

DATA: Final = Path(__file__).parent / "data"
EVENTS: Final = 1_000_000
SEED: Final = 0

_RESPONSE: Final = {
    "object": "response",
    "background": False,
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "model": "gpt-5-2025-08-07",
    "parallel_tool_calls": True,
    "service_tier": "auto",
    "tools": [],
    "usage": None,
    "metadata": {},
}
_USAGE: Final = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 312,
}


def _response(number: int, status: str, output: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"resp_{number:08d}",
        "created_at": 1_758_000_000 + number,
        "status": status,
    }
    body.update(_RESPONSE)
    body["output"] = output or []
    if status == "completed":
        body.update(completed_at=body["created_at"] + 3, usage=_USAGE, service_tier="default")
    return body


def _one(number: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": _response(number, "in_progress")}),
        ("response.in_progress", {"response": _response(number, "in_progress")}),
    ]
    finals: list[Any] = []
    index = 0

    def item(
        kind: str,
        body: dict[str, Any],
        deltas: list[tuple[str, dict[str, Any]]],
        final: dict[str, Any],
    ) -> None:
        nonlocal index
        item_id = f"{kind[:3]}_{number}_{index}"
        at = {"item_id": item_id, "output_index": index}
        events.append(
            (
                "response.output_item.added",
                {"output_index": index, "item": {"id": item_id, "type": kind, **body}},
            )
        )
        events.extend((name, {**at, **data}) for name, data in deltas)
        done = {"id": item_id, "type": kind, **final}
        events.append(("response.output_item.done", {"output_index": index, "item": done}))
        finals.append(done)
        index += 1

    if rng.random() < 0.5:
        pieces = rng.randint(10, 60)
        deltas = [
            (
                "response.reasoning_summary_text.delta",
                {"summary_index": 0, "delta": "think ", "obfuscation": "abc"},
            )
        ] * pieces
        text = {"summary_index": 0, "text": "think " * pieces}
        item(
            "reasoning",
            {"summary": []},
            [*deltas, ("response.reasoning_summary_text.done", text)],
            {"summary": [{"type": "summary_text", "text": "x"}]},
        )
    pieces = rng.randint(20, 120)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    deltas = [("response.content_part.added", {"content_index": 0, "part": part})]
    deltas += [
        (
            "response.output_text.delta",
            {"content_index": 0, "delta": " word", "logprobs": [], "obfuscation": "pad"},
        )
    ] * pieces
    deltas += [
        (
            "response.output_text.done",
            {"content_index": 0, "text": " word" * pieces, "logprobs": []},
        ),
        ("response.content_part.done", {"content_index": 0, "part": part}),
    ]
    item(
        "message",
        {"status": "in_progress", "content": [], "role": "assistant"},
        deltas,
        {"status": "completed", "content": [part], "role": "assistant"},
    )
    if rng.random() < 0.33:
        args = [
            ("response.function_call_arguments.delta", {"delta": '{"a":1}', "obfuscation": "p"})
        ] * rng.randint(2, 10)
        call = {"call_id": f"call_{number}", "name": "get_weather"}
        item(
            "function_call",
            {"status": "in_progress", "arguments": "", **call},
            [*args, ("response.function_call_arguments.done", {"arguments": "{}"})],
            {"status": "completed", "arguments": "{}", **call},
        )
    events.append(("response.completed", {"response": _response(number, "completed", finals)}))
    return events


def write(path: Path, events: int = EVENTS, seed: int = SEED) -> None:
    """Write the benchmark stream of about `events` events to `path`, as SSE."""
    rng = random.Random(seed)
    written = number = 0
    with path.open("wb") as out:
        while written < events:
            for sequence, (name, data) in enumerate(_one(number, rng)):
                payload = orjson.dumps({"type": name, "sequence_number": sequence, **data})
                out.write(b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n")
                written += 1
            number += 1


def stream_file(events: int = EVENTS) -> Path:
    """The benchmark stream's path, generated on first use."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"responses-{events}-{SEED}.sse"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write(partial, events)
        partial.rename(path)
    return path


_RESPONSE_MOVES: Final = {
    (None, "response.created"): "in_progress",
    ("in_progress", "response.created"): "in_progress",
    ("in_progress", "response.in_progress"): "in_progress",
    ("in_progress", "response.completed"): "completed",
    ("in_progress", "response.failed"): "failed",
    ("in_progress", "response.incomplete"): "incomplete",
}
_ITEM_MOVES: Final = {
    (None, "response.output_item.added"): "open",
    ("open", "response.output_item.done"): "done",
}


def floor_validate(lines: Iterable[bytes]) -> tuple[int, int]:
    """The least a validator of this stream does; returns (events, errors)."""
    loads = orjson.loads
    response_moves, item_moves = _RESPONSE_MOVES, _ITEM_MOVES
    status: str | None = None
    items: dict[int, str] = {}
    events = errors = 0
    for line in lines:
        if not line.startswith(b"data: "):
            continue
        events += 1
        try:
            event = loads(line[6:])
            name = event["type"]
            if name.startswith("response.output_item."):
                index = event["output_index"]
                items[index] = item_moves[items.get(index), name]
            elif "output_index" in event:
                if items[event["output_index"]] != "open":
                    errors += 1
            else:
                if name == "response.created":
                    status, items = None, {}
                status = response_moves[status, name]
        except (KeyError, orjson.JSONDecodeError):
            errors += 1
    return events, errors


def replay_rates(events: int = EVENTS, *, repeat: int = 3) -> dict[str, float]:
    """Events per second of `validate_file` on the stream and of the floor, best of `repeat`.

    Timed in CPU time of the process, alternating the two, each from a collected heap.
    """
    path = stream_file(events)
    ours: list[float] = []
    floors: list[float] = []
    report = None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        report = validate_file(str(path))
        ours.append(report.events / (time.process_time() - start))
        gc.collect()
        start = time.process_time()
        with path.open("rb") as lines:
            counted, _ = floor_validate(lines)
        floors.append(counted / (time.process_time() - start))
    assert report is not None
    return {
        "events": report.events,
        "responses": sum(report.run_statuses.values()),
        "items": sum(report.statuses.values()),
        "errors_found": sum(1 for f in report.findings if f.is_error),
        "steplife_events_per_s": max(ours),
        "floor_events_per_s": max(floors),
        "share_of_floor": max(ours) / max(floors),
    }


if __name__ == "__main__":
    print(replay_rates())
