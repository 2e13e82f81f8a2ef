"""Following runs in a stream, and the rules that tie steps to their run.

The `Tracker` owns the stream; this module owns what it knows about runs: one
`RunState` per run seen in ``thread.run.*`` events, the run machine's verdict on each
status change, and the cross-entity checks. Every check here only *reads* state and
returns problems; the Tracker notes them, decides (in strict mode) whether the event
is refused, and only then calls the functions that change state. A stream with no
run events never creates a `RunState`, and a step whose run was never seen is
checked for itself alone, as before runs were followed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

import attrs

from steplife._findings import shown
from steplife._lifecycle import EVENT_KINDS, TERMINAL_KINDS
from steplife._rules import latest_stamp
from steplife._run_lifecycle import run_trigger_between
from steplife.model import (
    RUN_END_STAMPS,
    RUN_STATUSES,
    RUN_TERMINAL_STATUSES,
    FunctionToolCall,
    Run,
    RunStep,
)

__all__ = [
    "RUN_EVENT_STATUS",
    "STEP_ADMISSION",
    "Problem",
    "RunBook",
    "RunState",
]

RUN_PREFIX: Final = "thread.run."
RUN_EVENT_STATUS: Final[Mapping[str, str]] = {
    "thread.run.created": "queued",
    **{RUN_PREFIX + status: status for status in RUN_STATUSES},
}
"""Each run event and the status its payload must carry."""

_GATED: Final = frozenset(("requires_action", "expired"))  # admit only some steps' events
_ALL_KINDS: Final = frozenset(EVENT_KINDS)

STEP_ADMISSION: Final[Mapping[str, frozenset[str]]] = {
    "queued": _ALL_KINDS - {"created"},
    "in_progress": _ALL_KINDS,
    # Only the end of a step with a function call in progress when the run began to
    # wait: the stream returned after the tool outputs are submitted opens with it.
    "requires_action": TERMINAL_KINDS,
    "cancelling": _ALL_KINDS - {"created"},
    "cancelled": frozenset(),
    "failed": frozenset(),
    "completed": frozenset(),
    "incomplete": frozenset(),
    # Only the expiry of a step that was still open when its run expired.
    "expired": frozenset(("expired",)),
}
"""Which step events (by kind) each run status admits: how the two machines interlock.

Kinds admitted in ``requires_action`` are admitted only for the steps with a function
call in progress when the run began to wait; in ``expired``, only for the steps in
progress when it expired.
"""

# Entering these changes nothing record_run keeps beyond the snapshot itself.
_NOTHING_TO_RECORD: Final = frozenset(("queued", "in_progress", "cancelling"))

_RUN_END_STAMP: Final = {
    **RUN_END_STAMPS,
    # An incomplete run did finish: the API may stamp completed_at (the run rules allow it).
    "incomplete": "completed_at",
}


class Problem(NamedTuple):
    """A broken rule found by a book, for the Tracker to note at the current event."""

    code: str
    message: str
    step_id: str | None = None
    path: str | None = None
    """Where in the event's payload, for a malformed one."""


@attrs.define(eq=False)
class RunState:
    """What the Tracker knows about one run."""

    run: Run
    identity: tuple[str, str, int]
    steps: int = 0
    awaited: frozenset[str] | None = frozenset()
    """Function-calling steps open when the run began to wait (None: not known)."""
    expired_open: set[str] | None = None
    """Steps still open when the run expired, that have not ended expired since.

    None for a run that did not expire (most): no set is kept for each run then.
    """
    latest_step: tuple[int, str] | None = None
    """The latest stamp of the run's ended steps, and whose it is."""
    where: tuple[str | None, int, int] = (None, 0, 0)
    raw: dict[str, Any] | None = None
    """The JSON of the run's last accepted event while it is open, to skip identical repeats."""
    created_here: bool = False
    """Whether its ``thread.run.created`` event was seen: its whole life is in the input."""

    @property
    def status(self) -> str:
        """The run's status as of its last event."""
        return self.run.status


def _end_stamp(run: Run) -> int | None:
    name = _RUN_END_STAMP.get(run.status)
    stamp: int | None = None if name is None else getattr(run, name)
    return stamp


def _identity(run: Run) -> tuple[str, str, int]:
    return (run.thread_id, run.assistant_id, run.created_at)


_IDENTITY_FIELDS: Final = ("thread_id", "assistant_id", "created_at")


def _has_function_call(step: RunStep, details: Mapping[str, Any] | None) -> bool:
    if details is not None:  # merged deltas: the SDK's plain dicts
        calls = details.get("tool_calls") or ()
        return any(type(c) is dict and c.get("type") == "function" for c in calls)
    if step.step_details.type != "tool_calls":
        return False
    return any(call.type == "function" for call in step.step_details.tool_calls)


class RunBook:
    """Every run a Tracker follows, with the aggregates the reports show.

    Finished runs are forgotten oldest first beyond `remember` (None keeps them all);
    the counters keep counting them.
    """

    def __init__(self, remember: int | None) -> None:
        self.remember = remember
        self.states: dict[str, RunState] = {}
        # The runs already forgotten, counted once when forgotten: the counts of the
        # others are read off their states when asked, not kept up on every event.
        self._forgotten_statuses: Counter[str] = Counter()
        self._forgotten_steps: Counter[int] = Counter()
        self._ended: deque[str] = deque()

    @property
    def statuses(self) -> Counter[str]:
        """How many runs are (or ended) in each status."""
        counts: Counter[str] = Counter(state.run.status for state in self.states.values())
        counts.update(self._forgotten_statuses)
        return counts

    @property
    def steps_per_run(self) -> Counter[int]:
        """How many runs have had each number of steps."""
        counts = Counter(state.steps for state in self.states.values())
        counts.update(self._forgotten_steps)
        return counts

    # -- checks on a step event (read only) -------------------------------------

    def check_step(
        self, state: RunState, step: RunStep | None, step_id: str, kind: str, *, new: bool
    ) -> list[Problem]:
        """What a step event of `kind` breaks against its run `state`.

        `step` is the event's snapshot (None for a delta); `new` says the step was
        never seen before this event.
        """
        problems: list[Problem] = []
        run = state.run
        status = run.status
        if kind not in STEP_ADMISSION[status] or (
            status in _GATED and not self._admitted(state, step_id)
        ):
            problems.append(
                Problem("step-outside-run", self._outside(state, step_id, kind), step_id)
            )
        if step is None:
            return problems
        if new and (step.thread_id != run.thread_id or step.assistant_id != run.assistant_id):
            problems.extend(_mismatch(run, step))
        if kind in TERMINAL_KINDS:
            end = _end_stamp(run)
            if end is not None:
                stamp = latest_stamp(step)
                if stamp > end:
                    problems.append(
                        Problem("step-outlives-run", _outlives(run, step_id, stamp), step_id)
                    )
        return problems

    @staticmethod
    def _admitted(state: RunState, step_id: str) -> bool:
        if state.status == "requires_action":
            return state.awaited is None or step_id in state.awaited
        if state.status == "expired":
            return state.expired_open is not None and step_id in state.expired_open
        return True

    @staticmethod
    def _outside(state: RunState, step_id: str, kind: str) -> str:
        run, status = state.run.id, state.status
        what = f"step {shown(step_id)} {'was created' if kind == 'created' else 'got ' + kind}"
        if status in RUN_TERMINAL_STATUSES:
            return f"{what} after its run {run!r} ended {status}"
        if status == "requires_action":
            return f"{what} while its run {run!r} waits for tool outputs (requires_action)"
        return f"{what} while its run {run!r} is {status}"

    # -- checks on a run event (read only) --------------------------------------

    def check_run_event(
        self,
        state: RunState | None,
        run: Run,
        kind: str,
        open_steps: Sequence[tuple[RunStep, Mapping[str, Any] | None]],
        orphans: Iterable[RunStep],
    ) -> list[Problem]:
        """What a run event carrying `run` breaks, against what is known so far.

        `open_steps` are the run's steps in progress (each with its merged deltas),
        `orphans` the live steps of this run not yet linked to it (it is new).
        """
        problems: list[Problem] = []
        status = run.status
        if state is None:
            for step in orphans:
                problems.extend(_mismatch(run, step))
            previous = None
        else:
            previous = state.run.status
            if kind == "created":
                return [Problem("duplicate-created", f"run {shown(run.id)} was created before")]
            if previous in RUN_TERMINAL_STATUSES:
                message = (
                    f"thread.run.{kind} for run {shown(run.id)}, which already ended {previous}"
                )
                return [Problem("after-terminal", message)]
            identity = state.identity
            if (
                run.thread_id != identity[0]
                or run.assistant_id != identity[1]
                or run.created_at != identity[2]
            ):
                changed = [
                    f"{name} {was!r} -> {now!r}"
                    for name, was, now in zip(
                        _IDENTITY_FIELDS, identity, _identity(run), strict=True
                    )
                    if was != now
                ]
                problems.append(
                    Problem("identity-changed", f"run {shown(run.id)}: {', '.join(changed)}")
                )
            if status != previous and run_trigger_between(previous, status) is None:
                problems.append(
                    Problem(
                        "illegal-transition",
                        f"run {shown(run.id)}: {previous} -> {status} is not a transition "
                        "of the run lifecycle",
                    )
                )
        if status == previous:
            return problems
        # A run first seen waiting (adopted) may wait for steps this input never showed.
        if (
            previous is not None
            and status == "requires_action"
            and not any(_has_function_call(step, details) for step, details in open_steps)
        ):
            problems.append(
                Problem(
                    "tool-calls-without-action",
                    f"run {shown(run.id)} requires action, but none of its steps in progress "
                    "has a function call",
                )
            )
        if status in RUN_TERMINAL_STATUSES:
            problems.extend(self._ending(state, run, open_steps))
        return problems

    @staticmethod
    def _ending(
        state: RunState | None,
        run: Run,
        open_steps: Sequence[tuple[RunStep, Mapping[str, Any] | None]],
    ) -> Iterator[Problem]:
        if run.status != "expired":
            # An expiring run's open steps are expiry-not-propagated's, at the end.
            for step, _ in open_steps:
                yield Problem(
                    "run-finished-with-open-steps",
                    f"run {shown(run.id)} ended {run.status} while step {shown(step.id)} "
                    "is still in_progress",
                    step.id,
                )
        end = _end_stamp(run)
        if end is None:
            return
        candidates = [(step.created_at, step.id) for step, _ in open_steps]
        if state is not None and state.latest_step is not None:
            candidates.append(state.latest_step)
        if candidates and (latest := max(candidates))[0] > end:
            yield Problem("step-outlives-run", _outlives(run, latest[1], latest[0]), latest[1])

    # -- changes (only once the event is accepted) ------------------------------

    def record_run(
        self,
        state: RunState | None,
        run: Run,
        raw: dict[str, Any],
        open_steps: Sequence[tuple[RunStep, Mapping[str, Any] | None]],
        where: tuple[str | None, int, int],
    ) -> RunState:
        """Take `run` (loaded from `raw`) as the run's latest snapshot; return its state.

        `open_steps` are the run's steps in progress, each with its merged deltas.
        """
        if state is None:
            state = self.states[run.id] = RunState(run=run, identity=_identity(run))
            previous = None
        else:
            previous = state.run.status
            state.run = run
        state.where = where
        status = run.status
        # An ended run takes no more events: its JSON would only hold memory.
        state.raw = None if status in RUN_TERMINAL_STATUSES else raw
        if status != previous and status not in _NOTHING_TO_RECORD:
            if status == "requires_action":
                # What the run waits for: its steps calling functions. Adopted while
                # waiting, it may wait for steps this input never showed.
                state.awaited = (
                    frozenset(s.id for s, details in open_steps if _has_function_call(s, details))
                    if previous is not None
                    else None
                )
            elif status == "expired":
                state.expired_open = {step.id for step, _ in open_steps}
            if status in RUN_TERMINAL_STATUSES:
                self._ended.append(run.id)
                if self.remember is not None and len(self._ended) > self.remember:
                    self._forget(self._ended.popleft())
        return state

    def _forget(self, run_id: str) -> None:
        forgotten = self.states.pop(run_id, None)
        if forgotten is not None:
            self._forgotten_statuses[forgotten.run.status] += 1
            self._forgotten_steps[forgotten.steps] += 1

    @staticmethod
    def step_ended(state: RunState, step: RunStep) -> None:
        """Note that a step of `state`'s run ended with the snapshot `step`."""
        stamp = latest_stamp(step)
        if state.latest_step is None or stamp > state.latest_step[0]:
            state.latest_step = (stamp, step.id)
        if step.status == "expired" and state.expired_open:
            state.expired_open.discard(step.id)

    @staticmethod
    def unrequested_call(
        state: RunState, step: RunStep, before: RunStep, details: Mapping[str, Any] | None
    ) -> Problem | None:
        """A problem when `step` completes a function call its run never required action for.

        The run asks the client for a function's output (``requires_action``) and
        the step ends once it was submitted; a step that completes a function call
        seen pending (no output) in its earlier snapshot `before` (or its merged
        deltas, `details`) without that was answered by no one the API knows of.
        Nothing is said of a run first seen waiting (what it waited for is unknown),
        nor of a call first seen with its output (a poll that came late).
        """
        awaited = state.awaited
        if awaited is None or step.id in awaited or step.step_details.type != "tool_calls":
            return None
        pending = _pending_calls(before, details)
        calls = [
            call.id
            for call in step.step_details.tool_calls
            if call.type == "function" and call.id in pending
        ]
        if not calls:
            return None
        return Problem(
            "function-call-without-action",
            f"step {shown(step.id)} completed its function call {shown(calls[0])}, but its "
            f"run {shown(state.run.id)} never required action for it: the client was never "
            "asked for its output",
            step.id,
        )

    def open_runs(self) -> Iterator[RunState]:
        """Every run followed that has not ended, in the order they were first seen."""
        for state in self.states.values():
            if state.run.status not in RUN_TERMINAL_STATUSES:
                yield state

    def unpropagated(self) -> Iterator[tuple[RunState, str]]:
        """Each expired run's steps that were open when it expired and never expired."""
        for state in self.states.values():
            for step_id in sorted(state.expired_open or ()):
                yield state, step_id


def _pending_calls(step: RunStep, details: Mapping[str, Any] | None) -> set[str]:
    """The ids of the function calls `step` (or its merged deltas) shows without output."""
    if details is not None:  # merged deltas: the SDK's plain dicts
        pending = set()
        for call in details.get("tool_calls") or ():
            if type(call) is dict and call.get("type") == "function":
                function = call.get("function")
                if not (type(function) is dict and function.get("output")):
                    call_id = call.get("id")
                    if type(call_id) is str:
                        pending.add(call_id)
        return pending
    if step.step_details.type != "tool_calls":
        return set()
    return {
        call.id
        for call in step.step_details.tool_calls
        if isinstance(call, FunctionToolCall) and not call.function.output
    }


def _mismatch(run: Run, step: RunStep) -> Iterator[Problem]:
    different = [
        f"{name} {theirs!r} (the run's is {ours!r})"
        for name, theirs, ours in (
            ("thread_id", step.thread_id, run.thread_id),
            ("assistant_id", step.assistant_id, run.assistant_id),
        )
        if theirs != ours
    ]
    if different:
        yield Problem(
            "step-run-mismatch",
            f"step {shown(step.id)} of run {shown(run.id)} has {' and '.join(different)}",
            step.id,
        )


def _outlives(run: Run, step_id: str, stamp: int) -> str:
    end = _end_stamp(run)
    return (
        f"step {shown(step_id)} has stamp {stamp}, later than its run {shown(run.id)} "
        f"ended {run.status} at {end}"
    )
