"""The run machine: every status against every trigger, what each move stamps and carries."""

from __future__ import annotations

import copy
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import Machine

from helpers import FakeClock
from steplife import (
    IllegalTransitionError,
    InvalidRecordError,
    Rules,
    Run,
    RunLifecycle,
    SteplifeError,
    SteplifeWarning,
)
from steplife._findings import Finding, Severity
from steplife._rules import DEFAULT_RULES
from steplife._run_lifecycle import (
    RUN_MACHINE_CONFIG,
    RUN_TRIGGER_TARGETS,
    build_run_machine,
    run_trigger_between,
)
from steplife.model import (
    IncompleteDetails,
    LastError,
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    SubmitToolOutputs,
    Usage,
)

STATUSES: Final = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
)
TERMINAL: Final = frozenset(("cancelled", "failed", "completed", "incomplete", "expired"))
TRIGGERS: Final = (
    "queue",
    "start",
    "require_action",
    "request_cancel",
    "cancel",
    "fail",
    "complete",
    "mark_incomplete",
    "expire",
)
# The documented edges (trigger: sources, destination), written out here from the
# issue's list rather than read off the module, so the two are checked against
# each other.
EDGES: Final[dict[str, tuple[frozenset[str], str]]] = {
    "queue": (frozenset({"requires_action"}), "queued"),
    "start": (frozenset({"queued", "requires_action"}), "in_progress"),
    "require_action": (frozenset({"in_progress"}), "requires_action"),
    "request_cancel": (frozenset({"queued", "in_progress", "requires_action"}), "cancelling"),
    "cancel": (frozenset({"cancelling"}), "cancelled"),
    "fail": (frozenset({"queued", "in_progress", "cancelling"}), "failed"),
    "complete": (frozenset({"in_progress", "cancelling"}), "completed"),
    "mark_incomplete": (frozenset({"in_progress", "cancelling"}), "incomplete"),
    "expire": (
        frozenset({"queued", "in_progress", "requires_action", "cancelling"}),
        "expired",
    ),
}
LEGAL: Final[dict[tuple[str, str], str]] = {
    (source, trigger): dest for trigger, (sources, dest) in EDGES.items() for source in sources
}
"""(status, trigger) -> destination, for exactly the legal moves."""
STAMP_OF_TRIGGER: Final = {
    "start": "started_at",
    "cancel": "cancelled_at",
    "fail": "failed_at",
    "complete": "completed_at",
}
END_STAMPS: Final = {
    "cancelled": "cancelled_at",
    "failed": "failed_at",
    "completed": "completed_at",
}

CREATED: Final = 1_700_000_000
STARTED: Final = CREATED + 1
ENDED: Final = CREATED + 5
LATER: Final = CREATED + 100
"""The ``at=`` of the exhaustive moves: after every stamp `run_in` sets."""

USAGE: Final = Usage.of(10, 5)
ERROR: Final = LastError(code="server_error", message="boom")
DETAILS: Final = IncompleteDetails(reason="max_completion_tokens")
ACTION: Final = RequiredAction(
    submit_tool_outputs=SubmitToolOutputs(
        tool_calls=[
            RequiredToolCall(id="call_1", function=RequiredFunction(name="f", arguments="{}"))
        ]
    )
)


def run_in(status: str) -> Run:
    """A clean run of `status`, carrying what a run of that status carries."""
    fields: dict[str, Any] = {"status": status}
    if status != "queued":
        fields["started_at"] = STARTED
    if status in END_STAMPS:
        fields[END_STAMPS[status]] = ENDED
    if status in TERMINAL:
        fields["usage"] = USAGE
    if status == "requires_action":
        fields["required_action"] = copy.deepcopy(ACTION)
    if status == "failed":
        fields["last_error"] = ERROR
    if status == "incomplete":
        fields["incomplete_details"] = DETAILS
    return Run(
        id="run_1",
        created_at=CREATED,
        assistant_id="asst_1",
        thread_id="thread_1",
        expires_at=CREATED + 600,
        **fields,
    )


def carried(trigger: str) -> dict[str, Any]:
    """What `trigger` carries in a clean move: its payload, as keyword arguments."""
    payload: dict[str, Any] = {}
    if trigger == "require_action":
        payload["required_action"] = ACTION
    if trigger == "fail":
        payload["last_error"] = ERROR
    if trigger == "mark_incomplete":
        payload["incomplete_details"] = DETAILS
    if EDGES[trigger][1] in TERMINAL:
        payload["usage"] = USAGE
    return payload


@pytest.fixture
def lifecycle(clock: FakeClock) -> RunLifecycle:
    return RunLifecycle(clock=clock)


def test_run_in_builds_clean_runs() -> None:
    """The runs the exhaustive tests start from break no rule, whatever their status."""
    expected: dict[str, list[Finding]] = {status: [] for status in STATUSES}
    assert expected == {status: DEFAULT_RULES.check_run(run_in(status)) for status in STATUSES}


# -- every status x every trigger ------------------------------------------------------


@pytest.mark.parametrize("trigger", [*TRIGGERS, "bogus"])
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_against_every_trigger(
    lifecycle: RunLifecycle, status: str, trigger: str
) -> None:
    """A trigger moves a run exactly along the documented edges; elsewhere it is refused.

    A legal move lands on the trigger's destination, sets the trigger's stamp (and
    no other), takes what the trigger carries, and keeps ``required_action`` only
    in ``requires_action``. A refused one raises `IllegalTransitionError` and
    leaves the run exactly as it was.
    """
    run = run_in(status)
    before = copy.deepcopy(run)

    if (status, trigger) not in LEGAL:
        with pytest.raises(IllegalTransitionError) as caught:
            lifecycle.fire(run, trigger, at=LATER)
        hint = f"; {status!r} is terminal, no trigger leaves it" if status in TERMINAL else ""
        expected_error = (
            "illegal-transition",
            "run",
            "run_1",
            status,
            trigger,
            f"run 'run_1': cannot {trigger} from status {status!r}{hint}",
        )
        error = caught.value
        actual_error = (
            error.rule,
            error.entity,
            error.record_id,
            error.status,
            error.trigger,
            str(error),
        )
        assert expected_error == actual_error
        assert before == run
        return

    payload = carried(trigger)
    dest = LEGAL[status, trigger]
    changes: dict[str, Any] = {
        "status": dest,
        "required_action": ACTION if dest == "requires_action" else None,
        **{k: v for k, v in payload.items() if k != "required_action"},
    }
    if trigger in STAMP_OF_TRIGGER:
        changes[STAMP_OF_TRIGGER[trigger]] = LATER
    expected = attrs.evolve(before, **changes)

    returned = lifecycle.fire(run, trigger, at=LATER, **payload)

    assert expected == run
    assert returned is run


def test_the_table_covers_exactly_the_documented_edges() -> None:
    """19 legal (status, trigger) pairs, none from a terminal status."""
    expected: tuple[int, set[str]] = (19, set())
    assert expected == (len(LEGAL), {s for s, _ in LEGAL} & TERMINAL)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_statuses_absorb_every_trigger(lifecycle: RunLifecycle, status: str) -> None:
    """No trigger leaves a terminal status, and each refusal says it is terminal."""
    run = run_in(status)
    before = copy.deepcopy(run)
    messages = []
    for trigger in TRIGGERS:
        with pytest.raises(IllegalTransitionError) as caught:
            lifecycle.fire(run, trigger, **carried(trigger))
        messages.append(str(caught.value).endswith(f"{status!r} is terminal, no trigger leaves it"))

    expected = (before, [True] * len(TRIGGERS))
    assert expected == (run, messages)


def test_an_unknown_status_is_refused_cleanly(lifecycle: RunLifecycle) -> None:
    """A status outside the machine (set in code) raises IllegalTransitionError, not ValueError."""
    bogus: Any = "bogus"  # outside RunStatus on purpose
    run = attrs.evolve(run_in("queued"), status=bogus)
    before = copy.deepcopy(run)

    with pytest.raises(IllegalTransitionError, match=r"cannot start from status 'bogus'$"):
        lifecycle.fire(run, "start")
    assert before == run


def test_illegal_transition_error_refines_value_error() -> None:
    """Callers catching ValueError or SteplifeError catch a refused run trigger."""
    error = IllegalTransitionError("run_1", "queued", "cancel", entity="run")

    expected = (True, True)
    assert expected == (isinstance(error, ValueError), isinstance(error, SteplifeError))


# -- stamps and what triggers carry ------------------------------------------------------


def test_started_at_is_restamped_on_every_start(lifecycle: RunLifecycle, clock: FakeClock) -> None:
    """Each resumption (directly or through queued) stamps started_at again."""
    run = lifecycle.create(id="run_1", thread_id="thread_1", assistant_id="asst_1")
    seen = []
    clock.advance()
    lifecycle.fire(run, "start")
    seen.append(run.started_at)
    for resume in (["start"], ["queue", "start"]):
        clock.advance()
        lifecycle.fire(run, "require_action", required_action=ACTION)
        for trigger in resume:
            clock.advance()
            lifecycle.fire(run, trigger)
        seen.append(run.started_at)

    expected = [CREATED + 1, CREATED + 3, CREATED + 6]
    assert expected == seen


def test_stamps_come_from_the_clock_when_no_at_is_given(
    lifecycle: RunLifecycle, clock: FakeClock
) -> None:
    """Without ``at=``, the trigger's stamp is the clock's time."""
    run = run_in("in_progress")
    clock.now = LATER

    lifecycle.fire(run, "complete", usage=USAGE)

    expected = ("completed", LATER, 1)
    assert expected == (run.status, run.completed_at, clock.calls)


def test_an_explicit_at_wins_over_the_clock(lifecycle: RunLifecycle, clock: FakeClock) -> None:
    """``at=`` stamps the run and the clock is not consulted."""
    run = run_in("cancelling")

    lifecycle.fire(run, "cancel", at=LATER + 1)

    expected = (LATER + 1, 0)
    assert expected == (run.cancelled_at, clock.calls)


@pytest.mark.parametrize("trigger", ["expire", "mark_incomplete", "queue", "request_cancel"])
def test_triggers_without_a_stamp_set_none(lifecycle: RunLifecycle, trigger: str) -> None:
    """expire, mark_incomplete, queue and request_cancel touch none of the run's stamps."""
    source = next(s for s in ("requires_action", "in_progress") if (s, trigger) in LEGAL)
    run = run_in(source)
    stamps = ("started_at", "cancelled_at", "failed_at", "completed_at")
    before = [getattr(run, name) for name in stamps]

    lifecycle.fire(run, trigger, at=LATER, **carried(trigger))

    assert before == [getattr(run, name) for name in stamps]


@pytest.mark.parametrize("trigger", ["queue", "start", "request_cancel", "expire"])
def test_leaving_requires_action_clears_required_action(
    lifecycle: RunLifecycle, trigger: str
) -> None:
    """Only a run that requires action carries required_action."""
    run = run_in("requires_action")

    lifecycle.fire(run, trigger, at=LATER, **carried(trigger))

    expected = (EDGES[trigger][1], None)
    assert expected == (run.status, run.required_action)


def test_require_action_sets_the_given_required_action(lifecycle: RunLifecycle) -> None:
    """The required_action passed with require_action is the run's afterwards."""
    run = run_in("in_progress")

    lifecycle.fire(run, "require_action", required_action=ACTION)

    assert ACTION == run.required_action


@pytest.mark.parametrize(
    ("trigger", "source", "field", "value"),
    [
        ("complete", "in_progress", "usage", USAGE),
        ("fail", "queued", "last_error", ERROR),
        ("mark_incomplete", "cancelling", "incomplete_details", DETAILS),
        ("expire", "requires_action", "usage", USAGE),
    ],
)
def test_endings_take_what_they_carry(
    lifecycle: RunLifecycle, trigger: str, source: str, field: str, value: object
) -> None:
    """usage, last_error and incomplete_details go with the trigger that carries them."""
    run = run_in(source)

    lifecycle.fire(run, trigger, **carried(trigger))

    assert value == getattr(run, field)


def test_an_ending_without_usage_leaves_usage_null(lifecycle: RunLifecycle) -> None:
    """Usage is optional on an ending (no run rule demands it)."""
    run = run_in("in_progress")

    lifecycle.fire(run, "complete")

    expected = ("completed", None)
    assert expected == (run.status, run.usage)


# -- rule breaks: errors reject, warnings pass ------------------------------------------


@pytest.mark.parametrize(
    ("source", "trigger", "arguments", "rule", "message"),
    [
        (
            "in_progress",
            "require_action",
            {},
            "run-required-action",
            "the run requires action but required_action is null",
        ),
        (
            "queued",
            "start",
            {"required_action": ACTION},
            "run-required-action",
            "required_action is set on the in_progress run; only requires_action runs carry it",
        ),
        (
            "queued",
            "fail",
            {
                "last_error": ERROR,
                "usage": Usage(prompt_tokens=1, completion_tokens=2, total_tokens=4),
            },
            "run-usage-total",
            "total_tokens=4 but prompt_tokens + completion_tokens = 3",
        ),
        (
            "queued",
            "start",
            {"usage": USAGE},
            "run-usage-before-terminal",
            "usage is set while the run is in_progress; it stays null until the run ends",
        ),
        (
            "in_progress",
            "complete",
            {"last_error": ERROR},
            "run-error-without-failure",
            "last_error is set on the completed run; only failed runs carry one",
        ),
        (
            "in_progress",
            "mark_incomplete",
            {},
            "run-incomplete-details",
            "the run is incomplete but incomplete_details is null",
        ),
        (
            "cancelling",
            "cancel",
            {"incomplete_details": DETAILS},
            "run-incomplete-details",
            "incomplete_details is set on the cancelled run",
        ),
    ],
)
def test_an_error_level_break_rejects_the_trigger(
    lifecycle: RunLifecycle,
    source: str,
    trigger: str,
    arguments: dict[str, Any],
    rule: str,
    message: str,
) -> None:
    """The move is undone and InvalidRecordError lists the broken rule."""
    run = run_in(source)
    before = copy.deepcopy(run)

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(run, trigger, at=LATER, **arguments)

    expected = (
        [Finding(rule=rule, severity=Severity.ERROR, message=message, run_id="run_1")],
        f"run 'run_1': {trigger} rejected, the run is unchanged:\n  - error {rule}: {message}",
    )
    assert expected == (list(caught.value.findings), str(caught.value))
    assert before == run


def test_a_stamp_before_created_at_rejects_the_trigger(lifecycle: RunLifecycle) -> None:
    """``at=`` earlier than created_at breaks run-stamp-before-created; nothing moves."""
    run = run_in("queued")
    before = copy.deepcopy(run)

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(run, "start", at=CREATED - 1)

    expected = [
        Finding(
            rule="run-stamp-before-created",
            severity=Severity.ERROR,
            message=f"started_at={CREATED - 1} precedes created_at={CREATED}",
            run_id="run_1",
        )
    ]
    assert expected == list(caught.value.findings)
    assert before == run


def test_fire_warns_when_a_run_fails_without_last_error(lifecycle: RunLifecycle) -> None:
    """The move happens and run-failure-without-error is issued as a SteplifeWarning."""
    run = run_in("in_progress")

    with pytest.warns(SteplifeWarning) as record:
        lifecycle.fire(run, "fail", at=LATER)

    warning = record[0]
    assert isinstance(warning.message, SteplifeWarning)
    expected = (
        "failed",
        LATER,
        1,
        "run-failure-without-error",
        "run-failure-without-error: the run failed without last_error",
        __file__,
    )
    actual = (
        run.status,
        run.failed_at,
        len(record),
        warning.message.finding.rule,
        str(warning.message),
        warning.filename,  # stacklevel points at the caller of fire
    )
    assert expected == actual


def test_apply_returns_the_warnings_instead_of_issuing_them(lifecycle: RunLifecycle) -> None:
    """apply moves the run and hands back the warning-level findings (no warning raised)."""
    run = run_in("cancelling")

    findings = lifecycle.apply(run, "fail", at=LATER)

    expected = (
        [
            Finding(
                rule="run-failure-without-error",
                severity=Severity.WARNING,
                message="the run failed without last_error",
                run_id="run_1",
            )
        ],
        "failed",
    )
    assert expected == (findings, run.status)


def test_apply_returns_nothing_for_a_clean_move(lifecycle: RunLifecycle) -> None:
    """A clean move yields no finding."""
    run = run_in("queued")

    expected: list[Finding] = []
    assert expected == lifecycle.apply(run, "start")


def test_escalated_warning_rejects_the_trigger(clock: FakeClock) -> None:
    """Rules can make run-failure-without-error an error; then the failure is refused."""
    lifecycle = RunLifecycle(
        clock=clock, rules=Rules(severity={"run-failure-without-error": "error"})
    )
    run = run_in("in_progress")
    before = copy.deepcopy(run)

    with pytest.raises(InvalidRecordError, match="run-failure-without-error"):
        lifecycle.fire(run, "fail")
    assert before == run


def test_ignored_rule_lets_the_trigger_through(clock: FakeClock) -> None:
    """With run-required-action ignored, require_action needs no required_action."""
    lifecycle = RunLifecycle(clock=clock, rules=Rules(ignore={"run-required-action"}))
    run = run_in("in_progress")

    lifecycle.fire(run, "require_action")

    expected = ("requires_action", None)
    assert expected == (run.status, run.required_action)


# -- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "cls"),
    [
        ("usage", {"prompt_tokens": 1}, "Usage"),
        ("last_error", "boom", "LastError"),
        ("required_action", {"type": "submit_tool_outputs"}, "RequiredAction"),
        ("incomplete_details", "max_prompt_tokens", "IncompleteDetails"),
        ("usage", ERROR, "Usage"),
    ],
)
def test_a_payload_of_the_wrong_type_is_refused(
    lifecycle: RunLifecycle, name: str, value: object, cls: str
) -> None:
    """Each carried value must be its record (or None); the run is unchanged."""
    run = run_in("in_progress")
    before = copy.deepcopy(run)
    arguments: dict[str, Any] = {name: value}

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(run, "complete", **arguments)

    expected = (
        f"bad trigger argument:\n  - error schema: {name} must be a {cls} or None, got {value!r}"
    )
    assert expected == str(caught.value)
    assert before == run


@pytest.mark.parametrize("at", [1.5, True, "1700000000"])
def test_a_stamp_that_is_not_an_int_is_refused(lifecycle: RunLifecycle, at: Any) -> None:
    """Stamps are whole Unix seconds: floats, bools and strings are refused."""
    run = run_in("queued")
    before = copy.deepcopy(run)

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(run, "start", at=at)

    expected = (
        f"bad timestamp:\n  - error schema: a stamp must be an int of Unix seconds, got {at!r}"
    )
    assert expected == str(caught.value)
    assert before == run


def test_a_clock_giving_floats_is_refused() -> None:
    """A clock must give whole seconds too."""
    lifecycle = RunLifecycle(clock=lambda: 1.5)  # type: ignore[arg-type, return-value]
    run = run_in("queued")

    with pytest.raises(InvalidRecordError, match=r"got 1\.5$"):
        lifecycle.fire(run, "start")
    assert "queued" == run.status


# -- create --------------------------------------------------------------------------------


def test_create_stamps_created_at_from_the_clock(lifecycle: RunLifecycle, clock: FakeClock) -> None:
    """A new run is a clean queued run created at the clock's time."""
    run = lifecycle.create(id="run_1", thread_id="thread_1", assistant_id="asst_1")

    expected = Run(id="run_1", created_at=clock.now, assistant_id="asst_1", thread_id="thread_1")
    assert expected == run
    assert [] == DEFAULT_RULES.check_run(run)


def test_create_takes_explicit_stamps(lifecycle: RunLifecycle, clock: FakeClock) -> None:
    """``created_at=`` wins over the clock (not consulted); ``expires_at=`` is kept."""
    run = lifecycle.create(
        id="run_1", thread_id="thread_1", assistant_id="asst_1", created_at=42, expires_at=642
    )

    expected = (42, 642, "queued", 0)
    assert expected == (run.created_at, run.expires_at, run.status, clock.calls)


def test_create_lists_every_bad_argument(lifecycle: RunLifecycle) -> None:
    """Ids must be strings and stamps ints; every problem is reported at once."""
    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.create(
            id=1,  # type: ignore[arg-type]
            thread_id=None,  # type: ignore[arg-type]
            assistant_id="asst_1",
            created_at=1.5,  # type: ignore[arg-type]
            expires_at=True,
        )

    expected = (
        "cannot create run 1:\n"
        "  - error schema: id must be a string, got 1\n"
        "  - error schema: thread_id must be a string, got None\n"
        "  - error schema: created_at must be an int of Unix seconds, got 1.5\n"
        "  - error schema: expires_at must be an int of Unix seconds, got True"
    )
    assert expected == str(caught.value)


def test_create_refuses_a_bool_created_at(lifecycle: RunLifecycle) -> None:
    """True is an int to Python but no timestamp."""
    with pytest.raises(InvalidRecordError, match="created_at must be an int of Unix seconds"):
        lifecycle.create(id="r", thread_id="t", assistant_id="a", created_at=True)


def test_repr_names_clock_and_rules(clock: FakeClock) -> None:
    """The repr shows what the lifecycle was built with."""
    lifecycle = RunLifecycle(clock=clock, rules=Rules(ignore={"run-usage-total"}))

    expected = f"RunLifecycle(clock={clock!r}, rules={lifecycle.rules!r})"
    assert expected == repr(lifecycle)


# -- the one definition ---------------------------------------------------------------------


def test_the_trigger_targets_are_the_documented_destinations() -> None:
    """RUN_TRIGGER_TARGETS names each trigger's one destination."""
    expected = {trigger: dest for trigger, (_, dest) in EDGES.items()}
    assert expected == dict(RUN_TRIGGER_TARGETS)


def test_the_config_keeps_the_state_in_status_without_auto_transitions() -> None:
    """The machine reads and writes a run's own ``status`` and adds no to_<state> triggers."""
    expected = ("status", False, "queued")
    actual = (
        RUN_MACHINE_CONFIG["model_attribute"],
        RUN_MACHINE_CONFIG["auto_transitions"],
        RUN_MACHINE_CONFIG["initial"],
    )
    assert expected == actual


@pytest.mark.parametrize("dest", STATUSES)
@pytest.mark.parametrize("source", STATUSES)
def test_run_trigger_between_agrees_with_the_machine(source: str, dest: str) -> None:
    """For each of the 81 status pairs, the trigger between them, or None."""
    expected = next(
        (trigger for (s, trigger), d in LEGAL.items() if s == source and d == dest), None
    )
    assert expected == run_trigger_between(source, dest)


def _edges(machine: Machine) -> set[tuple[str, str, str]]:
    return {
        (source, trigger, str(transition.dest))
        for trigger, event in machine.events.items()
        for source, transitions in event.transitions.items()
        for transition in transitions
    }


def test_the_config_builds_exactly_the_documented_machine() -> None:
    """States, initial and final states and edges of the built machine are the documented ones."""
    machine = build_run_machine()
    finals = {name for name, state in machine.states.items() if state.final}

    expected = (
        set(STATUSES),
        "queued",
        set(TERMINAL),
        set(TRIGGERS),
        {(source, trigger, dest) for (source, trigger), dest in LEGAL.items()},
    )
    actual = (set(machine.states), machine.initial, finals, set(machine.events), _edges(machine))
    assert expected == actual


def test_another_machine_class_gets_the_same_edges() -> None:
    """build_run_machine builds any Machine subclass (the diagrams use one) from the one config."""

    class Subclass(Machine):
        pass

    machine = build_run_machine(Subclass)

    expected = (Subclass, _edges(build_run_machine()))
    assert expected == (type(machine), _edges(machine))


# -- properties ------------------------------------------------------------------------------

MUST_CARRY: Final = frozenset(("require_action", "mark_incomplete"))
"""Triggers whose result breaks an error-level rule when fired without their payload."""


@given(moves=st.lists(st.tuples(st.sampled_from([*TRIGGERS, "bogus"]), st.booleans()), max_size=30))
def test_any_trigger_sequence_keeps_the_run_consistent(moves: list[tuple[str, bool]]) -> None:
    """Accepted triggers reach their destination, leaving a clean run; refused ones change nothing.

    Each move fires a trigger with or without its payload. It is accepted exactly
    when the edge is documented and the payload is there or not needed; a failure
    without last_error is accepted with its warning.
    """
    clock = FakeClock()
    lifecycle = RunLifecycle(clock=clock)
    run = lifecycle.create(id="run_1", thread_id="thread_1", assistant_id="asst_1")
    for trigger, carry in moves:
        clock.advance()
        before = copy.deepcopy(run)
        payload = carried(trigger) if carry and trigger in EDGES else {}
        legal = (before.status, trigger) in LEGAL
        try:
            findings = lifecycle.apply(run, trigger, **payload)
        except IllegalTransitionError:
            assert not legal
            assert before == run
            continue
        except InvalidRecordError:
            assert (legal, carry, trigger in MUST_CARRY) == (True, False, True)
            assert before == run
            continue
        assert legal
        assert carry or trigger not in MUST_CARRY
        warned = ["run-failure-without-error"] if trigger == "fail" and not carry else []
        expected = (LEGAL[before.status, trigger], warned, findings)
        assert expected == (run.status, [f.rule for f in findings], DEFAULT_RULES.check_run(run))


@given(
    status=st.sampled_from(sorted(TERMINAL)),
    triggers=st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=10),
)
def test_terminal_statuses_absorb_any_sequence(status: str, triggers: list[str]) -> None:
    """Whatever is fired at a terminal run, with whatever payload, it stays as it was."""
    lifecycle = RunLifecycle(clock=FakeClock())
    run = run_in(status)
    before = copy.deepcopy(run)
    refused = 0
    for trigger in triggers:
        try:
            lifecycle.apply(run, trigger, **carried(trigger))
        except IllegalTransitionError:
            refused += 1

    expected = (before, len(triggers))
    assert expected == (run, refused)
