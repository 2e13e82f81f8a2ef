"""Builders of Responses payloads and streams for the tests, shaped like the real captures.

`stream()` writes a clean stream as the API does (created, in_progress, each item's
added / deltas / done, completed, numbered from 0); the tests break it where they mean to.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

from steplife.responses import ResponseTracker

RESPONSE_ID: Final = "resp_0b70e4946283a4df0068c9ef5ef4d881"
CREATED: Final = 1_758_064_478
USAGE: Final = {
    "input_tokens": 13,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 21,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 34,
}

Event = tuple[str, dict[str, Any]]


def response(status: str = "in_progress", **changes: Any) -> dict[str, Any]:
    """A response object as real streams send it (with keys steplife does not model)."""
    body: dict[str, Any] = {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": "gpt-4o-mini-2024-07-18",
        "output": [],
        "service_tier": "auto",
        "tools": [],
        "usage": None,
        "metadata": {},
    }
    if status == "completed":
        body.update(completed_at=CREATED + 2, usage=USAGE, service_tier="default")
    elif status == "incomplete":
        body.update(incomplete_details={"reason": "max_output_tokens"}, usage=USAGE)
    elif status == "failed":
        body.update(error={"code": "server_error", "message": "The server had an error."})
    body.update(changes)
    return body


def message(index: int = 0, status: str = "in_progress", text: str = "") -> dict[str, Any]:
    """A message output item."""
    content = (
        []
        if status == "in_progress"
        else [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]
    )
    return {
        "id": f"msg_{index}",
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def function_call(
    index: int = 0, status: str = "in_progress", arguments: str = ""
) -> dict[str, Any]:
    """A function_call output item."""
    return {
        "id": f"fc_{index}",
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": f"call_{index}",
        "name": "get_weather",
    }


def reasoning(index: int = 0) -> dict[str, Any]:
    """A reasoning output item: no status, as the API sends it."""
    return {"id": f"rs_{index}", "type": "reasoning", "summary": []}


def web_search(index: int = 0, status: str = "in_progress") -> dict[str, Any]:
    """A web_search_call output item."""
    return {
        "id": f"ws_{index}",
        "type": "web_search_call",
        "status": status,
        "action": {"type": "search"},
    }


def item_events(item: dict[str, Any], index: int) -> list[Event]:
    """The events of one item from added to done, as the API streams its type."""
    item_id = item["id"]
    at = {"item_id": item_id, "output_index": index}
    done = copy.deepcopy(item)
    kind = item["type"]
    events: list[Event] = [
        ("response.output_item.added", {"output_index": index, "item": item}),
    ]
    if kind == "message":
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        events += [
            ("response.content_part.added", {**at, "content_index": 0, "part": part}),
            (
                "response.output_text.delta",
                {**at, "content_index": 0, "delta": "Hel", "logprobs": []},
            ),
            (
                "response.output_text.delta",
                {**at, "content_index": 0, "delta": "lo", "logprobs": []},
            ),
            (
                "response.output_text.done",
                {**at, "content_index": 0, "text": "Hello", "logprobs": []},
            ),
            (
                "response.content_part.done",
                {**at, "content_index": 0, "part": {**part, "text": "Hello"}},
            ),
        ]
        done.update(status="completed", content=[{**part, "text": "Hello"}])
    elif kind == "function_call":
        events += [
            ("response.function_call_arguments.delta", {**at, "delta": '{"city":'}),
            ("response.function_call_arguments.delta", {**at, "delta": '"Paris"}'}),
            ("response.function_call_arguments.done", {**at, "arguments": '{"city":"Paris"}'}),
        ]
        done.update(status="completed", arguments='{"city":"Paris"}')
    elif kind == "reasoning":
        part = {"type": "summary_text", "text": ""}
        events += [
            ("response.reasoning_summary_part.added", {**at, "summary_index": 0, "part": part}),
            ("response.reasoning_summary_text.delta", {**at, "summary_index": 0, "delta": "Think"}),
            ("response.reasoning_summary_text.done", {**at, "summary_index": 0, "text": "Think"}),
            (
                "response.reasoning_summary_part.done",
                {**at, "summary_index": 0, "part": {**part, "text": "Think"}},
            ),
        ]
        done.update(summary=[{"type": "summary_text", "text": "Think"}])
    elif kind == "web_search_call":
        events += [
            ("response.web_search_call.in_progress", dict(at)),
            ("response.web_search_call.searching", dict(at)),
            ("response.web_search_call.completed", dict(at)),
        ]
        done.update(status="completed", action={"type": "search", "query": "weather"})
    events.append(("response.output_item.done", {"output_index": index, "item": done}))
    return events


def stream(
    items: Iterable[dict[str, Any]] = (),
    *,
    background: bool = False,
    end: str = "completed",
    numbered: bool = True,
) -> list[Event]:
    """A clean stream of one response with `items` (a message when none), numbered from 0."""
    items = list(items) or [message()]
    first = "queued" if background else "in_progress"
    events: list[Event] = [
        ("response.created", {"response": response(first, background=background)})
    ]
    if background:
        events.append(("response.queued", {"response": response("queued", background=background)}))
    events.append(
        ("response.in_progress", {"response": response("in_progress", background=background)})
    )
    finals = []
    for index, item in enumerate(items):
        events += item_events(item, index)
        finals.append(copy.deepcopy(events[-1][1]["item"]))
    if end == "completed":
        events.append(
            (
                "response.completed",
                {"response": response("completed", output=finals, background=background)},
            )
        )
    elif end == "incomplete":
        events.append(
            (
                "response.incomplete",
                {"response": response("incomplete", output=finals, background=background)},
            )
        )
    elif end == "failed":
        events.append(
            (
                "response.failed",
                {"response": response("failed", output=finals, background=background)},
            )
        )
    return number(events) if numbered else [(name, {"type": name, **data}) for name, data in events]


def number(events: Iterable[Event], start: int = 0) -> list[Event]:
    """`events` with ``type`` and a ``sequence_number`` from `start`, in the API's key order."""
    return [
        (name, {"type": name, "sequence_number": start + i, **_without(data)})
        for i, (name, data) in enumerate(events)
    ]


def _without(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("type", "sequence_number")}


def renumber(events: list[Event], start: int = 0) -> list[Event]:
    """`events` numbered again from `start` (after one was added or dropped)."""
    return number(events, start)


def drop_event(events: list[Event], name: str, nth: int = 0) -> list[Event]:
    """`events` without the `nth` event named `name`, numbered again."""
    at = [i for i, (n, _) in enumerate(events) if n == name][nth]
    return renumber(events[:at] + events[at + 1 :])


def replay(events: Iterable[Event], tracker: ResponseTracker | None = None) -> ResponseTracker:
    """Feed `events` to `tracker` (a new one by default), then finish it."""
    tracker = tracker or ResponseTracker()
    for name, data in events:
        tracker.feed(name, data)
    tracker.finish()
    return tracker


def rules_of(tracker: ResponseTracker) -> list[tuple[str, str]]:
    """Each finding's rule and severity, in order."""
    return [(f.rule, f.severity.value) for f in tracker.findings]


def to_sse(events: Iterable[Event], *, event_lines: bool = True) -> bytes:
    """`events` as SSE text, with or without ``event:`` lines."""
    import orjson

    out = []
    for name, data in events:
        if event_lines:
            out.append(f"event: {name}\n".encode())
        out.append(b"data: " + orjson.dumps(data) + b"\n\n")
    return b"".join(out)


def to_jsonl(events: Iterable[Event], *, bare: bool = False) -> bytes:
    """`events` as JSONL: ``{"event", "data"}`` lines, or bare typed events."""
    import orjson

    return b"".join(
        orjson.dumps(data if bare else {"event": name, "data": data}) + b"\n"
        for name, data in events
    )
