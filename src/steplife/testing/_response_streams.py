"""Hypothesis strategies for the Responses API: responses, output items, valid streams.

A stream is a list of events ``{"event": NAME, "data": {...}}``, as a JSONL capture
holds it; ``data`` carries its ``type`` and, unless the stream imitates a capture from
before May 2025, its ``sequence_number`` from 0. Streams are shaped like the real
recordings: background mode (``queued`` first), reasoning items without status, tool
items with their own status events, MCP tool lists, items that interleave (a third
party's), an ``error`` event before ``response.failed``, ``service_tier`` changing at
the end, ``obfuscation`` on deltas, and captures of a resumed stream that begin mid-way.
Every choice shrinks towards one message in a plain response.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final, TypeAlias

import attrs
import orjson
from hypothesis import strategies as st

from steplife.model import IncompleteDetails
from steplife.responses import (
    FunctionCallItem,
    MessageItem,
    OutputItem,
    ReasoningItem,
    Response,
    ResponseError,
    ResponseTracker,
    ResponseUsage,
    ToolCallItem,
    UnknownItem,
)
from steplife.responses._events import feed_response_jsonl
from steplife.responses._model import ITEM_TERMINAL_STATUSES, ITEM_TYPE_STATUSES
from steplife.testing._strategies import check_bounds, check_choices, check_type, ids

__all__ = [
    "ITEM_KINDS",
    "RESPONSE_ENDINGS",
    "ResponseStream",
    "output_items",
    "replay_responses",
    "replay_response_lines",
    "response_errors",
    "response_streams",
    "response_usages",
    "responses",
    "to_response_jsonl_lines",
    "to_response_sse",
    "unknown_items",
]

ResponseStream: TypeAlias = list[dict[str, Any]]
"""A Responses stream: events ``{"event": NAME, "data": {...}}`` in the order they arrive."""

ITEM_KINDS: Final = (
    "message",
    "function_call",
    "reasoning",
    "web_search_call",
    "file_search_call",
    "code_interpreter_call",
    "custom_tool_call",
    "mcp_list_tools",
    "mcp_call",
)
"""The item types a drawn stream holds, ``message`` first (what a choice shrinks to)."""
RESPONSE_ENDINGS: Final = ("completed", "incomplete", "failed")
"""How a drawn stream's response ends (a streamed ``cancelled`` is not documented)."""
_T0: Final = 1_758_000_000
_ENDED_BY_OWN_EVENT: Final = frozenset(
    ("web_search_call", "file_search_call", "code_interpreter_call", "mcp_list_tools", "mcp_call")
)
_PREFIX: Final = {
    "message": "msg",
    "function_call": "fc",
    "reasoning": "rs",
    "web_search_call": "ws",
    "file_search_call": "fs",
    "code_interpreter_call": "ci",
    "custom_tool_call": "ctc",
    "mcp_list_tools": "mcpl",
    "mcp_call": "mcp",
}
_STATUSLESS: Final = frozenset(("reasoning", "mcp_list_tools", "mcp_call"))


# -- records ---------------------------------------------------------------------------


@st.composite
def _response_usages(draw: st.DrawFn) -> ResponseUsage:
    given = draw(st.integers(0, 100_000))
    taken = draw(st.integers(0, 100_000))
    details = {"input_tokens_details": {"cached_tokens": 0}}
    return attrs.evolve(ResponseUsage.of(given, taken), extra=details)


def response_usages() -> st.SearchStrategy[ResponseUsage]:
    """Token counts whose total is the sum of its parts, with the details the API adds."""
    return _response_usages()


def response_errors() -> st.SearchStrategy[ResponseError]:
    """The ``error`` of a failed response (codes from the API's list and real captures)."""
    codes = st.sampled_from(("server_error", "rate_limit_exceeded", "insufficient_quota"))
    return st.builds(ResponseError, code=codes, message=st.text(min_size=1, max_size=40))


def output_items(
    *, types: str | Collection[str] | None = None, ended: bool | None = None
) -> st.SearchStrategy[OutputItem]:
    """Output items of the documented `types` (every kind of `ITEM_KINDS` by default).

    `ended` picks finished items (True), items in progress (False) or either; an item
    type without status (reasoning, MCP tool lists) has none either way.
    """
    kinds = ITEM_KINDS if types is None else check_choices("types", types, ITEM_KINDS, many=True)
    if ended is not None:
        check_type(ended, bool, "ended")
    return st.sampled_from(kinds).flatmap(lambda kind: _items(kind, ended))


def _items(kind: str, ended: bool | None) -> st.SearchStrategy[OutputItem]:
    allowed = sorted(ITEM_TYPE_STATUSES[kind])
    if ended is True:
        allowed = [s for s in allowed if s in ITEM_TERMINAL_STATUSES]
    elif ended is False:
        allowed = [s for s in allowed if s not in ITEM_TERMINAL_STATUSES]
    statuses: st.SearchStrategy[Any] = (
        st.none() if kind in _STATUSLESS else st.sampled_from(allowed)
    )
    item_ids = ids(_PREFIX[kind])
    if kind == "message":
        return st.builds(MessageItem, id=item_ids, status=statuses)
    if kind == "function_call":
        return st.builds(
            FunctionCallItem,
            id=item_ids,
            status=statuses,
            call_id=ids("call"),
            name=st.sampled_from(("get_weather", "search")),
            arguments=st.just("{}"),
        )
    if kind == "reasoning":
        return st.builds(ReasoningItem, id=item_ids, extra=st.just({"summary": []}))
    return st.builds(ToolCallItem, id=item_ids, type=st.just(kind), status=statuses)


def responses(
    *, statuses: str | Collection[str] | None = None, max_items: int = 3
) -> st.SearchStrategy[Response]:
    """Responses that break no rule: each status with what it carries, items to match.

    A finished response holds finished items (a failed or cancelled one may hold
    none); one in progress holds items in any state; a queued one holds none.
    """
    every = ("queued", "in_progress", *RESPONSE_ENDINGS, "cancelled")
    chosen = every if statuses is None else check_choices("statuses", statuses, every, many=True)
    check_bounds("items", 0, max_items)
    return st.sampled_from(chosen).flatmap(lambda status: _responses(status, max_items))


@st.composite
def _responses(draw: st.DrawFn, status: str, max_items: int) -> Response:
    created = draw(st.integers(_T0, _T0 + 10**6))
    response = Response(
        id=draw(ids("resp")),
        created_at=created,
        status=status,  # type: ignore[arg-type]
        background=draw(st.booleans()) if status != "queued" else True,
        extra={"model": "gpt-4o-mini", "service_tier": "default", "tools": []},
    )
    if status == "queued":
        return response
    ended = None if status == "in_progress" else True
    response.output = draw(st.lists(output_items(ended=ended), max_size=max_items))
    if status == "completed":
        response.completed_at = created + draw(st.integers(0, 600))
        response.usage = draw(response_usages())
    elif status == "incomplete":
        response.incomplete_details = IncompleteDetails(reason="max_output_tokens")
        response.usage = draw(response_usages())
    elif status == "failed":
        response.error = draw(response_errors())
    return response


# -- streams ---------------------------------------------------------------------------


@attrs.frozen
class _Shape:
    kinds: tuple[str, ...]
    max_items: int
    endings: tuple[str, ...]
    background: bool | None
    numbered: bool | None
    interleave: bool
    resumed: bool
    quirks: bool


def response_streams(
    *,
    max_items: int = 3,
    types: str | Collection[str] | None = None,
    endings: str | Collection[str] | None = None,
    background: bool | None = None,
    numbered: bool | None = True,
    interleave: bool = False,
    resumed: bool = False,
    quirks: bool = False,
) -> st.SearchStrategy[ResponseStream]:
    """Valid Responses streams of one response with 1 to `max_items` output items.

    `types` picks the item types (`ITEM_KINDS`), `endings` how the response ends
    (`RESPONSE_ENDINGS`; an incomplete one ends on an incomplete message, a failed
    one after an ``error`` event), `background` queued first (None: either),
    `numbered` with ``sequence_number`` (None: either; False imitates early 2025).
    `interleave` lets an item start before the previous one is done; `resumed` draws
    the capture of a resumed stream (it begins after some number, without
    ``response.created``); `quirks` adds what live captures carry (``obfuscation``
    on deltas, ``service_tier`` changing at the end).
    """
    check_bounds("items", 1, max_items, floor=1)
    kinds = ITEM_KINDS if types is None else check_choices("types", types, ITEM_KINDS, many=True)
    chosen = (
        RESPONSE_ENDINGS
        if endings is None
        else check_choices("endings", endings, RESPONSE_ENDINGS, many=True)
    )
    for name, value in (("interleave", interleave), ("resumed", resumed), ("quirks", quirks)):
        check_type(value, bool, name)
    for name, maybe in (("background", background), ("numbered", numbered)):
        if maybe is not None:
            check_type(maybe, bool, name)
    if "incomplete" in chosen and "message" not in kinds:
        chosen = tuple(e for e in chosen if e != "incomplete") or ("completed",)
    shape = _Shape(kinds, max_items, chosen, background, numbered, interleave, resumed, quirks)
    return _response_streams(shape)


def _snapshot(
    response_id: str, created: int, status: str, background: bool, shape: _Shape
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": "gpt-5-2025-08-07",
        "output": [],
        "parallel_tool_calls": True,
        "service_tier": "auto" if shape.quirks else "default",
        "tools": [],
        "usage": None,
        "metadata": {},
    }


def _pieces(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut into 1 to 3 deltas."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=2)))
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]]


def _item_events(
    draw: st.DrawFn, kind: str, index: int, last: bool, ending: str, shape: _Shape
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """The events of one item, from added to done (unnumbered), and its final snapshot."""
    item_id = f"{_PREFIX[kind]}_{index}{draw(st.sampled_from(('a', 'b', 'c')))}"
    at = {"item_id": item_id, "output_index": index}
    obfuscation = {"obfuscation": "x" * draw(st.integers(1, 12))} if shape.quirks else {}
    events: list[tuple[str, dict[str, Any]]] = []
    item: dict[str, Any] = {"id": item_id, "type": kind}
    if kind not in _STATUSLESS:
        item["status"] = "in_progress"
    final = copy.deepcopy(item)
    if kind == "message":
        text = draw(st.sampled_from(("Hello!", "The weather is fine.", "4")))
        item.update(content=[], role="assistant")
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        events.append(("response.content_part.added", {**at, "content_index": 0, "part": part}))
        for piece in _pieces(draw, text):
            delta = {**at, "content_index": 0, "delta": piece, "logprobs": [], **obfuscation}
            events.append(("response.output_text.delta", delta))
        events.append(
            ("response.output_text.done", {**at, "content_index": 0, "text": text, "logprobs": []})
        )
        done_part = {**part, "text": text}
        events.append(("response.content_part.done", {**at, "content_index": 0, "part": done_part}))
        status = "incomplete" if last and ending == "incomplete" else "completed"
        final.update(status=status, content=[done_part], role="assistant")
    elif kind in ("function_call", "custom_tool_call"):
        field, event = (
            ("arguments", "function_call_arguments")
            if kind == "function_call"
            else ("input", "custom_tool_call_input")
        )
        text = '{"city":"Paris"}'
        item.update({field: "", "call_id": f"call_{index}", "name": "get_weather"})
        for piece in _pieces(draw, text):
            events.append((f"response.{event}.delta", {**at, "delta": piece, **obfuscation}))
        events.append((f"response.{event}.done", {**at, field: text}))
        final.update({field: text, "call_id": f"call_{index}", "name": "get_weather"})
        final["status"] = "completed"
    elif kind == "reasoning":
        item["summary"] = []
        part = {"type": "summary_text", "text": ""}
        text = "Thinking about it."
        events.append(
            ("response.reasoning_summary_part.added", {**at, "summary_index": 0, "part": part})
        )
        for piece in _pieces(draw, text):
            events.append(
                (
                    "response.reasoning_summary_text.delta",
                    {**at, "summary_index": 0, "delta": piece, **obfuscation},
                )
            )
        events.append(
            ("response.reasoning_summary_text.done", {**at, "summary_index": 0, "text": text})
        )
        done_part = {**part, "text": text}
        events.append(
            ("response.reasoning_summary_part.done", {**at, "summary_index": 0, "part": done_part})
        )
        final["summary"] = [done_part]
    elif kind in ("web_search_call", "file_search_call"):
        events += [
            (f"response.{kind}.in_progress", dict(at)),
            (f"response.{kind}.searching", dict(at)),
            (f"response.{kind}.completed", dict(at)),
        ]
        final["status"] = "completed"
    elif kind == "code_interpreter_call":
        item.update(code="", container_id="cntr_1", outputs=None)
        code = "print(2 + 2)"
        events.append(("response.code_interpreter_call.in_progress", dict(at)))
        for piece in _pieces(draw, code):
            events.append(
                ("response.code_interpreter_call_code.delta", {**at, "delta": piece, **obfuscation})
            )
        events += [
            ("response.code_interpreter_call_code.done", {**at, "code": code}),
            ("response.code_interpreter_call.interpreting", dict(at)),
            ("response.code_interpreter_call.completed", dict(at)),
        ]
        final.update(status="completed", code=code, container_id="cntr_1", outputs=None)
    elif kind == "mcp_list_tools":
        item.update(server_label="deepwiki", tools=[])
        events += [
            ("response.mcp_list_tools.in_progress", dict(at)),
            ("response.mcp_list_tools.completed", dict(at)),
        ]
        final.update(server_label="deepwiki", tools=[{"name": "ask_question"}])
    elif kind == "mcp_call":
        item.update(server_label="deepwiki", name="ask_question", arguments="")
        events.append(("response.mcp_call.in_progress", dict(at)))
        events.append(("response.mcp_call_arguments.delta", {**at, "delta": "{}", **obfuscation}))
        events.append(("response.mcp_call_arguments.done", {**at, "arguments": "{}"}))
        events.append(("response.mcp_call.completed", dict(at)))
        final.update(server_label="deepwiki", name="ask_question", arguments="{}", output="ok")
    added = ("response.output_item.added", {"output_index": index, "item": item})
    done = ("response.output_item.done", {"output_index": index, "item": final})
    return [added, *events, done], final


def _merged(
    draw: st.DrawFn, lanes: list[list[tuple[str, dict[str, Any]]]], interleave: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The lanes' events in one order that keeps each lane's and adds items by index."""
    if not interleave:
        return [event for lane in lanes for event in lane]
    merged: list[tuple[str, dict[str, Any]]] = []
    positions = [0] * len(lanes)
    started = 0
    while True:
        open_lanes = [i for i in range(started) if positions[i] < len(lanes[i])]
        choices = open_lanes + ([started] if started < len(lanes) else [])
        if not choices:
            return merged
        lane = draw(st.sampled_from(choices))
        if lane == started:
            started += 1
        merged.append(lanes[lane][positions[lane]])
        positions[lane] += 1


@st.composite
def _response_streams(draw: st.DrawFn, shape: _Shape) -> ResponseStream:
    count = draw(st.integers(1, shape.max_items))
    kinds = [draw(st.sampled_from(shape.kinds)) for _ in range(count)]
    ending = draw(st.sampled_from(shape.endings))
    if ending == "incomplete":
        kinds[-1] = "message"  # a response cut at its token limit ends on its message
    background = draw(st.booleans()) if shape.background is None else shape.background
    numbered = draw(st.booleans()) if shape.numbered is None else shape.numbered
    response_id = f"resp_{draw(st.integers(0, 10**6)):07d}"
    created = draw(st.integers(_T0, _T0 + 10**6))
    first = "queued" if background else "in_progress"
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "response.created",
            {"response": _snapshot(response_id, created, first, background, shape)},
        )
    ]
    if background:
        queued = _snapshot(response_id, created, "queued", background, shape)
        events.append(("response.queued", {"response": queued}))
    running = _snapshot(response_id, created, "in_progress", background, shape)
    events.append(("response.in_progress", {"response": running}))
    lanes = []
    finals = []
    for index, kind in enumerate(kinds):
        lane, final = _item_events(draw, kind, index, index == count - 1, ending, shape)
        lanes.append(lane)
        finals.append(final)
    events += _merged(draw, lanes, shape.interleave)
    end = _snapshot(response_id, created, ending, background, shape)
    end["output"] = finals
    end["service_tier"] = "default"
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 42,
    }
    if ending == "completed":
        end.update(completed_at=created + draw(st.integers(0, 30)), usage=usage)
    elif ending == "incomplete":
        end.update(incomplete_details={"reason": "max_output_tokens"}, usage=usage)
    else:
        error = {"code": "server_error", "message": "The server had an error."}
        events.append(("error", {"error": {**error, "type": "server_error", "param": None}}))
        end["error"] = error
    events.append((f"response.{ending}", {"response": end}))
    stream = [
        {
            "event": name,
            "data": {"type": name, **({"sequence_number": i} if numbered else {}), **data},
        }
        for i, (name, data) in enumerate(events)
    ]
    if shape.resumed:
        # The capture of a resumption: it begins after some number it was asked for.
        start = draw(st.integers(1, len(stream) - 1))
        stream = stream[start:]
    return stream


# -- rendering and replay ----------------------------------------------------------------


def to_response_jsonl_lines(
    events: Iterable[Mapping[str, Any]], *, bare: bool = False
) -> list[bytes]:
    """Each event as one JSONL line: ``{"event", "data"}``, or the bare typed event."""
    return [orjson.dumps(event["data"] if bare else dict(event)) + b"\n" for event in events]


def to_response_sse(events: Iterable[Mapping[str, Any]], *, event_lines: bool = True) -> bytes:
    """The stream as SSE text, with an ``event:`` line per event (as OpenAI sends it) or not."""
    parts = []
    for event in events:
        if event_lines:
            parts.append(f"event: {event['event']}\n".encode())
        parts.append(b"data: " + orjson.dumps(event["data"]) + b"\n\n")
    return b"".join(parts)


def replay_responses(
    events: Iterable[Mapping[str, Any]],
    *,
    tracker: ResponseTracker | None = None,
    finish: bool = True,
) -> ResponseTracker:
    """Feed every event to `tracker` (a fresh one when None), numbered from 1; then finish."""
    tracker = ResponseTracker() if tracker is None else tracker
    for index, event in enumerate(events, 1):
        tracker.feed(event["event"], event["data"], line=index, index=index)
    if finish:
        tracker.finish()
    return tracker


def replay_response_lines(
    lines: Iterable[bytes],
    *,
    tracker: ResponseTracker | None = None,
    finish: bool = True,
) -> ResponseTracker:
    """Like `replay_responses`, from JSONL lines read as a file would be (bad lines included)."""
    tracker = ResponseTracker() if tracker is None else tracker
    feed_response_jsonl(lines, None, tracker.feed_at, tracker.feed_event)
    if finish:
        tracker.finish()
    return tracker


def unknown_items() -> st.SearchStrategy[UnknownItem]:
    """Items of undocumented types (an open set): they load, with ``unknown-value``."""
    return st.builds(UnknownItem, id=ids("x"), type=st.sampled_from(("hologram", "telepathy_call")))
