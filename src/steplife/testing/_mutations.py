"""Invalid event streams with one known defect, and the rule a validator must report.

Each mutation takes a valid stream from `event_streams` and breaks it in exactly one
place, so that a fresh `Tracker` (then ``finish()``) reports exactly one rule: for an
error-level rule, the error findings name that rule and no other; for a
warning-level rule, that warning appears and no error does. Other warnings may come
along (a dropped ``created`` event leaves an adopted step, for instance).

A few rules of the catalogue cannot be produced by mutating a stream alone;
`UNREACHABLE_RULES` says which, and why.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from steplife import CATALOGUE, Severity
from steplife.testing._strategies import STAMP_OF, check_strategy, last_errors, usages
from steplife.testing._streams import (
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
    "illegal-transition": (
        "the Tracker only moves in_progress steps, and every event for a step that already "
        "ended is after-terminal (duplicate-created for a created event); an illegal "
        "trigger is rejected by Lifecycle (IllegalTransitionError), as the stateful "
        "machine checks"
    ),
    "time-travel": (
        "a stream can only hold an earlier stamp than one already seen for the step "
        "if an in_progress snapshot carries a stamp (stamp-mismatch) or a later created_at "
        "(identity-changed), so it never comes alone"
    ),
}
"""The catalogue rules no single stream mutation produces on its own, with the reason."""


# -- finding the events of each step -----------------------------------------------


@attrs.define
class _Step:
    created: int | None = None
    snapshots: list[int] = attrs.Factory(list)  # created, in_progress and terminal
    deltas: list[int] = attrs.Factory(list)
    terminal: int | None = None


_TERMINAL_KINDS: Final = frozenset(STAMP_OF)
_SNAPSHOT_KINDS: Final = frozenset(("created", "in_progress")) | _TERMINAL_KINDS
_OTHER_STATUSES: Final = ("failed", "cancelled", "expired")
_UNDOCUMENTED_CODES: Final = ("invalid_prompt", "internal_error", "content_filter")


def _kind(event: Mapping[str, Any]) -> str | None:
    name = event["event"]
    return name[len(STEP_EVENT) :] if name.startswith(STEP_EVENT) else None


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
        if kind == "created":
            step.created = i
        elif kind in _TERMINAL_KINDS:
            step.terminal = i
    return found


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


# -- the mutations, one per rule ---------------------------------------------------


@attrs.frozen
class _Lines:
    """A mutation's result that exists only as rendered lines (a cut line, say)."""

    lines: list[bytes]


Mutated = tuple[EventStream | _Lines, str]
Mutation = Callable[[st.DrawFn, EventStream], Mutated]


def _object_type(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events))
    value = draw(st.sampled_from(("thread.run", "thread.message", "run_step")))
    _own(events, i)["object"] = value
    return events, f"{_where(events, i)}: object set to {value!r}"


def _details_type_mismatch(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events))
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
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    status = draw(st.sampled_from(_OTHER_STATUSES))
    error = _last_error(draw) if status == "failed" else None
    _retarget(events, i, status, usage=_usage(draw), last_error=error)
    return events, f"{_where(events, i)}: the step now ends {status}, with usage"


def _usage_missing(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    _retarget(events, i, "completed", usage=None, last_error=None)
    return events, f"{_where(events, i)}: the step now completes without usage"


def _usage_total(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    usage = _usage(draw)
    if draw(st.booleans()):
        usage["prompt_tokens"] = -draw(st.integers(1, 1000))
    else:
        usage["total_tokens"] += draw(st.integers(1, 1000))
    _retarget(events, i, "completed", usage=usage, last_error=None)
    return events, f"{_where(events, i)}: the step now completes with usage {usage}"


def _error_without_failure(draw: st.DrawFn, events: EventStream) -> Mutated:
    candidates = [i for i in _snapshot_indices(events) if events[i]["data"]["status"] != "failed"]
    i = _pick(draw, candidates)
    _own(events, i)["last_error"] = _last_error(draw)
    return events, f"{_where(events, i)}: last_error set on a {events[i]['data']['status']} step"


def _failure_without_error(draw: st.DrawFn, events: EventStream) -> Mutated:
    i = _pick(draw, _snapshot_indices(events, terminal=True))
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
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    code = draw(st.sampled_from(_UNDOCUMENTED_CODES))
    _retarget(events, i, "failed", usage=None, last_error={"code": code, "message": "oops"})
    return events, f"{_where(events, i)}: the step now fails with last_error.code {code!r}"


def _malformed_event(draw: st.DrawFn, events: EventStream) -> Mutated:
    deltas = [i for i, e in enumerate(events) if _kind(e) == "delta"]
    how = draw(
        st.sampled_from(("truncate", "schema", "delta") if deltas else ("truncate", "schema"))
    )
    if how == "schema":
        i = _pick(draw, _snapshot_indices(events))
        data = _own(events, i)
        data["created_at"] = str(data["created_at"])
        return events, f"{_where(events, i)}: created_at written as a string"
    if how == "delta":
        i = draw(st.sampled_from(deltas))
        _own(events, i)["delta"] = []
        return events, f"{_where(events, i)}: delta is an array, not an object"
    lines = to_jsonl_lines(events)
    i = draw(st.integers(0, len(lines) - 1))
    text = lines[i].rstrip(b"\n")
    cut = draw(st.integers(1, len(text) - 1))
    # A cut-off capture loses its last newline; a line cut inside keeps it.
    lines[i] = text[:cut] + (b"" if i == len(lines) - 1 else b"\n")
    return _Lines(lines), f"line {i + 1} ({events[i]['event']}) truncated after {cut} bytes"


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
    assume(steps)
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
    assume(steps)
    step = draw(st.sampled_from(steps))
    assert step.terminal is not None
    earlier = sorted(
        i for i in (*step.snapshots, *step.deltas) if i not in (step.created, step.terminal)
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
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    status = events[i]["data"]["status"]
    name = STEP_EVENT + draw(st.sampled_from(sorted(s for s in STAMP_OF if s != status)))
    where = _where(events, i)
    events[i] = {**events[i], "event": name}
    return events, f"{where} renamed {name}, its payload still {status!r}"


def _identity_changed(draw: st.DrawFn, events: EventStream) -> Mutated:
    later = [i for s in _steps(events).values() for i in s.snapshots[1:]]
    i = _pick(draw, sorted(later))
    name = draw(st.sampled_from(("run_id", "thread_id", "assistant_id")))
    data = _own(events, i)
    data[name] = data[name] + "_changed"
    return events, f"{_where(events, i)}: {name} changed mid-stream to {data[name]!r}"


def _live_span(draw: st.DrawFn, events: EventStream) -> tuple[str, str, int]:
    """A step that is created and ends, its type, and a place where it is live."""
    steps = [
        (step_id, s)
        for step_id, s in _steps(events).items()
        if s.created is not None and s.terminal is not None
    ]
    assume(steps)
    step_id, step = draw(st.sampled_from(steps))
    assert step.created is not None
    assert step.terminal is not None
    at = draw(st.integers(step.created + 1, step.terminal))
    return step_id, events[step.created]["data"]["type"], at


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
    i = _pick(draw, _snapshot_indices(events, terminal=True))
    where = _where(events, i)
    del events[i]
    return events, f"{where} dropped"


def _empty_stream(draw: st.DrawFn, events: EventStream) -> Mutated:
    blank = draw(st.integers(0, 3))
    what = f"{blank} blank lines" if blank else "nothing"
    return _Lines([b"\n"] * blank), f"every line removed: the input holds {what}"


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
    "malformed-event": (
        _malformed_event,
        "truncate a line, write created_at as a string, or make a delta's body an array",
    ),
    "unknown-step": (_unknown_step, "point a delta at a step never seen, or insert such a delta"),
    "adopted-step": (_adopted_step, "drop a step's created event"),
    "duplicate-created": (
        _duplicate_created,
        "repeat a created event later, or swap it with the step's in_progress",
    ),
    "after-terminal": (
        _after_terminal,
        "repeat a terminal event later, or move it before an earlier event of its step",
    ),
    "status-mismatch": (_status_mismatch, "rename a terminal event to another terminal event"),
    "identity-changed": (
        _identity_changed,
        "change run_id, thread_id or assistant_id in a later snapshot of a step",
    ),
    "delta-type-mismatch": (
        _delta_type_mismatch,
        "insert a delta of the other step type while the step is live",
    ),
    "snapshot-diverged": (
        _snapshot_diverged,
        "insert a delta whose content the step's final snapshot does not show",
    ),
    "dangling-step": (_dangling_step, "drop a step's terminal event"),
    "empty-stream": (_empty_stream, "remove every line (blank lines may remain)"),
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
