"""The Poller: polled snapshots of steps and runs, turned into the events they imply.

Snapshots are built as plain JSON (`streams.snapshot`, `streams.run_object`) and as the
SDKs' own models: openai's ``RunStep.construct`` / ``Run.construct`` and its cursor
page, azure-ai-agents' ``RunStep`` / ``ThreadRun`` and the ``ItemPaged`` its
``run_steps.list`` returns.
"""

from __future__ import annotations

import asyncio
import copy
import re
import warnings
from collections import Counter
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import COSTLY, REPO, examples
from steplife import Finding, StreamError, Tracker, from_dict
from steplife.live import Poller, Transition
from steplife.model import RUN_STATUSES, RUN_TERMINAL_STATUSES
from streams import (
    CREATED,
    FINISHED,
    RUN_ID,
    STAMP_OF,
    STEP_ID,
    USAGE,
    function_call,
    message_details,
    run_object,
    snapshot,
    tool_details,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # beta.threads is deprecated
    from azure.ai.agents.models import RunStep as AzureRunStep
    from azure.ai.agents.models import ThreadRun as AzureRun
    from azure.core.paging import ItemPaged
    from openai.pagination import SyncCursorPage
    from openai.types.beta.threads import Run as OpenAIRun
    from openai.types.beta.threads.runs import RunStep as OpenAIRunStep

Shape: TypeAlias = Literal["dict", "openai", "azure"]
SHAPES: tuple[Shape, ...] = ("dict", "openai", "azure")
Tick: TypeAlias = tuple[dict[str, Any], list[dict[str, Any]]]
"""One poll: the run as ``runs.retrieve`` returns it, its steps oldest first."""


def step(status: str = "in_progress", step_id: str = STEP_ID, **changes: Any) -> dict[str, Any]:
    """A clean step snapshot of `status` (a terminal one stamped `FINISHED`)."""
    fields: dict[str, Any] = {}
    if status in STAMP_OF:
        fields[STAMP_OF[status]] = FINISHED
    if status == "completed":
        fields["usage"] = USAGE
    if status == "failed":
        fields["last_error"] = {"code": "server_error", "message": "boom"}
    return snapshot(step_id, status=status, **{**fields, **changes})


def function_step(
    status: str = "in_progress", step_id: str = STEP_ID, **changes: Any
) -> dict[str, Any]:
    """A tool_calls step with one function call (answered once the step ended)."""
    output = None if status == "in_progress" else "42"
    return step(status, step_id, details=tool_details(function_call(output=output)), **changes)


def page(*steps: dict[str, Any]) -> dict[str, Any]:
    """A list page of `steps` as ``runs.steps.list`` returns it: newest first."""
    return {"object": "list", "data": list(reversed(steps)), "has_more": False}


def as_shape(tick: Tick, shape: Shape) -> list[object]:
    """One poll's run and step page as the client of `shape` returns them.

    azure's ``ItemPaged`` is iterated once: a fresh one is built for every poll.
    """
    run, steps = tick
    newest_first = list(reversed(steps))
    if shape == "dict":
        return [copy.deepcopy(run), page(*copy.deepcopy(steps))]
    if shape == "openai":
        models = [OpenAIRunStep.construct(**s) for s in newest_first]
        return [
            OpenAIRun.construct(**run),
            SyncCursorPage[OpenAIRunStep].construct(data=models, has_more=False),
        ]
    azure = [AzureRunStep(s) for s in newest_first]
    return [AzureRun(run), ItemPaged(lambda _token: azure, lambda items: (None, iter(items)))]


def rules_of(findings: list[Finding]) -> list[tuple[str, str | None]]:
    """What the tests compare of findings: each rule and the step it names."""
    return [(f.rule, f.step_id) for f in findings]


def heard() -> tuple[Poller, list[Transition]]:
    """A Poller whose tracker tells every status change to the list returned with it."""
    moves: list[Transition] = []
    return Poller(Tracker(on_transition=moves.append)), moves


def moves_of(transitions: list[Transition]) -> list[tuple[str, str | None, str]]:
    """Each status change as ``(entity, source, target)``."""
    return [(t.entity, t.source, t.target) for t in transitions]


# -- building ---------------------------------------------------------------------


def test_a_poller_makes_its_own_tracker_or_feeds_the_one_given() -> None:
    """``Poller()`` feeds a new Tracker; ``Poller(tracker)`` feeds that one."""
    tracker = Tracker(follow_runs=False)
    assert Poller(tracker).tracker is tracker
    assert isinstance(Poller().tracker, Tracker)
    assert Poller().tracker is not Poller().tracker
    assert repr(Poller(tracker)) == f"Poller(tracker={tracker!r})"


# -- a step ------------------------------------------------------------------------


def test_a_new_step_in_progress_is_created() -> None:
    """Its first snapshot is fed as ``thread.run.step.created``."""
    poller = Poller()
    assert poller.observe(step()) == []
    assert poller.tracker.event_names == Counter({"thread.run.step.created": 1})
    assert poller.tracker.status_of(STEP_ID) == "in_progress"


def test_an_unchanged_snapshot_is_no_event() -> None:
    """The same snapshot polled again feeds nothing."""
    poller = Poller()
    poller.observe(step())
    for _ in range(5):
        assert poller.observe(step()) == []
    assert poller.tracker.events == 1


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired"])
def test_a_step_first_seen_ended_is_created_then_ended(status: str) -> None:
    """``created`` (a copy in progress), then the event of its status: no adopted-step."""
    poller, transitions = heard()
    assert poller.observe(step(status)) == []
    assert poller.tracker.event_names == Counter(
        {"thread.run.step.created": 1, f"thread.run.step.{status}": 1}
    )
    assert moves_of(transitions) == [
        ("step", None, "in_progress"),
        ("step", "in_progress", status),
    ]
    created = transitions[0].record
    assert (created.status, created.usage, created.last_error) == ("in_progress", None, None)
    assert getattr(created, STAMP_OF[status]) is None
    assert poller.tracker.steps[STEP_ID] == from_dict(step(status))


def test_a_step_that_ends_is_fed_the_event_of_its_status() -> None:
    """in_progress, then completed: ``thread.run.step.completed`` with the snapshot."""
    poller = Poller()
    poller.observe(step())
    assert poller.observe(step("completed")) == []
    assert poller.tracker.event_names["thread.run.step.completed"] == 1
    assert poller.tracker.status_of(STEP_ID) == "completed"


def test_a_step_changed_in_progress_is_fed_in_progress() -> None:
    """Same status, other fields: ``thread.run.step.in_progress`` with the new snapshot."""
    poller = Poller()
    poller.observe(step(details=tool_details()))
    assert poller.observe(function_step()) == []
    assert poller.tracker.event_names["thread.run.step.in_progress"] == 1
    assert poller.tracker.snapshot(STEP_ID) == from_dict(function_step())


def test_an_ended_step_seen_again_is_no_event_even_changed() -> None:
    """A terminal snapshot does not change: seen again, only its status is compared."""
    poller = Poller()
    poller.observe(step("completed"))
    events = poller.tracker.events
    assert poller.observe(step("completed")) == []
    assert poller.observe(step("completed", metadata={"late": "key"})) == []
    assert poller.tracker.events == events


def test_a_step_that_goes_back_in_progress_is_after_terminal_once() -> None:
    """completed, then in_progress: the tracker's ``after-terminal``, at that poll only."""
    poller = Poller()
    poller.observe([run_object("in_progress"), page(step())])
    poller.observe([run_object("in_progress"), page(step("completed"))])
    found = poller.observe([run_object("in_progress"), page(step())])
    assert rules_of(found) == [("after-terminal", STEP_ID)]
    assert poller.observe([run_object("in_progress"), page(step())]) == []
    assert poller.tracker.status_of(STEP_ID) == "completed"


def test_an_ended_step_seen_in_another_status_is_after_terminal() -> None:
    """completed, then failed: ``after-terminal`` for the failed event."""
    poller = Poller()
    poller.observe(step("completed"))
    assert rules_of(poller.observe(step("failed"))) == [("after-terminal", STEP_ID)]


# -- a run -------------------------------------------------------------------------


def test_a_new_queued_run_is_created() -> None:
    """Its first snapshot at ``queued`` is fed as ``thread.run.created``, as it is."""
    poller = Poller()
    assert poller.observe(run_object("queued")) == []
    assert poller.tracker.event_names == Counter({"thread.run.created": 1})
    assert poller.tracker.runs[RUN_ID].status == "queued"


WAYS = {
    "queued": [],
    "in_progress": ["in_progress"],
    "requires_action": ["in_progress", "requires_action"],
    "cancelling": ["in_progress", "cancelling"],
    "cancelled": ["in_progress", "cancelling", "cancelled"],
    "failed": ["in_progress", "failed"],
    "completed": ["in_progress", "completed"],
    "incomplete": ["in_progress", "incomplete"],
    "expired": ["in_progress", "expired"],
}
"""The statuses a run started (``started_at`` set) is led through, from ``queued``."""


@pytest.mark.parametrize("status", RUN_STATUSES)
def test_a_run_first_seen_later_is_created_and_led_to_its_status(status: str) -> None:
    """created (a queued copy), then the moves to its status: no finding."""
    poller, transitions = heard()
    ways = WAYS[status]
    steps = page(function_step()) if status == "requires_action" else page()
    assert poller.observe([run_object(status), steps]) == []
    run_moves = [(t.source, t.target) for t in transitions if t.entity == "run"]
    targets = ["queued", *ways]
    assert run_moves == list(zip([None, *targets[:-1]], targets, strict=True))
    assert poller.tracker.runs[RUN_ID] == from_dict(run_object(status))


@pytest.mark.parametrize("status", sorted(RUN_TERMINAL_STATUSES))
def test_the_queued_copy_has_nothing_a_queued_run_lacks(status: str) -> None:
    """The implied created run: queued, no stamp but created_at, nothing carried."""
    poller, transitions = heard()
    poller.observe(run_object(status))
    created = transitions[0].record
    assert transitions[0].event == "thread.run.created"
    assert created == from_dict(
        {
            **run_object(status),
            "status": "queued",
            "started_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "last_error": None,
            "incomplete_details": None,
            "usage": None,
        }
    )


def test_a_run_never_started_is_led_the_short_way() -> None:
    """Failed while queued (no ``started_at``): created, then failed."""
    poller, transitions = heard()
    assert poller.observe(run_object("failed", started_at=None)) == []
    assert moves_of(transitions) == [("run", None, "queued"), ("run", "queued", "failed")]


def test_a_run_seen_at_a_new_status_is_fed_its_event() -> None:
    """queued, then in_progress: ``thread.run.in_progress``."""
    poller = Poller()
    poller.observe(run_object("queued"))
    assert poller.observe(run_object("in_progress")) == []
    assert poller.tracker.event_names["thread.run.in_progress"] == 1


def test_statuses_missed_between_two_polls_are_implied() -> None:
    """queued then completed passes in_progress; in_progress then cancelled, cancelling."""
    poller, transitions = heard()
    poller.observe(run_object("queued"))
    poller.observe(run_object("completed"))
    other = run_object("in_progress", "run_2")
    poller.observe(other)
    assert poller.observe(run_object("cancelled", "run_2")) == []
    assert [(t.id, t.target) for t in transitions if t.source is not None] == [
        (RUN_ID, "in_progress"),
        (RUN_ID, "completed"),
        ("run_2", "in_progress"),
        ("run_2", "cancelling"),
        ("run_2", "cancelled"),
    ]


def test_a_run_changed_in_its_status_is_fed_that_status_again() -> None:
    """in_progress with other fields: ``thread.run.in_progress`` with the new snapshot."""
    poller = Poller()
    poller.observe(run_object("in_progress"))
    assert poller.observe(run_object("in_progress", metadata={"k": "v"})) == []
    assert poller.tracker.event_names["thread.run.in_progress"] == 2
    assert poller.tracker.runs[RUN_ID].extra["metadata"] == {"k": "v"}


def test_a_run_waiting_for_other_tool_calls_resumed_in_between() -> None:
    """requires_action twice, another call awaited: in_progress between, no finding."""
    poller, transitions = heard()
    first = function_step("in_progress", "step_a")
    poller.observe([run_object("requires_action"), page(first)])
    call = {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    again = run_object(
        "requires_action",
        required_action={
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": [call]},
        },
    )
    second = step("in_progress", "step_b", created_at=CREATED + 1, details=tool_details(call))
    assert poller.observe([again, page(function_step("completed", "step_a"), second)]) == []
    assert moves_of(transitions)[-4:] == [
        ("run", "requires_action", "in_progress"),
        ("step", None, "in_progress"),
        ("step", "in_progress", "completed"),
        ("run", "in_progress", "requires_action"),
    ]


def test_a_run_moved_where_no_lifecycle_leads_is_reported() -> None:
    """in_progress, then queued: the tracker's ``illegal-transition``, once."""
    poller = Poller()
    poller.observe(run_object("in_progress"))
    found = poller.observe(run_object("queued", started_at=CREATED - 1))
    assert [(f.rule, f.run_id) for f in found] == [("illegal-transition", RUN_ID)]
    assert poller.observe(run_object("queued", started_at=CREATED - 1)) == []


def test_an_ended_run_seen_again_is_no_event_and_moved_is_after_terminal() -> None:
    """completed again: nothing; then in_progress: ``after-terminal``."""
    poller = Poller()
    poller.observe(run_object("completed"))
    assert poller.observe(run_object("completed")) == []
    assert [f.rule for f in poller.observe(run_object("in_progress"))] == ["after-terminal"]


# -- a whole run -------------------------------------------------------------------


LIFE: list[Tick] = [
    (run_object("queued"), []),
    (run_object("in_progress"), []),
    (run_object("in_progress"), [step()]),
    (run_object("in_progress"), [step("completed")]),
    (run_object("completed"), [step("completed")]),
]
"""A run's life as five polls see it: queued, in progress, its step created, the step
completed, the run completed."""


@pytest.mark.parametrize("shape", SHAPES)
def test_a_run_polled_through_its_life_gives_no_finding(shape: Shape) -> None:
    """Each state polled several times: no finding, every status right at the end."""
    poller = Poller()
    for tick in LIFE:
        for _ in range(3):
            assert poller.observe(as_shape(tick, shape)) == []
    tracker = poller.tracker
    assert tracker.finish() == []
    assert tracker.findings == []
    assert tracker.runs[RUN_ID].status == "completed"
    assert tracker.status_of(STEP_ID) == "completed"
    assert tracker.steps_per_run == Counter({1: 1})
    assert tracker.event_names == Counter(
        {
            "thread.run.created": 1,
            "thread.run.in_progress": 1,
            "thread.run.step.created": 1,
            "thread.run.step.completed": 1,
            "thread.run.completed": 1,
        }
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_run_first_seen_ended_with_its_steps_is_clean(shape: Shape) -> None:
    """One poll of an ended run and its ended steps: created, run, ended, no finding."""
    poller, transitions = heard()
    done = step("completed", "step_b", created_at=CREATED + 1)
    tick = (run_object("completed"), [step("completed", "step_a"), done])
    assert poller.observe(as_shape(tick, shape)) == []
    assert poller.tracker.finish() == []
    assert moves_of(transitions) == [
        ("run", None, "queued"),
        ("run", "queued", "in_progress"),
        ("step", None, "in_progress"),
        ("step", None, "in_progress"),
        ("step", "in_progress", "completed"),
        ("step", "in_progress", "completed"),
        ("run", "in_progress", "completed"),
    ]
    assert poller.tracker.steps_per_run == Counter({2: 1})


def test_a_run_waiting_with_its_new_step_is_not_tool_calls_without_action() -> None:
    """A run first seen waiting, its function step new: the step is created first."""
    poller = Poller()
    assert poller.observe([run_object("requires_action"), page(function_step())]) == []
    assert poller.observe([run_object("completed"), page(function_step("completed"))]) == []


def test_a_step_ends_before_its_run_waits_unless_the_run_waits_for_it() -> None:
    """One poll: a message step ended, a function step created, the run waiting for it."""
    poller, transitions = heard()
    poller.observe([run_object("in_progress"), page(step(step_id="step_0"))])
    waiting = function_step(step_id="step_1", created_at=CREATED + 1)
    assert (
        poller.observe([run_object("requires_action"), page(step("completed", "step_0"), waiting)])
        == []
    )
    assert [(t.id, t.target) for t in transitions[3:]] == [
        ("step_1", "in_progress"),
        ("step_0", "completed"),
        (RUN_ID, "requires_action"),
    ]


def test_a_run_first_seen_waiting_after_its_step_ended_is_clean() -> None:
    """Outputs submitted, the step it waited for ended, the run not yet moved on."""
    poller, transitions = heard()
    assert poller.observe([run_object("requires_action"), page(function_step("completed"))]) == []
    assert moves_of(transitions)[-2:] == [
        ("run", "in_progress", "requires_action"),
        ("step", "in_progress", "completed"),
    ]


def test_a_run_queued_again_is_created_after_its_steps() -> None:
    """First seen queued after tool outputs, its steps ended: no step-outside-run."""
    poller = Poller()
    resumed = run_object("queued", started_at=CREATED - 1)
    assert poller.observe([resumed, page(function_step("completed"))]) == []
    assert poller.observe([run_object("completed"), page(function_step("completed"))]) == []


def test_steps_of_a_page_are_fed_oldest_first() -> None:
    """A page lists the newest first; the steps are created by ``(created_at, id)``."""
    poller, transitions = heard()
    steps = [step(step_id=f"step_{n}", created_at=CREATED + n % 2) for n in range(4)]
    poller.observe(page(*steps))  # newest first: step_3, step_2, step_1, step_0
    assert [t.id for t in transitions] == ["step_0", "step_2", "step_1", "step_3"]


def test_several_snapshots_of_one_step_in_one_call_go_in_the_order_given() -> None:
    """in_progress then completed in one call: both fed, in that order."""
    poller, transitions = heard()
    assert poller.observe([step(), step("completed")]) == []
    assert moves_of(transitions) == [
        ("step", None, "in_progress"),
        ("step", "in_progress", "completed"),
    ]


# -- what observe takes ------------------------------------------------------------


def test_observe_takes_one_snapshot_or_model_of_either_sdk() -> None:
    """A dict, an openai model, an azure model, a steplife record: each a snapshot."""
    for item in (
        step(),
        OpenAIRunStep.construct(**step()),
        AzureRunStep(step()),
        from_dict(step()),
    ):
        poller = Poller()
        assert poller.observe(item) == []
        assert poller.tracker.status_of(STEP_ID) == "in_progress"
    for run in (
        OpenAIRun.construct(**run_object()),
        AzureRun(run_object()),
        from_dict(run_object()),
    ):
        poller = Poller()
        assert poller.observe(run) == []
        assert poller.tracker.runs[RUN_ID].status == "queued"


def test_observe_takes_pages_lists_and_iterables_of_them() -> None:
    """Nested lists, generators and pages: every snapshot they hold."""
    steps = [step(step_id=f"step_{n}") for n in range(3)]
    poller = Poller()
    nested: list[object] = [
        [page(steps[0])],
        (s for s in [steps[1]]),
        ItemPaged(lambda _token: [AzureRunStep(steps[2])], lambda items: (None, iter(items))),
    ]
    assert poller.observe(nested) == []
    assert poller.tracker.live_ids == ["step_0", "step_1", "step_2"]


def test_an_openai_page_is_read_without_fetching_the_next_one() -> None:
    """Only the page's ``data``: iterating a cursor page would fetch more over HTTP."""
    one = OpenAIRunStep.construct(**step())
    paged = SyncCursorPage[OpenAIRunStep].construct(data=[one], has_more=True)
    poller = Poller()
    assert poller.observe(paged) == []
    assert poller.tracker.live_ids == [STEP_ID]


def test_an_async_pager_is_a_type_error_that_says_to_collect_it() -> None:
    """``observe`` is synchronous: an async iterable must be collected first."""

    async def pager() -> AsyncGenerator[dict[str, Any], None]:
        yield step()

    items = pager()
    with pytest.raises(TypeError, match=r"collect it first"):
        Poller().observe(items)
    asyncio.run(items.aclose())


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (None, "a NoneType"),
        (42, "a int"),
        ("step_1", "a str"),
        (("thread.run.step.created", {}), "a str"),
        ({"object": "thread.message", "id": "msg_1"}, "'object' is 'thread.message'"),
        ({"id": STEP_ID}, "'object' is None"),
        ({"object": "list", "data": "nope"}, "'object' is 'list'"),
    ],
    ids=["None", "int", "str", "event pair", "message", "no object", "list without data"],
)
def test_what_is_no_snapshot_is_a_type_error_and_nothing_is_fed(item: object, message: str) -> None:
    """A TypeError naming what was given and what is accepted, before anything is fed."""
    poller = Poller()
    with pytest.raises(TypeError, match="observe accepts") as raised:
        poller.observe([step(), item])
    assert message in str(raised.value)
    assert poller.tracker.events == 0
    assert poller.observe(step()) == []  # nothing was remembered either


@pytest.mark.parametrize(
    "broken",
    [
        step("completed", created_at="yesterday"),
        step(created_at="yesterday"),
        run_object("completed", created_at="yesterday"),
        run_object("queued", created_at="yesterday"),
    ],
    ids=["ended step", "step", "ended run", "queued run"],
)
def test_a_broken_snapshot_is_reported_once(broken: dict[str, Any]) -> None:
    """The right ``object``, a bad body: the tracker's ``malformed-event``, once."""
    poller = Poller()
    assert [f.rule for f in poller.observe(broken)] == ["malformed-event"]
    assert poller.observe(broken) == []


@pytest.mark.parametrize(
    "nameless", [{**step(), "id": None}, {**run_object(), "id": 7}], ids=["step", "run"]
)
def test_a_snapshot_without_an_id_is_fed_at_every_poll(nameless: dict[str, Any]) -> None:
    """Nothing tells it from the next poll's: it is fed (and reported) every time."""
    poller = Poller()
    assert [f.rule for f in poller.observe(nameless)] == ["malformed-event"]
    assert [f.rule for f in poller.observe(nameless)] == ["malformed-event"]


def test_an_unknown_status_is_fed_for_the_tracker_to_report() -> None:
    """A status steplife does not know: fed as an update, a ``malformed-event``."""
    poller = Poller()
    poller.observe([run_object("in_progress"), step()])
    found = poller.observe([run_object("paused"), step("paused")])
    assert [f.rule for f in found] == ["malformed-event", "malformed-event"]
    assert poller.tracker.event_names["thread.run.step.in_progress"] == 1
    assert poller.tracker.event_names["thread.run.in_progress"] == 2


# -- memory ------------------------------------------------------------------------


def test_a_dict_changed_in_place_is_seen_changed() -> None:
    """The Poller keeps a copy: the caller's dict, changed and polled again, is new."""
    data = step()
    poller = Poller()
    poller.observe(data)
    data.update(status="completed", completed_at=FINISHED, usage=USAGE)
    assert poller.observe(data) == []
    assert poller.tracker.status_of(STEP_ID) == "completed"


def test_only_the_status_of_an_ended_step_is_kept() -> None:
    """An ended step's snapshot is dropped; its status is what later polls compare."""
    poller = Poller()
    poller.observe([step(), step(step_id="step_2")])
    poller.observe(step("completed"))
    assert list(poller._steps.live) == ["step_2"]
    assert poller._steps.ended == {STEP_ID: "completed"}


def test_ended_ones_are_remembered_as_long_as_the_tracker_remembers_them() -> None:
    """Beyond the tracker's ``remember_finished``, the oldest ended step is new again."""
    poller = Poller(Tracker(keep_finished=False, remember_finished=2))
    for n in range(3):
        poller.observe(step("completed", f"step_{n}"))
    assert set(poller._steps.ended) == {"step_1", "step_2"}
    events = poller.tracker.events
    assert poller.observe(step("completed", "step_0")) == []  # forgotten by both
    assert poller.tracker.events == events + 2
    assert poller.observe(step("completed", "step_2")) == []  # still remembered
    assert poller.tracker.events == events + 2


def test_a_strict_tracker_raises_and_the_refused_snapshot_is_not_remembered() -> None:
    """StreamError propagates; the next poll of the same fault raises again."""
    poller = Poller(Tracker(strict=True))
    poller.observe(step("completed"))
    for _ in range(2):
        with pytest.raises(StreamError, match="after-terminal"):
            poller.observe([step(step_id="step_0", created_at=CREATED - 1), step()])
    assert poller.tracker.status_of("step_0") == "in_progress"
    assert poller.observe(step(step_id="step_0", created_at=CREATED - 1)) == []


# -- the guide ---------------------------------------------------------------------

GUIDE: Path = REPO / "docs" / "embedding.md"


def test_the_polling_section_of_the_embedding_guide_runs() -> None:
    """docs/embedding.md, section Polling: its Python blocks run, in order."""
    section = GUIDE.read_text().split("\n## Polling\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks
    namespace: dict[str, Any] = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"embedding.md Polling block {number}", "exec"), namespace)


# -- properties ----------------------------------------------------------------------

T0 = 1_700_000_000
ENDINGS = ("completed", "failed", "cancelled", "expired", "incomplete")


class _Life:
    """A run being lived, one change at a time, each state kept as a poll would see it."""

    def __init__(self) -> None:
        self.now = T0
        self.run = run_object("queued", created_at=T0, started_at=None, expires_at=T0 + 3600)
        self.steps: dict[str, dict[str, Any]] = {}
        self.ticks: list[Tick] = []
        self.seen()

    def seen(self) -> None:
        self.ticks.append(
            (copy.deepcopy(self.run), [copy.deepcopy(s) for s in self.steps.values()])
        )

    def later(self) -> int:
        self.now += 1
        return self.now

    def move_run(self, status: str, **changes: Any) -> None:
        self.run = {**self.run, "status": status, "required_action": None, **changes}
        self.seen()

    def start_step(self, step_id: str, details: dict[str, Any]) -> None:
        self.steps[step_id] = snapshot(step_id, created_at=self.later(), details=details)
        self.seen()

    def end_step(self, step_id: str, status: str, **changes: Any) -> None:
        fields: dict[str, Any] = {"status": status, STAMP_OF[status]: self.later()}
        if status == "completed":
            fields["usage"] = USAGE
        self.steps[step_id] = {**self.steps[step_id], **fields, **changes}
        self.seen()


@st.composite
def lives(draw: st.DrawFn) -> list[Tick]:
    """A clean run's life, one poll after each change: message steps, function steps
    that make the run wait for tool outputs, and any ending."""
    life = _Life()
    life.move_run("in_progress", started_at=life.later())
    for n in range(draw(st.integers(0, 3))):
        step_id = f"step_{n}"
        if draw(st.booleans()):
            life.start_step(step_id, message_details(f"msg_{n}"))
            life.end_step(step_id, "completed")
            continue
        call = function_call(f"call_{n}", arguments="")
        life.start_step(step_id, tool_details(call))
        if draw(st.booleans()):  # the arguments streamed in: same status, new fields
            call = function_call(f"call_{n}", arguments='{"q": 1}')
            life.steps[step_id] = {**life.steps[step_id], "step_details": tool_details(call)}
            life.seen()
        action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}}
        life.move_run("requires_action", required_action=action)
        answered = tool_details(function_call(f"call_{n}", arguments='{"q": 1}', output="42"))
        life.end_step(step_id, "completed", step_details=answered)
        if draw(st.booleans()):
            life.move_run("queued")
        life.move_run("in_progress", started_at=life.later())
    ending = draw(st.sampled_from(ENDINGS))
    open_step = ending in ("cancelled", "expired") and draw(st.booleans())
    if open_step:
        life.start_step("step_open", message_details("msg_open"))
    if ending == "completed":
        life.move_run("completed", completed_at=life.later(), usage=USAGE)
    elif ending == "failed":
        error = {"code": "server_error", "message": "boom"}
        life.move_run("failed", failed_at=life.later(), last_error=error, usage=USAGE)
    elif ending == "incomplete":
        life.move_run("incomplete", incomplete_details={"reason": "max_completion_tokens"})
    elif ending == "cancelled":
        life.move_run("cancelling")
        if open_step:
            life.end_step("step_open", "cancelled")
        life.move_run("cancelled", cancelled_at=life.later())
    else:
        life.move_run("expired")
        if open_step:
            life.end_step("step_open", "expired")
    return life.ticks


def poll_all(ticks: list[Tick], shape: Shape) -> tuple[Poller, list[Finding]]:
    """A Poller that observed each tick in turn, and every finding it returned."""
    poller = Poller()
    found: list[Finding] = []
    for tick in ticks:
        found.extend(poller.observe(as_shape(tick, shape)))
    return poller, found


@examples(COSTLY)
@given(lives(), st.data(), st.sampled_from(SHAPES))
def test_repeated_polls_find_what_single_polls_find(
    ticks: list[Tick], data: st.DataObject, shape: Shape
) -> None:
    """Each state polled any number of times: the findings of polling it once (none)."""
    repeats = data.draw(st.lists(st.integers(1, 4), min_size=len(ticks), max_size=len(ticks)))
    repeated = [tick for tick, times in zip(ticks, repeats, strict=True) for _ in range(times)]
    once, found_once = poll_all(ticks, shape)
    many, found_many = poll_all(repeated, shape)
    assert rules_of(found_many) == rules_of(found_once) == []
    assert many.tracker.finish() == once.tracker.finish() == []
    run, steps = ticks[-1]
    assert many.tracker.runs[RUN_ID].status == run["status"]
    assert {s["id"]: many.tracker.status_of(s["id"]) for s in steps} == {
        s["id"]: s["status"] for s in steps
    }
    assert many.tracker.events == once.tracker.events


@given(lives(), st.data())
def test_polls_that_miss_states_find_nothing(ticks: list[Tick], data: st.DataObject) -> None:
    """Polls of a clean life that miss any states but a wait's start: no finding.

    The orchestrator sees each wait for tool outputs (it submits them): the Poller
    implies every other status a run passes through unseen, never ``requires_action``.
    """
    waits = {
        i
        for i, (run, _) in enumerate(ticks)
        if run["status"] == "requires_action" and ticks[i - 1][0]["status"] != "requires_action"
    }
    chosen = data.draw(st.sets(st.sampled_from(range(len(ticks)))))
    _, found = poll_all([ticks[i] for i in sorted(chosen | waits)], "dict")
    assert rules_of(found) == []
