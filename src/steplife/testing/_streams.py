"""Valid event streams, as the API sends them, and the helpers to render and replay them.

A stream is a list of events, each a dict ``{"event": NAME, "data": ...}`` exactly
as a JSONL capture holds it: ``data`` is the JSON payload (a run, step, delta or
message object), or the text ``[DONE]`` for the ``done`` event that ends each HTTP
stream. Streams are built from a handful of small choices (how many steps, their
types and outcomes, where text is split into deltas, how lanes interleave), each
of which shrinks towards the simplest stream: one run, one step, no deltas, no
interleaving.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import attrs
from hypothesis import strategies as st

from steplife import RunStep, Tracker, read_events, to_dict
from steplife.model import (
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchToolCall,
    Function,
    FunctionToolCall,
    LastError,
    MessageCreation,
    MessageCreationDetails,
    Metadata,
    StepDetails,
    StepType,
    ToolCall,
    ToolCallsDetails,
    Usage,
)
from steplife.testing._strategies import (
    INCOMPLETE_REASONS,
    RUN_ENDINGS,
    RUN_STAMP_OF,
    RUN_TTL,
    STAMP_OF,
    STEP_TYPES,
    TERMINAL_STATUSES,
    check_bounds,
    check_choices,
    check_type,
    last_errors,
    metadatas,
    tool_calls,
    usages,
)

__all__ = [
    "EventStream",
    "event_streams",
    "replay",
    "replay_lines",
    "to_jsonl",
    "to_jsonl_lines",
    "to_sse",
]

EventStream: TypeAlias = list[dict[str, Any]]
"""A stream: events ``{"event": NAME, "data": ...}`` in the order they arrive."""

STEP_EVENT: Final = "thread.run.step."
DONE: Final = "[DONE]"
_T0: Final = 1_700_000_000
RUN_EVENT: Final = "thread.run."
# Built once: making a strategy costs far more than drawing from it.
_TOOL_CALL_LISTS: Final = st.lists(tool_calls(output=True), min_size=1, max_size=3)
_METADATA: Final = st.none() | metadatas()
_USAGES: Final = usages()
_LAST_ERRORS: Final = last_errors()
_INCOMPLETE_REASON: Final = {
    "failed": "run_failed",
    "cancelled": "run_cancelled",
    "expired": "run_expired",
}


# -- rendering and replay ----------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_jsonl_lines(events: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Each event as one compact JSON line (UTF-8, ending in a newline)."""
    return [(_json(dict(event)) + "\n").encode() for event in events]


def to_jsonl(events: Iterable[Mapping[str, Any]]) -> bytes:
    """The stream as JSONL bytes: one ``{"event", "data"}`` object per line."""
    return b"".join(to_jsonl_lines(events))


def to_sse(events: Iterable[Mapping[str, Any]]) -> str:
    """The stream as server-sent-event text: ``event:``, ``data:``, a blank line each."""
    parts = []
    for event in events:
        data = event["data"]
        text = data if event["event"] == "done" and data == DONE else _json(data)
        parts.append(f"event: {event['event']}\ndata: {text}\n\n")
    return "".join(parts)


def replay(
    events: Iterable[Mapping[str, Any]],
    *,
    tracker: Tracker | None = None,
    finish: bool = True,
) -> Tracker:
    """Feed every event to `tracker` (a fresh default one when None) and return it.

    Events are numbered from 1 like a reader numbers them (also as their line).
    With `finish` (the default) the tracker is told the input ended, so steps left
    in progress are reported as ``dangling-step``.
    """
    tracker = Tracker() if tracker is None else tracker
    for index, event in enumerate(events, 1):
        tracker.feed(event["event"], event["data"], line=index, index=index)
    if finish:
        tracker.finish()
    return tracker


def replay_lines(
    lines: Iterable[bytes],
    *,
    tracker: Tracker | None = None,
    finish: bool = True,
) -> Tracker:
    """Like `replay`, from JSONL lines read as a file would be (bad lines included)."""
    tracker = Tracker() if tracker is None else tracker
    tracker.consume(read_events(io.BytesIO(b"".join(lines)), None, "jsonl"))
    if finish:
        tracker.finish()
    return tracker


# -- the plan of a stream ----------------------------------------------------------


@attrs.define
class _Config:
    min_steps: int
    max_steps: int
    min_runs: int
    max_runs: int
    types: tuple[StepType, ...]
    statuses: tuple[str, ...]
    interleave: bool
    dangling: bool
    run_statuses: tuple[str, ...]
    endings: st.SearchStrategy[_Ending]
    deltas: bool
    run_events: bool
    quirks: bool | None


@attrs.define
class _Run:
    id: str
    thread_id: str
    assistant_id: str
    created_at: int
    quirks: bool

    @property
    def expires_at(self) -> int:
        return self.created_at + RUN_TTL


@attrs.define
class _Call:
    """A tool call as it ends, and how much of it the deltas streamed so far."""

    final: ToolCall
    introduced: bool = False
    text: int = 0  # characters of function arguments / code input streamed
    outputs: int = 0  # code-interpreter outputs streamed


@attrs.define
class _Step:
    id: str
    run: _Run
    type: StepType
    status: str | None  # None: left dangling
    created_at: int
    ended_at: int
    message_id: str | None
    calls: list[_Call]
    metadata: Metadata | None
    usage: Usage | None
    last_error: LastError | None
    streamed: bool
    pause: bool = False

    def details(self, *, final: bool) -> StepDetails:
        """The step details as a snapshot shows them now (or at the end, when `final`)."""
        if self.message_id is not None:
            return MessageCreationDetails(
                message_creation=MessageCreation(message_id=self.message_id)
            )
        shown = [
            _render(call, streamed=self.streamed, final=final, completed=self.status == "completed")
            for call in self.calls
            if call.introduced or not self.streamed
        ]
        return ToolCallsDetails(tool_calls=shown)

    def snapshot(self, status: str, *, final: bool) -> dict[str, Any]:
        """The step as the API sends it in an event, with `status`."""
        fields: dict[str, Any] = {}
        if status != "in_progress":
            fields[STAMP_OF[status]] = self.ended_at
            fields["usage"] = self.usage
            fields["last_error"] = self.last_error
        step = RunStep(
            id=self.id,
            created_at=self.created_at,
            run_id=self.run.id,
            assistant_id=self.run.assistant_id,
            thread_id=self.run.thread_id,
            type=self.type,
            status=status,  # type: ignore[arg-type]  # one of the five, by construction
            step_details=self.details(final=final),
            metadata=self.metadata,
            **fields,
        )
        data = to_dict(step)
        return _with_quirks(data, self.run) if self.run.quirks else data


def _render(call: _Call, *, streamed: bool, final: bool, completed: bool) -> ToolCall:
    """`call` as a snapshot shows it.

    When `streamed`, what the deltas carried so far; else the whole call (with its
    outputs only in the `final` snapshot).
    """
    if isinstance(call.final, FunctionToolCall):
        body = call.final.function
        arguments = body.arguments[: call.text] if streamed else body.arguments
        # The output exists once the tool outputs were submitted: only completed
        # steps show it, and deltas never carry it.
        output = body.output if final and completed else None
        function = Function(name=body.name, arguments=arguments, output=output)
        return FunctionToolCall(id=call.final.id, function=function)
    if isinstance(call.final, CodeInterpreterToolCall):
        code = call.final.code_interpreter
        text = code.input[: call.text] if streamed else code.input
        outputs = code.outputs[: call.outputs] if streamed else (code.outputs if final else [])
        body_ci = CodeInterpreter(input=text, outputs=list(outputs))
        return CodeInterpreterToolCall(id=call.final.id, code_interpreter=body_ci)
    # Deltas never carry file-search results: they appear with the final snapshot.
    return call.final if final else FileSearchToolCall(id=call.final.id, file_search=FileSearch())


def _with_quirks(data: dict[str, Any], run: _Run) -> dict[str, Any]:
    """A snapshot as real streams send it.

    ``expires_at`` (the run's deadline) beside or instead of ``expired_at``, no
    ``metadata`` key, and usage with token details.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "expired_at":
            out["expires_at"] = run.expires_at
            if value is not None:
                out["expired_at"] = value
        elif key == "usage" and value is not None:
            out["usage"] = {
                **value,
                "prompt_token_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            }
        elif key != "metadata":
            out[key] = value
    return out


def _event(name: str, data: Any) -> dict[str, Any]:
    return {"event": name, "data": data}


def _delta(step_id: str, details: dict[str, Any]) -> dict[str, Any]:
    data = {"id": step_id, "object": "thread.run.step.delta", "delta": {"step_details": details}}
    return _event("thread.run.step.delta", data)


def _call_delta(step_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return _delta(step_id, {"type": "tool_calls", "tool_calls": [entry]})


def _pieces(draw: st.DrawFn, text: str) -> list[str]:
    """`text` split at a few drawn points; shrinks to one piece (none for empty text)."""
    if len(text) <= 1:
        return [text] if text else []
    cuts = draw(st.lists(st.integers(1, len(text) - 1), unique=True, max_size=6))
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _operations(draw: st.DrawFn, step: _Step) -> list[Callable[[], dict[str, Any]]]:
    """The delta events of a streamed tool step, each emitted by calling it.

    Calling an operation moves the step's streamed state on, so a snapshot taken
    after a prefix of them shows exactly what those deltas carried.
    """
    ops: list[Callable[[], dict[str, Any]]] = []
    for index, call in enumerate(step.calls):
        ops.append(_intro(step.id, index, call))
        final = call.final
        if isinstance(final, FunctionToolCall | CodeInterpreterToolCall):
            text = (
                final.function.arguments
                if isinstance(final, FunctionToolCall)
                else final.code_interpreter.input
            )
            ops.extend(_text_op(step.id, index, call, piece) for piece in _pieces(draw, text))
        if isinstance(final, CodeInterpreterToolCall):
            ops.extend(
                _output_op(step.id, index, call, j, output)
                for j, output in enumerate(final.code_interpreter.outputs)
            )
    return ops


def _intro(step_id: str, index: int, call: _Call) -> Callable[[], dict[str, Any]]:
    final = call.final
    entry: dict[str, Any] = {"index": index, "id": final.id, "type": final.type}
    if isinstance(final, FunctionToolCall):
        entry["function"] = {"name": final.function.name, "arguments": "", "output": None}
    elif isinstance(final, CodeInterpreterToolCall):
        entry["code_interpreter"] = {"input": "", "outputs": []}
    else:
        entry["file_search"] = {}

    def emit() -> dict[str, Any]:
        call.introduced = True
        return _call_delta(step_id, entry)

    return emit


def _text_op(step_id: str, index: int, call: _Call, piece: str) -> Callable[[], dict[str, Any]]:
    kind = call.final.type
    key = "arguments" if kind == "function" else "input"

    def emit() -> dict[str, Any]:
        call.text += len(piece)
        return _call_delta(step_id, {"index": index, "type": kind, kind: {key: piece}})

    return emit


def _output_op(
    step_id: str,
    index: int,
    call: _Call,
    j: int,
    output: CodeInterpreterLogs | CodeInterpreterImage,
) -> Callable[[], dict[str, Any]]:
    if isinstance(output, CodeInterpreterLogs):
        body: dict[str, Any] = {"index": j, "type": "logs", "logs": output.logs}
    else:
        body = {"index": j, "type": "image", "image": {"file_id": output.image.file_id}}

    def emit() -> dict[str, Any]:
        call.outputs += 1
        entry = {
            "index": index,
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [body]},
        }
        return _call_delta(step_id, entry)

    return emit


# -- runs, messages and the framing events ----------------------------------------

_RUN_STAMPS: Final = tuple(
    (status, RUN_STAMP_OF[status]) for status in ("cancelled", "failed", "completed")
)


def _run_object(run: _Run, status: str, at: int, steps: Sequence[_Step], **changes: Any) -> Any:
    """A ``thread.run`` object as the API sends it in a run event."""
    tools: dict[str, dict[str, Any]] = {}
    for step in steps:
        for call in step.calls:
            final = call.final
            if isinstance(final, FunctionToolCall):
                tools.setdefault(
                    f"function:{final.function.name}",
                    {
                        "type": "function",
                        "function": {
                            "name": final.function.name,
                            "parameters": {"type": "object", "properties": {}},
                        },
                    },
                )
            else:
                tools.setdefault(final.type, {"type": final.type})
    terminal = status in RUN_ENDINGS
    obj: dict[str, Any] = {
        "id": run.id,
        "object": "thread.run",
        "created_at": run.created_at,
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "status": status,
        "started_at": None if status == "queued" else run.created_at + 1,
        "expires_at": None if terminal and status != "expired" else run.expires_at,
        **{name: at if status == own else None for own, name in _RUN_STAMPS},
        "required_action": None,
        "last_error": None,
        "model": "gpt-4o",
        "instructions": "You are a helpful assistant.",
        "tools": list(tools.values()),
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_completion_tokens": None,
        "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "incomplete_details": None,
        "usage": None,
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    obj.update(changes)
    return obj


def _message_object(step: _Step, status: str, text: str) -> dict[str, Any]:
    run = step.run
    ended = status != "in_progress"
    content = [{"type": "text", "text": {"value": text, "annotations": []}}] if ended else []
    reason = _INCOMPLETE_REASON.get(step.status or "")
    return {
        "id": step.message_id,
        "object": "thread.message",
        "created_at": step.created_at,
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "status": status,
        "incomplete_details": {"reason": reason} if status == "incomplete" else None,
        "incomplete_at": step.ended_at if status == "incomplete" else None,
        "completed_at": step.ended_at if status == "completed" else None,
        "role": "assistant",
        "content": content,
        "attachments": [],
        "metadata": {},
    }


def _message_events(draw: st.DrawFn, step: _Step) -> list[dict[str, Any]]:
    """The message a ``message_creation`` step writes: created, deltas, and its end."""
    text = draw(st.text(max_size=40))
    pieces = _pieces(draw, text)
    if step.status != "completed":
        pieces = pieces[: draw(st.integers(0, len(pieces)))]
    events = [
        _event("thread.message.created", _message_object(step, "in_progress", "")),
        _event("thread.message.in_progress", _message_object(step, "in_progress", "")),
    ]
    for piece in pieces:
        delta = {
            "content": [{"index": 0, "type": "text", "text": {"value": piece, "annotations": []}}]
        }
        data = {"id": step.message_id, "object": "thread.message.delta", "delta": delta}
        events.append(_event("thread.message.delta", data))
    if step.status is None:
        return events
    ended = "completed" if step.status == "completed" else "incomplete"
    shown = "".join(pieces)
    events.append(_event(f"thread.message.{ended}", _message_object(step, ended, shown)))
    return events


@attrs.define
class _Lane:
    """The events of one step: what comes before a tool-output pause, and after it."""

    head: list[dict[str, Any]]
    tail: list[dict[str, Any]] = attrs.Factory(list)


def _step_lane(draw: st.DrawFn, step: _Step, cfg: _Config) -> _Lane:
    events = [
        _event(STEP_EVENT + "created", step.snapshot("in_progress", final=False)),
        _event(STEP_EVENT + "in_progress", step.snapshot("in_progress", final=False)),
    ]
    if step.streamed:
        ops = _operations(draw, step)
        if step.status != "completed":
            # Steps that fail, are cancelled, expire or are cut off stop part way.
            ops = ops[: draw(st.integers(0, len(ops)))]
        events += [emit() for emit in ops]
    if step.message_id is not None and cfg.run_events:
        events += _message_events(draw, step)
    if step.status is None:
        return _Lane(events)
    end = _event(STEP_EVENT + step.status, step.snapshot(step.status, final=True))
    return _Lane(events, [end]) if step.pause else _Lane([*events, end])


def _merge(draw: st.DrawFn, lanes: Sequence[list[dict[str, Any]]], interleave: bool) -> list[Any]:
    """The lanes merged, each keeping its order; one after the other unless `interleave`.

    The merge is a list of lane choices, so it shrinks to no interleaving at all.
    """
    if not interleave or len(lanes) < 2:
        return [event for lane in lanes for event in lane]
    queues = [list(lane) for lane in lanes if lane]
    total = sum(len(q) for q in queues)
    schedule = draw(st.lists(st.integers(0, len(queues) - 1), max_size=total))
    merged = []
    for choice in schedule:
        queues = [q for q in queues if q]
        if not queues:
            break
        merged.append(queues[choice % len(queues)].pop(0))
    merged += [event for q in queues for event in q]
    return merged


@attrs.define
class _Ids:
    """Short, readable ids: ``step_1``, ``step_2``, ``call_1``... one counter per prefix."""

    counters: dict[str, int] = attrs.Factory(dict)

    def __call__(self, prefix: str) -> str:
        number = self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}_{number}"


@st.composite
def _steps(draw: st.DrawFn, cfg: _Config, ids: _Ids, run: _Run, now: int) -> tuple[_Step, _Lane]:
    """One step and its events; a strategy of its own, so shrinking can drop it whole."""
    step_type = draw(st.sampled_from(cfg.types))
    status: str | None = draw(st.sampled_from(cfg.statuses))
    if cfg.dangling and draw(st.booleans()):
        status = None
    ended_at = now + draw(st.integers(0, 30))
    # Drawn whatever the status and the quirks, so that the number of choices does
    # not depend on them: shrinking then prefers the first status (completed) and no
    # quirks, rather than whatever draws least.
    usage, last_error, metadata = draw(_USAGES), draw(_LAST_ERRORS), draw(_METADATA)
    pause = draw(st.booleans()) if cfg.run_events else False
    streamed = draw(st.booleans()) if cfg.deltas else False
    step_id = ids("step")
    calls: list[_Call] = []
    message_id = None
    if step_type == "message_creation":
        message_id = ids("msg")
    else:
        drawn = draw(_TOOL_CALL_LISTS)
        # Readable, unique call ids whatever the strategy drew.
        calls = [_Call(attrs.evolve(call, id=ids("call"))) for call in drawn]
    step = _Step(
        id=step_id,
        run=run,
        type=step_type,
        status=status,
        created_at=now,
        ended_at=ended_at,
        message_id=message_id,
        calls=calls,
        metadata=None if run.quirks else metadata,
        usage=usage if status == "completed" else None,
        last_error=last_error if status == "failed" else None,
        streamed=streamed and step_type == "tool_calls",
        # A function call completes only once its run asked for its output: with run
        # events, every completed function step pauses (`pause` is drawn all the same,
        # so the choices drawn do not depend on the status).
        pause=(pause or cfg.run_events)
        and status == "completed"
        and any(isinstance(c.final, FunctionToolCall) for c in calls),
    )
    return step, _step_lane(draw, step, cfg)


@st.composite
def _runs(draw: st.DrawFn, cfg: _Config, ids: _Ids, number: int, quirks: bool) -> list[Any]:
    """The events of one run: a strategy of its own, so shrinking can drop it whole."""
    start = draw(st.integers(_T0, _T0 + 10**8))
    run = _Run(
        id=f"run_{number}",
        thread_id=f"thread_{number}",
        assistant_id=f"asst_{number}",
        created_at=start,
        quirks=quirks,
    )
    now = start + 1
    lanes: list[tuple[_Step, _Lane]] = []
    for _ in range(draw(st.integers(cfg.min_steps, cfg.max_steps))):
        step, lane = draw(_steps(cfg, ids, run, now))
        lanes.append((step, lane))
        now = step.ended_at
    steps = [step for step, _ in lanes]
    if not cfg.run_events:
        return _merge(draw, [lane.head for _, lane in lanes], cfg.interleave)
    # Drawn whatever the steps (see `_steps`): shrinking then moves freely.
    ending = draw(cfg.endings)
    events: list[Any] = [
        _event("thread.run.created", _run_object(run, "queued", start, steps)),
        _event("thread.run.queued", _run_object(run, "queued", start, steps)),
        _event("thread.run.in_progress", _run_object(run, "in_progress", start, steps)),
    ]
    phase: list[tuple[_Step, list[dict[str, Any]]]] = []
    for step, lane in lanes:
        phase.append((step, lane.head))
        if not step.pause:
            continue
        # The stream stops to ask for the tool outputs; the next one (after they
        # were submitted) opens with the step's completion.
        events += _merge(draw, [head for _, head in phase], cfg.interleave)
        phase = []
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": _required_calls(step)},
        }
        waiting = _run_object(
            run, "requires_action", step.ended_at, steps, required_action=required
        )
        events += [_event("thread.run.requires_action", waiting), _event("done", DONE)]
        events += lane.tail
        events += [
            _event("thread.run.queued", _run_object(run, "queued", step.ended_at, steps)),
            _event("thread.run.in_progress", _run_object(run, "in_progress", step.ended_at, steps)),
        ]
    if any(step.status is None for step in steps):
        # The capture was cut off: the run never ends in it.
        return events + _merge(draw, [head for _, head in phase], cfg.interleave)
    status = ending.status(steps, cfg.run_statuses)
    late: list[dict[str, Any]] = []
    if status == "expired" and ending.expire_first:
        # The run expires first; its steps still open then end expired after it.
        # (Each head ends with its step's end: only a paused step's comes later.)
        late = [head[-1] for step, head in phase if step.status == "expired"]
        phase = [(step, head[:-1] if step.status == "expired" else head) for step, head in phase]
    tail = _merge(draw, [head for _, head in phase], cfg.interleave)
    if status == "cancelled":
        # The cancel request may come as soon as the last step was created: steps
        # then go on streaming, and end, while the run is cancelling.
        created = [i for i, e in enumerate(tail) if e["event"] == STEP_EVENT + "created"]
        earliest = created[-1] + 1 if created else 0
        at = len(tail) - draw(st.integers(0, len(tail) - earliest))
        tail.insert(
            at, _event(RUN_EVENT + "cancelling", _run_object(run, "cancelling", now, steps))
        )
    events += tail
    events.append(_event(RUN_EVENT + status, ending.run_object(run, status, now, steps)))
    return [*events, *late, _event("done", DONE)]


def _required_calls(step: _Step) -> list[dict[str, Any]]:
    return [
        {
            "id": call.final.id,
            "type": "function",
            "function": {
                "name": call.final.function.name,
                "arguments": call.final.function.arguments,
            },
        }
        for call in step.calls
        if isinstance(call.final, FunctionToolCall)
    ]


@attrs.frozen
class _Ending:
    """How a run ends, as drawn before its steps are known to the end."""

    drawn: str  # the ending when no step decides it
    error: LastError  # the run's last_error when no failed step gives one
    reason: str  # why it is incomplete, if it is
    stamped: bool  # whether an incomplete run carries completed_at
    expire_first: bool  # whether an expiring run expires before its open steps

    def status(self, steps: Sequence[_Step], allowed: Collection[str]) -> str:
        """The run's ending: as its first step that did not complete, if allowed."""
        decided = next((s.status for s in steps if s.status != "completed"), None)
        return decided if decided is not None and decided in allowed else self.drawn

    def run_object(self, run: _Run, status: str, now: int, steps: Sequence[_Step]) -> Any:
        """The run's terminal snapshot, `now`, with what `status` carries."""
        changes: dict[str, Any] = {}
        used = [s.usage for s in steps if s.usage is not None]
        if used or status == "completed":
            prompt = sum(u.prompt_tokens for u in used)
            completion = sum(u.completion_tokens for u in used)
            changes["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        if status == "failed":
            error = next((s.last_error for s in steps if s.last_error is not None), self.error)
            changes["last_error"] = {"code": error.code, "message": error.message}
        if status == "incomplete":
            changes["incomplete_details"] = {"reason": self.reason}
            if self.stamped:
                changes["completed_at"] = now
        return _run_object(run, status, now, steps, **changes)


def _run_endings(allowed: tuple[str, ...]) -> st.SearchStrategy[_Ending]:
    return st.builds(
        _Ending,
        drawn=st.sampled_from(allowed),
        error=_LAST_ERRORS,
        reason=st.sampled_from(INCOMPLETE_REASONS),
        stamped=st.booleans(),
        expire_first=st.booleans(),
    )


@st.composite
def _event_streams(draw: st.DrawFn, cfg: _Config) -> EventStream:
    quirks = draw(st.booleans()) if cfg.quirks is None else cfg.quirks
    ids = _Ids()
    runs = [
        draw(_runs(cfg, ids, number, quirks))
        for number in range(1, draw(st.integers(cfg.min_runs, cfg.max_runs)) + 1)
    ]
    return _merge(draw, runs, cfg.interleave)


def event_streams(
    *,
    min_steps: int = 1,
    max_steps: int = 3,
    min_runs: int = 1,
    max_runs: int = 1,
    types: Collection[StepType] = STEP_TYPES,
    statuses: Collection[str] = TERMINAL_STATUSES,
    run_statuses: Collection[str] = RUN_ENDINGS,
    interleave: bool = False,
    dangling: bool = False,
    deltas: bool = True,
    run_events: bool = True,
    quirks: bool | None = None,
) -> st.SearchStrategy[EventStream]:
    """Complete, valid event streams: what the API sends for one or several runs.

    Each run has `min_steps` to `max_steps` steps of `types`; each step is
    created, goes ``in_progress``, streams its tool calls in deltas (function
    arguments and code input split at drawn points; unless `deltas` is False),
    and ends in one of `statuses`. With `dangling`, some steps never end, as when
    a capture is cut off (their run then has no end either). `run_events` adds
    the events around the steps: run created/queued/in_progress and its end, the
    message a ``message_creation`` step writes, ``done`` after each HTTP stream,
    and the pause real streams make for tool outputs (the stream ends at
    ``thread.run.requires_action`` and the next opens with the step's completion,
    before the run is queued again).

    A run ends in one of `run_statuses`: as its first step that did not complete
    (failed, cancelled, expired) when that ending is allowed, else as drawn. A
    failed run carries a ``last_error`` (its failed step's, if any); a cancelled
    one goes through ``cancelling``, which may come as soon as its last step was
    created (steps then end while it is cancelling); an expired one may expire
    before its steps that end expired (they expire after it), and an incomplete
    one carries ``incomplete_details`` (and maybe ``completed_at``). Every run
    ends after each of its steps ended, and no step stamp is later than the
    run's own.

    `interleave` mixes the events of the steps of a run, and of the runs, keeping
    each step's (and each run's) own order. `quirks` gives the step objects the
    shape of real captures (``expires_at``, no ``metadata``, token details in
    ``usage``); None draws it.

    Every snapshot breaks no rule, every event loads with the official SDK's
    ``AssistantStreamEvent`` (``done`` aside), and a `Tracker` (which follows the
    runs) reports nothing but ``dangling-step`` for the steps left open.
    """
    check_bounds("steps", min_steps, max_steps)
    check_bounds("runs", min_runs, max_runs, floor=1)
    chosen_types = check_choices("types", types, STEP_TYPES, many=True)
    chosen_statuses = check_choices("statuses", statuses, TERMINAL_STATUSES, many=True)
    chosen_endings = check_choices("run_statuses", run_statuses, RUN_ENDINGS, many=True)
    for name, flag in (
        ("interleave", interleave),
        ("dangling", dangling),
        ("deltas", deltas),
        ("run_events", run_events),
    ):
        check_type(flag, bool, name)
    if quirks is not None:
        check_type(quirks, bool, "quirks")
    cfg = _Config(
        min_steps=min_steps,
        max_steps=max_steps,
        min_runs=min_runs,
        max_runs=max_runs,
        types=chosen_types,  # type: ignore[arg-type]  # checked against STEP_TYPES
        statuses=chosen_statuses,
        interleave=interleave,
        dangling=dangling,
        run_statuses=chosen_endings,
        endings=_run_endings(chosen_endings),
        deltas=deltas,
        run_events=run_events,
        quirks=quirks,
    )
    return _event_streams(cfg)
