"""One step's lifecycle inside a store: the Tracker's checks, replayed from the log.

A store keeps no rules of its own. Each step it writes is driven by a strict
`Tracker` that holds that step alone: an event goes through exactly the checks and
the lifecycle machine that in-memory replay uses, and a rejected event (a
`StreamError`) leaves the step as it was. A step the store does not hold in memory
is rebuilt by replaying its recorded events, so the merged deltas of a live step
survive a restart exactly.

Events are turned into `Item`s first: the step they are for, their payload as JSON
text and a digest of name and payload, which is how re-delivered events are
recognised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from hashlib import blake2b
from typing import Any, Final, NamedTuple

import orjson

from steplife._events import Event
from steplife._findings import Finding, Severity, shown
from steplife._lifecycle import EVENT_KINDS, STEP_PREFIX, TERMINAL_KINDS
from steplife._rules import Rules
from steplife._runs import RUN_EVENT_STATUS, RUN_PREFIX
from steplife._sdk import event_of
from steplife._tracker import Tracker
from steplife._wire import structure
from steplife.errors import InvalidRecordError, StoreError, StreamError
from steplife.model import RunStep

__all__ = [
    "CREATED",
    "DELTA",
    "HistoryRow",
    "Item",
    "StepState",
    "digest_of",
    "items_of",
    "offer_or_reject",
    "step_item",
]

PREFIX: Final = STEP_PREFIX
DELTA: Final = PREFIX + "delta"
CREATED: Final = PREFIX + "created"
_KINDS: Final = EVENT_KINDS
TERMINAL_EVENTS: Final = frozenset(PREFIX + kind for kind in TERMINAL_KINDS)
# Digest input starts with the event name: one encoded prefix per known name.
_NAME_BYTES: Final[Mapping[str, bytes]] = {PREFIX + k: (PREFIX + k + "\n").encode() for k in _KINDS}


class HistoryRow(NamedTuple):
    """A recorded event as the backends read it."""

    version: int
    event: str
    payload: str
    digest: int


class Item(NamedTuple):
    """An input event, prepared for the store.

    ``step_id`` is None for events a store passes by (not run-step events);
    ``finding`` is set for an event rejected before it reaches a step (malformed).
    ``occurrence`` numbers identical events (same step, name and payload) 1, 2...
    ``notes`` are warnings about the event itself, whatever becomes of it: how it
    was framed (``sse-missing-blank-line``), or a name the API does not send
    (``unknown-event``, on an event passed by).
    """

    event: str
    data: Any
    step_id: str | None
    payload: str
    digest: int
    occurrence: int
    file: str | None
    line: int
    event_index: int
    finding: Finding | None = None
    notes: tuple[Finding, ...] = ()


def digest_of(event: str, payload: bytes) -> int:
    """A signed 64-bit number identifying an event by its name and exact JSON payload.

    It only has to tell apart the events of one step, where a collision among a
    few thousand events has odds of about 1e-12.
    """
    name = _NAME_BYTES.get(event) or (event + "\n").encode()
    return int.from_bytes(blake2b(name + payload, digest_size=8).digest(), "big", signed=True)


def _malformed(rules: Rules, event: Event) -> Item | None:
    """The item of an event the Tracker finds malformed (None if that rule is ignored)."""
    tracker = Tracker(rules=rules, strict=True, follow_runs=False)
    name, data, file, line, index, error = event[:6]
    try:
        if error is not None:
            tracker.feed_event(event)
        else:
            tracker.feed(name or "", data, file=file, line=line, index=index)
    except StreamError as exc:
        return Item(name or "", data, "", "", 0, 1, file, line, index, exc.finding)
    return None


def _notes(rules: Rules, event: Event, *, framing: bool) -> tuple[Finding, ...]:
    """The warnings the Tracker gives `event` that are not about a step's lifecycle.

    With `framing`, only the reader's note on how the event was framed; otherwise
    what an event passed by gets (``unknown-event`` under ``thread.run.``).
    """
    tracker = Tracker(rules=rules, follow_runs=False)
    if framing:
        return tuple(tracker.feed_event(event._replace(name="", data=None)))
    return tuple(tracker.feed_event(event))


def _passed_by(rules: Rules, event: Event) -> Item | None:
    """The item of an event a store does not record: None, or one carrying its warnings."""
    name = event.name or ""
    if not name.startswith(RUN_PREFIX) or name in RUN_EVENT_STATUS:
        return None
    notes = _notes(rules, event, framing=False)
    if not notes:
        return None
    return Item(
        name, event.data, None, "", 0, 1, event.file, event.line, event.event_index, None, notes
    )


def step_item(
    rules: Rules,
    event: str,
    data: Any,
    *,
    occurrence: int = 1,
    file: str | None = None,
    line: int = 0,
    index: int = 0,
) -> Item | None:
    """The `Item` of one event, or None when the store passes it by (not a step event).

    `occurrence` matters for deltas only: snapshot events are always the first copy.
    """
    name = _NAME_BYTES.get(event)
    if name is None:
        return None  # runs, messages, done, and step events of a future API
    step_id = data.get("id") if type(data) is dict else None
    if type(step_id) is not str:
        return _malformed(rules, Event(event, data, file, line, index))
    try:
        payload = orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError) as exc:
        return _malformed(rules, Event(event, data, file, line, index, f"data is not JSON: {exc}"))
    digest = int.from_bytes(blake2b(name + payload, digest_size=8).digest(), "big", signed=True)
    if event != DELTA:
        occurrence = 1
    return Item(event, data, step_id, payload.decode(), digest, occurrence, file, line, index)


def _unpack(raw: object, position: int) -> Event:
    """Any accepted event shape as an `Event`."""
    if type(raw) is dict:
        name = raw.get("event")
        if type(name) is not str:
            return Event(None, None, None, 0, position, '"event" is missing or not a string')
        return Event(name, raw.get("data"), None, 0, position)
    if isinstance(raw, Event):
        return raw if raw.event_index else raw._replace(event_index=position)
    if isinstance(raw, tuple) and len(raw) == 2 and type(raw[0]) is str:
        return Event(raw[0], raw[1], None, 0, position)
    if isinstance(raw, Mapping):
        return _unpack(dict(raw), position)
    try:
        name, data = event_of(raw)  # an SDK's own event: openai's, or azure's tuple
    except TypeError:
        return Event(None, None, None, 0, position, f"not an event: {type(raw).__name__}")
    return Event(name, data, None, 0, position)


def items_of(rules: Rules, events: Iterable[object]) -> Iterator[Item | None]:
    """The items of a stream (None for each event passed by), identical deltas numbered.

    A snapshot event is the same fact however often it comes, so any copy of one
    already recorded is a re-delivery. Deltas add up, and the same chunk can
    legitimately come twice: the n-th identical delta of a step in the stream is a
    re-delivery only if the log holds n of them. A step's counts are dropped at its
    terminal event, after which its deltas can only be re-deliveries or errors.
    """
    counts: dict[str, dict[int, int]] = {}
    for position, raw in enumerate(events, 1):
        if type(raw) is dict and type(name := raw.get("event")) is str:
            item = step_item(rules, name, raw.get("data"), index=position)  # JSONL, decoded
            if item is None:
                item = _passed_by(rules, Event(name, raw.get("data"), None, 0, position))
        else:
            event = _unpack(raw, position)
            if event.error is not None:
                yield _malformed(rules, event)
                continue
            name, data, file, line, index, _, note = event
            item = step_item(rules, name or "", data, file=file, line=line, index=index)
            if item is None:
                item = _passed_by(rules, event)
            if note is not None and (notes := _notes(rules, event, framing=True)):
                item = (item or Item(name or "", data, None, "", 0, 1, file, line, index))._replace(
                    notes=notes + (item.notes if item else ())
                )
        if item is None or item.finding is not None:
            yield item
            continue
        step_id = item.step_id
        if step_id is None:
            yield item  # passed by, with its warnings
            continue
        if item.event != DELTA:
            if item.event in TERMINAL_EVENTS:
                counts.pop(step_id, None)
            yield item
            continue
        seen = counts.get(step_id)
        if seen is None:
            seen = counts[step_id] = {}
        occurrence = seen[item.digest] = seen.get(item.digest, 0) + 1
        yield item._replace(occurrence=occurrence) if occurrence > 1 else item


class _NoStep(Exception):
    """An event passed the (relaxed) rules but left no step to store."""


class StepState:
    """One step as a store holds it in memory: its Tracker, version and event digests.

    ``version`` counts the events accepted (recorded or about to be); ``stored`` is
    the version the database is known to hold; ``base`` the version a pending
    write starts from; ``batch`` the last batch that touched the step.
    """

    __slots__ = (
        "base",
        "batch",
        "last_full",
        "recorded",
        "step_id",
        "stored",
        "tracker",
        "version",
    )

    def __init__(self, step_id: str, rules: Rules) -> None:
        self.step_id = step_id
        self.tracker = Tracker(rules=rules, strict=True, follow_runs=False)
        self.version = 0
        self.stored = 0
        self.base = 0
        self.batch = 0
        self.recorded: dict[int, int] = {}
        self.last_full: Any = None

    @classmethod
    def replay(cls, step_id: str, rows: Iterable[HistoryRow], rules: Rules) -> StepState:
        """Rebuild a step from its recorded events (which passed the rules when written)."""
        state = cls(step_id, rules)
        tracker = state.tracker
        # Recorded events were accepted once: replay them whatever the rules say now.
        tracker.strict = False
        for row in rows:
            try:
                data = orjson.loads(row.payload)
            except orjson.JSONDecodeError as exc:
                raise StoreError(
                    f"step {shown(step_id)} v{row.version}: stored payload: {exc}"
                ) from None
            tracker.feed(row.event, data)
            state.recorded[row.digest] = state.recorded.get(row.digest, 0) + 1
            if row.event != DELTA:
                state.last_full = data
            state.version = row.version
        tracker.strict = True
        tracker.findings.clear()
        state.stored = state.base = state.version
        return state

    @property
    def status(self) -> str | None:
        """The step's status, or None while the store has none of its events."""
        return self.tracker.status_of(self.step_id)

    def is_duplicate(self, item: Item) -> bool:
        """Whether `item` (this copy of it) is already recorded."""
        return self.recorded.get(item.digest, 0) >= item.occurrence

    def offer(self, item: Item, batch: int) -> list[Finding]:
        """Apply `item` through the Tracker; return its warnings.

        Raises `StreamError` (the step unchanged) when it breaks an error-level rule.
        """
        findings = self.tracker.feed(
            item.event, item.data, file=item.file, line=item.line, index=item.event_index
        )
        if self.tracker.status_of(self.step_id) is None:
            # Only possible with `unknown-step` ignored: a delta for a step never seen.
            raise _NoStep
        if self.batch != batch:
            self.batch = batch
            self.base = self.version
        self.version += 1
        self.recorded[item.digest] = self.recorded.get(item.digest, 0) + 1
        if item.event != DELTA:
            self.last_full = item.data
        return findings

    def snapshot(self) -> RunStep:
        """The step's current snapshot, every delta merged.

        While the merged deltas do not yet make valid details (a tool call whose
        first delta has not arrived), the last full snapshot stands in; the
        deltas themselves are in the log.
        """
        try:
            return self.tracker.snapshot(self.step_id)
        except InvalidRecordError:
            loaded = structure(self.last_full)
            if isinstance(loaded, RunStep):
                return loaded
            raise StoreError(f"step {shown(self.step_id)}: no valid snapshot to store") from None


def no_step_finding(item: Item) -> Finding:
    """Why an event that would leave no step is refused, even with ``unknown-step`` ignored.

    A store keeps a snapshot per step, and a delta for a step never seen has none.
    """
    return Finding(
        rule="unknown-step",
        severity=Severity.ERROR,
        message=f"{item.event} for step {shown(item.step_id)}, which the store has never seen",
        step_id=item.step_id,
        file=item.file,
        line=item.line or None,
        event_index=item.event_index or None,
    )


def offer_or_reject(
    state: StepState, item: Item, batch: int
) -> tuple[list[Finding], Finding | None]:
    """Offer `item` to `state`: its warnings, or the finding that rejects it."""
    try:
        return state.offer(item, batch), None
    except StreamError as exc:
        return [], exc.finding
    except _NoStep:
        return [], no_step_finding(item)
