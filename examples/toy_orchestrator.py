"""A toy orchestrator that keeps run steps in a key-value store, and its lifecycle test.

The orchestrator is what a user of steplife might write: it opens a step when the
model starts one, closes it when the tool outputs come back (or the run fails, is
cancelled, or times out), and keeps every step as JSON in a store. `ToyAdapter`
exposes it to `steplife.testing.lifecycle_machine` through the three calls the
machine needs, and the machine checks it against the lifecycle's rules.

Run ``python examples/toy_orchestrator.py`` to test it (``tests/test_testing_example.py``
runs the same machine under pytest).
"""

from __future__ import annotations

import logging
from typing import Final

from steplife import Clock, Lifecycle, RunStep, from_json, system_clock, to_json
from steplife.model import LastError, Metadata, StepDetails, Usage

log = logging.getLogger("toy_orchestrator")


class ToyOrchestrator:
    """Keeps the run steps of an agent loop in `store`, as the API's JSON.

    Closing a step names its outcome in the orchestrator's own words (`OUTCOMES`);
    anything else is handed to the lifecycle as is, which refuses it.
    """

    OUTCOMES: Final = {
        "done": "complete",
        "error": "fail",
        "stopped": "cancel",
        "timed_out": "expire",
    }

    def __init__(self, clock: Clock = system_clock) -> None:
        self.lifecycle = Lifecycle(clock=clock)
        self.store: dict[str, bytes] = {}

    def open_step(
        self,
        step_id: str,
        *,
        run_id: str,
        thread_id: str,
        assistant_id: str,
        details: StepDetails,
        metadata: Metadata | None = None,
    ) -> RunStep:
        """Start a step and store it; raises `steplife.InvalidRecordError` if it is invalid."""
        step = self.lifecycle.start(
            id=step_id,
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            step_details=details,
            metadata=metadata,
        )
        self.store[step_id] = to_json(step)
        return step

    def close_step(
        self,
        step_id: str,
        outcome: str,
        *,
        usage: Usage | None = None,
        error: LastError | None = None,
    ) -> RunStep:
        """End a step with `outcome`; the stored step changes only if the lifecycle agrees.

        Raises `steplife.IllegalTransitionError` for an outcome the step cannot
        have, `steplife.InvalidRecordError` when the result would break a rule.
        """
        step = self.step(step_id)
        trigger = self.OUTCOMES.get(outcome, outcome)
        for finding in self.lifecycle.apply(step, trigger, usage=usage, last_error=error):
            log.info("step %s: %s: %s", step_id, finding.rule, finding.message)
        self.store[step_id] = to_json(step)
        return step

    def step(self, step_id: str) -> RunStep:
        """The stored step, loaded back from JSON."""
        return from_json(self.store[step_id], kind=RunStep)


class ToyAdapter:
    """`ToyOrchestrator` behind the `steplife.testing.StepAdapter` protocol."""

    TRIGGERS: Final = {trigger: outcome for outcome, trigger in ToyOrchestrator.OUTCOMES.items()}

    def __init__(self, clock: Clock) -> None:
        self.orchestrator = ToyOrchestrator(clock)

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
        """Open the step."""
        self.orchestrator.open_step(
            id,
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            details=step_details,
            metadata=metadata,
        )

    def apply(
        self, step_id: str, trigger: str, *, usage: Usage | None, last_error: LastError | None
    ) -> None:
        """Close the step with the outcome that stands for `trigger`."""
        outcome = self.TRIGGERS.get(trigger, trigger)
        self.orchestrator.close_step(step_id, outcome, usage=usage, error=last_error)

    def snapshot(self, step_id: str) -> RunStep:
        """Read the step back from the store."""
        return self.orchestrator.step(step_id)


if __name__ == "__main__":
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    from steplife.testing import lifecycle_machine

    run_state_machine_as_test(
        lifecycle_machine(ToyAdapter), settings=settings(max_examples=50, deadline=None)
    )
    print("ToyOrchestrator keeps every step's lifecycle")
