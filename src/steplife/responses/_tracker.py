"""Replaying Responses streams: the ResponseTracker follows each response and its items.

A Responses stream is one response's events, numbered from 0 by ``sequence_number``
(streams recorded before May 2025 number none); an item event names the item by its
``output_index`` (and ``item_id``), never the response: it belongs to the response the
stream is about. One tracker follows several streams one after the other (a file of
several recordings, or a stream and its resumption): a ``response.created`` starts the
next response and its numbering, and `ResponseTracker.resume` says that the events to
come resume a stream after a number (the API's ``starting_after``).

As the Assistants `steplife.Tracker` does, the tracker records every finding and goes
on (or, ``strict``, raises `StreamError` at the first error, the event changing
nothing); statuses are judged by the response's and the item's machines, read off
their definitions; each snapshot is checked with the catalogue's rules.

What the real captures show as normal passes: a stream that begins mid-way (a resumed
one: no ``response.created``, numbers from N+1), items without status, an MCP tool
list closed by its own event without ``output_item.done`` (a warning), a
``computer_call`` left ``in_progress`` in a completed response (it waits for the
client), ``service_tier`` and other unmodelled keys changing between snapshots, an
``error`` event before ``response.failed``, a ``[DONE]`` sentinel, and interleaved
items (a third-party server closes one item before an earlier one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from steplife._events import Event
from steplife._findings import Finding, Severity, shown
from steplife._pending import FindingBuffer
from steplife._rules import DEFAULT_RULES, Rules
from steplife._sdk import plain
from steplife.errors import StreamError
from steplife.responses._checks import compiled, open_item_problem
from steplife.responses._events import EVENTS, Spec, Where
from steplife.responses._lifecycle import (
    RESPONSE_MOVES,
    item_trigger_between,
    response_trigger_between,
)
from steplife.responses._model import (
    AWAITING_CLIENT,
    ITEM_TERMINAL_STATUSES,
    ITEM_TYPE_STATUSES,
    RESPONSE_STATUSES,
    RESPONSE_TERMINAL_STATUSES,
    OutputItem,
    Response,
)
from steplife.responses._wire import structure_item, structure_response

__all__ = ["ResponseTracker"]

_NO_DATA: Final[Any] = object()


def _reachable() -> dict[str, frozenset[str]]:
    """Each response status -> the statuses some path of the machine leads it to (itself too)."""
    found: dict[str, frozenset[str]] = {}
    for start in RESPONSE_STATUSES:
        seen: set[str] = {start}
        todo: list[str] = [start]
        while todo:
            status = todo.pop()
            for (source, _), dest in RESPONSE_MOVES.items():
                if source == status and dest not in seen:
                    seen.add(dest)
                    todo.append(dest)
        found[start] = frozenset(seen)
    return found


_REACHABLE: Final = _reachable()
_CREATED_STATUSES: Final = frozenset(("queued", "in_progress"))
_OPEN_ITEMS: Final = "response-finished-with-open-items"


@attrs.define(eq=False)
class _Item:
    """What the tracker knows of one output item."""

    index: int
    id: str | None
    type: str
    status: str | None
    """As last sent, or as the item's own status events moved it (None: never said)."""
    snapshot: OutputItem
    where: Where
    done: bool = False


@attrs.define(eq=False)
class _ResponseState:
    """What the tracker knows of one response and the stream that carries it."""

    id: str | None = None
    response: Response | None = None
    raw: dict[str, Any] | None = None
    created_at: int | None = None
    """As first seen: ``created_at`` never changes."""
    from_start: bool = False
    """Whether the stream was followed from its start (its ``response.created`` or number 0)."""
    items: dict[int, _Item] = attrs.Factory(dict)
    where: Where = (None, 0, 0)
    ended: bool = False


@attrs.define(eq=False)
class _Numbering:
    """The stream's ``sequence_number`` so far."""

    numbered: bool | None = None
    """Whether the stream numbers its events (None: no event yet)."""
    last: int | None = None
    replayed: int | None = None
    """After `ResponseTracker.resume`: the highest number whose event was already applied."""


class ResponseTracker(FindingBuffer):
    """Consumes Responses stream events one by one and follows each response and its items.

    In *collect* mode (the default) every finding is recorded in `findings` and the
    replay goes on; with ``strict=True`` the first error-level finding raises
    `StreamError` before the event changes anything. Call `finish` at the end of
    input: a response still open is a ``dangling-response`` (an error with
    ``require_terminal``). ``on_finding`` hears every finding as it is recorded.

    `feed`, `consume` and `aconsume` take ``(name, data)``, steplife `Event` s,
    ``{"event", "data"}`` mappings, bare typed events (``{"type": ...}``) and the
    openai SDK's own Responses events (pydantic models with ``type``).
    """

    def __init__(
        self,
        *,
        rules: Rules = DEFAULT_RULES,
        strict: bool = False,
        require_terminal: bool = False,
        on_finding: Callable[[Finding], object] | None = None,
    ) -> None:
        self.rules = rules
        self.strict = strict
        self.require_terminal = require_terminal
        self.on_finding = on_finding
        self.findings: list[Finding] = []
        self.events = 0
        self.event_names: Counter[str] = Counter()
        self._checks = compiled(rules)
        self._states: dict[str, _ResponseState] = {}
        self._current = _ResponseState()
        self._numbering = _Numbering()
        self._where: Where = (None, 0, 0)
        self._pending: list[Finding] = []

    # -- reading -----------------------------------------------------------------

    @property
    def responses(self) -> Mapping[str, Response]:
        """The latest snapshot of every response followed, by id."""
        return {
            rid: state.response for rid, state in self._states.items() if state.response is not None
        }

    def items(self, response_id: str) -> list[OutputItem]:
        """The latest snapshot of each item of `response_id` seen in the stream, by index.

        Raises `KeyError` for a response never seen.
        """
        state = self._states[response_id]
        return [state.items[index].snapshot for index in sorted(state.items)]

    def status_of(self, response_id: str) -> str | None:
        """The tracked status of `response_id`, or None when it was never seen."""
        state = self._states.get(response_id)
        return None if state is None or state.response is None else state.response.status

    @property
    def response_statuses(self) -> Counter[str]:
        """How many responses followed are (or ended) in each status."""
        return Counter(state.response.status for state in self._all() if state.response is not None)

    @property
    def item_statuses(self) -> Counter[str]:
        """How many items ended in each status (``done`` for an item that carries none).

        An item ends at its ``output_item.done``, or at its own event (an MCP tool list's
        ``response.mcp_list_tools.completed``) when no ``.done`` follows.
        """
        counted: Counter[str] = Counter()
        for state in self._all():
            for item in state.items.values():
                if item.done or item.status in ITEM_TERMINAL_STATUSES:
                    counted[item.status or "done"] += 1
        return counted

    @property
    def open_items(self) -> list[str]:
        """The ids (or ``#index``) of the items still open, in the order they opened."""
        return [
            item.id or f"#{item.index}"
            for state in self._all()
            for item in state.items.values()
            if not item.done and item.status not in ITEM_TERMINAL_STATUSES
        ]

    @property
    def items_per_response(self) -> Counter[int]:
        """How many responses had each number of items."""
        return Counter(len(state.items) for state in self._all() if state.response is not None)

    @property
    def valid(self) -> bool:
        """Whether no error-level finding was recorded."""
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def _all(self) -> list[_ResponseState]:
        states = list(self._states.values())
        if self._current.id is None and (self._current.items or self._current.response):
            states.append(self._current)
        return states

    # -- feeding -----------------------------------------------------------------

    def consume(self, events: Iterable[object]) -> ResponseTracker:
        """Feed every event of `events`, in order (any shape `feed` takes alone)."""
        for event in events:
            if type(event) is Event:
                self.feed_event(event)
            else:
                self.feed(event)
        return self

    async def aconsume(self, events: AsyncIterable[object]) -> ResponseTracker:
        """`consume` for an async iterable: the openai SDK's async stream, for example."""
        async for event in events:
            self.feed(event)
        return self

    def feed(
        self,
        event: object,
        data: Any = _NO_DATA,
        *,
        file: str | None = None,
        line: int = 0,
        index: int = 0,
    ) -> list[Finding]:
        """Feed one event; return its findings.

        Either its name and its data, or one event object (see the class docstring).
        Raises `TypeError` for anything else, and `StreamError` in strict mode when
        the event breaks an error-level rule (the tracker is then as before the call).
        """
        if data is _NO_DATA:
            if isinstance(event, Event):
                return self.feed_event(event)
            name, data = _event_of(event)
        elif isinstance(event, str):
            name, data = event, plain(data)
        else:
            raise TypeError(
                f"feed(name, data): the name must be a string, not {type(event).__name__}"
            )
        return self.feed_at(name, data, (file, line, index))

    def feed_event(self, event: Event) -> list[Finding]:
        """Feed one `Event` as read from a stream (see `feed`)."""
        where = (event.file, event.line, event.event_index)
        if event.error is not None:
            self._where, self._pending = where, []
            label = f"{event.name}: {event.error}" if event.name else event.error
            self._note("malformed-event", label)
            found = self._commit()
            self.events += 1
            return found
        if event.note is not None:
            self._where, self._pending = where, []
            self._note("sse-missing-blank-line", event.note)
            return self._commit() + self.feed_at(event.name or "", event.data, where)
        return self.feed_at(event.name or "", event.data, where)

    def resume(self, *, starting_after: int) -> None:
        """Say that the events to come resume the stream after number `starting_after`.

        As a client that reconnects with the API's ``starting_after`` gets: the next
        event must be numbered ``starting_after + 1``; the events it replays that this
        tracker already applied are checked for their numbering only.
        """
        if type(starting_after) is not int or starting_after < -1:
            raise ValueError(f"starting_after must be an int >= -1, not {starting_after!r}")
        numbering = self._numbering
        applied = numbering.last
        numbering.last = starting_after
        if applied is not None and applied > starting_after:
            numbering.replayed = applied

    def feed_at(self, name: str, data: Any, where: Where) -> list[Finding]:
        """`feed`, with where the event is as one ``(file, line, index)`` tuple (the hot path)."""
        self._where = where
        self.events += 1
        if type(data) is not dict:
            names = self.event_names
            names[name] = names.get(name, 0) + 1
            if data != "[DONE]":  # the end-of-stream sentinel other servers send
                self._note("malformed-event", f"{name or 'event'}: data is not an object")
                return self._done(name)
            return []
        kind = data.get("type")
        if type(kind) is str:
            if name and name != kind:
                self._note(
                    "event-type-mismatch",
                    f"the event is named {shown(name)} but its data.type is {shown(kind)}",
                )
            name = kind
        elif not name:
            self._note("malformed-event", "data.type: missing or not a string")
            return self._done("")
        names = self.event_names
        names[name] = names.get(name, 0) + 1
        spec = EVENTS.get(name)
        numbering = self._numbering
        number = data.get("sequence_number")
        if (
            type(number) is int
            and numbering.last is not None
            and number == numbering.last + 1
            and numbering.replayed is None
            and spec is not None
            and spec.kind == "item"
        ):
            # The usual event: the next delta of an open item. Checked inline.
            index = data.get("output_index")
            item = self._current.items.get(index) if type(index) is int else None
            if (
                item is not None
                and not item.done
                and item.type in spec.types
                and (item.id is None or data.get("item_id") == item.id)
            ):
                numbering.last = number
                return self._done(name)
        restart = self._restarts(spec, data)
        replay = self._number(name, number, restart)
        if replay is None or self._failed():
            return self._done(name)
        if not replay:
            try:
                self._dispatch(name, spec, data)
            except RecursionError:
                self._pending = []
                self._note("malformed-event", f"{name}: nested too deeply to check")
        if not self._failed():
            self._advance(number, restart)
        return self._done(name)

    def _done(self, name: str) -> list[Finding]:
        if not self._pending:
            return []
        try:
            return self._commit()
        except StreamError:
            self.events -= 1
            names = self.event_names
            names[name] -= 1
            if not names[name]:
                del names[name]
            raise

    # -- numbering ---------------------------------------------------------------

    def _restarts(self, spec: Spec | None, data: dict[str, Any]) -> bool:
        """Whether the event is a ``response.created`` that starts a new response's stream."""
        if spec is None or spec.status != "created" or spec.kind != "response":
            return False
        raw = data.get("response")
        return type(raw) is not dict or raw.get("id") != self._current.id

    def _number(self, name: str, number: object, restart: bool) -> bool | None:
        """Check the event's ``sequence_number``: None to skip it, True for a replay."""
        numbering = self._numbering
        numbered = None if restart else numbering.numbered
        if type(number) is not int:
            if number is not None:
                self._note("malformed-event", f"{name}: sequence_number is not an integer")
                return False
            if numbered:
                self._note(
                    "sequence-missing",
                    f"{name} carries no sequence_number, but this stream numbers its events",
                )
            return False
        if numbered is False:
            self._note(
                "sequence-missing",
                f"{name} is numbered {number}, but this stream's first events carry no "
                "sequence_number",
            )
            return False
        last = numbering.last
        if restart:
            if number != 0:
                self._note(
                    "sequence-gap",
                    f"{name} is numbered {number}: a response's stream numbers its events from 0",
                )
            return False
        if last is None:
            return False
        if number == last + 1:
            return numbering.replayed is not None and number <= numbering.replayed
        if number > last:
            missing = number - last - 1
            self._note(
                "sequence-gap",
                f"{name} is numbered {number} after {last}: "
                f"{missing} event{'s' if missing != 1 else ''} missing",
            )
            return numbering.replayed is not None and number <= numbering.replayed
        self._note(
            "sequence-repeated",
            f"{name} is numbered {number} after {last}: numbers only grow (a replayed or "
            "reordered event; not applied)",
        )
        return None

    def _advance(self, number: object, restart: bool) -> None:
        numbering = self._numbering
        if restart:
            numbering.numbered = numbering.replayed = None
        if type(number) is int:
            if numbering.numbered is None:
                numbering.numbered = True
            if numbering.last is None or number > numbering.last or restart:
                numbering.last = number
            if numbering.replayed is not None and number >= numbering.replayed:
                numbering.replayed = None
        elif numbering.numbered is None:
            numbering.numbered = False
        elif numbering.numbered and numbering.last is not None:
            numbering.last += 1  # it had a number, surely: the next one is not a gap

    # -- the event kinds ---------------------------------------------------------

    def _dispatch(self, name: str, spec: Spec | None, data: dict[str, Any]) -> None:
        if spec is None:
            if name.startswith("response."):
                self._note(
                    "unknown-event",
                    f"{shown(name)} is no event the Responses API sends (passed by)",
                )
            return
        kind = spec.kind
        if kind == "item" or kind == "status":
            self._item_event(name, spec, data)
        elif kind == "response":
            self._response_event(name, spec, data)
        elif kind == "added":
            self._added(name, data)
        elif kind == "done":
            self._item_done(name, data)
        elif kind == "error" and self._current.ended:
            self._after_response(name)

    def _after_response(self, name: str) -> None:
        current = self._current
        status = current.response.status if current.response is not None else "?"
        self._note(
            "after-terminal",
            f"{name} after response {shown(current.id)} ended {status}",
            run_id=current.id,
        )

    def _response_event(self, name: str, spec: Spec, data: dict[str, Any]) -> None:
        raw = data.get("response")
        if type(raw) is not dict:
            self._note("malformed-event", f"{name}: data.response: missing or not an object")
            return
        rid = raw.get("id")
        state = self._states.get(rid) if type(rid) is str else None
        if state is not None and state.raw == raw and spec.status != "created":
            # The very snapshot already loaded and checked (created then in_progress send
            # one, usually): only what the event's name claims is left to check.
            assert state.response is not None  # a state with a raw snapshot has its record
            self._claimed(name, spec, state.response)
            if not self._failed():
                state.where = self._where
            return
        response = structure_response(raw)
        if isinstance(response, list):
            for problem in response:
                self._note(
                    "malformed-event",
                    f"{name}: {problem.message}",
                    path=f"data.response.{problem.path}" if problem.path else "data.response",
                    run_id=rid if type(rid) is str else None,
                )
            return
        for finding in self._checks.response(response, items=False):
            self._pending.append(self._locate(finding))
        self._claimed(name, spec, response)
        current = self._current
        if state is None:
            # Items seen before this event (a resumed stream) are this response's.
            fresh = current.id is None and current.response is None
            state = current if fresh else _ResponseState()
            state.id = response.id
            state.from_start = spec.status == "created" or state.from_start
            self._terminal_checks(name, state, response)
            if self._failed():
                return
            self._states[response.id] = state
            self._current = state
            self._take(state, response, raw)
            return
        if spec.status == "created":
            self._note(
                "duplicate-created",
                f"{name} for response {shown(response.id)}, already created",
                run_id=response.id,
            )
            return
        if state.ended:
            assert state.response is not None  # an ended response has its snapshot
            self._note(
                "after-terminal",
                f"{name} for response {shown(response.id)}, which already ended "
                f"{state.response.status}",
                run_id=response.id,
            )
            return
        before = state.response
        if before is not None:
            if state.created_at != response.created_at:
                self._note(
                    "identity-changed",
                    f"created_at changed from {state.created_at} to {response.created_at}",
                    run_id=response.id,
                )
            if before.status != response.status and (
                response_trigger_between(before.status, response.status) is None
            ):
                self._note(
                    "illegal-transition",
                    f"response {shown(response.id)} cannot move from {before.status} to "
                    f"{response.status}",
                    run_id=response.id,
                )
                # The move is refused: the response stays where it was.
                state.where = self._where
                return
        self._terminal_checks(name, state, response)
        if self._failed():
            return
        self._current = state
        self._take(state, response, raw)

    def _take(self, state: _ResponseState, response: Response, raw: dict[str, Any]) -> None:
        if state.response is None:
            state.created_at = response.created_at
        state.response = response
        state.raw = raw
        state.where = self._where
        state.ended = response.status in RESPONSE_TERMINAL_STATUSES

    def _claimed(self, name: str, spec: Spec, response: Response) -> None:
        claimed = spec.status
        if claimed == "created":
            if response.status in _CREATED_STATUSES:
                return
            expected = "'queued' or 'in_progress'"
        elif response.status == claimed:
            return
        else:
            expected = repr(claimed)
        self._note(
            "status-mismatch",
            f"{name} carries status {response.status!r}, expected {expected}",
            run_id=response.id,
        )

    def _terminal_checks(self, name: str, state: _ResponseState, response: Response) -> None:
        """At a response's end: its items against the stream's, and the ones still open."""
        if response.status not in RESPONSE_TERMINAL_STATUSES:
            return
        output = response.output
        rid = response.id
        for index, item in sorted(state.items.items()):
            here = output[index] if index < len(output) else None
            if here is not None and here.type == item.type and here.id != item.id:
                # Same place, same type, another id: a server that re-issues temporary
                # ids in its final snapshot (OpenRouter's `rs_tmp_...`) is consistent.
                self._note(
                    "snapshot-diverged",
                    f"output[{index}] of the {response.status} response is "
                    f"{_named(here)}, but the stream added {_named(item.snapshot)} there",
                    item.id,
                    run_id=rid,
                )
            elif here is not None and here.type != item.type:
                self._note(
                    "item-index-mismatch",
                    f"output[{index}] of the {response.status} response is "
                    f"{_named(here)}, but the stream added {_named(item.snapshot)} there",
                    item.id,
                    run_id=rid,
                )
            elif here is None and item.done and state.from_start:
                self._note(
                    "item-index-mismatch",
                    f"the {response.status} response has no output[{index}], where the stream "
                    f"added {_named(item.snapshot)}",
                    item.id,
                    run_id=rid,
                )
            if item.done:
                continue
            if item.status in ITEM_TERMINAL_STATUSES:
                self._note(
                    "item-done-missing",
                    f"{_named(item.snapshot)} ended {item.status} by its own event but got no "
                    f"output_item.done before {name}",
                    item.id,
                    run_id=rid,
                )
            elif item.type not in AWAITING_CLIENT:
                said = item.status or "open"
                self._note(
                    _OPEN_ITEMS,
                    f"response {shown(rid)} ended {response.status} while "
                    f"{_named(item.snapshot)} is still {said} (no output_item.done)",
                    item.id,
                    run_id=rid,
                )
        for index, listed in enumerate(output):
            tracked = state.items.get(index)
            if tracked is None:
                if state.from_start and state.items:
                    self._note(
                        "item-index-mismatch",
                        f"output[{index}] of the {response.status} response is "
                        f"{_named(listed)}, which the stream never added",
                        listed.id,
                        run_id=rid,
                    )
                path = f"output[{index}]"
                for finding in self._checks.item(listed, path=path, response_id=rid):
                    self._pending.append(self._locate(finding))
            elif not tracked.done:
                continue  # reported above
            problem = open_item_problem(response.status, listed)
            if problem is not None:
                self._note(_OPEN_ITEMS, f"output[{index}]: {problem}", listed.id, run_id=rid)

    # -- items -------------------------------------------------------------------

    def _index(self, name: str, data: dict[str, Any]) -> int | None:
        index = data.get("output_index")
        if type(index) is int and index >= 0:
            return index
        self._note("malformed-event", f"{name}: output_index: missing or not an integer >= 0")
        return None

    def _item_payload(self, name: str, data: dict[str, Any]) -> OutputItem | None:
        raw = data.get("item")
        item = structure_item(raw)
        if isinstance(item, list):
            item_id = raw.get("id") if type(raw) is dict else None
            for problem in item:
                self._note(
                    "malformed-event",
                    f"{name}: {problem.message}",
                    item_id if type(item_id) is str else None,
                    path=f"data.item.{problem.path}" if problem.path else "data.item",
                )
            return None
        return item

    def _added(self, name: str, data: dict[str, Any]) -> None:
        index = self._index(name, data)
        item = self._item_payload(name, data)
        if index is None or item is None:
            return
        state = self._current
        if state.ended:
            self._after_response(name)
            return
        if index in state.items:
            self._note(
                "duplicate-created",
                f"{name} at output_index {index}, where {_named(state.items[index].snapshot)} "
                "was already added",
                item.id,
                run_id=state.id,
            )
            return
        expected = len(state.items)
        if state.from_start and index != expected:
            self._note(
                "item-index-mismatch",
                f"{_named(item)} is added at output_index {index}, but the response's next "
                f"index is {expected}",
                item.id,
                run_id=state.id,
            )
        if item.status in ITEM_TERMINAL_STATUSES:
            self._note(
                "status-mismatch",
                f"{name} carries a {item.type} item already {item.status}",
                item.id,
                run_id=state.id,
            )
        for finding in self._checks.item(item, path="data.item", response_id=state.id):
            self._pending.append(self._locate(finding))
        if self._failed():
            return
        state.items[index] = _Item(index, item.id, item.type, item.status, item, self._where)

    def _tracked(self, name: str, index: int, item_id: object) -> _Item | None:
        """The item at `index` of the current response, noting why there is none to move."""
        state = self._current
        if state.ended:
            self._after_response(name)
            return None
        tracked = state.items.get(index)
        if tracked is None:
            if state.from_start:
                self._note(
                    "unknown-item",
                    f"{name} for output_index {index}, where no item was added",
                    item_id if type(item_id) is str else None,
                    run_id=state.id,
                )
            # Else a resumed stream: the item may have been added before it began.
            return None
        if tracked.done:
            self._note(
                "after-terminal",
                f"{name} for {_named(tracked.snapshot)}, which is already done",
                tracked.id,
                run_id=state.id,
            )
            return None
        if type(item_id) is str and tracked.id is not None and item_id != tracked.id:
            self._note(
                "item-index-mismatch",
                f"{name} names item {shown(item_id)} at output_index {index}, where "
                f"{_named(tracked.snapshot)} was added",
                item_id,
                run_id=state.id,
            )
        return tracked

    def _item_event(self, name: str, spec: Spec, data: dict[str, Any]) -> None:
        index = self._index(name, data)
        if index is None:
            return
        tracked = self._tracked(name, index, data.get("item_id"))
        if tracked is None:
            return
        if spec.types and tracked.type not in spec.types and tracked.type in ITEM_TYPE_STATUSES:
            # (An undocumented item type may send any event: nothing is known of it.)
            self._note(
                "item-type-mismatch",
                f"{name} is sent for {' or '.join(sorted(spec.types))} items, but "
                f"output_index {index} holds {_named(tracked.snapshot)}",
                tracked.id,
                run_id=self._current.id,
            )
            return
        target = spec.status
        if spec.kind != "status" or target is None or target == tracked.status:
            return
        if tracked.status is not None and item_trigger_between(tracked.status, target) is None:
            self._note(
                "illegal-transition",
                f"{_named(tracked.snapshot)} cannot move from {tracked.status} to {target}",
                tracked.id,
                run_id=self._current.id,
            )
            return
        if not self._failed():
            tracked.status = target

    def _item_done(self, name: str, data: dict[str, Any]) -> None:
        index = self._index(name, data)
        item = self._item_payload(name, data)
        if index is None or item is None:
            return
        state = self._current
        tracked = self._tracked(name, index, None)  # its id is judged below, with its type
        if tracked is None:
            if not state.ended and not state.from_start and index not in state.items:
                # A resumed stream: the item opened before it began. Taken as it ends.
                for finding in self._checks.item(item, path="data.item", response_id=state.id):
                    self._pending.append(self._locate(finding))
                if not self._failed():
                    state.items[index] = _Item(
                        index, item.id, item.type, item.status, item, self._where, done=True
                    )
            return
        if item.type != tracked.type or (
            item.id is not None and tracked.id is not None and item.id != tracked.id
        ):
            self._note(
                "identity-changed",
                f"{name} at output_index {index} is {_named(item)}, but "
                f"{_named(tracked.snapshot)} was added there",
                item.id,
                run_id=state.id,
            )
        status = item.status
        if status is not None and status not in ITEM_TERMINAL_STATUSES:
            if item.type not in AWAITING_CLIENT:
                self._note(
                    "status-mismatch",
                    f"{name} carries a {item.type} item still {status}",
                    item.id,
                    run_id=state.id,
                )
        elif (
            status is not None
            and tracked.status is not None
            and status != tracked.status
            and item_trigger_between(tracked.status, status) is None
        ):
            self._note(
                "illegal-transition",
                f"{_named(item)} cannot move from {tracked.status} to {status}",
                item.id,
                run_id=state.id,
            )
        for finding in self._checks.item(item, path="data.item", response_id=state.id):
            self._pending.append(self._locate(finding))
        if self._failed():
            return
        tracked.done = True
        tracked.snapshot = item
        tracked.id, tracked.type = item.id, item.type
        if status is not None:
            tracked.status = status
        tracked.where = self._where

    # -- polling -------------------------------------------------------------------

    def poll(
        self, snapshot: Any, *, file: str | None = None, line: int = 0, index: int = 0
    ) -> list[Finding]:
        """Check one polled snapshot of a response (``GET /responses/{id}``); return its findings.

        Background mode is polled: `snapshot` (a dict, or the openai SDK's `Response`)
        is checked with the response and item rules, and its status change since the
        last snapshot or event of that response is judged as the events it implies
        (``queued`` then ``completed`` passed through ``in_progress``): a change no
        path of the machine makes is ``illegal-transition``, one after the response
        ended ``after-terminal``. A finished response polled again is no change.
        """
        self._where, self._pending = (file, line, index), []
        self.events += 1
        data = _from_sdk({"response": plain(snapshot)})["response"]
        response = structure_response(data)
        if isinstance(response, list):
            rid = data.get("id") if type(data) is dict else None
            for problem in response:
                self._note(
                    "malformed-event",
                    f"polled response: {problem.message}",
                    path=problem.path,
                    run_id=rid if type(rid) is str else None,
                )
            return self._done("")
        for finding in self._checks.response(response):
            self._pending.append(self._locate(finding))
        state = self._states.get(response.id)
        before = None if state is None else state.response
        if state is not None and before is not None:
            if state.ended:
                if before.status != response.status:
                    self._note(
                        "after-terminal",
                        f"response {shown(response.id)} polled {response.status} after it "
                        f"ended {before.status}",
                        run_id=response.id,
                    )
                return self._done("")
            if state.created_at != response.created_at:
                self._note(
                    "identity-changed",
                    f"created_at changed from {state.created_at} to {response.created_at}",
                    run_id=response.id,
                )
            if response.status not in _REACHABLE[before.status]:
                self._note(
                    "illegal-transition",
                    f"response {shown(response.id)} cannot move from {before.status} to "
                    f"{response.status}",
                    run_id=response.id,
                )
                return self._done("")
        if self._failed():
            return self._done("")
        if state is None:
            state = _ResponseState(id=response.id)
            self._states[response.id] = state
        self._take(state, response, data)
        return self._done("")

    # -- the end -------------------------------------------------------------------

    def finish(self, *, file: str | None = None) -> list[Finding]:
        """Report what the end of input reveals; call it once, at the end.

        Every response still open is a ``dangling-response`` (an error with
        ``require_terminal``); an input with no event is an ``empty-stream``.
        """
        found: list[Finding] = []
        if self.events == 0:
            self._where, self._pending = (file, 0, 0), []
            self._note("empty-stream", "no event in this input")
            found += self._commit()
        severity = Severity.ERROR if self.require_terminal else None
        for state in self._all():
            if state.ended:
                continue
            self._where, self._pending = state.where, []
            status = state.response.status if state.response is not None else "never seen"
            still = [item for item in state.items.values() if not item.done]
            message = f"response {shown(state.id)} is still {status} at the end of the input"
            if still:
                message += f", with {len(still)} item{'s' if len(still) != 1 else ''} open"
            self._note("dangling-response", message, run_id=state.id, severity=severity)
            found += self._commit()
        return found

    # -- findings ----------------------------------------------------------------

    def _note(
        self,
        code: str,
        message: str,
        item_id: str | None = None,
        *,
        path: str | None = None,
        run_id: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        configured = self.rules.severity_of(code)
        if configured is None:
            return
        if severity is not None and code not in self.rules.severity:
            configured = severity
        file, line, index = self._where
        self._pending.append(
            Finding(
                rule=code,
                severity=configured,
                message=message,
                step_id=item_id,
                path=path,
                file=file,
                line=line or None,
                event_index=index or None,
                run_id=run_id if run_id is not None else self._current.id,
            )
        )


def _named(item: OutputItem) -> str:
    return f"{item.type} item {shown(item.id)}" if item.id is not None else f"a {item.type} item"


def _event_of(event: object) -> tuple[str, Any]:
    """The ``(name, data)`` of one event object of any shape `ResponseTracker.feed` takes."""
    if isinstance(event, tuple) and len(event) == 2 and isinstance(event[0], str):
        return event[0], plain(event[1])
    if isinstance(event, Mapping):
        if "event" in event and isinstance(event["event"], str):
            return event["event"], plain(event.get("data"))
        if isinstance(event.get("type"), str):
            return "", dict(event)
    kind = getattr(event, "type", None)
    if isinstance(kind, str) and not isinstance(event, type):
        return kind, _from_sdk(plain(event))
    raise TypeError(
        f"not an event: {type(event).__name__}; a ResponseTracker accepts a steplife Event, "
        "a (name, data) pair, an {'event': name, 'data': data} mapping, a typed event "
        "mapping {'type': name, ...}, or an openai Responses stream event"
    )


_STAMPS: Final = ("created_at", "completed_at")


def _from_sdk(data: Any) -> Any:
    """An openai SDK event's data as the server sent it.

    The SDK types a response's stamps as floats: it hands back ``1758064478.0`` for
    the ``1758064478`` the server sent. A whole float is put back as the integer.
    """
    response = data.get("response") if type(data) is dict else None
    if type(response) is dict:
        for key in _STAMPS:
            value = response.get(key)
            if type(value) is float and value.is_integer():
                response[key] = int(value)
    return data
