"""Replaying event streams: the Tracker rebuilds every step and checks the sequence.

The Tracker keeps one small record per live (in-progress) step. Deltas are merged
into a plain dict of ``step_details`` (the SDK's representation, cheap to merge) and
turned back into records only when needed. When a step ends, its final snapshot is
handed to ``on_finished`` and, unless ``keep_finished`` is set, only its status is
kept: memory follows the steps in flight, not the length of the stream.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from steplife._events import Event
from steplife._findings import Finding, Severity, shown
from steplife._pending import FindingBuffer
from steplife._rules import DEFAULT_RULES, Rules
from steplife._runs import RUN_EVENT_STATUS, RUN_PREFIX, Problem, RunBook, RunState
from steplife._sdk import event_of, plain
from steplife._steps import (
    LIVE,
    NEW,
    STEP_EVENT_KINDS,
    STEP_PREFIX,
    TERMINAL_KINDS,
    StepBook,
    Where,
)
from steplife._transition import Transition
from steplife._wire import Leniency, structure, structure_leniently, structure_run
from steplife.errors import StreamError
from steplife.model import Run, RunStep

__all__ = ["Tracker"]

_RUN_PREFIX_LENGTH: Final = len(RUN_PREFIX)
REMEMBER_FINISHED: Final = 100_000
"""How many finished steps a Tracker that keeps no snapshots remembers by default."""
_KNOWN_EVENTS: Final = sorted((*STEP_EVENT_KINDS, *RUN_EVENT_STATUS))
"""Every event name the API sends under ``thread.run.``, for a misspelling's hint."""
_HINTED_NAME: Final = 80  # the longest unknown name difflib is asked about
RecordT = TypeVar("RecordT", RunStep, Run)
_NO_DATA: Final[Any] = object()  # `feed` was given one argument: an event object
_WAITING: Final = frozenset({"requires_action"})
"""Run statuses that wait on the client: `finish` says so of their open steps."""


class Tracker(FindingBuffer):
    """Consumes run-step events one by one and keeps every step's current snapshot.

    In *collect* mode (the default) every finding is recorded in `findings` and the
    replay goes on; with ``strict=True`` the first error-level finding raises
    `StreamError` before the event changes anything. Call `finish` at the end of
    input to report steps left in progress.

    ``thread.run.*`` events are followed too (unless ``follow_runs=False``): each
    run goes through the run lifecycle, and its steps are checked against it
    (``step-outside-run``, ``run-finished-with-open-steps``, ...). A step whose run
    never appears is checked for itself alone. Other events are counted and passed by.

    ``keep_finished`` keeps every final snapshot (for `steps` and `snapshot`).
    Without it, memory is bounded: a finished step leaves only its id and status,
    for the ``after-terminal`` check, and only the most recent ``remember_finished``
    of those are kept (None keeps them all). An event for a step finished longer
    ago than that reads as a new step's (``unknown-step``, ``adopted-step``).

    Observers, for alerts and metrics: ``on_transition`` hears every status change
    of a step or run (a `steplife.live.Transition`), as it happens; ``on_finding``
    hears every finding as it is recorded (in strict mode, also the one about to be
    raised). ``on_finished`` hears each step's final snapshot.

    One Tracker follows a run across its HTTP streams (the first one ends at
    ``thread.run.requires_action``; the one that submits tool outputs goes on): feed
    both to the same Tracker. `feed`, `consume` and `aconsume` take the SDKs' own
    events (openai's stream events, azure-ai-agents' stream tuples) as well as
    steplife's.
    """

    def __init__(
        self,
        *,
        rules: Rules = DEFAULT_RULES,
        strict: bool = False,
        require_terminal: bool = False,
        keep_finished: bool = True,
        on_finished: Callable[[RunStep], None] | None = None,
        remember_finished: int | None = REMEMBER_FINISHED,
        follow_runs: bool = True,
        on_transition: Callable[[Transition], object] | None = None,
        on_finding: Callable[[Finding], object] | None = None,
    ) -> None:
        self.rules = rules
        self.strict = strict
        self.require_terminal = require_terminal
        self.on_finished = on_finished
        self.on_transition = on_transition
        self.on_finding = on_finding
        self.findings: list[Finding] = []
        self.events = 0
        self.event_names: Counter[str] = Counter()
        self._steps = StepBook(
            keep_finished=keep_finished,
            remember=None if keep_finished else remember_finished,
            by_run=follow_runs,
        )
        self._where: Where = (None, 0, 0)
        self._pending: list[Finding] = []
        self._runs = RunBook(self.remember_finished) if follow_runs else None
        self._unread = 0
        """The index of the last event that could not be read at all (0: none)."""

    @property
    def keep_finished(self) -> bool:
        """Whether every final snapshot is kept (for `steps` and `snapshot`)."""
        return self._steps.keep_finished

    @keep_finished.setter
    def keep_finished(self, keep: bool) -> None:
        self._steps.keep_finished = keep

    @property
    def remember_finished(self) -> int | None:
        """How many finished steps are remembered (None: all of them)."""
        return self._steps.remember

    @remember_finished.setter
    def remember_finished(self, remember: int | None) -> None:
        self._steps.remember = remember

    # -- reading -----------------------------------------------------------------

    @property
    def statuses(self) -> Counter[str]:
        """How many steps ended in each status."""
        return self._steps.statuses

    @property
    def live(self) -> Mapping[str, RunStep]:
        """The steps still in progress, by id (snapshots as last merged)."""
        return {step_id: self.snapshot(step_id) for step_id in self._steps.live}

    @property
    def live_ids(self) -> list[str]:
        """The ids of the steps still in progress, in the order they started."""
        return list(self._steps.live)

    @property
    def steps(self) -> Mapping[str, RunStep]:
        """Every step's current snapshot: live ones, and finished ones if kept."""
        return {**self._steps.snapshots, **self.live}

    def status_of(self, step_id: str) -> str | None:
        """The tracked status of `step_id`, or None when it was never seen."""
        return self._steps.status_of(step_id)

    def snapshot(self, step_id: str) -> RunStep:
        """The current snapshot of `step_id`, with every delta merged so far.

        Raises `KeyError` for an unknown (or finished and not kept) step, and
        `InvalidRecordError` when the merged deltas do not make valid step details.
        """
        return self._steps.snapshot(step_id)

    @property
    def runs(self) -> Mapping[str, Run]:
        """The latest snapshot of every run followed (finished ones within the window)."""
        if self._runs is None:
            return {}
        return {run_id: state.run for run_id, state in self._runs.states.items()}

    @property
    def run_statuses(self) -> Counter[str]:
        """How many runs followed are (or ended) in each status."""
        return Counter() if self._runs is None else Counter(self._runs.statuses)

    @property
    def steps_per_run(self) -> Counter[int]:
        """How many runs followed had each number of steps (0 for a run with none seen)."""
        return Counter() if self._runs is None else Counter(self._runs.steps_per_run)

    @property
    def valid(self) -> bool:
        """Whether no error-level finding was recorded."""
        return not any(f.severity is Severity.ERROR for f in self.findings)

    # -- feeding -----------------------------------------------------------------

    def consume(self, events: Iterable[object]) -> Tracker:
        """Feed every event of `events`, in order; return the tracker.

        Each event may be in any shape `feed` takes with one argument: a steplife
        `Event`, an SDK's stream event, a ``(name, data)`` pair or a mapping.
        """
        feed = self.feed_at  # what feed_event does, one call less per event
        for event in events:
            if type(event) is not Event:
                self._feed_object(event)
            elif event.error is None and event.note is None:
                feed(event.name or "", event.data, (event.file, event.line, event.event_index))
            else:
                self.feed_event(event)
        return self

    async def aconsume(self, events: AsyncIterable[object]) -> Tracker:
        """`consume` for an async iterable: an SDK's async stream, for example."""
        async for event in events:
            self._feed_object(event)
        return self

    def _feed_object(self, event: object) -> list[Finding]:
        if isinstance(event, Event):
            return self.feed_event(event)
        name, data = event_of(event)
        return self.feed_at(name, data, (None, 0, 0))

    def feed_event(self, event: Event) -> list[Finding]:
        """Feed one `Event` as read from a stream (see `feed`)."""
        if event.error is not None:
            self._start(event.file, event.line, event.event_index)
            self._note("malformed-event", self._label(event.name, event.error), None)
            found = self._commit()  # strict mode raises here, before anything is counted
            self.events += 1  # it is an event of the input, even if unreadable
            self._unread = max(self._unread, event.event_index)
            return found
        if event.note is not None:
            # The reader's repair comes first: it is about how the event was framed.
            self._start(event.file, event.line, event.event_index)
            self._note("sse-missing-blank-line", event.note, None)
            noted = self._commit()
            return noted + self.feed_at(
                event.name or "", event.data, (event.file, event.line, event.event_index)
            )
        return self.feed_at(
            event.name or "", event.data, (event.file, event.line, event.event_index)
        )

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

        Either its name and its data (decoded JSON, or an SDK model, taken as the JSON
        it was read from), or one event object: an SDK's stream event (openai's have
        ``.event`` and ``.data``; azure-ai-agents yields ``(type, data, result)``), an
        `Event`, a ``(name, data)`` pair or an ``{"event", "data"}`` mapping. Anything
        else is a `TypeError` that lists what is accepted.

        Raises `StreamError` in strict mode when the event breaks an error-level
        rule; the tracker's state is then exactly as before the call.
        """
        if data is _NO_DATA:
            if isinstance(event, Event):
                return self.feed_event(event)
            name, data = event_of(event)
        elif isinstance(event, str):
            name, data = event, plain(data)
        else:
            raise TypeError(
                f"feed(name, data): the name must be a string, not {type(event).__name__} "
                "(to feed an event object, pass it alone: feed(event))"
            )
        return self.feed_at(name, data, (file, line, index))

    def feed_at(self, name: str, data: Any, where: tuple[str | None, int, int]) -> list[Finding]:
        """`feed`, with where the event is as one ``(file, line, index)`` tuple.

        The replay's hot path calls this directly: no keyword arguments to bind.
        """
        self._where = where
        self.events += 1
        names = self.event_names
        names[name] = names.get(name, 0) + 1
        kind = STEP_EVENT_KINDS.get(name)
        try:
            if kind == "delta":
                self._delta(name, data)
            elif kind is not None:
                self._snapshot_event(name, kind, data)
            elif name in RUN_EVENT_STATUS:
                if self._runs is not None:
                    self._run_event(name, data)
            elif name.startswith(RUN_PREFIX):
                self._unknown_event(name, data)
        except RecursionError:
            # Only a payload nested hundreds of levels deep gets here (orjson reads up
            # to 1024); every check runs before the state changes.
            self._pending = []
            step_id = _id_of(data)
            self._note("malformed-event", f"{name}: nested too deeply to check", step_id)
        # Other events are only counted; an unknown one under thread.run. is passed by
        # too (a newer API's event), with a warning (a misspelling is more likely).
        if not self._pending:
            return []  # the usual event: nothing found, nothing to commit
        try:
            return self._commit()
        except StreamError:
            # Strict mode refused the event: it leaves no trace, counters included.
            self.events -= 1
            names[name] -= 1
            if not names[name]:
                del names[name]
            raise

    def finish(self, *, file: str | None = None) -> list[Finding]:
        """Report what the end of input reveals; call it once, at the end.

        Every step still in progress is a ``dangling-step``; a run created in this
        input and still queued, in progress or cancelling, none of its steps open, a
        ``dangling-run`` (both errors with ``require_terminal``; a run waiting for tool
        outputs waits on the client, a run with a step open has that step's finding, and
        a run followed by an event that could not be read at all may have ended in it);
        an input with no event at all is an ``empty-stream``
        (located at `file`, when given). A live Tracker calls it once the
        orchestrator is done with its runs, not when each HTTP stream ends: a run
        waiting for tool outputs (``requires_action``) goes on in the stream that
        submits them, and its open steps are not dangling until the input ends.
        """
        findings = []
        if self.events == 0:
            self._start(file, 0, 0)
            self._note("empty-stream", "no event in this input", None)
            findings.extend(self._commit())
        severity = Severity.ERROR if self.require_terminal else None
        for step_id, live in self._steps.live.items():
            self._start(*live.where)
            message = f"step {shown(step_id)} is still in_progress at the end of the input"
            if live.run is not None and live.run.run.status in _WAITING:
                message += (
                    "; its run waits for tool outputs (requires_action): a live Tracker is "
                    "fed the stream that submits them too, and finished after it"
                )
            self._note("dangling-step", message, step_id, severity=severity)
            findings.extend(self._commit())
        if self._runs is not None:
            by_run = self._steps.by_run
            assert by_run is not None  # live steps are indexed by run when runs are followed
            for state in self._runs.open_runs():
                if not state.created_here or state.run.status in _WAITING:
                    continue  # seen only in part, or waiting on the client
                if by_run.get(state.run.id):
                    continue  # its open steps' dangling-step findings say the input ended early
                if 0 < state.where[2] < self._unread:
                    continue  # its end may be in the unreadable event, a malformed-event already
                self._start(*state.where)
                run_id = state.run.id
                message = f"run {shown(run_id)} is still {state.run.status} at the end of the input"
                self._note("dangling-run", message, None, severity=severity, run_id=run_id)
                findings.extend(self._commit())
            for state, step_id in self._runs.unpropagated():
                self._start(*state.where)
                run_id = state.run.id
                message = (
                    f"run {shown(run_id)} expired, "
                    f"but its step {shown(step_id)} never ended expired"
                )
                self._note("expiry-not-propagated", message, step_id, run_id=run_id)
                findings.extend(self._commit())
        return findings

    # -- the event kinds ---------------------------------------------------------

    def _unknown_event(self, name: str, data: Any) -> None:
        # A hint only for a name of a sane length: difflib indexes the whole name.
        short = len(name) <= _HINTED_NAME
        guess = difflib.get_close_matches(name, _KNOWN_EVENTS, n=1) if short else []
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        entity_id = _id_of(data)
        of_step = name.startswith(STEP_PREFIX)
        self._note(
            "unknown-event",
            f"{shown(name)} is no event the API sends under 'thread.run.' (passed by){hint}",
            entity_id if of_step else None,
            run_id=None if of_step else entity_id,
        )

    def _snapshot_event(self, name: str, kind: str, data: Any) -> None:
        steps = self._steps
        if kind == "in_progress":
            live = steps.repeated(data)
            if live is not None:
                if live.run is not None and live.run.run.status != "in_progress":
                    self._cross(live.run, live.step, live.step.id, kind, new=False)
                    if self._failed():
                        return
                live.where = self._where
                return
        step = structure(data)
        exact = None
        if isinstance(step, list):
            step_id = _id_of(data)
            read = self._leniently(name, RunStep, data, step, step_id, None)
            if read is None:
                if kind == "created" and step_id is not None and not self.strict:
                    steps.refuse(step_id, self._where)
                return
            step, exact = read.record, read.instants.get("created_at")
        seen = steps.seen(step.id, kind)
        for finding in self.rules.check(step):
            self._pending.append(self._locate(finding))
        problems = steps.check_snapshot(step, name, kind, seen)
        if problems:
            self._report(problems)
        if seen == NEW:
            self._new_step(step, kind, exact)
            return
        if seen != LIVE:
            return  # it ended before, or was created twice: nothing to change
        live = steps.live[step.id]
        if live.run is not None and live.run.run.status != "in_progress":
            self._cross(live.run, step, step.id, kind, new=False)
        problems = steps.check_known(live, step, data, name, kind, exact)
        if problems:
            self._report(problems)
        if (
            kind == "completed"
            and step.status == "completed"
            and live.run is not None
            and step.type == "tool_calls"
        ):
            problem = RunBook.unrequested_call(live.run, step, live.step, live.details)
            if problem is not None:
                self._note(problem.code, problem.message, step.id, run_id=live.run.run.id)
        if self._failed():
            return
        if kind == "in_progress":
            # A payload with another status was reported above; it does not replace
            # the step, which is still in progress as far as the lifecycle goes.
            if step.status == "in_progress":
                steps.advance(live, step, self._where)
            return
        # The rules already ran on the payload, and the machine moves an in_progress
        # step to the status this event names (`TERMINAL_KINDS` is read off it): the
        # checked payload is the move's result.
        steps.drop(live)
        self._finish(step, live.run, live.step.status)

    def _leniently(
        self,
        name: str,
        cls: type[RecordT],
        data: Any,
        problems: list[Finding],
        step_id: str | None,
        run_id: str | None,
    ) -> Leniency[RecordT] | None:
        """Read what can be read of a payload that failed to load with `problems`.

        Only a payload that fails to load pays for this. Each value read as null is
        a ``malformed-event``, each ISO-8601 timestamp read as Unix seconds a
        ``timestamp-not-unix``; when nothing can be read, every problem is a
        ``malformed-event`` and None is returned (the event is refused).
        """
        read = structure_leniently(cls, data, problems)
        if read is None:
            self._malformed(name, problems, step_id, run_id)
            return None
        self._malformed(name, list(read.nulled), step_id, run_id)
        for finding in read.converted:
            message = self._label(name, finding.message)
            self._note(
                "timestamp-not-unix", message, step_id, path=f"data.{finding.path}", run_id=run_id
            )
        return read

    def _malformed(
        self, name: str, problems: list[Finding], step_id: str | None, run_id: str | None = None
    ) -> None:
        """Note why the payload of event `name` loads as no record (`problems` say)."""
        for problem in problems:
            self._note(
                "malformed-event",
                self._label(name, problem.message),
                step_id,
                path=f"data.{problem.path}" if problem.path else "data",
                run_id=run_id,
            )

    def _new_step(self, step: RunStep, kind: str, exact: float | None = None) -> None:
        """Start following `step`, never seen before, unless its run refuses it.

        `exact` is the instant its created_at named when sent as a date-time.
        """
        state = None if self._runs is None else self._runs.states.get(step.run_id)
        if state is not None:
            run = state.run
            # The usual new step, created in its run in progress on the run's
            # thread and assistant, can break nothing there: no call for it.
            if (
                kind != "created"
                or run.status != "in_progress"
                or step.thread_id != run.thread_id
                or step.assistant_id != run.assistant_id
            ):
                self._cross(state, step, step.id, kind, new=True)
        if self._failed():
            return
        if state is not None:
            state.steps += 1  # one more step of its run
        if kind in TERMINAL_KINDS:
            self._finish(step, state, None)  # adopted already ended: nothing to move
        else:
            self._steps.adopt(step, state, self._where, exact)
            if self.on_transition is not None:
                self._moved("step", step, None, STEP_PREFIX + kind)

    def _finish(self, step: RunStep, run: RunState | None, source: str | None) -> None:
        # The terminal payload is the truth the API sent: it becomes the snapshot.
        if run is not None:
            RunBook.step_ended(run, step)
        self._steps.end(step)
        if self.on_transition is not None:
            self._moved("step", step, source, STEP_PREFIX + step.status)
        if self.on_finished is not None:
            self.on_finished(step)

    def _moved(self, entity: Any, record: RunStep | Run, source: str | None, event: str) -> None:
        observer = self.on_transition
        assert observer is not None  # callers test it first: no record built otherwise
        observer(
            Transition(
                entity=entity,
                id=record.id,
                source=source,
                target=record.status,
                event=event,
                record=record,
            )
        )

    def _delta(self, name: str, data: Any) -> None:
        steps = self._steps
        live, details, problems = steps.check_delta(name, data)
        if live is None:
            self._report(problems)
            return
        if live.run is not None and live.run.run.status != "in_progress":
            self._cross(live.run, None, live.step.id, "delta", new=False)
        if problems:
            self._report(problems)  # its details are of another type: not merged
            return
        if details is None or self._failed():
            return
        problem = steps.merge(live, details, name, self._where)
        if problem is not None:
            self._report((problem,))

    # -- runs --------------------------------------------------------------------

    def _cross(
        self, state: RunState, step: RunStep | None, step_id: str, kind: str, *, new: bool
    ) -> None:
        """Check a step event against its run.

        A known step of a run in progress can break nothing here (that status admits
        every step event and no stamp limits it yet): callers skip the call then.
        """
        runs = self._runs
        assert runs is not None  # a step is linked to a run only when runs are followed
        for problem in runs.check_step(state, step, step_id, kind, new=new):
            self._note(problem.code, problem.message, problem.step_id, run_id=state.run.id)

    def _run_event(self, name: str, data: Any) -> None:
        runs = self._runs
        assert runs is not None  # called only when runs are followed
        kind = name[_RUN_PREFIX_LENGTH:]
        run_id = _id_of(data)
        state = None if run_id is None else runs.states.get(run_id)
        if state is not None and kind != "created" and _repeats(state.raw, data):
            # The very snapshot already loaded and checked (``created`` then ``queued``
            # send one, usually): checking it again could only repeat its findings.
            # Only what the event's name claims is left to check.
            self._same_run_snapshot(name, state)
            return
        result = structure_run(data)
        if isinstance(result, list):
            read = self._leniently(name, Run, data, result, None, run_id)
            if read is None:
                return
            result = read.record
        run = result
        for finding in self.rules.check_run(run):
            self._pending.append(self._locate(finding))
        self._run_status_claimed(name, run)
        # `state` is the run's: its id loaded from the `run_id` it was looked up by.
        by_run = self._steps.by_run
        assert by_run is not None  # live steps are indexed by run when runs are followed
        group = by_run.get(run.id)
        # Most run events find no step of theirs in progress: no lists to build then.
        open_steps = [(live.step, live.details) for live in group.values()] if group else []
        orphans = [live.step for live in group.values() if live.run is None] if group else []
        for found in runs.check_run_event(state, run, kind, open_steps, orphans):
            self._note(found.code, found.message, found.step_id, run_id=run.id)
        if self._failed():
            return
        if state is not None and (kind == "created" or state.run.is_terminal):
            return  # a duplicate or a late event: the run stays as it was
        source = None if state is None else state.run.status
        state = runs.record_run(state, run, data, open_steps, self._where)
        if source is None and kind == "created":
            state.created_here = True
        if self.on_transition is not None and source != run.status:
            self._moved("run", run, source, name)
        if orphans:
            assert group is not None  # orphans are live steps of this group
            for live in group.values():
                if live.run is None:
                    live.run = state
                    state.steps += 1

    def _same_run_snapshot(self, name: str, state: RunState) -> None:
        self._run_status_claimed(name, state.run)
        if not self._failed():
            state.where = self._where

    def _run_status_claimed(self, name: str, run: Run) -> None:
        """Note a ``status-mismatch`` when `run` lacks the status the event `name` claims."""
        expected = RUN_EVENT_STATUS[name]
        if run.status != expected:
            message = f"{name} carries status {run.status!r}, expected {expected!r}"
            self._note("status-mismatch", message, None, run_id=run.id)

    @staticmethod
    def _label(name: str | None, message: str) -> str:
        return f"{name}: {message}" if name else message

    def _start(self, file: str | None, line: int, index: int) -> None:
        self._where = (file, line, index)
        self._pending = []

    def _note(
        self,
        code: str,
        message: str,
        step_id: str | None,
        *,
        severity: Severity | None = None,
        path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Record a finding of `code` at the current event, at its configured severity.

        `severity` replaces the catalogue's default (``require_terminal`` does this),
        but never a severity the user chose for the rule explicitly.
        """
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
                step_id=step_id,
                path=path,
                file=file,
                line=line or None,
                event_index=index or None,
                run_id=run_id,
            )
        )

    def _report(self, problems: Iterable[Problem]) -> None:
        """Note each problem a book found, at the current event."""
        for problem in problems:
            self._note(problem.code, problem.message, problem.step_id, path=problem.path)


def _repeats(last: dict[str, Any] | None, data: dict[str, Any]) -> bool:
    """Whether `data` is the snapshot last taken, `last`, sent again.

    The very same dict object is not taken as a repeat: a caller that changes one dict
    in place and feeds it again would otherwise have every change skipped.
    """
    return last is not None and last is not data and last == data


def _id_of(data: Any) -> str | None:
    """The ``id`` a payload names, when it is an object with a string ``id``."""
    return _str(data.get("id")) if type(data) is dict else None


def _str(value: object) -> str | None:
    return value if type(value) is str else None
