"""Invalid event streams with one known defect, and the rule a validator must report.

Each mutation takes a valid stream from `event_streams` and breaks it in exactly one
place, so that a fresh `Tracker` (then ``finish()``), which follows the runs in the
stream, reports exactly one rule: for an error-level rule, the error findings name
that rule and no other; for a warning-level rule, that warning appears and no error
does. Other warnings may come along (a dropped ``created`` event leaves an adopted
step, a step whose end was dropped is dangling).

Since the Tracker checks each step against its run, a mutation must not move a step
out of what its run admits (no delta while the run waits for tool outputs, no step
end after the run ended but an expiry), and a dropped event must not leave a run
ending with a step still open: the mutations choose their places accordingly.

A few rules of the catalogue cannot be produced by mutating a stream alone;
`UNREACHABLE_RULES` says which, and why.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from steplife import CATALOGUE, Severity
from steplife.testing._strategies import (
    RUN_ENDINGS,
    RUN_STAMP_OF,
    STAMP_OF,
    check_strategy,
    last_errors,
    usages,
)
from steplife.testing._streams import (
    RUN_EVENT,
    STEP_EVENT,
    EventStream,
    event_streams,
    to_jsonl_lines,
)

__all__ = ["MUTATIONS", "UNREACHABLE_RULES", "InvalidStream", "invalid_event_streams"]


@attrs.frozen
class InvalidStream:
    """A stream broken in one place, as JSONL `lines`, and the `rule` it breaks.

    `description` says what was changed and on which line; `events` is the mutated
    stream as event dicts, or None when the defect only exists in the rendering
    (a truncated line). `severity` is the rule's default severity.
    """

    lines: list[bytes]
    rule: str
    description: str
    events: EventStream | None = None

    @property
    def severity(self) -> Severity:
        """The default severity of `rule`: errors must be reported, warnings noticed."""
        return CATALOGUE[self.rule].severity

    @property
    def jsonl(self) -> bytes:
        """The stream as one JSONL text."""
        return b"".join(self.lines)


UNREACHABLE_RULES: Final[Mapping[str, str]] = {
    "schema": (
        "a loader rule (steplife.parse, from_dict): in a stream, a snapshot that does not "
        "load is reported as malformed-event"
    ),
    "unknown-key": (
        "a loader rule, checked only when loading strictly; the Tracker loads leniently, "
        "as the API adds keys over time"
    ),
    "sse-missing-blank-line": (
        "found by the SSE reader in SSE text alone; the mutations write streams as JSONL, "
        "where events have no blank line to miss"
    ),
    **dict.fromkeys(
        (
            "stream-not-sse",
            "stream-without-end",
            "tool-call-not-requested",
            "cancel-ignored",
            "request-failed",
        ),
        "a conformance rule (steplife conformance): found in the HTTP exchanges with a live "
        "server (content types, where a stream stops, the answers to requests), which a "
        "stream of events does not hold",
    ),
    "time-travel": (
        "a stream can only hold an earlier stamp than one already seen for the step "
        "if an in_progress snapshot carries a stamp (stamp-mismatch) or a later created_at "
        "(identity-changed), so it never comes alone"
    ),
}
"""The catalogue rules no single stream mutation produces on its own, with the reason."""


# -- finding the events of each step and run ---------------------------------------


@attrs.define
class _Step:
    created: int | None = None
    snapshots: list[int] = attrs.Factory(list)  # created, in_progress and terminal
    deltas: list[int] = attrs.Factory(list)
    terminal: int | None = None
    run_id: str | None = None

    @property
    def first(self) -> int:
        """The index of the step's first event."""
        return min(self.snapshots[:1] + self.deltas[:1])


@attrs.define
class _RunEvents:
    indices: list[int] = attrs.Factory(list)
    end: int | None = None


_TERMINAL_KINDS: Final = frozenset(STAMP_OF)
_SNAPSHOT_KINDS: Final = frozenset(("created", "in_progress")) | _TERMINAL_KINDS
_OTHER_STATUSES: Final = ("failed", "cancelled", "expired")
_UNDOCUMENTED_CODES: Final = ("invalid_prompt", "internal_error", "content_filter")
_RUN_ENDINGS: Final = frozenset(RUN_ENDINGS)
_RUN_KINDS: Final = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    *RUN_ENDINGS,
)
"""Every run event but ``created``, by the status its payload carries."""
_STREAMING: Final = frozenset((None, "queued", "in_progress", "cancelling"))
"""Run statuses in which a step of the run may stream (None: the run was not seen)."""
_ASIDE: Final = frozenset(("queued", "requires_action", "cancelling", *RUN_ENDINGS))
"""Run statuses in which no step of the run may be created."""
_REQUIRED_ACTION: Final = {
    "type": "submit_tool_outputs",
    "submit_tool_outputs": {
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    },
}


def _kind(event: Mapping[str, Any]) -> str | None:
    name: str = event["event"]
    return name[len(STEP_EVENT) :] if name.startswith(STEP_EVENT) else None


def _run_kind(event: Mapping[str, Any]) -> str | None:
    name: str = event["event"]
    if name.startswith(RUN_EVENT) and not name.startswith(STEP_EVENT):
        return name[len(RUN_EVENT) :]
    return None


def _steps(events: EventStream) -> dict[str, _Step]:
    found: dict[str, _Step] = {}
    for i, event in enumerate(events):
        kind = _kind(event)
        if kind is None:
            continue
        step = found.setdefault(event["data"]["id"], _Step())
        if kind == "delta":
            step.deltas.append(i)
            continue
        step.snapshots.append(i)
        step.run_id = event["data"]["run_id"]
        if kind == "created":
            step.created = i
        elif kind in _TERMINAL_KINDS:
            step.terminal = i
    return found


def _runs(events: EventStream) -> dict[str, _RunEvents]:
    found: dict[str, _RunEvents] = {}
    for i, event in enumerate(events):
        if _run_kind(event) is None:
            continue
        run = found.setdefault(event["data"]["id"], _RunEvents())
        run.indices.append(i)
        if event["data"]["status"] in _RUN_ENDINGS and run.end is None:
            run.end = i
    return found


def _statuses(events: EventStream, run_id: str | None) -> list[str | None]:
    """The status of run `run_id` before each event, and after the last (None: unseen)."""
    status: str | None = None
    out: list[str | None] = []
    for event in events:
        out.append(status)
        if _run_kind(event) is not None and event["data"]["id"] == run_id:
            status = event["data"]["status"]
    out.append(status)
    return out


def _context(events: EventStream) -> list[str | None]:
    """For each event, the status its run had when it came (None: no run seen)."""
    status: dict[str, str] = {}
    run_of: dict[str, str] = {}
    out: list[str | None] = []
    for event in events:
        data = event["data"]
        kind = _kind(event)
        if kind is not None:
            if kind != "delta":
                run_of[data["id"]] = data["run_id"]
            run_id = run_of.get(data["id"])
            out.append(None if run_id is None else status.get(run_id))
        elif _run_kind(event) is not None:
            out.append(status.get(data["id"]))
            status[data["id"]] = data["status"]
        else:
            out.append(None)
    return out


def _awaited(events: EventStream) -> set[str]:
    """The steps in progress when their run began to wait for tool outputs."""
    runs = _runs(events)
    awaited = set()
    for step_id, step in _steps(events).items():
        waits = [
            i
            for i in runs.get(step.run_id or "", _RunEvents()).indices
            if events[i]["data"]["status"] == "requires_action"
        ]
        last = len(events) if step.terminal is None else step.terminal
        if any(step.first < i < last for i in waits):
            awaited.add(step_id)
    return awaited


def _snapshot_indices(events: EventStream, *, terminal: bool | None = None) -> list[int]:
    """Indices of snapshot events: all, only terminal ones, or only in-progress ones."""
    out = []
    for i, event in enumerate(events):
        kind = _kind(event)
        if kind not in _SNAPSHOT_KINDS:
            continue
        if terminal is None or (kind in _TERMINAL_KINDS) == terminal:
            out.append(i)
    return out


def _retargetable(events: EventStream) -> list[int]:
    """Terminal step events that may end their step otherwise.

    That is all of them, but the expiries that come after their run expired: the
    run then admits nothing else.
    """
    context = _context(events)
    return [i for i in _snapshot_indices(events, terminal=True) if context[i] not in _RUN_ENDINGS]


def _run_indices(events: EventStream, *, terminal: bool | None = None) -> list[int]:
    """Indices of run events: all, only terminal ones, or only the others."""
    out = []
    for i, event in enumerate(events):
        if _run_kind(event) is None:
            continue
        if terminal is None or (event["data"]["status"] in _RUN_ENDINGS) == terminal:
            out.append(i)
    return out


def _pick(draw: st.DrawFn, indices: list[int]) -> int:
    assume(indices)
    return draw(st.sampled_from(indices))


def _own(events: EventStream, i: int) -> dict[str, Any]:
    """Event `i`, deep-copied in place so it can be changed without touching the base."""
    events[i] = copy.deepcopy(events[i])
    data: dict[str, Any] = events[i]["data"]
    return data


def _where(events: EventStream, i: int) -> str:
    event = events[i]
    return f"line {i + 1} ({event['event']} of {event['data']['id']})"


def _usage(draw: st.DrawFn) -> dict[str, int]:
    usage = draw(usages())
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _bad_usage(draw: st.DrawFn) -> dict[str, int]:
    usage = _usage(draw)
    if draw(st.booleans()):
        usage["prompt_tokens"] = -draw(st.integers(1, 1000))
    else:
        usage["total_tokens"] += draw(st.integers(1, 1000))
    return usage


def _last_error(draw: st.DrawFn) -> dict[str, str]:
    error = draw(last_errors())
    return {"code": error.code, "message": error.message}


def _retarget(
    events: EventStream,
    i: int,
    status: str,
    *,
    usage: dict[str, int] | None,
    last_error: dict[str, str] | None,
) -> None:
    """Make terminal event `i` end its step in `status` with `usage` and `last_error`."""
    data = _own(events, i)
    stamp = next(data[STAMP_OF[s]] for s in STAMP_OF if data.get(STAMP_OF[s]) is not None)
    for name in STAMP_OF.values():
        if name in data or name != "expired_at":
            data[name] = None
    data[STAMP_OF[status]] = stamp
    data["status"] = status
    data["usage"] = usage
    data["last_error"] = last_error
    events[i]["event"] = STEP_EVENT + status


def _run_end_stamp(data: Mapping[str, Any]) -> int | None:
    """The stamp a run's terminal payload ends it at (expired ones have none)."""
    status = data["status"]
    name = "completed_at" if status == "incomplete" else RUN_STAMP_OF.get(status)
    stamp: int | None = None if name is None else data.get(name)
    return stamp


def _latest_step_stamp(events: EventStream, steps: Mapping[str, _Step], run_id: str) -> int:
    """The latest stamp any step snapshot of run `run_id` carries (0 when none)."""
    latest = 0
    for step in steps.values():
        if step.run_id != run_id:
            continue
        for i in step.snapshots:
            data = events[i]["data"]
            for name in ("created_at", *STAMP_OF.values()):
                value = data.get(name)
                if value is not None and value > latest:
                    latest = value
    return latest


def _run_payload(data: Mapping[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    """A copy of run payload `data` moved to `status`: what it no longer carries cleared."""
    out = copy.deepcopy(dict(data))
    out.update(
        status=status,
        cancelled_at=None,
        failed_at=None,
        completed_at=None,
        required_action=None,
        last_error=None,
        incomplete_details=None,
    )
    if status not in _RUN_ENDINGS:
        out["usage"] = None
    out.update(changes)
    return out


# -- the mutations, one per rule ---------------------------------------------------


@attrs.frozen
class _Lines:
    """A mutation's result that exists only as rendered lines (a cut line, say)."""

    lines: list[bytes]


Mutated = tuple[EventStream | _Lines, str]
Mutation = Callable[[st.DrawFn, EventStream], Mutated]


def _variant(draw: st.DrawFn, **available: bool) -> str:
    """One of the variants a mutation has for this stream (the first shrinks best)."""
    names = [name for name, ok in available.items() if ok]
    assume(names)
    return draw(st.sampled_from(names))


# Step entity rules: one snapshot changed.


def _object_type(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events))
    value = draw(st.sampled_from(("thread.run", "thread.message", "run_step")))
    _own(events, i)["object"] = value
    return events, f"{_where(events, i)}: object set to {value!r}"


def _details_type_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    awaited = _awaited(events)
    # Not an in-progress snapshot of a step its run waits for: without its function
    # calls the run would wait for nothing, and the step's end would come outside it.
    i = _pick(
        draw,
        [
            i
            for i in _snapshot_indices(events)
            if _kind(events[i]) in _TERMINAL_KINDS or events[i]["data"]["id"] not in awaited
        ],
    )
    data = _own(events, i)
    if data["type"] == "message_creation":
        data["step_details"] = {"type": "tool_calls", "tool_calls": []}
    else:
        data["step_details"] = {
            "type": "message_creation",
            "message_creation": {"message_id": "msg_0"},
        }
    return events, f"{_where(events, i)}: step_details swapped for a {data['step_details']['type']}"


def _stamp_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events))
    data = _own(events, i)
    status = data["status"]
    if status == "in_progress":
        # At created_at itself, so no later stamp looks like time travel.
        name = draw(st.sampled_from(sorted(STAMP_OF.values())))
        data[name] = data["created_at"]
        return events, f"{_where(events, i)}: {name} set on an in_progress snapshot"
    own = STAMP_OF[status]
    others = sorted(name for name in STAMP_OF.values() if name != own)
    name = draw(st.sampled_from([own, *others]))
    if name == own:
        data[own] = None
        return events, f"{_where(events, i)}: {own} set to null"
    data[name] = data[own]
    return events, f"{_where(events, i)}: {name} set beside {own}"


def _stamp_before_created(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    data = _own(events, i)
    name = STAMP_OF[data["status"]]
    data[name] = data["created_at"] - draw(st.integers(1, 86_400))
    return (
        events,
        f"{_where(events, i)}: {name}={data[name]} before created_at={data['created_at']}",
    )


def _usage_before_completion(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events, terminal=False))
    _own(events, i)["usage"] = _usage(draw)
    return events, f"{_where(events, i)}: usage set on an in_progress snapshot"


def _usage_without_completion(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _retargetable(events))
    status = draw(st.sampled_from(_OTHER_STATUSES))
    error = _last_error(draw) if status == "failed" else None
    _retarget(events, i, status, usage=_usage(draw), last_error=error)
    return events, f"{_where(events, i)}: the step now ends {status}, with usage"


def _has_function(event: Mapping[str, Any]) -> bool:
    """Whether a step snapshot event holds a function call."""
    calls = event["data"]["step_details"].get("tool_calls", ())
    return any(call.get("type") == "function" for call in calls)


def _completes_a_function(event: Mapping[str, Any]) -> bool:
    """Whether a step's terminal event completes a function call."""
    return bool(event["data"]["status"] == "completed" and _has_function(event))


def _completable(events: EventStream) -> list[int]:
    """The retargetable ends that may complete: not a function call no run asked for."""
    awaited = _awaited(events)
    return [
        i
        for i in _retargetable(events)
        if events[i]["data"]["id"] in awaited or not _has_function(events[i])
    ]


def _usage_missing(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _completable(events))
    _retarget(events, i, "completed", usage=None, last_error=None)
    return events, f"{_where(events, i)}: the step now completes without usage"


def _usage_total(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _completable(events))
    usage = _bad_usage(draw)
    _retarget(events, i, "completed", usage=usage, last_error=None)
    return events, f"{_where(events, i)}: the step now completes with usage {usage}"


def _error_without_failure(draw: st.DrawFn, events: EventStream) -> Mutated:
    candidates = [i for i in _snapshot_indices(events) if events[i]["data"]["status"] != "failed"]
    i = _pick(draw, candidates)
    _own(events, i)["last_error"] = _last_error(draw)
    return events, f"{_where(events, i)}: last_error set on the {events[i]['data']['status']} step"


def _failure_without_error(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _retargetable(events))
    _retarget(events, i, "failed", usage=None, last_error=None)
    return events, f"{_where(events, i)}: the step now fails without last_error"


def _metadata_limits(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events))
    how = draw(st.sampled_from(("pairs", "key", "value", "type")))
    metadata: dict[str, Any]
    if how == "pairs":
        metadata = {f"k{n}": "v" for n in range(17)}
    elif how == "key":
        metadata = {"k" * 65: "v"}
    elif how == "value":
        metadata = {"k": "v" * 513}
    else:
        metadata = {"k": 1}
    _own(events, i)["metadata"] = metadata
    return events, f"{_where(events, i)}: metadata over its limits ({how})"


def _unknown_value(draw: st.DrawFn, events: EventStream) -> Mutated:
    rankers = [
        i
        for i in _snapshot_indices(events, terminal=True)
        if any(
            (call.get("file_search") or {}).get("ranking_options")
            for call in events[i]["data"]["step_details"].get("tool_calls", [])
        )
    ]
    hyphenate = draw(st.booleans())
    if rankers and hyphenate:
        i = draw(st.sampled_from(rankers))
        for call in _own(events, i)["step_details"]["tool_calls"]:
            options = (call.get("file_search") or {}).get("ranking_options")
            if options:
                # What a live capture really holds: hyphens instead of underscores.
                options["ranker"] = "default-2024-08-21"
        return events, f"{_where(events, i)}: ranker set to 'default-2024-08-21'"
    i = _pick(draw, _retargetable(events))
    code = draw(st.sampled_from(_UNDOCUMENTED_CODES))
    _retarget(events, i, "failed", usage=None, last_error={"code": code, "message": "oops"})
    return events, f"{_where(events, i)}: the step now fails with last_error.code {code!r}"


# Stream rules: events dropped, repeated, renamed, moved or inserted.


def _harmless(events: EventStream) -> list[int]:
    """The events whose loss changes nothing else a Tracker reports as an error.

    Not a run event that changes its run's status, nor the end of a step whose
    run ends in the stream (it would end with the step open).
    """
    steps, runs = _steps(events), _runs(events)
    ending = {run_id for run_id, run in runs.items() if run.end is not None}
    kept = set(range(len(events)))
    for step in steps.values():
        if step.terminal is not None and step.run_id in ending:
            kept.discard(step.terminal)
    for run in runs.values():
        statuses = [events[i]["data"]["status"] for i in run.indices]
        for n, i in enumerate(run.indices):
            # Its run has the same status just before it (queued after created), or
            # just after it when it is the first (created, then queued).
            same = statuses[n - 1] if n else (statuses[1] if len(statuses) > 1 else None)
            if same != statuses[n]:
                kept.discard(i)
    return sorted(kept)


def _malformed_event(draw: st.DrawFn, events: EventStream) -> Mutated:
    harmless = _harmless(events)
    deltas = [i for i in harmless if _kind(events[i]) == "delta"]
    payloads = [
        i
        for i in harmless
        if _kind(events[i]) in _SNAPSHOT_KINDS or _run_kind(events[i]) is not None
    ]
    how = _variant(draw, truncate=bool(harmless), schema=bool(payloads), delta=bool(deltas))
    if how == "schema":
        i = draw(st.sampled_from(payloads))
        data = _own(events, i)
        data["created_at"] = str(data["created_at"])
        return events, f"{_where(events, i)}: created_at written as a string"
    if how == "delta":
        i = draw(st.sampled_from(deltas))
        _own(events, i)["delta"] = []
        return events, f"{_where(events, i)}: delta is an array, not an object"
    lines = to_jsonl_lines(events)
    i = draw(st.sampled_from(harmless))
    text = lines[i].rstrip(b"\n")
    cut = draw(st.integers(1, len(text) - 1))
    # A cut-off capture loses its last newline; a line cut inside keeps it.
    lines[i] = text[:cut] + (b"" if i == len(lines) - 1 else b"\n")
    return _Lines(lines), f"line {i + 1} ({events[i]['event']}) truncated after {cut} bytes"


def _timestamp_not_unix(draw: st.DrawFn, events: EventStream) -> Mutated:
    stamps = [
        (i, name)
        for i in (*_snapshot_indices(events), *_run_indices(events))
        for name in ("created_at", *STAMP_OF.values(), *RUN_STAMP_OF.values(), "started_at")
        if type(events[i]["data"].get(name)) is int
    ]
    assume(stamps)
    i, name = draw(st.sampled_from(sorted(set(stamps))))
    data = _own(events, i)
    hours = draw(st.sampled_from((0, 0, 2, -5, 14)))
    moment = datetime.fromtimestamp(data[name], timezone(timedelta(hours=hours)))
    text = moment.isoformat()
    if hours == 0:
        text = draw(st.sampled_from((text, text.replace("+00:00", "Z"), text[: -len("+00:00")])))
    data[name] = text
    return events, f"{_where(events, i)}: {name} written as the ISO-8601 date-time {text!r}"


def _unknown_step(draw: st.DrawFn, events: EventStream) -> Mutated:
    deltas = [i for i, e in enumerate(events) if _kind(e) == "delta"]
    rename = draw(st.booleans())
    if deltas and rename:
        i = draw(st.sampled_from(deltas))
        _own(events, i)["id"] = "step_0"
        return events, f"line {i + 1}: a delta's step id changed to 'step_0', never seen"
    i = draw(st.integers(0, len(events)))
    details = {"type": "message_creation", "message_creation": {"message_id": "msg_0"}}
    data = {"id": "step_0", "object": "thread.run.step.delta", "delta": {"step_details": details}}
    events.insert(i, {"event": STEP_EVENT + "delta", "data": data})
    return events, f"line {i + 1}: a delta inserted for 'step_0', never seen"


def _adopted_step(draw: st.DrawFn, events: EventStream) -> Mutated:
    created = [s.created for s in _steps(events).values() if s.created is not None]
    i = _pick(draw, created)
    where = _where(events, i)
    del events[i]
    return events, f"{where} dropped"


def _duplicate_created(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = [s for s in _steps(events).values() if s.created is not None]
    runs = [
        r.indices[0] for r in _runs(events).values() if _run_kind(events[r.indices[0]]) == "created"
    ]
    which = _variant(draw, step=bool(steps), run=bool(runs))
    if which == "run":
        # A run is created once: a second thread.run.created is refused wherever it is.
        i = draw(st.sampled_from(runs))
        j = draw(st.integers(i + 1, len(events)))
        events.insert(j, copy.deepcopy(events[i]))
        return events, f"{_where(events, i)} repeated at line {j + 1}"
    step = draw(st.sampled_from(steps))
    assert step.created is not None
    if draw(st.booleans()) and len(step.snapshots) > 1:
        # Reorder two events of one step: in_progress first, then created.
        i, j = step.created, step.snapshots[1]
        events[i], events[j] = events[j], events[i]
        return events, f"lines {i + 1} and {j + 1} swapped: {events[j]['event']} comes second"
    j = draw(st.integers(step.created + 1, len(events)))
    events.insert(j, copy.deepcopy(events[step.created]))
    return events, f"{_where(events, step.created)} repeated at line {j + 1}"


def _after_terminal(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = [s for s in _steps(events).values() if s.terminal is not None]
    ends = [r.end for r in _runs(events).values() if r.end is not None]
    which = _variant(draw, step=bool(steps), run=bool(ends))
    if which == "run":
        i = draw(st.sampled_from(ends))
        j = draw(st.integers(i + 1, len(events)))
        events.insert(j, copy.deepcopy(events[i]))
        return events, f"{_where(events, i)} repeated at line {j + 1}"
    step = draw(st.sampled_from(steps))
    assert step.terminal is not None
    # Not a step its run waits for: moved up, its function call would complete before
    # the run asked for its output (function-call-without-action).
    awaited = _awaited(events)
    earlier = sorted(
        i
        for i in (*step.snapshots, *step.deltas)
        if i not in (step.created, step.terminal)
        and events[step.terminal]["data"]["id"] not in awaited
    )
    move = draw(st.booleans())
    if earlier and move:
        # Reorder two events of one step: the end moves before an earlier event.
        j = draw(st.sampled_from(earlier))
        end = events.pop(step.terminal)
        events.insert(j, end)
        return events, f"{_where(events, j)} moved up from line {step.terminal + 1}"
    j = draw(st.integers(step.terminal + 1, len(events)))
    events.insert(j, copy.deepcopy(events[step.terminal]))
    return events, f"{_where(events, step.terminal)} repeated at line {j + 1}"


def _status_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = _retargetable(events)
    runs = _run_indices(events)
    which = _variant(draw, step=bool(steps), run=bool(runs))
    if which == "run":
        i = draw(st.sampled_from(runs))
        status = events[i]["data"]["status"]
        # Never thread.run.created: a second one is a duplicate, whatever it carries.
        kind = draw(st.sampled_from([k for k in _RUN_KINDS if k != status]))
        name = RUN_EVENT + kind
    else:
        i = draw(st.sampled_from(steps))
        status = events[i]["data"]["status"]
        name = STEP_EVENT + draw(st.sampled_from(sorted(s for s in STAMP_OF if s != status)))
    where = _where(events, i)
    events[i] = {**events[i], "event": name}
    return events, f"{where} renamed {name}, its payload still {status!r}"


def _identity_changed(draw: st.DrawFn, events: EventStream) -> Mutated:
    later = sorted(i for s in _steps(events).values() for i in s.snapshots[1:])
    runs = _runs(events)
    run_later = sorted(i for r in runs.values() for i in r.indices[1:])
    which = _variant(draw, step=bool(later), run=bool(run_later))
    if which == "run":
        i = draw(st.sampled_from(run_later))
        data = _own(events, i)
        # A run's thread or assistant changed where no step comes after: a step
        # created later would be checked against the changed run.
        fields = ["created_at"]
        if i == runs[data["id"]].end:
            fields += ["thread_id", "assistant_id"]
        name = draw(st.sampled_from(fields))
        if name == "created_at":
            # Earlier, so that no stamp of the run comes before it.
            data[name] -= draw(st.integers(1, 86_400))
        else:
            data[name] += "_changed"
        return events, f"{_where(events, i)}: {name} changed mid-stream to {data[name]!r}"
    i = draw(st.sampled_from(later))
    name = draw(st.sampled_from(("run_id", "thread_id", "assistant_id")))
    data = _own(events, i)
    data[name] = data[name] + "_changed"
    return events, f"{_where(events, i)}: {name} changed mid-stream to {data[name]!r}"


def _live_span(draw: st.DrawFn, events: EventStream) -> tuple[str, str, int]:
    """A step that is created and ends, its type, and a place where it is live.

    The place is one where its run admits a delta: not while the run waits for
    tool outputs, nor once it ended.
    """
    found = _steps(events)
    candidates = []
    for step_id, step in found.items():
        if step.created is None or step.terminal is None:
            continue
        statuses = _statuses(events, step.run_id)
        places = [
            at for at in range(step.created + 1, step.terminal + 1) if statuses[at] in _STREAMING
        ]
        if places:
            candidates.append((step_id, step, places))
    assume(candidates)
    step_id, step, places = draw(st.sampled_from(candidates))
    assert step.created is not None
    return step_id, events[step.created]["data"]["type"], draw(st.sampled_from(places))


def _step_delta(step_id: str, details: dict[str, Any]) -> dict[str, Any]:
    data = {"id": step_id, "object": "thread.run.step.delta", "delta": {"step_details": details}}
    return {"event": STEP_EVENT + "delta", "data": data}


def _delta_type_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    step_id, step_type, at = _live_span(draw, events)
    if step_type == "message_creation":
        entry = {"index": 0, "id": "call_0", "type": "function", "function": {"arguments": ""}}
        details: dict[str, Any] = {"type": "tool_calls", "tool_calls": [entry]}
    else:
        details = {"type": "message_creation", "message_creation": {}}
    events.insert(at, _step_delta(step_id, details))
    return events, f"line {at + 1}: a {details['type']} delta inserted for {step_type} {step_id}"


def _snapshot_diverged(draw: st.DrawFn, events: EventStream) -> Mutated:
    step_id, step_type, at = _live_span(draw, events)
    terminal = _steps(events)[step_id].terminal
    assert terminal is not None
    if step_type == "message_creation":
        details: dict[str, Any] = {
            "type": "message_creation",
            "message_creation": {"message_id": "_extra"},
        }
        what = "appends to the message id"
    else:
        # A call the final snapshot does not have.
        index = len(events[terminal]["data"]["step_details"]["tool_calls"])
        entry = {
            "index": index,
            "id": "call_0",
            "type": "function",
            "function": {"name": "extra", "arguments": "{}", "output": None},
        }
        details = {"type": "tool_calls", "tool_calls": [entry]}
        what = f"adds tool call {index}"
    events.insert(at, _step_delta(step_id, details))
    return events, f"line {at + 1}: a delta that {what} of {step_id}, which its end ignores"


def _dangling_step(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = [s for s in _steps(events).values() if s.terminal is not None]
    assume(steps)
    step = draw(st.sampled_from(steps))
    assert step.terminal is not None
    where = _where(events, step.terminal)
    # The capture stops before the run ends: a run ending with the step still open
    # would be run-finished-with-open-steps.
    end = _runs(events).get(step.run_id or "", _RunEvents()).end
    dropped = sorted({step.terminal} | ({end} if end is not None else set()), reverse=True)
    for i in dropped:
        del events[i]
    if end is None:
        return events, f"{where} dropped"
    return events, f"{where} dropped, and its run's end (line {end + 1}) too"


def _empty_stream(draw: st.DrawFn, events: EventStream) -> Mutated:
    blank = draw(st.integers(0, 3))
    what = f"{blank} blank lines" if blank else "nothing"
    return _Lines([b"\n"] * blank), f"every line removed: the input holds {what}"


def _unknown_event(draw: st.DrawFn, events: EventStream) -> Mutated:
    # An inserted copy, not a renamed event: the stream keeps every event it had, so
    # nothing but the misspelled name is reported.
    named = [i for i, e in enumerate(events) if e["event"].startswith("thread.run.")]
    if not named:
        i = draw(st.integers(0, len(events)))
        events.insert(i, {"event": STEP_EVENT + "complete", "data": {"id": "step_0"}})
        return events, f"line {i + 1}: an event named 'thread.run.step.complete' inserted"
    i = draw(st.sampled_from(named))
    original = events[i]["event"]
    misspelled = original[:-1]  # 'completed' -> 'complete', 'queued' -> 'queue'
    events.insert(i + 1, {"event": misspelled, "data": copy.deepcopy(events[i]["data"])})
    return events, f"line {i + 2}: a copy of line {i + 1} named {misspelled!r} inserted"


def _illegal_transition(draw: st.DrawFn, events: EventStream) -> Mutated:
    requeue: list[tuple[int, int]] = []
    uncancel: list[int] = []
    for run_id, run in _runs(events).items():
        if run.end is None:
            continue
        statuses = _statuses(events, run_id)
        queued = [i for i in run.indices if events[i]["data"]["status"] == "queued"]
        if queued and statuses[run.end] in ("in_progress", "cancelling"):
            requeue.append((queued[0], run.end))
        cancelling = [i for i in run.indices if _run_kind(events[i]) == "cancelling"]
        if (
            cancelling
            and statuses[cancelling[0]] == "in_progress"
            and events[run.end]["data"]["status"] == "cancelled"
        ):
            uncancel.append(cancelling[0])
    which = _variant(draw, requeue=bool(requeue), uncancel=bool(uncancel))
    if which == "uncancel":
        # cancelled only follows cancelling: straight from in_progress it is illegal.
        i = draw(st.sampled_from(uncancel))
        where = _where(events, i)
        del events[i]
        return events, f"{where} dropped: the run goes from in_progress to cancelled"
    # queued only follows requires_action (tool outputs submitted).
    first, end = draw(st.sampled_from(requeue))
    where = _where(events, first)
    events.insert(
        end, {"event": RUN_EVENT + "queued", "data": copy.deepcopy(events[first]["data"])}
    )
    return events, f"{where} repeated as thread.run.queued at line {end + 1}, right before its end"


# Run entity rules: one run snapshot changed.


def _run_object_type(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _run_indices(events))
    value = draw(st.sampled_from(("thread.run.step", "thread.message", "run")))
    _own(events, i)["object"] = value
    return events, f"{_where(events, i)}: object set to {value!r}"


def _run_stamp_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _run_indices(events))
    data = _own(events, i)
    status = data["status"]
    own = RUN_STAMP_OF.get(status)
    others = [
        name
        for name in RUN_STAMP_OF.values()
        if name != own and not (status == "incomplete" and name == "completed_at")
    ]
    name = draw(st.sampled_from([own, *others] if own else others))
    if name == own:
        data[own] = None
        return events, f"{_where(events, i)}: {own} set to null"
    # The run's own end stamp, or its creation: never before created_at, and never
    # moving the end a step's stamps are compared with.
    data[name] = data[own] if own else data["created_at"]
    return events, f"{_where(events, i)}: {name} set on the {status} run"


def _run_stamp_before_created(draw: st.DrawFn, events: EventStream) -> Mutated:
    started = [i for i in _run_indices(events) if events[i]["data"].get("started_at") is not None]
    i = _pick(draw, started)
    data = _own(events, i)
    # started_at, not the end stamp: an earlier end would also be outlived by steps.
    data["started_at"] = data["created_at"] - draw(st.integers(1, 86_400))
    return (
        events,
        f"{_where(events, i)}: started_at={data['started_at']} "
        f"before created_at={data['created_at']}",
    )


def _run_usage_before_terminal(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _run_indices(events, terminal=False))
    _own(events, i)["usage"] = _usage(draw)
    return events, f"{_where(events, i)}: usage set on the {events[i]['data']['status']} run"


def _run_usage_total(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _run_indices(events, terminal=True))
    usage = _bad_usage(draw)
    _own(events, i)["usage"] = usage
    return events, f"{_where(events, i)}: the run ends with usage {usage}"


def _run_required_action(draw: st.DrawFn, events: EventStream) -> Mutated:
    indices = _run_indices(events)
    waiting = [i for i in indices if events[i]["data"]["status"] == "requires_action"]
    others = [i for i in indices if i not in waiting]
    which = _variant(draw, set=bool(others), drop=bool(waiting))
    if which == "drop":
        i = draw(st.sampled_from(waiting))
        _own(events, i)["required_action"] = None
        return events, f"{_where(events, i)}: required_action set to null"
    i = draw(st.sampled_from(others))
    _own(events, i)["required_action"] = copy.deepcopy(_REQUIRED_ACTION)
    return (
        events,
        f"{_where(events, i)}: required_action set on the {events[i]['data']['status']} run",
    )


def _run_error_without_failure(draw: st.DrawFn, events: EventStream) -> Mutated:
    indices = [i for i in _run_indices(events) if events[i]["data"]["status"] != "failed"]
    i = _pick(draw, indices)
    _own(events, i)["last_error"] = _last_error(draw)
    return events, f"{_where(events, i)}: last_error set on the {events[i]['data']['status']} run"


def _run_failure_without_error(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = _steps(events)
    candidates = []
    for run_id, run in _runs(events).items():
        if run.end is None or _statuses(events, run_id)[run.end] not in (
            "queued",
            "in_progress",
            "cancelling",
        ):
            continue
        # A run that ends before some of its steps (an expiry) cannot fail instead.
        if all(i < run.end for s in steps.values() if s.run_id == run_id for i in s.snapshots):
            candidates.append((run_id, run.end))
    assume(candidates)
    run_id, i = draw(st.sampled_from(candidates))
    where = _where(events, i)
    data = events[i]["data"]
    if data["status"] == "failed":
        _own(events, i)["last_error"] = None
        return events, f"{where}: last_error set to null"
    stamp = max(
        data["created_at"],
        _latest_step_stamp(events, steps, run_id),
        *(data[name] for name in RUN_STAMP_OF.values() if data.get(name) is not None),
    )
    events[i] = {
        "event": RUN_EVENT + "failed",
        "data": _run_payload(data, "failed", failed_at=stamp),
    }
    return events, f"{where}: the run now fails, without last_error"


def _run_incomplete_details(draw: st.DrawFn, events: EventStream) -> Mutated:
    indices = _run_indices(events)
    incomplete = [i for i in indices if events[i]["data"]["status"] == "incomplete"]
    others = [i for i in indices if i not in incomplete]
    which = _variant(draw, set=bool(others), drop=bool(incomplete))
    if which == "drop":
        i = draw(st.sampled_from(incomplete))
        _own(events, i)["incomplete_details"] = None
        return events, f"{_where(events, i)}: incomplete_details set to null"
    i = draw(st.sampled_from(others))
    _own(events, i)["incomplete_details"] = {"reason": "max_completion_tokens"}
    status = events[i]["data"]["status"]
    return events, f"{_where(events, i)}: incomplete_details set on the {status} run"


# Cross-entity rules: a step against its run.


def _step_outside_run(draw: st.DrawFn, events: EventStream) -> Mutated:
    runs = _runs(events)
    candidates = []
    for step in _steps(events).values():
        if step.created is None or step.terminal is None or step.run_id not in runs:
            continue
        if _completes_a_function(events[step.terminal]):
            continue  # its copy would complete a call no run asked for, too
        statuses = _statuses(events, step.run_id)
        places = [p for p, status in enumerate(statuses) if status in _ASIDE]
        if places:
            candidates.append((step, places))
    assume(candidates)
    step, places = draw(st.sampled_from(candidates))
    assert step.created is not None
    assert step.terminal is not None
    at = draw(st.sampled_from(places))
    status = _statuses(events, step.run_id)[at]
    # A new step, created and ended at once, while its run admits no new step; its
    # stamps are an ended step's, so it outlives nothing.
    pair = [copy.deepcopy(events[step.created]), copy.deepcopy(events[step.terminal])]
    for event in pair:
        event["data"]["id"] = "step_0"
    events[at:at] = pair
    return (
        events,
        f"lines {at + 1}-{at + 2}: a new step_0 created and ended while its run is {status}",
    )


def _run_finished_with_open_steps(draw: st.DrawFn, events: EventStream) -> Mutated:
    runs = _runs(events)
    candidates = [
        step.terminal
        for step in _steps(events).values()
        if step.terminal is not None
        and (end := runs.get(step.run_id or "", _RunEvents()).end) is not None
        and step.terminal < end
        and events[end]["data"]["status"] != "expired"
    ]
    i = _pick(draw, candidates)
    where = _where(events, i)
    del events[i]
    return events, f"{where} dropped: its run ends with the step open"


def _step_run_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    runs = _runs(events)
    # Steps whose run is seen first: the check is made when the step is created.
    candidates = [
        step
        for step in _steps(events).values()
        if step.run_id in runs and runs[step.run_id].indices[0] < step.first
    ]
    assume(candidates)
    step = draw(st.sampled_from(candidates))
    name = draw(st.sampled_from(("thread_id", "assistant_id")))
    for i in step.snapshots:
        _own(events, i)[name] += "_other"
    where = _where(events, step.first)
    # Every snapshot of the step changes alike: its identity stays the same.
    return events, f"{where} and the step's later snapshots: {name} set to another run's"


def _step_outlives_run(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = _steps(events)
    late, early = [], []
    for run_id, run in _runs(events).items():
        if run.end is None or (end := _run_end_stamp(events[run.end]["data"])) is None:
            continue
        ended = [
            s.terminal for s in steps.values() if s.run_id == run_id and s.terminal is not None
        ]
        late += [(i, end) for i in ended if i < run.end]
        latest = _latest_step_stamp(events, steps, run_id)
        if latest > events[run.end]["data"]["created_at"]:
            early.append((run.end, latest))
    which = _variant(draw, step=bool(late), run=bool(early))
    if which == "run":
        i, latest = draw(st.sampled_from(early))
        data = _own(events, i)
        name = "completed_at" if data["status"] == "incomplete" else RUN_STAMP_OF[data["status"]]
        data[name] = draw(st.integers(data["created_at"], latest - 1))
        return (
            events,
            f"{_where(events, i)}: {name} moved to {data[name]}, before a step's {latest}",
        )
    i, end = draw(st.sampled_from(late))
    data = _own(events, i)
    name = STAMP_OF[data["status"]]
    data[name] = end + draw(st.integers(1, 3_600))
    return (
        events,
        f"{_where(events, i)}: {name} moved to {data[name]}, after its run ended at {end}",
    )


def _expiry_not_propagated(draw: st.DrawFn, events: EventStream) -> Mutated:
    runs = _runs(events)
    candidates = [
        (step.terminal, end)
        for step in _steps(events).values()
        if step.terminal is not None
        and (end := runs.get(step.run_id or "", _RunEvents()).end) is not None
        and step.terminal < end
    ]
    assume(candidates)
    i, end = draw(st.sampled_from(candidates))
    where, run = _where(events, i), _where(events, end)
    data = events[end]["data"]
    if data["status"] != "expired":
        deadline = data.get("expires_at") or data["created_at"] + 600
        events[end] = {
            "event": RUN_EVENT + "expired",
            "data": _run_payload(data, "expired", expires_at=deadline),
        }
    del events[i]
    return events, f"{where} dropped, and {run} is an expiry: the step never expires"


def _tool_calls_without_action(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps = _steps(events)
    candidates = []
    for run_id, run in _runs(events).items():
        started = [i for i in run.indices if events[i]["data"]["status"] == "in_progress"]
        # Right after the run started, before any of its steps.
        if started and all(s.first > started[0] for s in steps.values() if s.run_id == run_id):
            candidates.append(started[0])
    i = _pick(draw, candidates)
    data = events[i]["data"]
    waiting = _run_payload(data, "requires_action", required_action=copy.deepcopy(_REQUIRED_ACTION))
    events[i + 1 : i + 1] = [
        {"event": RUN_EVENT + "requires_action", "data": waiting},
        {"event": RUN_EVENT + "queued", "data": _run_payload(data, "queued")},
        {"event": RUN_EVENT + "in_progress", "data": copy.deepcopy(data)},
    ]
    return (
        events,
        f"lines {i + 2}-{i + 4}: {data['id']} requires action, is queued and resumes "
        "before any step of it",
    )


def _dangling_run(draw: st.DrawFn, events: EventStream) -> Mutated:
    steps, runs = _steps(events), _runs(events)
    candidates = []
    for run_id, run in runs.items():
        if run.end is None or _run_kind(events[run.indices[0]]) != "created":
            continue
        # Every step of it ended before its end: dropping the end leaves no step open,
        # and no step event comes after it (a late expiry would then be admitted).
        own = [s for s in steps.values() if s.run_id == run_id]
        if all(s.terminal is not None and s.terminal < run.end for s in own):
            candidates.append(run.end)
    i = _pick(draw, candidates)
    where = _where(events, i)
    del events[i]
    return events, f"{where} dropped: the run is left open"


def _function_call_without_action(draw: st.DrawFn, events: EventStream) -> Mutated:
    runs, awaited = _runs(events), _awaited(events)
    waits = []
    for run in runs.values():
        for n, i in enumerate(run.indices[:-1]):
            following = run.indices[n + 1]
            if (
                events[i]["data"]["status"] == "requires_action"
                and events[following]["data"]["status"] == "queued"
            ):
                waits.append((i, following))
    # A completed tool step without a function call or deltas (whose indices the call
    # would shift), created after its run was seen.
    steps = [
        step
        for step_id, step in _steps(events).items()
        if step.created is not None
        and not step.deltas
        and step.terminal is not None
        and step_id not in awaited
        and events[step.terminal]["data"]["status"] == "completed"
        and events[step.terminal]["data"]["type"] == "tool_calls"
        and not _has_function(events[step.terminal])
        and step.run_id in runs
        and runs[step.run_id].indices[0] < step.created
    ]
    how = _variant(draw, wait=bool(waits), call=bool(steps))
    if how == "call":
        step = draw(st.sampled_from(steps))
        assert step.terminal is not None
        for i in step.snapshots:
            output = "done" if i == step.terminal else None
            function = {"name": "f", "arguments": "{}", "output": output}
            call = {"id": "call_0", "type": "function", "function": function}
            _own(events, i)["step_details"]["tool_calls"].append(call)
        return events, f"{_where(events, step.terminal)}: a function call added to the step"
    i, queued = draw(st.sampled_from(waits))
    where = _where(events, i)
    # The run never asks: it goes on in progress, and the step completes all the same.
    del events[queued]
    del events[i]
    return events, f"{where} dropped, and the run's queued after it"


_MUTATORS: Final[Mapping[str, tuple[Mutation, str]]] = {
    "object-type": (_object_type, "set a snapshot's object to another object type"),
    "details-type-mismatch": (
        _details_type_mismatch,
        "swap a snapshot's step_details for the other type's",
    ),
    "stamp-mismatch": (
        _stamp_mismatch,
        "null a terminal snapshot's own stamp, set a second one, or stamp an in_progress one",
    ),
    "stamp-before-created": (_stamp_before_created, "move a terminal stamp before created_at"),
    "usage-before-completion": (_usage_before_completion, "put usage on an in_progress snapshot"),
    "usage-without-completion": (
        _usage_without_completion,
        "end a step failed, cancelled or expired, with usage",
    ),
    "usage-missing": (_usage_missing, "end a step completed, without usage"),
    "usage-total": (_usage_total, "end a step completed, with a wrong total or a negative count"),
    "error-without-failure": (_error_without_failure, "put last_error on a non-failed snapshot"),
    "failure-without-error": (_failure_without_error, "end a step failed, without last_error"),
    "metadata-limits": (
        _metadata_limits,
        "give a snapshot 17 pairs, a 65-char key, a 513-char value or a non-string value",
    ),
    "unknown-value": (
        _unknown_value,
        "end a step failed with an undocumented error code, or hyphenate a ranker",
    ),
    "run-object-type": (_run_object_type, "set a run snapshot's object to another object type"),
    "run-stamp-mismatch": (
        _run_stamp_mismatch,
        "null an ended run's own stamp, or set a stamp its status does not carry",
    ),
    "run-stamp-before-created": (
        _run_stamp_before_created,
        "move a run's started_at before its created_at",
    ),
    "run-usage-before-terminal": (
        _run_usage_before_terminal,
        "put usage on a run snapshot that has not ended",
    ),
    "run-usage-total": (
        _run_usage_total,
        "end a run with a wrong usage total or a negative count",
    ),
    "run-required-action": (
        _run_required_action,
        "put required_action on a run that does not require action, or null a waiting run's",
    ),
    "run-error-without-failure": (
        _run_error_without_failure,
        "put last_error on a run snapshot that did not fail",
    ),
    "run-failure-without-error": (
        _run_failure_without_error,
        "end a run failed, without last_error",
    ),
    "run-incomplete-details": (
        _run_incomplete_details,
        "put incomplete_details on a run that is not incomplete, or null an incomplete run's",
    ),
    "malformed-event": (
        _malformed_event,
        "truncate a line, write created_at as a string, or make a delta's body an array "
        "(an event whose loss changes no status)",
    ),
    "timestamp-not-unix": (
        _timestamp_not_unix,
        "write one stamp of a step or run snapshot as an ISO-8601 date-time of the same second",
    ),
    "unknown-step": (_unknown_step, "point a delta at a step never seen, or insert such a delta"),
    "adopted-step": (_adopted_step, "drop a step's created event"),
    "duplicate-created": (
        _duplicate_created,
        "repeat a step's or a run's created event later, or swap a step's with its in_progress",
    ),
    "after-terminal": (
        _after_terminal,
        "repeat a step's or a run's terminal event later, or move a step's before an earlier "
        "event of it",
    ),
    "status-mismatch": (
        _status_mismatch,
        "rename a step's terminal event to another one, or a run event to another run event",
    ),
    "illegal-transition": (
        _illegal_transition,
        "queue a run again right before its end, or drop its cancelling event (a step's "
        "illegal triggers only Lifecycle sees: see below)",
    ),
    "identity-changed": (
        _identity_changed,
        "change run_id, thread_id or assistant_id in a later snapshot of a step, or a run's "
        "created_at (thread_id, assistant_id at its end) in a later run event",
    ),
    "delta-type-mismatch": (
        _delta_type_mismatch,
        "insert a delta of the other step type while the step is live (its run neither waiting "
        "for tool outputs nor ended)",
    ),
    "snapshot-diverged": (
        _snapshot_diverged,
        "insert a delta whose content the step's final snapshot does not show (where a delta "
        "may come)",
    ),
    "dangling-step": (
        _dangling_step,
        "drop a step's terminal event, and its run's end (the capture stops before the run ends)",
    ),
    "empty-stream": (_empty_stream, "remove every line (blank lines may remain)"),
    "unknown-event": (
        _unknown_event,
        "insert a copy of an event under `thread.run.` with the last letter of its name dropped",
    ),
    "step-outside-run": (
        _step_outside_run,
        "insert a new step, created and ended, while its run is queued, requires action, "
        "is cancelling or has ended",
    ),
    "run-finished-with-open-steps": (
        _run_finished_with_open_steps,
        "drop the terminal event of a step whose run then ends, otherwise than by expiring",
    ),
    "step-run-mismatch": (
        _step_run_mismatch,
        "change a step's thread_id or assistant_id in every snapshot of it",
    ),
    "step-outlives-run": (
        _step_outlives_run,
        "move a step's end stamp after its run's end stamp, or the run's before it",
    ),
    "expiry-not-propagated": (
        _expiry_not_propagated,
        "drop the terminal event of a step, and make its run's end an expiry",
    ),
    "dangling-run": (
        _dangling_run,
        "drop the end of a run created in the stream, after its steps all ended",
    ),
    "function-call-without-action": (
        _function_call_without_action,
        "drop a run's requires_action (and the queued after it), or add a pending function "
        "call to a completed tool step: the call completes without the run asking",
    ),
    "tool-calls-without-action": (
        _tool_calls_without_action,
        "make a run require action (then queue it again) before any step of it",
    ),
}

MUTATIONS: Final[Mapping[str, str]] = {code: text for code, (_, text) in _MUTATORS.items()}
"""For each rule a mutation produces, what the mutation does (see `UNREACHABLE_RULES`)."""


@st.composite
def _invalid_event_streams(
    draw: st.DrawFn, rules: tuple[str, ...], base: st.SearchStrategy[EventStream]
) -> InvalidStream:
    rule = draw(st.sampled_from(rules))
    events = list(draw(base))
    mutate, _ = _MUTATORS[rule]
    mutated, description = mutate(draw, events)
    if isinstance(mutated, _Lines):
        return InvalidStream(lines=mutated.lines, rule=rule, description=description)
    return InvalidStream(
        lines=to_jsonl_lines(mutated), rule=rule, description=description, events=mutated
    )


def invalid_event_streams(
    *,
    rule: str | Collection[str] | None = None,
    base: st.SearchStrategy[EventStream] | None = None,
) -> st.SearchStrategy[InvalidStream]:
    """Streams broken by exactly one mutation, each with the rule it breaks.

    `rule` picks the rule (a code, or several; every code of `MUTATIONS` when
    None). `base` is the strategy for the valid streams to break (by default
    `event_streams` with up to two interleaved runs); a mutation that finds
    nothing to break in a base stream (no delta, no ended step) rejects it.
    Raises `InvalidArgument` for a code not in the catalogue, or one listed in
    `UNREACHABLE_RULES`.
    """
    if rule is None:
        chosen = tuple(_MUTATORS)
    else:
        codes = (rule,) if isinstance(rule, str) else tuple(rule)
        if not codes or not all(isinstance(code, str) for code in codes):
            raise InvalidArgument(f"rule={rule!r} must be a rule code or a collection of them")
        for code in codes:
            if code in UNREACHABLE_RULES:
                raise InvalidArgument(
                    f"no stream mutation breaks {code!r} alone: {UNREACHABLE_RULES[code]}"
                )
            if code not in _MUTATORS:
                raise InvalidArgument(
                    f"{code!r} is not a rule code; known: {', '.join(sorted(CATALOGUE))}"
                )
        chosen = tuple(code for code in _MUTATORS if code in codes)
    if base is None:
        base = event_streams(max_runs=2, interleave=True)
    else:
        check_strategy(base, "base")
    return _invalid_event_streams(chosen, base)
