"""Small hand-written streams for the stream tests: one step's events, and ways to play them.

A stream event is a ``(name, data)`` pair, exactly what `steplife.Tracker.feed` takes.
`created`, `in_progress`, the terminal makers and `delta` build the events of one step
as the API sends them; `jsonl` and `sse` encode a list of them as a capture would hold
it; `replay` reads such a capture back through the real reader into a `Tracker`, so a
finding's ``line`` and ``event_index`` are both the 1-based position of its event.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, TypeAlias

import orjson

from steplife._events import read_jsonl
from steplife._findings import Finding, Severity
from steplife._tracker import Tracker

StreamEvent: TypeAlias = tuple[str, Any]
"""One event of a stream: its name and its decoded JSON data."""

FindingKey: TypeAlias = tuple[str, Severity, int | None, str | None]
"""What the tests compare of a finding: rule, severity, line, step id."""

REPO: Final = Path(__file__).resolve().parents[1]
EXAMPLES: Final = REPO / "examples"
"""The hand-written example captures (see examples/README.md)."""
VALID_EXAMPLES: Final = tuple(
    EXAMPLES / name
    for name in ("message-step.sse", "function-call.sse", "failed-step.jsonl", "expired-run.jsonl")
)
BROKEN_EXAMPLE: Final = EXAMPLES / "broken.jsonl"

STEP_ID: Final = "step_1"
RUN_ID: Final = "run_1"
THREAD_ID: Final = "thread_1"
ASSISTANT_ID: Final = "asst_1"
CREATED: Final = 1_700_000_000
"""``created_at`` of every step built here, unless told otherwise."""
FINISHED: Final = CREATED + 5
"""The terminal stamp the terminal makers use by default."""

USAGE: Final[dict[str, int]] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
SERVER_ERROR: Final[dict[str, str]] = {"code": "server_error", "message": "boom"}
DONE: Final[StreamEvent] = ("done", "[DONE]")
"""The event that ends every HTTP stream."""

STAMP_OF: Final[dict[str, str]] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
TERMINAL_STATUSES: Final = tuple(STAMP_OF)


# -- step_details ---------------------------------------------------------------------


def message_details(message_id: str = "msg_1") -> dict[str, Any]:
    """``step_details`` of a message_creation step."""
    return {"type": "message_creation", "message_creation": {"message_id": message_id}}


def tool_details(*calls: dict[str, Any]) -> dict[str, Any]:
    """``step_details`` of a tool_calls step holding `calls`."""
    return {"type": "tool_calls", "tool_calls": list(calls)}


def function_call(
    call_id: str = "call_1", name: str = "f", arguments: str = "{}", output: str | None = None
) -> dict[str, Any]:
    """A complete function tool call as a snapshot carries it."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments, "output": output},
    }


def code_call(call_id: str = "call_1", code: str = "", logs: str | None = None) -> dict[str, Any]:
    """A complete code_interpreter tool call, with one logs output when `logs` is given."""
    outputs = [] if logs is None else [{"type": "logs", "logs": logs}]
    return {
        "id": call_id,
        "type": "code_interpreter",
        "code_interpreter": {"input": code, "outputs": outputs},
    }


# -- snapshots and the events that carry them -----------------------------------------


def snapshot(
    step_id: str = STEP_ID,
    *,
    status: str = "in_progress",
    details: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A full run-step JSON object in the spec's form, then `changes` on top.

    The step's ``type`` follows `details` (a message_creation step by default).
    """
    details = message_details() if details is None else details
    payload: dict[str, Any] = {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": CREATED,
        "run_id": RUN_ID,
        "assistant_id": ASSISTANT_ID,
        "thread_id": THREAD_ID,
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
    payload.update(changes)
    return payload


def created(step_id: str = STEP_ID, **changes: Any) -> StreamEvent:
    """``thread.run.step.created`` for a fresh in_progress step."""
    return "thread.run.step.created", snapshot(step_id, **changes)


def in_progress(step_id: str = STEP_ID, **changes: Any) -> StreamEvent:
    """``thread.run.step.in_progress`` for the step."""
    return "thread.run.step.in_progress", snapshot(step_id, **changes)


def terminal(
    status: str, step_id: str = STEP_ID, *, at: int = FINISHED, **changes: Any
) -> StreamEvent:
    """The terminal event of `status`, stamped `at`, with what a clean one carries.

    A completed step carries `USAGE`, a failed one `SERVER_ERROR`; `changes` win.
    """
    fields: dict[str, Any] = {"status": status, STAMP_OF[status]: at}
    if status == "completed":
        fields["usage"] = USAGE
    if status == "failed":
        fields["last_error"] = SERVER_ERROR
    return f"thread.run.step.{status}", snapshot(step_id, **{**fields, **changes})


def completed(step_id: str = STEP_ID, **changes: Any) -> StreamEvent:
    """``thread.run.step.completed`` with usage, stamped `FINISHED`."""
    return terminal("completed", step_id, **changes)


def failed(step_id: str = STEP_ID, **changes: Any) -> StreamEvent:
    """``thread.run.step.failed`` with a server_error, stamped `FINISHED`."""
    return terminal("failed", step_id, **changes)


def lifecycle(
    step_id: str = STEP_ID, *, status: str = "completed", **changes: Any
) -> list[StreamEvent]:
    """A clean created / in_progress / terminal sequence; `changes` apply to all three."""
    return [
        created(step_id, **changes),
        in_progress(step_id, **changes),
        terminal(status, step_id, **changes),
    ]


# -- deltas -------------------------------------------------------------------------


def delta(step_id: str = STEP_ID, details: Any = None, **extra: Any) -> StreamEvent:
    """``thread.run.step.delta`` whose ``delta.step_details`` is `details` (absent if None)."""
    body: dict[str, Any] = {} if details is None else {"step_details": details}
    data = {"id": step_id, "object": "thread.run.step.delta", "delta": body, **extra}
    return "thread.run.step.delta", data


def tool_calls_delta(step_id: str = STEP_ID, *fragments: dict[str, Any]) -> StreamEvent:
    """A delta carrying tool-call `fragments` (each with its ``index``)."""
    return delta(step_id, {"type": "tool_calls", "tool_calls": list(fragments)})


def function_fragment(
    index: int,
    *,
    call_id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    """A function ToolCallDelta; the first fragment of a call carries `call_id` and `name`."""
    fragment: dict[str, Any] = {"index": index, "type": "function"}
    if call_id is not None:
        fragment["id"] = call_id
    body: dict[str, Any] = {}
    if name is not None:
        body.update(name=name, arguments="", output=None)
    if arguments is not None:
        body["arguments"] = arguments
    fragment["function"] = body
    return fragment


def code_fragment(
    index: int, *, call_id: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """A code_interpreter ToolCallDelta; the first fragment of a call carries `call_id`."""
    fragment: dict[str, Any] = {"index": index, "type": "code_interpreter"}
    body: dict[str, Any] = {}
    if call_id is not None:
        fragment["id"] = call_id
        body.update(input="", outputs=[])
    if code is not None:
        body["input"] = code
    fragment["code_interpreter"] = body
    return fragment


# -- other events ---------------------------------------------------------------------


RUN_ENDED: Final = FINISHED + 10
"""When `run_event` ends a run: after every step of these tests has ended."""
_RUN_END_STAMPS: Final = {
    "cancelled": "cancelled_at",
    "failed": "failed_at",
    "completed": "completed_at",
}


def run_object(status: str = "queued", run_id: str = RUN_ID, **changes: Any) -> dict[str, Any]:
    """A clean ``thread.run`` object of `status`, as the API sends it, then `changes`.

    It carries what a run of that status carries (``started_at`` once started, its
    end stamp, ``required_action`` for one function call while it waits, usage once
    ended) and some of the run's other fields, which steplife reads past.
    """
    data: dict[str, Any] = {
        "id": run_id,
        "object": "thread.run",
        "created_at": CREATED - 2,
        "assistant_id": ASSISTANT_ID,
        "thread_id": THREAD_ID,
        "status": status,
        "started_at": None if status == "queued" else CREATED - 1,
        "expires_at": CREATED + 600,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "required_action": None,
        "last_error": None,
        "model": "gpt-4o",
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
        "incomplete_details": None,
        "usage": None,
    }
    if status in _RUN_END_STAMPS:
        data[_RUN_END_STAMPS[status]] = RUN_ENDED
    if status in ("cancelled", "failed", "completed", "incomplete", "expired"):
        data["usage"] = USAGE
    if status == "requires_action":
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        data["required_action"] = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": [call]},
        }
    if status == "failed":
        data["last_error"] = SERVER_ERROR
    if status == "incomplete":
        data["incomplete_details"] = {"reason": "max_completion_tokens"}
    data.update(changes)
    return data


def run_event(kind: str = "completed", run_id: str = RUN_ID, **changes: Any) -> StreamEvent:
    """A clean ``thread.run.<kind>`` event (``created`` carries a queued run)."""
    status = "queued" if kind == "created" else kind
    return f"thread.run.{kind}", run_object(status, run_id, **changes)


def run_start(run_id: str = RUN_ID) -> list[StreamEvent]:
    """How a stream opens a run: created, queued, in_progress (steps may start then)."""
    return [run_event(kind, run_id) for kind in ("created", "queued", "in_progress")]


# -- encoding and replaying -----------------------------------------------------------


def jsonl(events: Iterable[StreamEvent]) -> bytes:
    """`events` as a JSONL capture: one ``{"event", "data"}`` object per line."""
    return b"".join(orjson.dumps({"event": name, "data": data}) + b"\n" for name, data in events)


def sse(events: Iterable[StreamEvent]) -> bytes:
    """`events` as server-sent events, as the API writes them."""
    chunks = []
    for name, data in events:
        body = data.encode() if isinstance(data, str) else orjson.dumps(data)
        chunks.append(b"event: " + name.encode() + b"\ndata: " + body + b"\n\n")
    return b"".join(chunks)


def replay(events: Iterable[StreamEvent], *, finish: bool = True, **options: Any) -> Tracker:
    """A Tracker (built with `options`) that read `events` as a JSONL capture.

    The line and the event index of each event are its 1-based position in `events`.
    `finish` calls `Tracker.finish` at the end, as the end of an input does.
    """
    tracker = Tracker(**options)
    tracker.consume(read_jsonl(io.BytesIO(jsonl(events)), "stream.jsonl"))
    if finish:
        tracker.finish()
    return tracker


def keys(findings: Iterable[Finding]) -> list[FindingKey]:
    """The comparable part of each finding: rule, severity, line, step id."""
    return [(f.rule, f.severity, f.line, f.step_id) for f in findings]
