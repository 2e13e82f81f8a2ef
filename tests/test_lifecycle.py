"""The lifecycle: starting steps, the four triggers, and what a rejected trigger leaves."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from helpers import CREATED, FakeClock, finished, make_step, make_tool_step
from steplife import (
    IllegalTransitionError,
    InvalidRecordError,
    Lifecycle,
    Rules,
    RunStep,
    SteplifeWarning,
)
from steplife._lifecycle import STEP_MOVES
from steplife.model import (
    FileSearchToolCall,
    LastError,
    MessageCreation,
    MessageCreationDetails,
    ToolCallsDetails,
    Usage,
)

TERMINAL = ["cancelled", "failed", "completed", "expired"]
TRIGGERS = ["complete", "fail", "cancel", "expire"]
USAGE = Usage.of(10, 5)
ERROR = LastError(code="server_error", message="Sorry, something went wrong.")


@pytest.fixture
def lifecycle(clock: FakeClock) -> Lifecycle:
    return Lifecycle(clock=clock)


def start(lifecycle: Lifecycle, **changes: Any) -> RunStep:
    details = MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1"))
    fields: dict[str, Any] = {
        "id": "step_1",
        "run_id": "run_1",
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "step_details": details,
    }
    return lifecycle.start(**{**fields, **changes})


def test_start_stamps_created_at_from_the_clock(lifecycle: Lifecycle, clock: FakeClock) -> None:
    """A started step is a clean in_progress step created at the clock's time."""
    step = start(lifecycle)

    expected = make_step(created_at=clock.now)
    assert expected == step


def test_start_takes_an_explicit_created_at(lifecycle: Lifecycle, clock: FakeClock) -> None:
    """``created_at=`` wins over the clock, which is then not consulted."""
    step = start(lifecycle, created_at=42)

    expected = (42, 0)
    assert expected == (step.created_at, clock.calls)


def test_start_derives_type_from_step_details(lifecycle: Lifecycle) -> None:
    """The step's type is the details' type, so the two cannot disagree."""
    step = start(lifecycle, step_details=ToolCallsDetails(tool_calls=[FileSearchToolCall(id="c")]))

    expected = "tool_calls"
    assert expected == step.type


def test_start_keeps_metadata(lifecycle: Lifecycle) -> None:
    """Metadata within the limits is stored as given."""
    expected = {"a": "b"}
    assert expected == start(lifecycle, metadata={"a": "b"}).metadata


def test_start_rejects_metadata_over_the_limits(lifecycle: Lifecycle) -> None:
    """A new step breaking an error-level rule is refused with the rule's code."""
    with pytest.raises(InvalidRecordError) as caught:
        start(lifecycle, metadata={str(i): "v" for i in range(17)})

    expected = ["metadata-limits"]
    assert expected == [f.rule for f in caught.value.findings]
    assert "cannot start step 'step_1'" in str(caught.value)


@pytest.mark.parametrize("created_at", ["x", 1.5, True, None.__class__])
def test_start_rejects_a_created_at_that_is_no_int(lifecycle: Lifecycle, created_at: Any) -> None:
    """``created_at`` must be an int of Unix seconds; nothing is coerced."""
    with pytest.raises(InvalidRecordError, match="a stamp must be an int of Unix seconds"):
        start(lifecycle, created_at=created_at)


def test_complete_stamps_completed_at_and_stores_usage(
    lifecycle: Lifecycle, clock: FakeClock
) -> None:
    """complete moves to completed, stamps the clock's time and keeps the usage."""
    step = start(lifecycle)
    clock.advance(7)

    returned = lifecycle.complete(step, usage=USAGE)

    expected = finished("completed", created_at=CREATED, completed_at=CREATED + 7, usage=USAGE)
    assert expected == step
    assert returned is step


@pytest.mark.parametrize(
    ("trigger", "status"),
    [("cancel", "cancelled"), ("expire", "expired")],
)
def test_cancel_and_expire_stamp_their_field(
    lifecycle: Lifecycle, clock: FakeClock, trigger: str, status: str
) -> None:
    """cancel and expire stamp cancelled_at / expired_at and nothing else."""
    step = start(lifecycle)
    clock.advance(3)

    getattr(lifecycle, trigger)(step)

    expected = make_step(status=status, **{f"{status}_at": CREATED + 3})
    assert expected == step


def test_fail_stamps_failed_at_and_stores_last_error(lifecycle: Lifecycle) -> None:
    """fail keeps the error and stamps failed_at."""
    step = start(lifecycle)

    lifecycle.fail(step, last_error=ERROR, at=CREATED + 2)

    expected = make_step(status="failed", failed_at=CREATED + 2, last_error=ERROR)
    assert expected == step


def test_fail_with_usage_warns_usage_without_completion(lifecycle: Lifecycle) -> None:
    """Real failed steps carry usage: it is kept, with a warning naming the rule."""
    step = start(lifecycle)

    with pytest.warns(SteplifeWarning, match="usage-without-completion") as caught:
        lifecycle.fail(step, last_error=ERROR, usage=USAGE, at=CREATED + 1)

    expected = ("failed", USAGE)
    assert expected == (step.status, step.usage)
    rules = [w.message.finding.rule for w in caught if isinstance(w.message, SteplifeWarning)]
    warned = ["usage-without-completion"]
    assert warned == rules


def test_fail_without_last_error_warns(lifecycle: Lifecycle) -> None:
    """A failure with no error passes with a failure-without-error warning."""
    step = start(lifecycle)

    with pytest.warns(SteplifeWarning, match="failure-without-error"):
        lifecycle.fail(step, last_error=None)

    expected = "failed"
    assert expected == step.status


def test_complete_without_usage_warns_usage_missing(lifecycle: Lifecycle) -> None:
    """Completing with ``usage=None`` succeeds but warns usage-missing."""
    step = start(lifecycle)

    with pytest.warns(SteplifeWarning, match="usage-missing: the step completed without usage"):
        lifecycle.complete(step, usage=None)

    expected = ("completed", None)
    assert expected == (step.status, step.usage)


def test_ignored_warning_is_not_issued(clock: FakeClock) -> None:
    """Rules decide: an ignored warning rule is silent (filterwarnings=error proves it)."""
    lifecycle = Lifecycle(clock=clock, rules=Rules(ignore={"usage-missing"}))
    step = start(lifecycle)

    lifecycle.complete(step, usage=None)

    expected = "completed"
    assert expected == step.status


def test_escalated_warning_rejects_the_transition(clock: FakeClock) -> None:
    """A warning rule made an error rejects the trigger and leaves the step alone."""
    lifecycle = Lifecycle(clock=clock, rules=Rules(severity={"usage-missing": "error"}))
    step = start(lifecycle)
    before = copy.deepcopy(step)

    with pytest.raises(InvalidRecordError, match="usage-missing"):
        lifecycle.complete(step, usage=None)

    assert before == step


def test_apply_returns_warnings_instead_of_issuing_them(lifecycle: Lifecycle) -> None:
    """`apply` is `fire` that hands back the warning findings."""
    step = start(lifecycle)

    findings = lifecycle.apply(step, "complete")

    expected = ["usage-missing"]
    assert expected == [f.rule for f in findings]
    status = "completed"
    assert status == step.status


def test_at_overrides_the_clock(lifecycle: Lifecycle, clock: FakeClock) -> None:
    """``at=`` stamps the given time; the clock is not read."""
    step = start(lifecycle)
    calls = clock.calls

    lifecycle.cancel(step, at=CREATED + 99)

    expected = (CREATED + 99, calls)
    assert expected == (step.cancelled_at, clock.calls)


def test_stamp_may_equal_created_at(lifecycle: Lifecycle) -> None:
    """A step can finish in the second it was created."""
    step = start(lifecycle)

    lifecycle.expire(step, at=step.created_at)

    expected = step.created_at
    assert expected == step.expired_at


def test_fire_by_name_matches_the_named_method(lifecycle: Lifecycle) -> None:
    """``fire(step, "complete", ...)`` does what ``complete`` does."""
    by_method, by_name = start(lifecycle), start(lifecycle)

    lifecycle.complete(by_method, usage=USAGE, at=CREATED + 1)
    lifecycle.fire(by_name, "complete", usage=USAGE, at=CREATED + 1)

    assert by_method == by_name


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_terminal_states_absorb_every_trigger(
    lifecycle: Lifecycle, status: str, trigger: str
) -> None:
    """No trigger leaves a terminal status; the error names step, status and trigger."""
    step = finished(status)
    before = copy.deepcopy(step)

    with pytest.raises(IllegalTransitionError) as caught:
        lifecycle.fire(step, trigger, at=CREATED + 10, usage=USAGE)

    expected = (
        f"step 'step_1': cannot {trigger} from status {status!r}; "
        f"{status!r} is terminal, no trigger leaves it"
    )
    assert expected == str(caught.value)
    assert ("step_1", status, trigger) == (
        caught.value.record_id,
        caught.value.status,
        caught.value.trigger,
    )
    assert before == step


@pytest.mark.parametrize("trigger", ["explode", "", "to_completed", "trigger", "Complete"])
def test_unknown_trigger_is_an_illegal_transition(lifecycle: Lifecycle, trigger: str) -> None:
    """A name that is no trigger (transitions' auto names included) is refused."""
    step = start(lifecycle)
    before = copy.deepcopy(step)

    with pytest.raises(IllegalTransitionError) as caught:
        lifecycle.fire(step, trigger)

    expected = f"step 'step_1': cannot {trigger} from status 'in_progress'"
    assert expected == str(caught.value)
    assert before == step


REJECTED: list[Any] = [
    pytest.param(
        "complete",
        {"at": CREATED - 1, "usage": USAGE},
        "stamp-before-created",
        id="stamp-before-created",
    ),
    pytest.param(
        "complete",
        {"usage": Usage(prompt_tokens=1, completion_tokens=1, total_tokens=3)},
        "usage-total",
        id="bad-usage-total",
    ),
    pytest.param(
        "cancel",
        {"last_error": ERROR},
        "error-without-failure",
        id="last-error-on-cancel",
    ),
    pytest.param("expire", {"at": -5}, "stamp-before-created", id="negative-stamp"),
]


@pytest.mark.parametrize(("trigger", "arguments", "rule"), REJECTED)
def test_rule_breaking_transition_leaves_the_step_unchanged(
    lifecycle: Lifecycle, trigger: str, arguments: dict[str, Any], rule: str
) -> None:
    """A transition whose result breaks an error rule raises and restores every field."""
    step = make_tool_step()
    before = copy.deepcopy(step)

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(step, trigger, **arguments)

    assert rule in [f.rule for f in caught.value.findings]
    assert f"step 'step_1': {trigger} rejected, the step is unchanged" in str(caught.value)
    assert before == step


BAD_ARGUMENTS: list[Any] = [
    pytest.param({"at": "x"}, "a stamp must be an int of Unix seconds, got 'x'", id="at-str"),
    pytest.param({"at": 1.5}, "a stamp must be an int of Unix seconds, got 1.5", id="at-float"),
    pytest.param({"at": True}, "a stamp must be an int of Unix seconds, got True", id="at-bool"),
    pytest.param({"usage": {}}, "usage must be a Usage or None, got {}", id="usage-dict"),
    pytest.param(
        {"last_error": "boom"},
        "last_error must be a LastError or None, got 'boom'",
        id="last-error-str",
    ),
]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize(("arguments", "message"), BAD_ARGUMENTS)
def test_bad_argument_types_are_refused(
    lifecycle: Lifecycle, trigger: str, arguments: dict[str, Any], message: str
) -> None:
    """Arguments of the wrong type raise InvalidRecordError (a schema finding), unchanged step."""
    step = start(lifecycle)
    before = copy.deepcopy(step)

    with pytest.raises(InvalidRecordError) as caught:
        lifecycle.fire(step, trigger, **arguments)

    expected = [("schema", message)]
    assert expected == [(f.rule, f.message) for f in caught.value.findings]
    assert before == step


def test_rejected_step_can_still_move_legally(lifecycle: Lifecycle) -> None:
    """After a rejection the step is as good as new: a legal trigger then succeeds."""
    step = start(lifecycle)
    with pytest.raises(InvalidRecordError):
        lifecycle.complete(step, usage=USAGE, at=CREATED - 1)

    lifecycle.complete(step, usage=USAGE, at=CREATED + 1)

    expected = finished("completed", completed_at=CREATED + 1, usage=USAGE)
    assert expected == step


def test_steps_are_independent(lifecycle: Lifecycle) -> None:
    """Equal steps are separate objects: moving one leaves an equal twin where it was."""
    first, second = start(lifecycle), start(lifecycle)

    lifecycle.cancel(first)

    expected = ("cancelled", "in_progress")
    assert expected == (first.status, second.status)


def test_default_clock_is_the_system_clock() -> None:
    """Without a clock, created_at is the current Unix second."""
    before = int(time.time())
    step = start(Lifecycle())
    after = int(time.time())

    assert before <= step.created_at <= after


def test_repr_names_clock_and_rules(clock: FakeClock) -> None:
    """The repr shows what the lifecycle was built with."""
    text = repr(Lifecycle(clock=clock))

    assert text.startswith("Lifecycle(clock=")
    assert "rules=Rules(" in text


def test_a_clock_giving_fractions_is_refused() -> None:
    """Stamps are whole seconds: a clock returning floats (time.time) is a clear error."""
    life = Lifecycle(clock=lambda: 1_700_000_000.5)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidRecordError, match="a stamp must be an int"):
        life.start(
            id="step_1",
            run_id="run_1",
            thread_id="thread_1",
            assistant_id="asst_1",
            step_details=MessageCreationDetails(message_creation=MessageCreation(message_id="m")),
        )


STATUSES = ["in_progress", *TERMINAL]


def stepped_to(status: str) -> RunStep:
    """A clean step in `status`, reached through the Lifecycle itself."""
    lifecycle = Lifecycle(clock=FakeClock())
    step = start(lifecycle)
    if status != "in_progress":
        trigger = {"completed": "complete", "failed": "fail", "cancelled": "cancel"}.get(
            status, "expire"
        )
        payload: dict[str, Any] = {"usage": USAGE} if status == "completed" else {}
        if status == "failed":
            payload["last_error"] = ERROR
        lifecycle.apply(step, trigger, **payload)
    return step


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("trigger", [*TRIGGERS, "start", "not_a_trigger"])
def test_the_compiled_moves_agree_with_the_machine(status: str, trigger: str) -> None:
    """For every status and trigger, `STEP_MOVES` says what firing it does: where the
    step goes, or (no entry) that the machine refuses it."""
    step = stepped_to(status)
    payload: dict[str, Any] = {"usage": USAGE} if trigger == "complete" else {}
    if trigger == "fail":
        payload["last_error"] = ERROR
    expected = STEP_MOVES.get((status, trigger))
    if expected is None:
        with pytest.raises(IllegalTransitionError):
            Lifecycle(clock=FakeClock()).apply(step, trigger, **payload)
        assert step.status == status
    else:
        Lifecycle(clock=FakeClock()).apply(step, trigger, **payload)
        assert expected == step.status
