"""Properties over generated steps, trigger sequences and mangled JSON."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import steplife
from helpers import FakeClock
from steplife import (
    IllegalTransitionError,
    InvalidRecordError,
    Lifecycle,
    RunStep,
    SteplifeError,
    SteplifeWarning,
    _wire,
    from_dict,
    from_json,
    parse,
    to_dict,
    to_json,
)
from steplife.model import LastError, Usage
from strategies import TERMINAL, in_progress_steps, last_errors, run_steps, usages

TARGETS = {"complete": "completed", "fail": "failed", "cancel": "cancelled", "expire": "expired"}
NOT_TRIGGERS = ["explode", "", "to_completed", "trigger", "Complete", "in_progress"]

# An `at` is drawn as an offset from created_at (so early stamps are likely), or None,
# or a value of the wrong type.
ats = st.one_of(
    st.none(),
    st.integers(min_value=-3, max_value=1000).map(lambda offset: ("offset", offset)),
    st.sampled_from(["x", 1.5, True]),
)
any_usages: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    usages(),
    st.builds(
        Usage,
        prompt_tokens=st.integers(-2, 5),
        completion_tokens=st.integers(-2, 5),
        total_tokens=st.integers(-2, 10),
    ),
    st.just({}),
)
any_last_errors: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    last_errors(),
    st.builds(LastError, code=st.text(max_size=8), message=st.text(max_size=8)),
    st.just("boom"),
)
attempts = st.tuples(
    st.sampled_from([*TARGETS, *NOT_TRIGGERS]) | st.text(max_size=6),
    ats,
    any_usages,
    any_last_errors,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def errors_of(step: RunStep) -> list[steplife.Finding]:
    return [f for f in steplife.check(step) if f.is_error]


def resolve(at: Any, step: RunStep) -> Any:
    if isinstance(at, tuple):
        return step.created_at + at[1]
    return at


@given(run_steps())
def test_json_round_trip_is_identity(step: RunStep) -> None:
    """Any valid step survives dict and JSON round trips unchanged."""
    assert step == from_dict(to_dict(step))
    assert step == from_json(to_json(step))
    assert to_dict(step) == to_dict(from_json(to_json(step)))


@given(run_steps(clean=True))
def test_clean_steps_load_without_findings(step: RunStep) -> None:
    """A clean generated step parses, strictly, with no finding at all."""
    parsed = parse(to_json(step), strict=True)

    expected = (step, ())
    assert expected == (parsed.record, parsed.findings)


@given(in_progress_steps(), st.lists(attempts, max_size=6), st.integers(-3, 100))
def test_any_trigger_sequence_succeeds_or_leaves_the_step_alone(
    step: RunStep, sequence: list[tuple[Any, Any, Any, Any]], clock_offset: int
) -> None:
    """Each attempt either moves the step legally or raises a SteplifeError, step unchanged.

    After every attempt the step breaks no error-level rule, which covers "stamps
    never precede created_at" and "legal triggers never reach a broken snapshot".
    """
    lifecycle = Lifecycle(clock=FakeClock(step.created_at + clock_offset))
    for trigger, at, usage, last_error in sequence:
        before = copy.deepcopy(step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SteplifeWarning)
            try:
                lifecycle.fire(
                    step, trigger, at=resolve(at, step), usage=usage, last_error=last_error
                )
            except SteplifeError:
                assert before == step
            else:
                expected = ("in_progress", TARGETS[trigger])
                assert expected == (before.status, step.status)
        no_errors: list[steplife.Finding] = []
        assert no_errors == errors_of(step)


@given(in_progress_steps(), st.sampled_from(list(TARGETS)), st.integers(0, 10**6))
def test_a_legal_trigger_stamps_at_or_after_created_at(
    step: RunStep, trigger: str, offset: int
) -> None:
    """A successful trigger sets exactly its own stamp, never before created_at."""
    lifecycle = Lifecycle(clock=FakeClock(step.created_at + offset))
    usage = Usage.of(1, 1) if trigger == "complete" else None
    error = LastError(code="server_error", message="m") if trigger == "fail" else None

    lifecycle.fire(step, trigger, usage=usage, last_error=error)

    stamps = {
        "cancelled_at": step.cancelled_at,
        "completed_at": step.completed_at,
        "expired_at": step.expired_at,
        "failed_at": step.failed_at,
    }
    expected = dict.fromkeys(stamps) | {f"{TARGETS[trigger]}_at": step.created_at + offset}
    assert expected == stamps
    no_findings: list[steplife.Finding] = []
    assert no_findings == steplife.check(step)


@given(run_steps(statuses=TERMINAL), st.sampled_from([*TARGETS, *NOT_TRIGGERS]) | st.text())
def test_terminal_states_absorb_every_trigger(step: RunStep, trigger: str) -> None:
    """No trigger, known or not, moves a terminal step; it stays exactly as it was."""
    before = copy.deepcopy(step)
    lifecycle = Lifecycle(clock=FakeClock(step.created_at + 10))

    with pytest.raises(IllegalTransitionError) as caught:
        lifecycle.fire(step, trigger, at=step.created_at + 1)

    parts = (step.id, step.status, trigger)
    assert parts == (caught.value.record_id, caught.value.status, caught.value.trigger)
    assert before == step


def paths_of(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths_of(item, (*here, i))
    return found


@st.composite
def mangled_dicts(draw: st.DrawFn) -> Any:
    """A valid step's JSON with one node deleted, replaced, or given an extra key."""
    data = to_dict(draw(run_steps()))
    path = draw(st.sampled_from(paths_of(data)))
    if not path:
        return draw(json_values)
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["delete", "replace", "extra"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "replace":
        parent[path[-1]] = draw(json_values)
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(json_values)
    return data


unwritable_values = st.one_of(
    st.integers(min_value=2**64),
    st.integers(max_value=-(2**63) - 1),
    st.text(max_size=4).map(lambda text: text + "\ud800"),
)
"""What Python data may hold and JSON cannot carry."""


@given(run_steps(), st.data())
def test_what_json_cannot_carry_is_refused_at_load_with_its_path(
    step: RunStep, data: st.DataObject
) -> None:
    """A value JSON cannot write, anywhere in a step's dict (keys included), is refused
    by ``parse`` and ``from_dict`` with its path: nothing loads that ``to_json`` would
    then fail on."""
    payload = to_dict(step)
    path = data.draw(st.sampled_from(paths_of(payload)[1:]))
    parent: Any = payload
    for key in path[:-1]:
        parent = parent[key]
    bad = data.draw(unwritable_values)
    if isinstance(parent, dict) and type(bad) is str and data.draw(st.booleans()):
        parent[bad] = parent.pop(path[-1])  # the key itself
    else:
        parent[path[-1]] = bad
    parsed = parse(payload)
    assert parsed.record is None
    assert [f.rule for f in parsed.findings] == ["schema"]
    assert "which JSON cannot carry" in parsed.findings[0].message
    with pytest.raises(InvalidRecordError):
        from_dict(payload)


@given(mangled_dicts(), st.booleans())
def test_mangled_input_never_raises_anything_but_invalid_step(data: Any, strict: bool) -> None:
    """``parse`` never raises; ``from_dict`` returns what ``parse`` built or InvalidRecordError."""
    parsed = parse(data, strict=strict)

    if parsed.ok:
        assert parsed.record == from_dict(data, strict=strict)
    else:
        with pytest.raises(InvalidRecordError) as caught:
            from_dict(data, strict=strict)
        assert parsed.findings == caught.value.findings
        assert parsed.findings, "an InvalidRecordError must say why"


def _json_carries(data: Any) -> bool:
    """Whether `data` survives a JSON round trip unchanged (no inf, no NaN, no tuple...)."""
    try:
        return bool(orjson.loads(orjson.dumps(data)) == data)
    except (orjson.JSONEncodeError, TypeError):
        return False


@given(mangled_dicts(), st.booleans())
def test_fast_and_detailed_loaders_agree(data: Any, shared: bool) -> None:
    """The fast path accepts exactly what the detailed converter accepts, with equal results.

    The shared path (the replay's, `structure`) keeps an unknown key's value unchecked,
    as it was decoded: it agrees on what JSON can carry, which is all it is given (a
    Python ``inf`` under an unknown key is refused by the checked paths only).
    """
    if shared:
        assume(_json_carries(data))
        fast = _wire.structure(data)
    else:
        fast = _wire._structure(RunStep, data, False)
    detailed = _wire._structure_detailed(data, _wire._DETAILED, RunStep)

    if isinstance(detailed, list):
        assert isinstance(fast, list)
        assert detailed == fast
    else:
        assert detailed == fast
