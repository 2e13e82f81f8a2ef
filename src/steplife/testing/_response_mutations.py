"""Invalid Responses streams: one known defect each, and the rule a validator must report.

Each mutation takes a valid stream from `response_streams` and breaks it in exactly
one place, so that a fresh `ResponseTracker` (then ``finish()``) reports exactly one
rule: for an error-level rule, the error findings name that rule and no other; for a
warning-level rule, that warning appears and no error does. Every new rule of the
Responses API has one, and so do the stream rules it shares with the Assistants API.
A mutation that finds nothing to break in a base stream (no item of the kind it
needs) rejects it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from steplife import CATALOGUE
from steplife.testing._mutations import InvalidStream
from steplife.testing._response_streams import (
    ResponseStream,
    response_streams,
    to_response_jsonl_lines,
)
from steplife.testing._strategies import check_strategy

__all__ = ["RESPONSE_MUTATIONS", "invalid_response_streams"]

Mutated = tuple[ResponseStream, str]
Mutation = Callable[[st.DrawFn, ResponseStream], Mutated]

_ADDED: Final = "response.output_item.added"
_DONE: Final = "response.output_item.done"
_ENDINGS: Final = ("response.completed", "response.incomplete", "response.failed")
_OWN_END: Final = frozenset(
    ("web_search_call", "file_search_call", "code_interpreter_call", "mcp_list_tools", "mcp_call")
)
_DELTAS: Final = frozenset(
    (
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_summary_text.delta",
        "response.code_interpreter_call_code.delta",
        "response.mcp_call_arguments.delta",
    )
)


def _renumbered(events: ResponseStream) -> ResponseStream:
    """`events` numbered again from where they started (after one was added or dropped)."""
    numbers = [e["data"].get("sequence_number") for e in events]
    start = next((n for n in numbers if type(n) is int), None)
    if start is None:
        return events
    for offset, event in enumerate(events):
        if "sequence_number" in event["data"]:
            event["data"] = {**event["data"], "sequence_number": start + offset}
    return events


def _indices(events: ResponseStream, *names: str) -> list[int]:
    return [i for i, event in enumerate(events) if event["event"] in names]


def _pick(draw: st.DrawFn, indices: list[int]) -> int:
    assume(indices)
    return draw(st.sampled_from(indices))


def _numbered(events: ResponseStream) -> bool:
    return "sequence_number" in events[0]["data"]


def _terminal(events: ResponseStream) -> int:
    return _indices(events, *_ENDINGS)[-1]


def _snapshot_of(events: ResponseStream, name: str) -> int:
    found = _indices(events, name)
    assume(found)
    return found[0]


def _at(what: str, events: ResponseStream, i: int) -> str:
    return f"{what} (event {i + 1}, {events[i]['event']})"


def _items(events: ResponseStream, *, done: bool = True) -> dict[int, dict[str, Any]]:
    """Each item's final snapshot by index (its ``.done``), or as added when not `done`."""
    name = _DONE if done else _ADDED
    return {e["data"]["output_index"]: e["data"]["item"] for e in events if e["event"] == name}


# -- the response's own rules ----------------------------------------------------------------


def _set_in(events: ResponseStream, i: int, **changes: Any) -> None:
    data = copy.deepcopy(events[i]["data"])
    data["response"].update(changes)
    events[i] = {**events[i], "data": data}


def _response_object_type(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.in_progress")
    _set_in(events, i, object="thread.run")
    return events, _at("the response's object is 'thread.run'", events, i)


def _response_usage_before_terminal(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.in_progress")
    _set_in(events, i, usage={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3})
    return events, _at("usage on the in_progress response", events, i)


def _response_usage_total(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    usage = events[i]["data"]["response"]["usage"]
    assume(usage is not None)
    _set_in(events, i, usage={**usage, "total_tokens": usage["total_tokens"] + 1})
    return events, _at("total_tokens one too many", events, i)


def _response_error_without_failure(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    assume(events[i]["event"] != "response.failed")
    _set_in(events, i, error={"code": "server_error", "message": "x"})
    return events, _at("an error on a response that did not fail", events, i)


def _failed_instead(events: ResponseStream, i: int, **changes: Any) -> None:
    data = copy.deepcopy(events[i]["data"])
    data["type"] = "response.failed"
    data["response"].update(
        status="failed",
        completed_at=None,
        usage=None,
        incomplete_details=None,
        error={"code": "server_error", "message": "x"},
    )
    data["response"].update(changes)
    events[i] = {"event": "response.failed", "data": data}


def _response_failure_without_error(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    _failed_instead(events, i, error=None)
    return events, _at("the response fails without an error", events, i)


def _response_incomplete_details(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    data = copy.deepcopy(events[i]["data"])
    data["type"] = "response.incomplete"
    data["response"].update(
        status="incomplete", completed_at=None, error=None, incomplete_details=None
    )
    events[i] = {"event": "response.incomplete", "data": data}
    return events, _at("the response is incomplete without incomplete_details", events, i)


def _response_completed_at(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.in_progress")
    created = events[i]["data"]["response"]["created_at"]
    _set_in(events, i, completed_at=created)
    return events, _at("completed_at on the in_progress response", events, i)


def _response_finished_with_open_items(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    own = {
        e["data"]["output_index"]
        for e in events
        if e["event"].endswith(".completed") and "output_index" in e["data"]
    }
    dones = [i for i in _indices(events, _DONE) if events[i]["data"]["output_index"] not in own]
    i = _pick(draw, dones)
    description = _at("the item's output_item.done is dropped", events, i)
    del events[i]
    return _renumbered(events), description


# -- items -----------------------------------------------------------------------------------


def _item_status_type(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    dones = [
        i
        for i in _indices(events, _DONE)
        if events[i]["data"]["item"]["type"] in ("message", "function_call", "custom_tool_call")
    ]
    i = _pick(draw, dones)
    data = copy.deepcopy(events[i]["data"])
    data["item"]["status"] = "failed"
    events[i] = {**events[i], "data": data}
    return events, _at(f"a {data['item']['type']} ends failed, a status it has not", events, i)


# -- numbering -------------------------------------------------------------------------------


def _sequence_gap(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    assume(_numbered(events))
    i = _pick(draw, _indices(events, *_DELTAS))
    description = _at("a delta is lost, its number with it", events, i)
    del events[i]
    return events, description


def _sequence_repeated(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    assume(_numbered(events))
    i = _pick(draw, _indices(events, *_DELTAS))
    events.insert(i + 1, copy.deepcopy(events[i]))
    return events, _at("a delta is sent twice, with its number", events, i)


def _sequence_missing(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    assume(_numbered(events))
    i = _pick(draw, list(range(1, len(events))))
    data = dict(events[i]["data"])
    del data["sequence_number"]
    events[i] = {**events[i], "data": data}
    return events, _at("one event carries no sequence_number", events, i)


def _event_type_mismatch(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, *_DELTAS))
    events[i] = {**events[i], "event": "response.refusal.delta"}
    return events, _at("the event is named response.refusal.delta, its data.type is not", events, i)


# -- items in the stream ---------------------------------------------------------------------


def _unknown_item(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, *_DELTAS))
    data = {**events[i]["data"], "output_index": 99}
    events[i] = {**events[i], "data": data}
    return events, _at("a delta for output_index 99, never added", events, i)


def _item_type_mismatch(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, _ADDED))
    item = events[i]["data"]["item"]
    name = (
        "response.function_call_arguments.delta"
        if item["type"] == "message"
        else "response.output_text.delta"
    )
    at = {"item_id": item["id"], "output_index": events[i]["data"]["output_index"]}
    data: dict[str, Any] = {"type": name, "sequence_number": 0, **at, "delta": "x"}
    if name == "response.output_text.delta":
        data.update(content_index=0, logprobs=[])
    if not _numbered(events):
        del data["sequence_number"]
    events.insert(i + 1, {"event": name, "data": data})
    return _renumbered(events), _at(f"{name} on a {item['type']} item", events, i + 1)


def _item_index_mismatch(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, *_DELTAS))
    data = {**events[i]["data"], "item_id": "item_elsewhere"}
    events[i] = {**events[i], "data": data}
    return events, _at("a delta names another item than the one at its index", events, i)


def _item_done_missing(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    dones = [i for i in _indices(events, _DONE) if events[i]["data"]["item"]["type"] in _OWN_END]
    i = _pick(draw, dones)
    description = _at("an item its own event ended gets no output_item.done", events, i)
    del events[i]
    return _renumbered(events), description


def _dangling_response(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    description = _at("the stream stops before the response ends", events, i)
    del events[i:]
    return events, description


# -- the stream rules shared with the Assistants API -----------------------------------------


def _after_terminal(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, *_DELTAS))
    events.append(copy.deepcopy(events[i]))
    return _renumbered(events), _at("a delta again after the response ended", events, i)


def _status_mismatch(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    added = [
        i
        for i in _indices(events, _ADDED)
        if "status" in events[i]["data"]["item"]
        and events[i]["data"]["item"]["type"] not in _OWN_END
    ]
    i = _pick(draw, added)
    data = copy.deepcopy(events[i]["data"])
    # Already in the status it ends in: only the added event is wrong.
    data["item"]["status"] = _items(events)[data["output_index"]]["status"]
    events[i] = {**events[i], "data": data}
    return events, _at("an item is added already ended", events, i)


def _illegal_transition(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.in_progress")
    queued = copy.deepcopy(events[i])
    queued["event"] = "response.queued"
    queued["data"]["type"] = "response.queued"
    queued["data"]["response"]["status"] = "queued"
    events.insert(i + 1, queued)
    return _renumbered(events), _at("the response goes back to queued", events, i + 1)


def _duplicate_created(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.created")
    events.insert(i + 1, copy.deepcopy(events[i]))
    return _renumbered(events), _at("response.created is sent twice", events, i + 1)


def _identity_changed(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _snapshot_of(events, "response.in_progress")
    created = events[i]["data"]["response"]["created_at"]
    _set_in(events, i, created_at=created + 1)
    return events, _at("the response's created_at changes", events, i)


def _malformed_event(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    # Not the snapshot that starts a background response: it would stay queued.
    queued = _indices(events, "response.queued")
    i = queued[0] if queued else _snapshot_of(events, "response.in_progress")
    _set_in(events, i, created_at="yesterday")
    return events, _at("the response's created_at is a string", events, i)


def _unknown_event(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _pick(draw, _indices(events, _ADDED))
    misspelt: dict[str, Any] = {"type": "response.output_itme.added", "sequence_number": 0}
    if not _numbered(events):
        del misspelt["sequence_number"]
    events.insert(i, {"event": "response.output_itme.added", "data": misspelt})
    return _renumbered(events), _at("a misspelt event", events, i)


def _unknown_value(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    index = draw(st.sampled_from(sorted(_items(events, done=False))))
    for i, event in enumerate(events):
        data = event["data"]
        if event["event"] in (_ADDED, _DONE) and data["output_index"] == index:
            data = copy.deepcopy(data)
            data["item"]["type"] = "hologram"
            events[i] = {**event, "data": data}
        elif event["event"] in _ENDINGS:
            data = copy.deepcopy(data)
            data["response"]["output"][index]["type"] = "hologram"
            events[i] = {**event, "data": data}
    return events, f"the item at output_index {index} is of an undocumented type"


def _snapshot_diverged(draw: st.DrawFn, events: ResponseStream) -> Mutated:
    i = _terminal(events)
    output = events[i]["data"]["response"]["output"]
    assume(output)
    index = draw(st.integers(0, len(output) - 1))
    data = copy.deepcopy(events[i]["data"])
    data["response"]["output"][index]["id"] += "_final"
    events[i] = {**events[i], "data": data}
    return events, _at(f"the final output renames the item at {index}", events, i)


_MUTATORS: Final[Mapping[str, tuple[Mutation, str]]] = {
    "response-object-type": (
        _response_object_type,
        "the in_progress response's `object` becomes 'thread.run'",
    ),
    "response-usage-before-terminal": (
        _response_usage_before_terminal,
        "the in_progress response carries usage",
    ),
    "response-usage-total": (_response_usage_total, "the final usage's total is one too many"),
    "response-error-without-failure": (
        _response_error_without_failure,
        "a completed or incomplete response carries an error",
    ),
    "response-failure-without-error": (
        _response_failure_without_error,
        "the response ends failed with a null error",
    ),
    "response-incomplete-details": (
        _response_incomplete_details,
        "the response ends incomplete with null incomplete_details",
    ),
    "response-completed-at": (
        _response_completed_at,
        "the in_progress response carries completed_at",
    ),
    "response-finished-with-open-items": (
        _response_finished_with_open_items,
        "an item's output_item.done is dropped (an item no own event ends)",
    ),
    "item-status-type": (
        _item_status_type,
        "a message, function or custom tool call ends `failed`, a status its type has not",
    ),
    "sequence-gap": (_sequence_gap, "a delta is dropped, numbers kept"),
    "sequence-repeated": (_sequence_repeated, "a delta is sent twice with its number"),
    "sequence-missing": (_sequence_missing, "one event loses its sequence_number"),
    "event-type-mismatch": (
        _event_type_mismatch,
        "a delta's event name becomes response.refusal.delta, its data.type stays",
    ),
    "unknown-item": (_unknown_item, "a delta's output_index becomes 99, never added"),
    "item-type-mismatch": (
        _item_type_mismatch,
        "an event of another item type is sent for an item (a text delta on a tool call)",
    ),
    "item-index-mismatch": (_item_index_mismatch, "a delta names another item_id"),
    "item-done-missing": (
        _item_done_missing,
        "the output_item.done of an item its own event ended (a web search, ...) is dropped",
    ),
    "dangling-response": (_dangling_response, "the stream stops before the response's end"),
    "after-terminal": (_after_terminal, "a delta is sent again after the response ended"),
    "status-mismatch": (_status_mismatch, "an item is added already in the status it ends in"),
    "illegal-transition": (
        _illegal_transition,
        "a response.queued follows response.in_progress",
    ),
    "duplicate-created": (_duplicate_created, "response.created is sent twice"),
    "identity-changed": (_identity_changed, "the in_progress response's created_at moves"),
    "malformed-event": (_malformed_event, "the in_progress response's created_at is a string"),
    "unknown-event": (_unknown_event, "a misspelt `response.output_itme.added` is inserted"),
    "unknown-value": (_unknown_value, "an item becomes of an undocumented type"),
    "snapshot-diverged": (
        _snapshot_diverged,
        "the final response renames one of the items its stream added",
    ),
}

RESPONSE_MUTATIONS: Final[Mapping[str, str]] = {code: text for code, (_, text) in _MUTATORS.items()}
"""For each rule a Responses stream mutation produces, what the mutation does."""


@st.composite
def _invalid_response_streams(
    draw: st.DrawFn, rules: tuple[str, ...], base: st.SearchStrategy[ResponseStream]
) -> InvalidStream:
    rule = draw(st.sampled_from(rules))
    events = copy.deepcopy(list(draw(base)))
    mutate, _ = _MUTATORS[rule]
    mutated, description = mutate(draw, events)
    return InvalidStream(
        lines=to_response_jsonl_lines(mutated), rule=rule, description=description, events=mutated
    )


def invalid_response_streams(
    *,
    rule: str | Collection[str] | None = None,
    base: st.SearchStrategy[ResponseStream] | None = None,
) -> st.SearchStrategy[InvalidStream]:
    """Responses streams broken by exactly one mutation, each with the rule it breaks.

    `rule` picks the rule (a code, or several; every code of `RESPONSE_MUTATIONS`
    when None). `base` is the strategy for the valid streams to break (by default
    `response_streams` with up to three items, numbered, started from
    ``response.created``). Raises `InvalidArgument` for a code with no Responses
    mutation.
    """
    if rule is None:
        chosen = tuple(_MUTATORS)
    else:
        codes = (rule,) if isinstance(rule, str) else tuple(rule)
        if not codes or not all(isinstance(code, str) for code in codes):
            raise InvalidArgument(f"rule={rule!r} must be a rule code or a collection of them")
        for code in codes:
            if code not in _MUTATORS:
                known = "a rule code" if code in CATALOGUE else "no rule code"
                raise InvalidArgument(
                    f"{code!r} is {known} with no Responses stream mutation; "
                    f"known: {', '.join(sorted(_MUTATORS))}"
                )
        chosen = tuple(code for code in _MUTATORS if code in codes)
    if base is None:
        base = response_streams()
    else:
        check_strategy(base, "base")
    return _invalid_response_streams(chosen, base)
