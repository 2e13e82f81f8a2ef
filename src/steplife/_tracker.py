"""Replaying event streams: the Tracker rebuilds every step and checks the sequence.

The Tracker keeps one small record per live (in-progress) step. Deltas are merged
into a plain dict of ``step_details`` (the SDK's representation, cheap to merge) and
turned back into records only when needed. When a step ends, its final snapshot is
handed to ``on_finished`` and, unless ``keep_finished`` is set, only its status is
kept: memory follows the steps in flight, not the length of the stream.
"""

from __future__ import annotations

import difflib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from steplife._events import Event
from steplife._findings import Finding, Severity
from steplife._lifecycle import STEP_MOVES
from steplife._merge import MergeError, merge_delta
from steplife._rules import DEFAULT_RULES, Rules
from steplife._runs import RUN_EVENT_STATUS, RUN_PREFIX, RunBook, RunState
from steplife._wire import structure, structure_as, structure_run, to_dict, unstructure
from steplife.errors import InvalidRecordError, StreamError
from steplife.model import Run, RunStep

__all__ = ["Tracker"]

STEP_PREFIX: Final = "thread.run.step."
_RUN_PREFIX_LENGTH: Final = len(RUN_PREFIX)
REMEMBER_FINISHED: Final = 100_000
"""How many finished steps a Tracker that keeps no snapshots remembers by default."""
_TERMINAL_EVENTS: Final = frozenset(
    # The event suffixes that end a step: each names a status the machine moves an
    # in_progress step to.
    status
    for (source, _trigger), status in STEP_MOVES.items()
    if source == "in_progress"
)
_STEP_EVENT_KINDS: Final[Mapping[str, str]] = {
    STEP_PREFIX + kind: kind for kind in ("created", "in_progress", "delta", *_TERMINAL_EVENTS)
}
_KNOWN_EVENTS: Final = sorted((*_STEP_EVENT_KINDS, *RUN_EVENT_STATUS))
"""Every event name the API sends under ``thread.run.``, for a misspelling's hint."""
_SHOWN_NAME: Final = 80  # an unknown name is user input: shown at most this long


@attrs.define
class _Live:
    """What the Tracker holds for a step still in progress."""

    step: RunStep
    raw: dict[str, Any]  # the JSON of the last snapshot event, to skip identical repeats
    identity: tuple[str, str, str, str, int]
    details: dict[str, Any] | None = None  # merged step_details, once a delta arrived
    latest_stamp: int = 0
    where: tuple[str | None, int, int] = (None, 0, 0)  # file, line, index of its last event
    run: RunState | None = None  # its run, once a run event of it was seen


def _identity(step: RunStep) -> tuple[str, str, str, str, int]:
    return (step.run_id, step.thread_id, step.assistant_id, step.type, step.created_at)


_IDENTITY_FIELDS: Final = ("run_id", "thread_id", "assistant_id", "type", "created_at")


class Tracker:
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
    ) -> None:
        self.rules = rules
        self.strict = strict
        self.require_terminal = require_terminal
        self.keep_finished = keep_finished
        self.on_finished = on_finished
        self.findings: list[Finding] = []
        self.events = 0
        self.event_names: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self._live: dict[str, _Live] = {}
        self._finished: dict[str, str] = {}
        self._finish_order: deque[str] = deque()
        self.remember_finished = None if keep_finished else remember_finished
        self._snapshots: dict[str, RunStep] = {}
        self._where: tuple[str | None, int, int] = (None, 0, 0)
        self._pending: list[Finding] = []
        self._runs = RunBook(self.remember_finished) if follow_runs else None
        # Live steps by run id, so a run event finds its open steps without a scan.
        self._live_by_run: dict[str, dict[str, _Live]] = {}

    # -- reading -----------------------------------------------------------------

    @property
    def live(self) -> Mapping[str, RunStep]:
        """The steps still in progress, by id (snapshots as last merged)."""
        return {step_id: self.snapshot(step_id) for step_id in self._live}

    @property
    def live_ids(self) -> list[str]:
        """The ids of the steps still in progress, in the order they started."""
        return list(self._live)

    @property
    def steps(self) -> Mapping[str, RunStep]:
        """Every step's current snapshot: live ones, and finished ones if kept."""
        return {**self._snapshots, **self.live}

    def status_of(self, step_id: str) -> str | None:
        """The tracked status of `step_id`, or None when it was never seen."""
        if step_id in self._live:
            return "in_progress"
        return self._finished.get(step_id)

    def snapshot(self, step_id: str) -> RunStep:
        """The current snapshot of `step_id`, with every delta merged so far.

        Raises `KeyError` for an unknown (or finished and not kept) step, and
        `InvalidRecordError` when the merged deltas do not make valid step details.
        """
        live = self._live.get(step_id)
        if live is None:
            return self._snapshots[step_id]
        if live.details is None:
            return live.step
        try:
            details = structure_as(live.details, type(live.step.step_details))
        except Exception:
            merged = {**to_dict(live.step), "step_details": live.details}
            result = structure(merged)
            problems = result if isinstance(result, list) else []
            raise InvalidRecordError(
                f"step {step_id!r}: merged deltas are invalid", problems
            ) from None
        return attrs.evolve(live.step, step_details=details)

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

    def consume(self, events: Iterable[Event]) -> Tracker:
        """Feed every event of `events`, in order; return the tracker."""
        feed = self._feed  # what feed_event does, one call less per event
        for event in events:
            if event.error is None:
                feed(event.name or "", event.data, (event.file, event.line, event.event_index))
            else:
                self.feed_event(event)
        return self

    def feed_event(self, event: Event) -> list[Finding]:
        """Feed one `Event` as read from a stream (see `feed`)."""
        if event.error is not None:
            self._start(event.file, event.line, event.event_index)
            self.events += 1  # it is an event of the input, even if unreadable
            self._note("malformed-event", self._label(event.name, event.error), None)
            return self._commit()
        return self._feed(event.name or "", event.data, (event.file, event.line, event.event_index))

    def feed(
        self,
        name: str,
        data: Any,
        *,
        file: str | None = None,
        line: int = 0,
        index: int = 0,
    ) -> list[Finding]:
        """Feed one event (its name and decoded JSON data); return its findings.

        Raises `StreamError` in strict mode when the event breaks an error-level
        rule; the tracker's state is then exactly as before the call.
        """
        return self._feed(name, data, (file, line, index))

    def _feed(self, name: str, data: Any, where: tuple[str | None, int, int]) -> list[Finding]:
        self._where = where
        self.events += 1
        names = self.event_names
        names[name] = names.get(name, 0) + 1
        kind = _STEP_EVENT_KINDS.get(name)
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
            step_id = _str(data.get("id")) if type(data) is dict else None
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

        Every step still in progress is a ``dangling-step`` (an error with
        ``require_terminal``); an input with no event at all is an ``empty-stream``
        (located at `file`, when given).
        """
        findings = []
        if self.events == 0:
            self._start(file, 0, 0)
            self._note("empty-stream", "no event in this input", None)
            findings.extend(self._commit())
        severity = Severity.ERROR if self.require_terminal else None
        for step_id, live in self._live.items():
            self._start(*live.where)
            message = f"step {step_id!r} is still in_progress at the end of the input"
            self._note("dangling-step", message, step_id, severity=severity)
            findings.extend(self._commit())
        if self._runs is not None:
            for state, step_id in self._runs.unpropagated():
                self._start(*state.where)
                run_id = state.run.id
                message = f"run {run_id!r} expired, but its step {step_id!r} never ended expired"
                self._note("expiry-not-propagated", message, step_id, run_id=run_id)
                findings.extend(self._commit())
        return findings

    # -- the event kinds ---------------------------------------------------------

    def _unknown_event(self, name: str, data: Any) -> None:
        short = len(name) <= _SHOWN_NAME
        # A hint only for a name of a sane length: difflib indexes the whole name.
        guess = difflib.get_close_matches(name, _KNOWN_EVENTS, n=1) if short else []
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        entity_id = _str(data.get("id")) if type(data) is dict else None
        of_step = name.startswith(STEP_PREFIX)
        shown = name if short else name[: _SHOWN_NAME - 3] + "..."
        self._note(
            "unknown-event",
            f"{shown!r} is no event the API sends under 'thread.run.' (passed by){hint}",
            entity_id if of_step else None,
            run_id=None if of_step else entity_id,
        )

    def _snapshot_event(self, name: str, kind: str, data: Any) -> None:
        if kind == "in_progress":
            # Only a string names a step: an id of another JSON type (a list, an object)
            # is no key to look up, and the loader below reports it.
            step_id = _str(data.get("id")) if type(data) is dict else None
            live = None if step_id is None else self._live.get(step_id)
            if live is not None and live.details is None and _repeats(live.raw, data):
                # The very snapshot already checked (as `created` sends it, usually):
                # checking it again could only repeat its findings.
                if live.run is not None and live.run.run.status != "in_progress":
                    self._cross(live.run, live.step, live.step.id, kind, new=False)
                    if self._failed():
                        return
                live.where = self._where
                return
        result = structure(data)
        if isinstance(result, list):
            step_id = _str(data.get("id")) if type(data) is dict else None
            for problem in result:
                self._note(
                    "malformed-event",
                    self._label(name, problem.message),
                    _str(step_id),
                    path=f"data.{problem.path}" if problem.path else "data",
                )
            return
        step = result
        step_id = step.id
        for finding in self.rules.check(step):
            self._pending.append(self._locate(finding))
        expected = "in_progress" if kind in ("created", "in_progress") else kind
        if step.status != expected:
            self._note(
                "status-mismatch",
                f"{name} carries status {step.status!r}, expected {expected!r}",
                step_id,
            )
        if step_id in self._finished:
            if kind == "created":
                self._note("duplicate-created", f"step {step_id!r} was created before", step_id)
            else:
                self._note("after-terminal", self._after_terminal(name, step_id), step_id)
            return
        live = self._live.get(step_id)
        if live is None:
            if kind != "created":
                self._note(
                    "adopted-step",
                    f"{name} for step {step_id!r}, never created in this input: adopted",
                    step_id,
                )
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
                    self._cross(state, step, step_id, kind, new=True)
            if self._failed():
                return
            if state is not None:
                state.steps += 1  # one more step of its run
            if kind in _TERMINAL_EVENTS:
                self._finish(step, state)  # adopted already ended: nothing to move
            else:
                self._adopt(step, data, state)
            return
        if kind == "created":
            self._note("duplicate-created", f"step {step_id!r} was created before", step_id)
            return
        if live.run is not None and live.run.run.status != "in_progress":
            self._cross(live.run, step, step_id, kind, new=False)
        self._compare(live, step, name)
        if kind == "in_progress":
            # A payload with another status was reported above; it does not replace
            # the step, which is still in progress as far as the lifecycle goes.
            if not self._failed() and step.status == "in_progress":
                live.where = self._where
                live.latest_stamp = max(live.latest_stamp, _latest(step))
                if live.details is None:
                    live.step, live.raw = step, data
            return
        self._terminal(live, step, data, name, kind)

    def _terminal(
        self, live: _Live, step: RunStep, data: dict[str, Any], name: str, kind: str
    ) -> None:
        if live.details is not None:
            # The payload's own JSON: it loaded as `step`, so it is well formed.
            diverged = _diverged(live.details, data["step_details"], "step_details")
            if diverged:
                self._note(
                    "snapshot-diverged",
                    f"{name}: {diverged} differs from what the deltas accumulated",
                    step.id,
                )
        if self._failed():
            return
        # The rules already ran on the payload, and the machine moves an in_progress
        # step to the status this event names (`_TERMINAL_EVENTS` is read off it): the
        # checked payload is the move's result. The live record is dropped, not
        # changed, so a snapshot handed out before stays what it was.
        del self._live[step.id]
        if self._runs is not None:
            run_id = live.identity[0]  # the run it was indexed under
            group = self._live_by_run[run_id]
            del group[step.id]
            if not group:
                del self._live_by_run[run_id]
        self._finish(step, live.run)

    def _finish(self, step: RunStep, run: RunState | None) -> None:
        # The terminal payload is the truth the API sent: it becomes the snapshot.
        if run is not None:
            RunBook.step_ended(run, step)
        self._finished[step.id] = step.status
        if self.remember_finished is not None:
            # Forget the oldest finished steps: memory must not grow with the input.
            order = self._finish_order
            order.append(step.id)
            if len(order) > self.remember_finished:
                self._finished.pop(order.popleft(), None)
        self.statuses[step.status] += 1
        if self.keep_finished:
            self._snapshots[step.id] = step
        if self.on_finished is not None:
            self.on_finished(step)

    def _delta(self, name: str, data: Any) -> None:
        step_id, details, problem = _read_delta(data)
        if problem is not None:
            path = problem.partition(":")[0]
            self._note("malformed-event", self._label(name, problem), step_id, path=path)
            return
        assert step_id is not None
        if step_id in self._finished:
            self._note("after-terminal", self._after_terminal(name, step_id), step_id)
            return
        live = self._live.get(step_id)
        if live is None:
            self._note("unknown-step", f"{name} for step {step_id!r}, never seen before", step_id)
            return
        if live.run is not None and live.run.run.status != "in_progress":
            self._cross(live.run, None, step_id, "delta", new=False)
        if details is None:
            return
        delta_type = details.get("type")
        if delta_type is not None and delta_type != live.step.type:
            self._note(
                "delta-type-mismatch",
                f"delta step_details.type is {delta_type!r} but the step is {live.step.type!r}",
                step_id,
            )
            return
        if self._failed():
            return
        merged = live.details if live.details is not None else unstructure(live.step.step_details)
        try:
            # merge_delta never modifies its input: a bad delta leaves nothing behind.
            live.details = merge_delta(merged, details, "delta.step_details")
        except MergeError as exc:
            self._note(
                "malformed-event",
                self._label(name, f"data.{exc}"),
                step_id,
                path=f"data.{exc.path}",
            )
            return
        live.where = self._where

    # -- helpers -----------------------------------------------------------------

    def _adopt(self, step: RunStep, raw: dict[str, Any], run: RunState | None) -> None:
        live = _Live(step=step, raw=raw, identity=_identity(step), latest_stamp=_latest(step))
        live.where = self._where
        live.run = run
        self._live[step.id] = live
        if self._runs is not None:
            group = self._live_by_run.get(step.run_id)
            if group is None:
                group = self._live_by_run[step.run_id] = {}
            group[step.id] = live

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
        run_id = _str(data.get("id")) if type(data) is dict else None
        state = None if run_id is None else runs.states.get(run_id)
        if state is not None and kind != "created" and _repeats(state.raw, data):
            # The very snapshot already loaded and checked (``created`` then ``queued``
            # send one, usually): checking it again could only repeat its findings.
            # Only what the event's name claims is left to check.
            self._same_run_snapshot(name, state)
            return
        result = structure_run(data)
        if isinstance(result, list):
            for problem in result:
                self._note(
                    "malformed-event",
                    self._label(name, problem.message),
                    None,
                    path=f"data.{problem.path}" if problem.path else "data",
                    run_id=run_id,
                )
            return
        run = result
        for finding in self.rules.check_run(run):
            self._pending.append(self._locate(finding))
        self._run_status_claimed(name, run)
        # `state` is the run's: its id loaded from the `run_id` it was looked up by.
        group = self._live_by_run.get(run.id)
        # Most run events find no step of theirs in progress: no lists to build then.
        open_steps = [(live.step, live.details) for live in group.values()] if group else []
        orphans = [live.step for live in group.values() if live.run is None] if group else []
        for found in runs.check_run_event(state, run, kind, open_steps, orphans):
            self._note(found.code, found.message, found.step_id, run_id=run.id)
        if self._failed():
            return
        if state is not None and (kind == "created" or state.run.is_terminal):
            return  # a duplicate or a late event: the run stays as it was
        state = runs.record_run(state, run, data, open_steps, self._where)
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

    def _compare(self, live: _Live, step: RunStep, name: str) -> None:
        identity = _identity(step)
        if identity != live.identity:
            changed = [
                f"{field} {before!r} -> {after!r}"
                for field, before, after in zip(
                    _IDENTITY_FIELDS, live.identity, identity, strict=True
                )
                if before != after
            ]
            self._note("identity-changed", f"{name}: {', '.join(changed)}", step.id)
        earliest = _earliest_stamp(step)
        # A stamp before the payload's own created_at is stamp-before-created's to report.
        if earliest is not None and step.created_at <= earliest < live.latest_stamp:
            self._note(
                "time-travel",
                f"{name}: stamp {earliest} is earlier than {live.latest_stamp}, already seen",
                step.id,
            )

    def _after_terminal(self, name: str, step_id: str) -> str:
        return f"{name} for step {step_id!r}, which already ended {self._finished[step_id]}"

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

    def _locate(self, finding: Finding) -> Finding:
        file, line, index = self._where
        return attrs.evolve(finding, file=file, line=line or None, event_index=index or None)

    def _failed(self) -> bool:
        """In strict mode, whether this event already has an error (so: change nothing)."""
        return self.strict and any(f.severity is Severity.ERROR for f in self._pending)

    def _commit(self) -> list[Finding]:
        pending = self._pending
        if not pending:
            return []
        self._pending = []
        if self.strict:
            for finding in pending:
                if finding.severity is Severity.ERROR:
                    raise StreamError(finding)
        self.findings.extend(pending)
        return pending


def _repeats(last: dict[str, Any] | None, data: dict[str, Any]) -> bool:
    """Whether `data` is the snapshot last taken, `last`, sent again.

    The very same dict object is not taken as a repeat: a caller that changes one dict
    in place and feeds it again would otherwise have every change skipped.
    """
    return last is not None and last is not data and last == data


def _str(value: object) -> str | None:
    return value if type(value) is str else None


def _latest(step: RunStep) -> int:
    latest = step.created_at
    for stamp in (step.cancelled_at, step.completed_at, step.expired_at, step.failed_at):
        if stamp is not None and stamp > latest:
            latest = stamp
    return latest


def _earliest_stamp(step: RunStep) -> int | None:
    earliest = None
    for stamp in (step.cancelled_at, step.completed_at, step.expired_at, step.failed_at):
        if stamp is not None and (earliest is None or stamp < earliest):
            earliest = stamp
    return earliest


def _read_delta(data: Any) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """The step id and step_details of a delta payload, or the reason it is malformed."""
    if type(data) is not dict:
        return None, None, "data: expected an object"
    step_id = data.get("id")
    if type(step_id) is not str:
        return None, None, "data.id: missing or not a string"
    delta = data.get("delta")
    if type(delta) is not dict:
        return step_id, None, "data.delta: missing or not an object"
    details = delta.get("step_details")
    if details is None:
        return step_id, None, None
    if type(details) is not dict:
        return step_id, None, "data.delta.step_details: expected an object"
    return step_id, details, None


def _diverged(accumulated: Any, final: Any, path: str) -> str | None:
    """The first path where what the deltas built disagrees with the final snapshot.

    The final snapshot may add what deltas never carry (a function's output, file
    search results), so only values the deltas did set are compared.
    """
    if accumulated is None:
        return None
    if type(accumulated) is dict:
        if type(final) is not dict:
            return path
        for key, value in accumulated.items():
            if key == "index":
                continue
            found = _diverged(value, final.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if type(accumulated) is list:
        if type(final) is not list or len(final) < len(accumulated):
            return path
        for i, value in enumerate(accumulated):
            found = _diverged(value, final[i], f"{path}[{i}]")
            if found:
                return found
        return None
    return None if accumulated == final else path
