"""Polling: the lifecycle events that successive API snapshots imply, fed to a Tracker.

An orchestrator that polls (openai's ``runs.retrieve`` and ``runs.steps.list``,
azure-ai-agents' ``runs.get`` and ``run_steps.list``) sees snapshots, not events. The
`Poller` keeps the last snapshot of each step and run it saw, and turns what changed
since then into the events a stream would have carried, so that one `Tracker` checks
polled and streamed runs by the same rules.

A poll samples the lifecycle: whatever happened between two polls is seen at once,
and the statuses a run passed through in between may never be seen. So the Poller
implies what must have happened (a ``created`` event before a step first seen
completed; ``in_progress`` between a run seen ``queued`` and seen ``completed``), and
orders what one poll shows as it happened: a step is created while its run runs, a
run waits for steps already created, and a step ends before its run waits (unless it
is what the run waits for) or ends. What no history the lifecycles allow explains is
fed as seen, for the Tracker to report.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, NamedTuple, TypeAlias

from steplife._findings import Finding, shown
from steplife._lifecycle import STEP_PREFIX
from steplife._run_lifecycle import run_trigger_between
from steplife._runs import RUN_PREFIX
from steplife._sdk import plain
from steplife._tracker import Tracker
from steplife._wire import structure, structure_run, to_dict
from steplife.model import (
    RUN_END_STAMPS,
    RUN_STAMPS,
    RUN_STATUSES,
    RUN_TERMINAL_STATUSES,
    STATUSES,
    STEP_STAMPS,
    TERMINAL_STATUSES,
    Run,
    RunStep,
)

__all__ = ["ACCEPTED", "Poller"]

ACCEPTED: Final = (
    "a run step or run snapshot (a JSON object whose 'object' is 'thread.run.step' or "
    "'thread.run', an openai or azure-ai-agents model of one, or a steplife RunStep or "
    "Run), a list page of them (an {'object': 'list', 'data': [...]} object, an openai "
    "cursor page, an azure-ai-agents ItemPaged), or any iterable of those"
)
"""What `Poller.observe` accepts, for the message of its `TypeError`."""

_STEP_OBJECT: Final = "thread.run.step"
_RUN_OBJECT: Final = "thread.run"
_LIST_OBJECT: Final = "list"
_NOT_ITERATED: Final = (str, bytes, bytearray, memoryview)  # iterable, but no snapshots

_STEP_FIRST: Final = STATUSES[0]
_RUN_FIRST: Final = RUN_STATUSES[0]
_STEP_CREATED: Final = STEP_PREFIX + "created"
_RUN_CREATED: Final = RUN_PREFIX + "created"
_RUNNING: Final = "in_progress"
_WAITING: Final = "requires_action"
_STEP_UPDATED: Final = STEP_PREFIX + _STEP_FIRST
_RUN_UPDATED: Final = RUN_PREFIX + _RUNNING
_STEP_EVENT: Final[Mapping[str, str]] = {status: STEP_PREFIX + status for status in STATUSES}
_RUN_EVENT: Final[Mapping[str, str]] = {status: RUN_PREFIX + status for status in RUN_STATUSES}
"""Each status and the event that carries a snapshot into it."""
_KNOWN_RUN_STATUSES: Final = frozenset(RUN_STATUSES)
_STARTED: Final = RUN_STAMPS[_RUNNING]

# What a trigger carries besides its stamp, absent before the status that carries it:
# usage-before-completion and error-without-failure (steps); run-usage-before-terminal,
# run-error-without-failure, run-required-action and run-incomplete-details (runs).
_STEP_CARRIED: Final = ("usage", "last_error")
_RUN_CARRIED: Final = ("required_action", "last_error", "incomplete_details", "usage")
_STEP_CLEARED: Final = (*STEP_STAMPS.values(), *_STEP_CARRIED)
"""What a step first seen ended did not have when it was created."""
_RUN_CREATED_CLEARED: Final = (*RUN_STAMPS.values(), *_RUN_CARRIED)
"""What a run first seen later did not have when it was created (queued)."""
_RUN_PASSING_CLEARED: Final = (*RUN_END_STAMPS.values(), *_RUN_CARRIED)
"""What a run did not have in a status it passed through unseen (it keeps `started_at`)."""

_MISSABLE: Final = frozenset(RUN_STATUSES) - RUN_TERMINAL_STATUSES - {_WAITING}
"""The run statuses a poll may miss: those the run leaves by itself. A run that
requires action waits for the client, which saw it (it submitted the outputs)."""

# Where each event goes in the order of one poll (see `Poller.observe`): a step is
# created and updated while its run runs; it ends before its run waits, unless it is
# what the run waits for; every step ends before its run does.
_RUN_OPENS, _STEP_OPENS, _STEP_ENDS, _RUN_WAITS, _AWAITED_ENDS, _RUN_ENDS = range(6)
_PHASES: Final = 6
_RUN_PHASE: Final[Mapping[str, int]] = {_RUNNING: _RUN_OPENS, _WAITING: _RUN_WAITS}
"""The phase of a run event by the status it leads to; every other status ends it.

``queued`` is among the others: a run queued again after requiring action created its
steps before, so they go first. A ``created`` (queued) event followed by
``in_progress`` in one poll goes with it (see `_phased`)."""

_Last: TypeAlias = dict[str, Any] | str
"""What the Poller keeps of an entity: its last snapshot, or only its terminal status."""


class _Feed(NamedTuple):
    """One event to feed, and what to remember once it is fed."""

    name: str
    data: dict[str, Any]
    remember: tuple[_Book, str, _Last] | None = None
    """The book, id and memory to record once this event (its snapshot's last) is fed."""


class _Book:
    """The last snapshot of each step (or run) seen; only the status of ended ones."""

    __slots__ = ("ended", "live", "terminal")

    def __init__(self, terminal: frozenset[str]) -> None:
        self.terminal = terminal
        self.live: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, str] = {}
        """Terminal status by id, oldest first: the order in which they are forgotten."""

    def last(self, entity_id: str) -> _Last | None:
        live = self.live.get(entity_id)
        return live if live is not None else self.ended.get(entity_id)

    def remember(self, entity_id: str, last: _Last, limit: int | None) -> None:
        if type(last) is dict:
            # Seen again after it ended (reported after-terminal): this snapshot is
            # now the one the next poll is compared with, so the fault is reported once.
            self.ended.pop(entity_id, None)
            self.live[entity_id] = last
            return
        assert type(last) is str
        self.live.pop(entity_id, None)
        self.ended.pop(entity_id, None)  # a later ending counts as the newest
        self.ended[entity_id] = last
        if limit is not None:
            while len(self.ended) > limit:
                del self.ended[next(iter(self.ended))]

    def memory(self, data: dict[str, Any]) -> _Last:
        """What to keep of `data`: its status when terminal, else a copy of it.

        A copy, so that a caller who changes its dict in place and polls again has the
        change seen.
        """
        status = data.get("status")
        if type(status) is str and status in self.terminal:
            return status
        return copy.deepcopy(data)


class Poller:
    """Turns polled run-step and run snapshots into the lifecycle events they imply.

    Each `observe` call takes one poll's snapshots (a run from ``runs.retrieve``, the
    page ``runs.steps.list`` returned, in any shape the SDKs give them) and feeds
    `tracker` the events that explain the change since the previous poll; it returns
    the findings they produced. Snapshots that did not change are no events, so a
    clean run polled a thousand times gives no finding, and a fault is reported once,
    at the poll that first showed it.

    The Poller keeps the last snapshot of every step and run in progress, and only
    the status of the ended ones (a terminal snapshot does not change): of those, as
    many as the tracker remembers (its ``remember_finished``, None for all).
    """

    def __init__(self, tracker: Tracker | None = None) -> None:
        self.tracker = Tracker() if tracker is None else tracker
        self._steps = _Book(TERMINAL_STATUSES)
        self._runs = _Book(RUN_TERMINAL_STATUSES)

    def __repr__(self) -> str:
        return f"Poller(tracker={self.tracker!r})"

    def observe(self, snapshots: object) -> list[Finding]:
        """Feed the tracker the events one poll's `snapshots` imply; return their findings.

        `snapshots` is a step or run snapshot (a JSON object, or an SDK model of one), a
        list page of them (``{"object": "list", "data": [...]}``, openai's cursor page,
        whose ``data`` alone is read, without fetching further pages, or an
        azure-ai-agents ``ItemPaged``, which fetches its pages as it is iterated), or an
        iterable of those: pass a poll's run together with its steps, so their events
        are ordered as they happened.

        For each snapshot, against the last one seen of the same id:

        - unchanged (for an ended step or run: the same status): no event;
        - a new id: ``created`` with the snapshot when it is at its first status, else
          ``created`` with a copy at the first status (its later stamps, usage, error,
          required action and incomplete details cleared) then what led to its status;
        - a new status: the event of that status, after the events of the run statuses
          it must have passed through unseen (``in_progress`` between ``queued`` and
          ``completed``, ``cancelling`` before ``cancelled``; never ``requires_action``,
          which waits for the client); when no move of the lifecycle explains it, the
          event of the new status alone, which the tracker reports;
        - the same status, other fields changed: the event of its status again
          (``thread.run.step.in_progress`` for a step in progress); a run waiting again
          with another ``required_action``, or started again, resumed in between
          (``in_progress``).

        Within one call, events go in the order they happened: the runs' moves up to
        ``in_progress``; the steps' creations and updates; the endings of the steps no
        run waits for; the runs' moves to ``requires_action``; the endings of the steps
        they wait for (whose calls their ``required_action`` lists); the runs' other
        moves. Runs and steps go each by ``(created_at, id)`` (a page lists the newest
        first), several snapshots of one id in the order given. Two calls are two
        polls: steps observed after their run's end read as moving after it
        (``step-outside-run``). A wait for tool outputs is never implied: the
        orchestrator sees it, to submit them, and observes that poll.

        Raises `TypeError`, before anything is fed, when `snapshots` holds anything else
        (a mapping whose ``object`` is not ``thread.run.step``, ``thread.run`` or
        ``list``, a string, None, an event): a programming error, not a fault of the
        API's. A snapshot of the right ``object`` that is otherwise broken is fed, and
        the tracker reports it (``malformed-event``); without a string ``id`` it
        cannot be told from the next one, and is fed at every poll. A strict tracker's
        `StreamError` propagates: the events fed before it stay fed, and the Poller
        remembers the snapshots whose events were all fed.
        """
        runs: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        _collect(snapshots, runs, steps)
        # list pages come newest first; stable sorts keep one id's snapshots in order.
        runs.sort(key=_order)
        steps.sort(key=_order)
        phases: list[list[_Feed]] = [[] for _ in range(_PHASES)]
        overlay: dict[tuple[_Book, str], _Last] = {}  # what this call saw, not fed yet
        run_phase: dict[str, int] = {}
        for data in runs:
            self._plan_run(data, phases, overlay, run_phase)
        awaited = _awaited_calls(runs)
        for data in steps:
            self._plan_step(data, phases, overlay, awaited)
        findings: list[Finding] = []
        limit = self.tracker.remember_finished
        feed = self.tracker.feed
        for phase in phases:
            for event in phase:
                findings.extend(feed(event.name, event.data))
                if event.remember is not None:
                    book, entity_id, last = event.remember
                    book.remember(entity_id, last, limit)
        return findings

    # -- planning -----------------------------------------------------------------

    def _last(
        self, book: _Book, entity_id: str, overlay: dict[tuple[_Book, str], _Last]
    ) -> _Last | None:
        key = (book, entity_id)
        return overlay[key] if key in overlay else book.last(entity_id)

    def _plan_step(
        self,
        data: dict[str, Any],
        phases: list[list[_Feed]],
        overlay: dict[tuple[_Book, str], _Last],
        awaited: frozenset[str],
    ) -> None:
        book = self._steps
        step_id, status = _id_and_status(data)
        ends = status in TERMINAL_STATUSES
        # A status steplife does not know is fed as an update, for the tracker to report.
        named = _STEP_EVENT.get(status, _STEP_UPDATED)
        if not ends:
            phase = _STEP_OPENS
        elif awaited and not awaited.isdisjoint(_call_ids(data)):
            phase = _AWAITED_ENDS  # its run waits for it: it ends once the run waits
        else:
            phase = _STEP_ENDS  # it ended before its run began to wait, if it did
        last = None if step_id is None else self._last(book, step_id, overlay)
        events: list[tuple[int, str, dict[str, Any]]]
        if last is None:
            if not ends:
                events = [(_STEP_OPENS, _STEP_CREATED, data)]
            elif isinstance(structure(data), list):
                events = [(phase, named, data)]  # unreadable: one malformed-event, not two
            else:
                created = _cleared(data, _STEP_FIRST, _STEP_CLEARED)
                events = [(_STEP_OPENS, _STEP_CREATED, created), (phase, named, data)]
        elif isinstance(last, str):
            if status == last:
                return  # ended, and seen ended again: its body was not kept
            events = [(phase, named, data)]  # the tracker says after-terminal
        elif last == data:
            return
        else:
            events = [(phase, named, data)]
        self._schedule(book, step_id, data, events, phases, overlay)

    def _plan_run(
        self,
        data: dict[str, Any],
        phases: list[list[_Feed]],
        overlay: dict[tuple[_Book, str], _Last],
        run_phase: dict[str, int],
    ) -> None:
        book = self._runs
        run_id, status = _id_and_status(data)
        known = status in _KNOWN_RUN_STATUSES
        # A status steplife does not know is fed as a move, for the tracker to report.
        named = _RUN_EVENT.get(status, _RUN_UPDATED)
        last = None if run_id is None else self._last(book, run_id, overlay)
        moves: list[tuple[str, str, dict[str, Any]]]  # (status it leads to, name, data)
        if last is None:
            if not known or status == _RUN_FIRST:
                moves = [(_RUN_FIRST, _RUN_CREATED, data)]
            elif isinstance(structure_run(data), list):
                moves = [(status, named, data)]  # unreadable: one malformed-event, not two
            else:
                created = _cleared(data, _RUN_FIRST, _RUN_CREATED_CLEARED)
                ran = data.get(_STARTED) is not None
                passed = _run_passes(_RUN_FIRST, status, resumed=ran)
                moves = [
                    (_RUN_FIRST, _RUN_CREATED, created),
                    *_passing(data, passed or ()),
                    (status, named, data),
                ]
        elif isinstance(last, str):
            if status == last:
                return  # ended, and seen ended again: its body was not kept
            moves = [(status, named, data)]  # the tracker says after-terminal
        elif last == data:
            return
        else:
            source = last.get("status")
            passed = None
            if known and type(source) is str and source in _KNOWN_RUN_STATUSES:
                started = data.get(_STARTED)
                resumed = (started is not None and started != last.get(_STARTED)) or (
                    # Waiting for other tool calls: it resumed and asked again.
                    status == source == _WAITING
                    and data.get("required_action") != last.get("required_action")
                )
                passed = _run_passes(source, status, resumed=resumed)
            moves = [*_passing(data, passed or ()), (status, named, data)]
        events = _phased(moves, run_phase.get(run_id or "", _RUN_OPENS))
        if run_id is not None:
            run_phase[run_id] = events[-1][0]
        self._schedule(book, run_id, data, events, phases, overlay)

    def _schedule(
        self,
        book: _Book,
        entity_id: str | None,
        data: dict[str, Any],
        events: list[tuple[int, str, dict[str, Any]]],
        phases: list[list[_Feed]],
        overlay: dict[tuple[_Book, str], _Last],
    ) -> None:
        """Queue `events`; the last one records `data` as the entity's last snapshot."""
        remember = None
        if entity_id is not None:
            last = book.memory(data)
            overlay[book, entity_id] = last
            remember = (book, entity_id, last)
        *before, (phase, name, payload) = events
        for early_phase, early_name, early_payload in before:
            phases[early_phase].append(_Feed(early_name, early_payload))
        phases[phase].append(_Feed(name, payload, remember))


def _collect(item: object, runs: list[dict[str, Any]], steps: list[dict[str, Any]]) -> None:
    """Sort every snapshot `item` holds into `runs` and `steps`; `TypeError` on others."""
    given = type(item).__name__  # what the caller passed, for the error
    if type(item) is not dict:
        if isinstance(item, RunStep | Run):
            item = to_dict(item)
        else:
            page = None if isinstance(item, Mapping) else getattr(item, "data", None)
            if isinstance(page, list):  # openai's cursor page: this page, not the next ones
                for entry in page:
                    _collect(entry, runs, steps)
                return
            converted = plain(item)
            if isinstance(converted, Mapping):
                item = converted if type(converted) is dict else dict(converted)
            elif isinstance(item, Iterable) and not isinstance(item, _NOT_ITERATED):
                for entry in item:
                    _collect(entry, runs, steps)
                return
            else:
                hint = (
                    " (an async pager: collect it first, [s async for s in pager])"
                    if hasattr(item, "__aiter__")
                    else ""
                )
                raise TypeError(f"not a snapshot: a {given}{hint}; observe accepts {ACCEPTED}")
    assert type(item) is dict
    kind = item.get("object")
    if kind == _STEP_OBJECT:
        steps.append(item)
    elif kind == _RUN_OBJECT:
        runs.append(item)
    elif kind == _LIST_OBJECT and isinstance(item.get("data"), list):
        for entry in item["data"]:
            _collect(entry, runs, steps)
    else:
        raise TypeError(
            f"not a snapshot: a {given} whose 'object' is {shown(kind)}; observe accepts {ACCEPTED}"
        )


def _id_and_status(data: dict[str, Any]) -> tuple[str | None, str]:
    """The snapshot's id (None unless a string) and status (``""`` unless a string)."""
    entity_id, status = data.get("id"), data.get("status")
    return (
        entity_id if type(entity_id) is str else None,
        status if type(status) is str else "",
    )


def _awaited_calls(runs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The ids of the tool calls the waiting runs among `runs` ask outputs for."""
    calls = (
        _dig(run, "required_action", "submit_tool_outputs", "tool_calls")
        for run in runs
        if run.get("status") == _WAITING
    )
    return frozenset(
        call_id
        for listed in calls
        if type(listed) is list
        for call in listed
        if type(call) is dict and type(call_id := call.get("id")) is str
    )


def _call_ids(step: dict[str, Any]) -> Iterator[str]:
    """The ids of the tool calls a step snapshot holds."""
    calls = _dig(step, "step_details", "tool_calls")
    if type(calls) is list:
        for call in calls:
            if type(call) is dict and type(call_id := call.get("id")) is str:
                yield call_id


def _dig(data: dict[str, Any], *keys: str) -> object:
    """``data[k1][k2]...``, or None where an object or a key is missing."""
    value: object = data
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _order(data: dict[str, Any]) -> tuple[int, str]:
    """The order of the snapshots of one kind: created first, then by id."""
    created, entity_id = data.get("created_at"), data.get("id")
    return (
        created if type(created) is int else 0,
        entity_id if type(entity_id) is str else "",
    )


def _cleared(data: dict[str, Any], status: str, fields: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` at `status`, the `fields` it holds set to null."""
    implied = dict(data)
    implied["status"] = status
    for field in fields:
        if field in implied:
            implied[field] = None
    return implied


def _passing(
    data: dict[str, Any], statuses: Iterable[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The run events for `statuses`, each carrying `data` as it was in that status."""
    return [
        (status, RUN_PREFIX + status, _cleared(data, status, _RUN_PASSING_CLEARED))
        for status in statuses
    ]


def _phased(
    moves: list[tuple[str, str, dict[str, Any]]], first: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """Each run event with its phase; no phase earlier than `first` or than the last one's.

    From the end backwards, an event goes no later than the one after it, so one run's
    events keep their order (its ``created``, before ``in_progress``, goes with it).
    """
    phases: list[int] = []
    following = _RUN_ENDS
    for target, _name, _data in reversed(moves):
        following = min(following, _RUN_PHASE.get(target, _RUN_ENDS))
        phases.append(following)
    phases.reverse()
    return [
        (max(phase, first), name, data)
        for phase, (_target, name, data) in zip(phases, moves, strict=True)
    ]


def _run_passes(source: str, target: str, *, resumed: bool) -> tuple[str, ...] | None:
    """The statuses a run went through unseen from `source` to `target` (None: no way).

    `resumed` says the run was in progress in between (started again, or waiting for
    other tool calls), so the way goes through ``in_progress`` when one does.
    """
    if resumed and source != _RUNNING:
        to_running = _between(source, _RUNNING)
        if target == _RUNNING:
            return to_running
        onwards = _between(_RUNNING, target)
        if to_running is not None and onwards is not None:
            return (*to_running, _RUNNING, *onwards)
    return _between(source, target)


@functools.cache
def _between(source: str, target: str) -> tuple[str, ...] | None:
    """The missable statuses on the shortest way from `source` to `target`, or None.

    Read off the run machine: empty for one move, or for none when they are equal.
    """
    if source == target:
        return ()
    ways: dict[str, tuple[str, ...]] = {source: ()}
    frontier: list[str] = [source]
    while frontier:
        reached: list[str] = []
        for status in frontier:
            for following in _KNOWN_RUN_STATUSES:
                if following in ways or run_trigger_between(status, following) is None:
                    continue
                if following == target:
                    return ways[status]
                if following in _MISSABLE:
                    ways[following] = (*ways[status], following)
                    reached.append(following)
        frontier = reached
    return None
