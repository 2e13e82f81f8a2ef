"""The official ``openai`` package as the oracle: steplife reads and writes what it does."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from hypothesis import given
from openai.types.beta.threads.runs import RunStep as SdkRunStep

from helpers import (
    UNKNOWN_TOOL_SNAPSHOT,
    real_snapshot_params,
    real_step_snapshots,
    require_real_fixtures,
)
from steplife import RunStep, from_dict, parse, to_dict
from strategies import run_steps

HYPHEN_RANKER_SNAPSHOT = "simple-openai/threads_runssteps_delta.txt#2"
SDK_REJECTED = frozenset({HYPHEN_RANKER_SNAPSHOT, UNKNOWN_TOOL_SNAPSHOT})
"""The two real steps the SDK refuses (SOURCES.md, sanity check)."""


def test_sdk_rejects_exactly_the_two_known_snapshots() -> None:
    """Only the hyphenated ranker and the hand-made ``browser`` call fail the SDK."""
    require_real_fixtures()
    rejected = set()
    for label, data in real_step_snapshots():
        try:
            SdkRunStep.model_validate(data)
        except pydantic.ValidationError:
            rejected.add(label)

    expected = SDK_REJECTED
    assert expected == rejected


@pytest.mark.parametrize(("label", "data"), real_snapshot_params(exclude=SDK_REJECTED))
def test_real_step_accepted_by_the_sdk_round_trips_through_steplife(
    label: str, data: dict[str, Any]
) -> None:
    """steplife loads what the SDK accepts, and its output parses to the same SDK model.

    The same, keys the SDK does not declare included (``expires_at``,
    ``usage.prompt_token_details``, ...): the SDK keeps them as extras and compares
    them, and steplife carries them through.
    """
    original = SdkRunStep.model_validate(data)

    step = from_dict(data)
    written = SdkRunStep.model_validate(to_dict(step))

    assert original == written


def test_snapshot_the_sdk_refuses_for_its_ranker_loads_in_steplife() -> None:
    """The live ``default-2024-08-21`` ranker loads, with only an ``unknown-value`` warning."""
    snapshots = dict(real_step_snapshots())
    if HYPHEN_RANKER_SNAPSHOT not in snapshots:
        require_real_fixtures()
        pytest.fail(f"{HYPHEN_RANKER_SNAPSHOT} is missing from the real fixtures")

    parsed = parse(snapshots[HYPHEN_RANKER_SNAPSHOT])

    expected = (True, ["unknown-value"])
    assert expected == (parsed.ok, [f.rule for f in parsed.findings])


@given(run_steps())
def test_generated_steps_validate_in_the_sdk_and_round_trip(step: RunStep) -> None:
    """Any valid step's ``to_dict`` is a valid SDK RunStep whose JSON dump loads back equal."""
    model = SdkRunStep.model_validate(to_dict(step))

    assert step == from_dict(model.model_dump(mode="json"))
    assert step == from_dict(model.model_dump(mode="json", exclude_none=True))
