"""Responses streams: the events the API sends, how to read them, how to tell them apart.

Every event the openai SDK's ``ResponseStreamEvent`` union holds is in `EVENTS`, with
what it is to the lifecycle (a test checks the table against the SDK):

- the response's own events carry the whole response (``response.created``, ...,
  ``response.completed``); ``response.cancelled`` is not documented, but a response
  can end cancelled, so a server that sends it is read that way;
- ``response.output_item.added`` and ``.done`` open and close an output item;
- a tool item's status events (``response.web_search_call.searching``) move its status;
- every other item event (deltas, parts, ``*.done`` of a part) belongs to the item at
  its ``output_index``, of the item types the table names;
- ``error`` reports a failure (a ``response.failed`` follows it in real streams);
- a few events name no item (audio).

A Responses stream is SSE as the API sends it (with an ``event:`` line equal to
``data.type``, or, from other servers, ``data:`` lines alone, a ``[DONE]`` last) or
JSONL, each line ``{"event": NAME, "data": {...}}`` or the bare typed event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Literal, NamedTuple, TypeAlias

import orjson

from steplife._events import (
    _NO_BLANK_LINE,
    _SSE_IGNORED,
    Event,
    _decode,
    _sse_lines,
    _undecodable,
)
from steplife.errors import InputError

__all__ = [
    "EVENTS",
    "Kind",
    "Spec",
    "detect_api",
    "feed_response_jsonl",
    "feed_response_sse",
]

Kind: TypeAlias = Literal["response", "added", "done", "status", "item", "error", "other"]


class Spec(NamedTuple):
    """What one event name is to the lifecycle."""

    kind: Kind
    status: str | None = None
    """For a response event, the status it claims; for a status event, the one it moves to."""
    types: frozenset[str] = frozenset()
    """For an item event, the item types that send it (empty: any)."""


def _status_events(item_type: str, *statuses: str) -> dict[str, Spec]:
    types = frozenset((item_type,))
    return {f"response.{item_type}.{s}": Spec("status", s, types) for s in statuses}


def _item_events(types: Iterable[str], *names: str) -> dict[str, Spec]:
    allowed = frozenset(types)
    return {f"response.{name}": Spec("item", None, allowed) for name in names}


_MESSAGE: Final = ("message",)
EVENTS: Final[Mapping[str, Spec]] = {
    "response.created": Spec("response", "created"),
    "response.queued": Spec("response", "queued"),
    "response.in_progress": Spec("response", "in_progress"),
    "response.completed": Spec("response", "completed"),
    "response.failed": Spec("response", "failed"),
    "response.incomplete": Spec("response", "incomplete"),
    "response.cancelled": Spec("response", "cancelled"),
    "response.output_item.added": Spec("added"),
    "response.output_item.done": Spec("done"),
    "error": Spec("error"),
    **_status_events("web_search_call", "in_progress", "searching", "completed"),
    **_status_events("file_search_call", "in_progress", "searching", "completed"),
    **_status_events("code_interpreter_call", "in_progress", "interpreting", "completed"),
    **_status_events("image_generation_call", "in_progress", "generating", "completed"),
    **_status_events("mcp_call", "in_progress", "completed", "failed"),
    **_status_events("mcp_list_tools", "in_progress", "completed", "failed"),
    # A third-party server (OpenRouter) sends content parts on a reasoning item too.
    **_item_events(("message", "reasoning"), "content_part.added", "content_part.done"),
    **_item_events(
        _MESSAGE,
        "output_text.delta",
        "output_text.done",
        "output_text.annotation.added",
        "refusal.delta",
        "refusal.done",
    ),
    **_item_events(
        ("reasoning",),
        "reasoning_summary_part.added",
        "reasoning_summary_part.done",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_text.delta",
        "reasoning_text.done",
    ),
    **_item_events(
        ("function_call",), "function_call_arguments.delta", "function_call_arguments.done"
    ),
    **_item_events(
        ("custom_tool_call",), "custom_tool_call_input.delta", "custom_tool_call_input.done"
    ),
    **_item_events(
        ("code_interpreter_call",),
        "code_interpreter_call_code.delta",
        "code_interpreter_call_code.done",
    ),
    **_item_events(("mcp_call",), "mcp_call_arguments.delta", "mcp_call_arguments.done"),
    **_item_events(("image_generation_call",), "image_generation_call.partial_image"),
    **_item_events(("compaction",), "compaction.compacting"),
    **_item_events(
        ("shell_call", "shell_call_output"),
        "shell_call_command.added",
        "shell_call_command.delta",
        "shell_call_command.done",
        "shell_call_output_content.delta",
        "shell_call_output_content.done",
    ),
    "response.audio.delta": Spec("other"),
    "response.audio.done": Spec("other"),
    "response.audio.transcript.delta": Spec("other"),
    "response.audio.transcript.done": Spec("other"),
}
"""Every event name of the Responses API -> what it is to the lifecycle."""

Where: TypeAlias = tuple[str | None, int, int]
Feed: TypeAlias = Callable[[str, Any, Where], object]


def feed_response_jsonl(
    stream: Iterable[bytes], file: str | None, feed: Feed, feed_event: Callable[[Event], object]
) -> None:
    """Read JSONL events and hand each to `feed` (a line that cannot be read to `feed_event`).

    A line is ``{"event": NAME, "data": {...}}`` or the bare event, named by its
    ``type`` (an empty name: the tracker takes ``data.type``).
    """
    index = 0
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, raw in enumerate(stream, 1):
        try:
            value = loads(raw)
        except decode_error as exc:
            if raw.strip():
                index += 1
                feed_event(_undecodable(raw, exc, file, number, index))
            continue
        index += 1
        if type(value) is dict:
            name = value.get("event")
            if type(name) is str and "data" in value:
                feed(name, value["data"], (file, number, index))
                continue
            if "event" not in value and type(value.get("type")) is str:
                feed("", value, (file, number, index))
                continue
        error = (
            'the line is neither {"event": NAME, "data": {...}} nor a typed event '
            '{"type": NAME, ...}'
        )
        feed_event(Event(None, None, file, number, index, error))


def feed_response_sse(
    stream: Iterable[bytes], file: str | None, feed: Feed, feed_event: Callable[[Event], object]
) -> None:
    """Read SSE events and hand each to `feed` (one that cannot be read to `feed_event`).

    As `steplife._events.read_sse` reads SSE (lines end with LF, CRLF or CR; ``data:``
    may span lines; comments, ``id:`` and ``retry:`` are skipped; a new ``event:``
    after data ends an event that lacks its blank line, noted once), except that an
    event needs no ``event:`` line: it is named by its data's ``type``.
    """
    index = 0
    name: str | None = None
    data: list[bytes] = []
    start = strays = 0
    repaired = False
    for number, raw in enumerate(_sse_lines(stream), 1):
        line = raw.rstrip(b"\r\n")
        if not line or (line.startswith(b"event:") and (name is not None or data)):
            if name is not None or data:
                index += 1
                note = None
                if line and not repaired:  # noted once: a capture that does it, does it always
                    repaired = True
                    note = _NO_BLANK_LINE.format(number)
                _emit(name, data, file, start, index, note, feed, feed_event)
                name, data = None, []
            if not line:
                continue
        if name is None and not data:
            start = number
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
        elif field not in _SSE_IGNORED:
            strays += 1
    if name is not None or data:
        index += 1
        _emit(name, data, file, start, index, None, feed, feed_event)
    elif not index and strays:
        raise InputError(
            f"{file or 'input'}: no SSE event in {strays} lines that are not SSE fields "
            "(is it JSONL? see --format)"
        )


def _emit(
    name: str | None,
    data: list[bytes],
    file: str | None,
    line: int,
    index: int,
    note: str | None,
    feed: Feed,
    feed_event: Callable[[Event], object],
) -> None:
    raw = data[0] if len(data) == 1 else b"\n".join(data)
    if not data:
        event = Event(name, None, file, line, index, "an event with no data: line")
    elif raw == b"[DONE]":
        event = Event(name, "[DONE]", file, line, index)
    else:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value, error = _decode(raw)
            event = Event(name, value, file, line, index, error)
        else:
            if note is None:
                feed(name or "", value, (file, line, index))
                return
            event = Event(name, value, file, line, index)
    feed_event(event._replace(note=note) if note is not None else event)


_PEEK: Final = 64
"""How many lines `detect_api` reads at most before it gives up and says ``assistants``."""


def detect_api(
    lines: Iterator[bytes],
) -> tuple[Iterator[bytes], Literal["assistants", "responses"]]:
    """`lines` (unread) and the API their stream speaks, from its first event.

    A Responses stream's first event is named ``response.*`` (or ``error``) by an
    ``event:`` line, by the ``type`` of its first ``data:`` line, or by the ``event``
    or ``type`` of its first JSONL line. Anything else is taken for an Assistants
    stream, whose reader then says what is wrong with it.
    """
    head: list[bytes] = []
    verdict: Literal["assistants", "responses"] = "assistants"
    for line in lines:
        head.append(line)
        found = _speaks(line.strip())
        if found is not None:
            verdict = found
            break
        if len(head) >= _PEEK:
            break
    return _chain(head, lines), verdict


def _chain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from head
    yield from rest


def _speaks(line: bytes) -> Literal["assistants", "responses"] | None:
    """The API a stream's line names, or None when the line names none (blank, comment)."""
    if not line or line.startswith(b":"):
        return None
    if line.startswith(b"event:"):
        return _api_of(line[6:].strip().decode("utf-8", "replace"))
    if line.startswith(b"data:"):
        line = line[5:].strip()
    elif not line.startswith(b"{"):
        return "assistants" if not line.startswith((b"id:", b"retry:")) else None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "assistants"
    if type(value) is not dict:
        return "assistants"
    name = value.get("event", value.get("type"))
    return _api_of(name) if type(name) is str else "assistants"


def _api_of(name: str) -> Literal["assistants", "responses"]:
    return "responses" if name.startswith("response.") or name == "error" else "assistants"
