"""Hypothesis state machines that drive run steps, and runs, through legal and illegal triggers.

`lifecycle_machine` talks to the code under test through `StepAdapter`, three calls
any orchestrator or store can offer: start a step, apply a trigger, read a snapshot;
`run_lifecycle_machine` does the same for runs through `RunAdapter` (create a run,
apply a trigger, read a snapshot). Each keeps its own model of what every step or
run must look like, written from the API's rules and independent of steplife's
machinery, and after every trigger checks the adapter against it: legal triggers are
accepted and give exactly the expected snapshot (which breaks no rule), illegal ones
are rejected and change nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn, Protocol

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from steplife import (
    CATALOGUE,
    Clock,
    Lifecycle,
    Rules,
    Run,
    RunLifecycle,
    RunStep,
    Severity,
    SteplifeError,
    check,
    from_json,
    parse,
    to_json,
)
from steplife.model import (
    IncompleteDetails,
    LastError,
    Metadata,
    RequiredAction,
    RunStatus,
    StepDetails,
    StepStatus,
    Usage,
)
from steplife.testing._clock import FakeClock
from steplife.testing._strategies import (
    ERROR_CODES,
    RUN_ENDINGS,
    RUN_ERROR_CODES,
    RUN_STAMP_OF,
    STAMP_OF,
    check_type,
    incomplete_details,
    last_errors,
    metadatas,
    required_actions,
    step_details,
    usages,
)

__all__ = [
    "LifecycleAdapter",
    "RunAdapter",
    "RunLifecycleAdapter",
    "StepAdapter",
    "lifecycle_machine",
    "run_lifecycle_machine",
]

TARGETS: Final[Mapping[str, StepStatus]] = {
    "complete": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "expire": "expired",
}
"""The four triggers and where each leads, from ``in_progress`` only."""
_NOT_TRIGGERS: Final = ("start", "resume", "restart", "in_progress", "completed", "")
_WARNING_CODES: Final = frozenset(
    code for code, r in CATALOGUE.items() if r.severity is Severity.WARNING and r.check
)


class StepAdapter(Protocol):
    """What `lifecycle_machine` drives: your orchestrator or store, behind three calls.

    Stamps must come from the clock the adapter was built with (the machine moves
    it). A rejected call must raise one of the machine's ``rejections`` (by
    default any `steplife.SteplifeError`) and leave the step as it was.
    """

    def start(
        self,
        *,
        id: str,
        run_id: str,
        thread_id: str,
        assistant_id: str,
        step_details: StepDetails,
        metadata: Metadata | None,
    ) -> None:
        """Create an ``in_progress`` step stamped ``created_at`` by the clock."""

    def apply(
        self,
        step_id: str,
        trigger: str,
        *,
        usage: Usage | None,
        last_error: LastError | None,
    ) -> None:
        """Fire `trigger` (``complete``, ``fail``, ...; or any other string) on the step."""

    def snapshot(self, step_id: str) -> RunStep:
        """The step as it stands now."""


class LifecycleAdapter:
    """The reference adapter: steplife's own `Lifecycle`, with the steps kept in a dict.

    `rules` is handed to the lifecycle (escalate the warnings to test a strict
    adapter with ``lifecycle_machine(..., strict=True)``).
    """

    def __init__(self, clock: Clock, *, rules: Rules | None = None) -> None:
        self.lifecycle = Lifecycle(clock=clock, rules=Rules() if rules is None else rules)
        self.steps: dict[str, RunStep] = {}

    def start(
        self,
        *,
        id: str,
        run_id: str,
        thread_id: str,
        assistant_id: str,
        step_details: StepDetails,
        metadata: Metadata | None,
    ) -> None:
        """Start the step with `Lifecycle.start` and keep it."""
        self.steps[id] = self.lifecycle.start(
            id=id,
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            step_details=step_details,
            metadata=metadata,
        )

    def apply(
        self,
        step_id: str,
        trigger: str,
        *,
        usage: Usage | None,
        last_error: LastError | None,
    ) -> None:
        """Fire `trigger` with `Lifecycle.apply` (warnings are returned, not issued)."""
        self.lifecycle.apply(self.steps[step_id], trigger, usage=usage, last_error=last_error)

    def snapshot(self, step_id: str) -> RunStep:
        """A copy of the step (the lifecycle replaces nested objects, never edits them)."""
        return attrs.evolve(self.steps[step_id])


@attrs.define
class _Expected:
    step: RunStep
    warnings: frozenset[str] = frozenset()
    checked: bool = False  # whether this state was checked in depth already


def expect(
    step: RunStep,
    trigger: str,
    *,
    usage: Usage | None,
    last_error: LastError | None,
    at: int,
) -> tuple[RunStep | None, frozenset[str], frozenset[str]]:
    """What `trigger` must do to `step` by the API's rules, written independently of steplife.

    Returns the step it leads to (None when the trigger is not allowed at all),
    the error-level rules it would break, and the warning-level ones.
    """
    target = TARGETS.get(trigger)
    if target is None or step.status != "in_progress":
        return None, frozenset({"illegal-transition"}), frozenset()
    errors, warnings = set(), set()
    if usage is not None and (
        min(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) < 0
        or usage.total_tokens != usage.prompt_tokens + usage.completion_tokens
    ):
        errors.add("usage-total")
    if last_error is not None and target != "failed":
        errors.add("error-without-failure")
    if at < step.created_at:
        errors.add("stamp-before-created")
    if target == "completed" and usage is None:
        warnings.add("usage-missing")
    if target == "failed" and last_error is None:
        warnings.add("failure-without-error")
    if usage is not None and target != "completed":
        warnings.add("usage-without-completion")
    if last_error is not None and last_error.code not in ERROR_CODES:
        warnings.add("unknown-value")
    after = attrs.evolve(step, status=target, usage=usage, last_error=last_error)
    setattr(after, STAMP_OF[target], at)
    return after, frozenset(errors), frozenset(warnings)


def _broken_usages() -> st.SearchStrategy[Usage]:
    counts = st.integers(0, 1000)
    wrong_total = st.builds(
        lambda p, c, d: Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c + d),
        counts,
        counts,
        st.integers(1, 1000),
    )
    negative = st.builds(
        lambda p, c: Usage(prompt_tokens=-p, completion_tokens=c, total_tokens=c - p),
        st.integers(1, 1000),
        counts,
    )
    return wrong_total | negative


_USAGE_ARGS: Final = st.none() | usages() | _broken_usages()
_ERROR_ARGS: Final = st.none() | last_errors()


class _LifecycleMachine(RuleBasedStateMachine):
    """The machine's rules; `lifecycle_machine` makes a configured class of it."""

    adapter_factory: Callable[[FakeClock], StepAdapter]
    rejections: tuple[type[BaseException], ...]
    strict: bool
    clock_skew: bool

    steps = Bundle("steps")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.adapter = type(self).adapter_factory(self.clock)
        self.model: dict[str, _Expected] = {}

    @rule(
        target=steps,
        details=step_details(output=False),
        metadata=st.none() | metadatas(),
        run=st.sampled_from(("run_1", "run_2")),
    )
    def start(self, details: StepDetails, metadata: Metadata | None, run: str) -> str:
        """Start a new step in one of two runs."""
        step_id = f"step_{len(self.model) + 1}"
        fields: dict[str, Any] = {
            "id": step_id,
            "run_id": run,
            "thread_id": run.replace("run", "thread"),
            "assistant_id": "asst_1",
            "step_details": details,
            "metadata": metadata,
        }
        # The model keeps its own copies: an adapter that edits what it was given in
        # place must not edit the model too.
        expected = RunStep(created_at=self.clock.now, type=details.type, **copy.deepcopy(fields))
        self.adapter.start(**fields)
        self.model[step_id] = _Expected(expected)
        return step_id

    @rule(seconds=st.integers(0, 3600))
    def tick(self, seconds: int) -> None:
        """Let time pass."""
        self.clock.advance(seconds)

    @precondition(lambda self: self.clock_skew)
    @rule(seconds=st.integers(1, 3600))
    def skew(self, seconds: int) -> None:
        """Move the clock back, as a skewed host clock would."""
        self.clock.set(max(0, self.clock.now - seconds))

    @rule(step=steps, usage=_USAGE_ARGS, last_error=_ERROR_ARGS)
    def complete(self, step: str, usage: Usage | None, last_error: LastError | None) -> None:
        """Fire ``complete``."""
        self._fire(step, "complete", usage, last_error)

    @rule(step=steps, usage=_USAGE_ARGS, last_error=_ERROR_ARGS)
    def fail(self, step: str, usage: Usage | None, last_error: LastError | None) -> None:
        """Fire ``fail``."""
        self._fire(step, "fail", usage, last_error)

    @rule(step=steps, usage=_USAGE_ARGS, last_error=_ERROR_ARGS)
    def cancel(self, step: str, usage: Usage | None, last_error: LastError | None) -> None:
        """Fire ``cancel``."""
        self._fire(step, "cancel", usage, last_error)

    @rule(step=steps, usage=_USAGE_ARGS, last_error=_ERROR_ARGS)
    def expire(self, step: str, usage: Usage | None, last_error: LastError | None) -> None:
        """Fire ``expire``."""
        self._fire(step, "expire", usage, last_error)

    @rule(step=steps, trigger=st.sampled_from(_NOT_TRIGGERS))
    def not_a_trigger(self, step: str, trigger: str) -> None:
        """Fire something that is no trigger at all."""
        self._fire(step, trigger, None, None)

    def _fire(
        self, step_id: str, trigger: str, usage: Usage | None, last_error: LastError | None
    ) -> None:
        before = self.model[step_id]
        after, errors, warnings = expect(
            before.step, trigger, usage=usage, last_error=last_error, at=self.clock.now
        )
        broken = errors | warnings if self.strict else errors
        call = f"{trigger}({step_id!r}, usage={usage!r}, last_error={last_error!r})"
        try:
            self.adapter.apply(step_id, trigger, usage=usage, last_error=last_error)
        except self.rejections as exc:
            if not broken:
                raise AssertionError(f"the adapter rejected a legal trigger: {call}") from exc
            return
        if broken:
            raise AssertionError(
                f"the adapter accepted {call} on the {before.step.status} step, "
                f"which breaks {', '.join(sorted(broken))}"
            )
        assert after is not None
        self.model[step_id] = _Expected(after, warnings)

    @invariant()
    def every_snapshot_holds(self) -> None:
        """Check every step the adapter keeps, after each step of the machine.

        Each snapshot is exactly what its triggers made it (identity, status,
        stamps, payloads). Each new state of a step is also checked in depth once:
        it breaks no error-level rule and only the warnings its payloads called
        for, it survives JSON both ways, no stamp precedes ``created_at`` and only
        its own status's stamp is set. (A snapshot equal to a state already
        checked needs no second look, which keeps long runs fast.)
        """
        for step_id, expected in self.model.items():
            actual = self.adapter.snapshot(step_id)
            if actual != expected.step:
                _differs("step", step_id, expected.step, actual)
            if not expected.checked:
                _check_in_depth(step_id, actual, expected.warnings)
                expected.checked = True


def _differs(kind: str, key: str, expected: RunStep | Run, actual: RunStep | Run) -> NoReturn:
    """Fail, naming each field where `actual` differs from the model's `expected`."""
    diff = [
        f"{field.name}: expected {getattr(expected, field.name)!r}, "
        f"got {getattr(actual, field.name)!r}"
        for field in attrs.fields(type(expected))
        if getattr(actual, field.name) != getattr(expected, field.name)
    ]
    raise AssertionError(f"{kind} {key!r} differs from its model: " + "; ".join(diff))


def _check_in_depth(step_id: str, step: RunStep, warnings: frozenset[str]) -> None:
    found = {f.rule for f in check(step)}
    if found != warnings:
        raise AssertionError(
            f"step {step_id!r} breaks {sorted(found)}, expected {sorted(warnings)}"
        )
    if parse(to_json(step)).record != step:
        raise AssertionError(f"step {step_id!r} changes through JSON")
    stamps = {name: getattr(step, name) for name in STAMP_OF.values()}
    own = STAMP_OF.get(step.status)
    set_stamps = {name for name, value in stamps.items() if value is not None}
    early = any(value is not None and value < step.created_at for value in stamps.values())
    if early or set_stamps != ({own} if own else set()):
        raise AssertionError(f"step {step_id!r} has stamps {stamps}")


def lifecycle_machine(
    adapter: Callable[[FakeClock], StepAdapter],
    *,
    rejections: tuple[type[BaseException], ...] = (SteplifeError,),
    strict: bool = False,
    clock_skew: bool = True,
) -> type[RuleBasedStateMachine]:
    """A state machine class that tests the steps `adapter` keeps; run its ``TestCase``.

    `adapter` is called with a fresh `FakeClock` for each run of the machine and
    returns a `StepAdapter`. The machine starts steps, lets time pass (and, with
    `clock_skew`, go back), and fires the four triggers with valid, missing and
    broken payloads, plus strings that are no trigger. A trigger that breaks an
    error-level rule, or leaves a terminal step, must raise one of `rejections`;
    with `strict`, so must one that breaks a warning-level rule (a completion
    without usage, say). After every step it checks each snapshot against its
    model, against every rule, through a JSON round trip, and its stamps.

    ``TestMyStore = lifecycle_machine(MyAdapter).TestCase`` makes it a test.
    """
    name = _check_machine_arguments(adapter, rejections, strict, clock_skew)
    return type(
        f"LifecycleMachine_{name}",
        (_LifecycleMachine,),
        {
            "adapter_factory": staticmethod(adapter),
            "rejections": rejections,
            "strict": strict,
            "clock_skew": clock_skew,
        },
    )


# -- runs --------------------------------------------------------------------------

RUN_TARGETS: Final[Mapping[str, RunStatus]] = {
    "queue": "queued",
    "start": "in_progress",
    "require_action": "requires_action",
    "request_cancel": "cancelling",
    "cancel": "cancelled",
    "fail": "failed",
    "complete": "completed",
    "mark_incomplete": "incomplete",
    "expire": "expired",
}
"""The nine run triggers and where each leads."""
RUN_SOURCES: Final[Mapping[str, frozenset[str]]] = {
    # Written from the API reference and real streams, not read off steplife's machine.
    "queue": frozenset(("requires_action",)),  # the tool outputs were submitted
    "start": frozenset(("queued", "requires_action")),
    "require_action": frozenset(("in_progress",)),
    "request_cancel": frozenset(("queued", "in_progress", "requires_action")),
    "cancel": frozenset(("cancelling",)),
    # A cancel request is not guaranteed: a cancelling run may still end otherwise.
    "fail": frozenset(("queued", "in_progress", "cancelling")),
    "complete": frozenset(("in_progress", "cancelling")),
    "mark_incomplete": frozenset(("in_progress", "cancelling")),
    "expire": frozenset(("queued", "in_progress", "requires_action", "cancelling")),
}
"""The statuses each run trigger may leave; the five endings absorb."""
_RUN_STAMP: Final[Mapping[str, str]] = {"in_progress": "started_at", **RUN_STAMP_OF}
_RUN_NOT_TRIGGERS: Final = ("resume", "submit_tool_outputs", "queued", "cancelled", "")


class RunAdapter(Protocol):
    """What `run_lifecycle_machine` drives: your orchestrator or store, for runs.

    As for `StepAdapter`: stamps come from the adapter's clock, and a rejected call
    raises one of the machine's ``rejections`` and leaves the run as it was.
    """

    def create(self, *, id: str, thread_id: str, assistant_id: str) -> None:
        """Create a ``queued`` run stamped ``created_at`` by the clock."""

    def apply(
        self,
        run_id: str,
        trigger: str,
        *,
        usage: Usage | None,
        last_error: LastError | None,
        required_action: RequiredAction | None,
        incomplete_details: IncompleteDetails | None,
    ) -> None:
        """Fire `trigger` (``queue``, ``start``, ...; or any other string) on the run."""

    def snapshot(self, run_id: str) -> Run:
        """The run as it stands now."""


class RunLifecycleAdapter:
    """The reference run adapter: steplife's own `RunLifecycle`, runs kept in a dict."""

    def __init__(self, clock: Clock, *, rules: Rules | None = None) -> None:
        self.lifecycle = RunLifecycle(clock=clock, rules=Rules() if rules is None else rules)
        self.runs: dict[str, Run] = {}

    def create(self, *, id: str, thread_id: str, assistant_id: str) -> None:
        """Create the run with `RunLifecycle.create` and keep it."""
        self.runs[id] = self.lifecycle.create(id=id, thread_id=thread_id, assistant_id=assistant_id)

    def apply(
        self,
        run_id: str,
        trigger: str,
        *,
        usage: Usage | None,
        last_error: LastError | None,
        required_action: RequiredAction | None,
        incomplete_details: IncompleteDetails | None,
    ) -> None:
        """Fire `trigger` with `RunLifecycle.apply` (warnings are returned, not issued)."""
        self.lifecycle.apply(
            self.runs[run_id],
            trigger,
            usage=usage,
            last_error=last_error,
            required_action=required_action,
            incomplete_details=incomplete_details,
        )

    def snapshot(self, run_id: str) -> Run:
        """A copy of the run (the lifecycle replaces nested objects, never edits them)."""
        return attrs.evolve(self.runs[run_id])


def expect_run(
    run: Run,
    trigger: str,
    *,
    usage: Usage | None,
    last_error: LastError | None,
    required_action: RequiredAction | None,
    incomplete_details: IncompleteDetails | None,
    at: int,
) -> tuple[Run | None, frozenset[str], frozenset[str]]:
    """What `trigger` must do to `run` by the API's rules, written independently of steplife.

    Returns the run it leads to (None when the trigger is not allowed at all), the
    error-level rules it would break, and the warning-level ones. A trigger carries
    what its destination holds: ``required_action`` only into ``requires_action``
    (leaving that status clears it), ``last_error`` only into ``failed``,
    ``incomplete_details`` only into ``incomplete``, usage only into an ending;
    ``start`` stamps ``started_at`` (again on each resumption), the endings with a
    stamp of their own stamp it.
    """
    target = RUN_TARGETS.get(trigger)
    if target is None or run.status not in RUN_SOURCES[trigger]:
        return None, frozenset({"illegal-transition"}), frozenset()
    errors, warnings = set(), set()
    if usage is not None:
        if (
            min(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) < 0
            or usage.total_tokens != usage.prompt_tokens + usage.completion_tokens
        ):
            errors.add("run-usage-total")
        if target not in RUN_ENDINGS:
            errors.add("run-usage-before-terminal")
    if last_error is not None and target != "failed":
        errors.add("run-error-without-failure")
    if target == "failed" and last_error is None:
        warnings.add("run-failure-without-error")
    if (required_action is not None) != (target == "requires_action"):
        errors.add("run-required-action")
    if (incomplete_details is not None) != (target == "incomplete"):
        errors.add("run-incomplete-details")
    stamp = _RUN_STAMP.get(target)
    if stamp is not None and at < run.created_at:
        errors.add("run-stamp-before-created")
    after = attrs.evolve(run, status=target, required_action=required_action)
    if stamp is not None:
        setattr(after, stamp, at)
    if usage is not None:
        after.usage = usage
    if last_error is not None:
        after.last_error = last_error
    if incomplete_details is not None:
        after.incomplete_details = incomplete_details
    return after, frozenset(errors), frozenset(warnings)


@attrs.define
class _ExpectedRun:
    run: Run
    warnings: frozenset[str] = frozenset()
    checked: bool = False


_RUN_ERROR_ARGS: Final = st.none() | st.builds(
    LastError, code=st.sampled_from(RUN_ERROR_CODES), message=st.text(max_size=20)
)
_ACTIONS: Final = required_actions()
_DETAILS: Final = incomplete_details()
_ACTION_ARGS: Final = st.none() | _ACTIONS
_DETAILS_ARGS: Final = st.none() | _DETAILS


class _RunLifecycleMachine(RuleBasedStateMachine):
    """The run machine's rules; `run_lifecycle_machine` makes a configured class of it."""

    adapter_factory: Callable[[FakeClock], RunAdapter]
    rejections: tuple[type[BaseException], ...]
    strict: bool
    clock_skew: bool

    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.adapter = type(self).adapter_factory(self.clock)
        self.model: dict[str, _ExpectedRun] = {}

    @rule(target=runs)
    def create(self) -> str:
        """Create a new run, on a thread of its own."""
        number = len(self.model) + 1
        run_id, thread_id = f"run_{number}", f"thread_{number}"
        self.adapter.create(id=run_id, thread_id=thread_id, assistant_id="asst_1")
        expected = Run(
            id=run_id, created_at=self.clock.now, assistant_id="asst_1", thread_id=thread_id
        )
        self.model[run_id] = _ExpectedRun(expected)
        return run_id

    @rule(seconds=st.integers(0, 3600))
    def tick(self, seconds: int) -> None:
        """Let time pass."""
        self.clock.advance(seconds)

    @precondition(lambda self: self.clock_skew)
    @rule(seconds=st.integers(1, 3600))
    def skew(self, seconds: int) -> None:
        """Move the clock back, as a skewed host clock would."""
        self.clock.set(max(0, self.clock.now - seconds))

    # The triggers, each with the payloads it may carry (or a missing or broken one).

    # One rule per trigger, each with the payload that fits it (usage and last_error
    # may be missing or broken), so that long legal paths are common; `misfire`
    # brings the misplaced and missing payloads.

    @rule(run=runs)
    def queue(self, run: str) -> None:
        """Fire ``queue``: the tool outputs were submitted."""
        self._fire(run, "queue")

    @rule(run=runs)
    def start(self, run: str) -> None:
        """Fire ``start``."""
        self._fire(run, "start")

    @rule(run=runs, required_action=_ACTIONS)
    def require_action(self, run: str, required_action: RequiredAction) -> None:
        """Fire ``require_action``, with what the run waits for."""
        self._fire(run, "require_action", required_action=required_action)

    @rule(run=runs)
    def request_cancel(self, run: str) -> None:
        """Fire ``request_cancel``."""
        self._fire(run, "request_cancel")

    @rule(run=runs, trigger=st.sampled_from(("cancel", "complete", "expire")), usage=_USAGE_ARGS)
    def end(self, run: str, trigger: str, usage: Usage | None) -> None:
        """End the run cancelled, completed or expired, with or without usage."""
        self._fire(run, trigger, usage=usage)

    @rule(run=runs, usage=_USAGE_ARGS, last_error=_RUN_ERROR_ARGS)
    def fail(self, run: str, usage: Usage | None, last_error: LastError | None) -> None:
        """Fire ``fail``, with or without usage and ``last_error``."""
        self._fire(run, "fail", usage=usage, last_error=last_error)

    @rule(run=runs, usage=_USAGE_ARGS, details=_DETAILS)
    def mark_incomplete(self, run: str, usage: Usage | None, details: IncompleteDetails) -> None:
        """Fire ``mark_incomplete``, with its ``incomplete_details``."""
        self._fire(run, "mark_incomplete", usage=usage, incomplete_details=details)

    @rule(
        run=runs,
        trigger=st.sampled_from((*RUN_TARGETS, *_RUN_NOT_TRIGGERS)),
        last_error=_RUN_ERROR_ARGS,
        required_action=_ACTION_ARGS,
        details=_DETAILS_ARGS,
    )
    def misfire(
        self,
        run: str,
        trigger: str,
        last_error: LastError | None,
        required_action: RequiredAction | None,
        details: IncompleteDetails | None,
    ) -> None:
        """Fire any string with payloads drawn regardless of the trigger."""
        self._fire(
            run,
            trigger,
            last_error=last_error,
            required_action=required_action,
            incomplete_details=details,
        )

    def _fire(
        self,
        run_id: str,
        trigger: str,
        *,
        usage: Usage | None = None,
        last_error: LastError | None = None,
        required_action: RequiredAction | None = None,
        incomplete_details: IncompleteDetails | None = None,
    ) -> None:
        before = self.model[run_id]
        payload: dict[str, Any] = {
            "usage": usage,
            "last_error": last_error,
            "required_action": required_action,
            "incomplete_details": incomplete_details,
        }
        after, errors, warnings = expect_run(before.run, trigger, at=self.clock.now, **payload)
        broken = errors | warnings if self.strict else errors
        shown = ", ".join(f"{k}={v!r}" for k, v in payload.items() if v is not None)
        call = f"{trigger}({run_id!r}{', ' + shown if shown else ''})"
        try:
            # The adapter gets its own copies: one that edits them must not edit the model.
            self.adapter.apply(run_id, trigger, **copy.deepcopy(payload))
        except self.rejections as exc:
            if not broken:
                raise AssertionError(f"the adapter rejected a legal trigger: {call}") from exc
            return
        if broken:
            raise AssertionError(
                f"the adapter accepted {call} on the {before.run.status} run, "
                f"which breaks {', '.join(sorted(broken))}"
            )
        assert after is not None
        self.model[run_id] = _ExpectedRun(after, warnings)

    @invariant()
    def every_run_holds(self) -> None:
        """Check every run the adapter keeps, after each step of the machine.

        Each snapshot is exactly what its triggers made it; each new state is also
        checked in depth once: it breaks no error-level rule and only the warnings
        its payloads called for, survives JSON both ways, and no stamp precedes
        ``created_at``.
        """
        for run_id, expected in self.model.items():
            actual = self.adapter.snapshot(run_id)
            if actual != expected.run:
                _differs("run", run_id, expected.run, actual)
            if not expected.checked:
                _check_run_in_depth(run_id, actual, expected.warnings)
                expected.checked = True


def _check_run_in_depth(run_id: str, run: Run, warnings: frozenset[str]) -> None:
    found = {f.rule for f in check(run)}
    if found != warnings:
        raise AssertionError(f"run {run_id!r} breaks {sorted(found)}, expected {sorted(warnings)}")
    if from_json(to_json(run), Run) != run:
        raise AssertionError(f"run {run_id!r} changes through JSON")
    stamps = {name: getattr(run, name) for name in ("started_at", *RUN_STAMP_OF.values())}
    if any(value is not None and value < run.created_at for value in stamps.values()):
        raise AssertionError(f"run {run_id!r} has stamps {stamps}")


def run_lifecycle_machine(
    adapter: Callable[[FakeClock], RunAdapter],
    *,
    rejections: tuple[type[BaseException], ...] = (SteplifeError,),
    strict: bool = False,
    clock_skew: bool = True,
) -> type[RuleBasedStateMachine]:
    """A state machine class that tests the runs `adapter` keeps; run its ``TestCase``.

    The run counterpart of `lifecycle_machine`: `adapter` is called with a fresh
    `FakeClock` and returns a `RunAdapter`. The machine creates runs, lets time
    pass (and, with `clock_skew`, go back), and fires the nine run triggers with
    fitting, missing and misplaced payloads (``required_action``, ``last_error``,
    ``incomplete_details``, valid and broken usage), plus strings that are no
    trigger. A trigger the run's status does not allow, or whose result breaks an
    error-level run rule, must raise one of `rejections`; with `strict`, so must
    one that breaks a warning-level rule (a failure without ``last_error``). After
    every step each run is checked against its model, the rules, a JSON round
    trip and its stamps.

    ``TestMyRuns = run_lifecycle_machine(MyRunAdapter).TestCase`` makes it a test.
    """
    name = _check_machine_arguments(adapter, rejections, strict, clock_skew)
    return type(
        f"RunLifecycleMachine_{name}",
        (_RunLifecycleMachine,),
        {
            "adapter_factory": staticmethod(adapter),
            "rejections": rejections,
            "strict": strict,
            "clock_skew": clock_skew,
        },
    )


def _check_machine_arguments(
    adapter: object, rejections: object, strict: object, clock_skew: object
) -> str:
    """Raise `InvalidArgument` for a bad machine argument; return the adapter's name."""
    if not callable(adapter):
        raise InvalidArgument(f"adapter={adapter!r} must be callable (a clock -> an adapter)")
    if not (
        isinstance(rejections, tuple)
        and rejections
        and all(isinstance(t, type) and issubclass(t, BaseException) for t in rejections)
    ):
        raise InvalidArgument(f"rejections={rejections!r} must be a tuple of exception types")
    check_type(strict, bool, "strict")
    check_type(clock_skew, bool, "clock_skew")
    name: str = getattr(adapter, "__name__", type(adapter).__name__)
    return name
