"""The toy orchestrator of examples/: tested by the lifecycle machine, as the docs show."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from helpers import HEAVY, examples
from steplife import RunStep, to_json
from steplife.model import MessageCreation, MessageCreationDetails, Usage
from steplife.testing import FakeClock, lifecycle_machine

# Hypothesis warns when it shows a large example (16 pairs of long metadata, say):
# no problem for these tests, which show examples on purpose or on failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "toy_orchestrator.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toy_orchestrator", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


toy = load_example()
BaseOrchestrator: Any = toy.ToyOrchestrator
BaseAdapter: Any = toy.ToyAdapter

TestToyOrchestrator = lifecycle_machine(toy.ToyAdapter).TestCase
TestToyOrchestrator.settings = examples(HEAVY)


class ReopeningOrchestrator(BaseOrchestrator):  # type: ignore[misc]
    """A plausible bug: closing an ended step reopens it first."""

    def close_step(self, step_id: str, outcome: str, **payload: Any) -> RunStep:
        step = self.step(step_id)
        if step.status != "in_progress":
            reopened = attrs.evolve(
                step,
                status="in_progress",
                completed_at=None,
                failed_at=None,
                cancelled_at=None,
                expired_at=None,
                usage=None,
                last_error=None,
            )
            self.store[step_id] = to_json(reopened)
        result: RunStep = super().close_step(step_id, outcome, **payload)
        return result


class ReopeningAdapter(BaseAdapter):  # type: ignore[misc]
    def __init__(self, clock: FakeClock) -> None:
        self.orchestrator = ReopeningOrchestrator(clock)


def test_the_toy_orchestrator_stamps_from_the_clock_it_is_given() -> None:
    """With a fake clock, every stamp is known in advance."""
    clock = FakeClock(1_000)
    orchestrator = toy.ToyOrchestrator(clock)
    orchestrator.open_step(
        "step_1",
        run_id="run_1",
        thread_id="thread_1",
        assistant_id="asst_1",
        details=MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1")),
    )
    clock.advance(5)
    step = orchestrator.close_step("step_1", "done", usage=Usage.of(3, 4))
    assert (step.created_at, step.completed_at) == (1_000, 1_005)
    assert orchestrator.step("step_1") == step


def test_the_machine_finds_a_bug_in_a_variant_and_shrinks_it() -> None:
    """A reopening orchestrator fails, on a short, readable sequence of calls."""
    machine = lifecycle_machine(ReopeningAdapter)
    with pytest.raises(AssertionError, match="differs from its model") as failure:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=500,
                database=None,
                derandomize=True,  # the same counterexample on every run
                report_multiple_bugs=False,
                phases=[Phase.generate, Phase.shrink],
            ),
        )
    calls = [
        line.split("(")[0].split(".")[-1]
        for line in "\n".join(failure.value.__notes__).splitlines()
        if line.startswith(("state.", "steps_0 = state.")) and "every_snapshot" not in line
    ]
    assert calls == ["start", "cancel", "not_a_trigger", "teardown"]
    assert "metadata=None" in "\n".join(failure.value.__notes__)


def test_the_example_runs_as_a_script() -> None:
    """``python examples/toy_orchestrator.py`` runs the machine and says so."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "keeps every step's lifecycle" in result.stdout
