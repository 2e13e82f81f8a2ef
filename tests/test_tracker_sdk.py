"""The Tracker takes what the SDKs hand an orchestrator, and tells observers what it sees.

openai's stream events are built with the SDK's own parser (``construct_type`` into
``AssistantStreamEvent``, what its ``Stream`` does); azure-ai-agents' stream items with
its own SSE parser (``_parse_event``, what its handlers do), so each is the real shape.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from steplife import Event, Finding, Severity, StreamError, Tracker, to_dict
from steplife.live import Transition
from streams import (
    FINISHED,
    RUN_ID,
    STEP_ID,
    StreamEvent,
    completed,
    created,
    delta,
    function_call,
    function_fragment,
    in_progress,
    lifecycle,
    run_event,
    run_start,
    tool_details,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # beta.threads is deprecated
    from azure.ai.agents.models._patch import _parse_event
    from openai._models import construct_type
    from openai.types.beta import AssistantStreamEvent

RUN = [*run_start(), *lifecycle(), run_event("completed")]
"""A clean run with one step, as ``(name, data)`` pairs."""


def openai_events(events: Iterable[StreamEvent]) -> list[Any]:
    """The events as the openai SDK's stream yields them."""
    return [
        construct_type(type_=AssistantStreamEvent, value={"event": n, "data": d}) for n, d in events
    ]


def azure_items(events: Iterable[StreamEvent]) -> list[tuple[Any, Any, None]]:
    """The events as azure-ai-agents' streams yield them: (type, model, handler result)."""
    import orjson

    items = []
    for name, data in events:
        kind, model = _parse_event(f"event: {name}\ndata: {orjson.dumps(data).decode()}")
        items.append((kind, model, None))
    return items


def _plain_findings(events: Iterable[StreamEvent]) -> list[tuple[str, str | None]]:
    tracker = Tracker()
    for name, data in events:
        tracker.feed(name, data)
    tracker.finish()
    return [(f.rule, f.step_id) for f in tracker.findings]


@pytest.mark.parametrize("shape", ["openai", "azure"])
def test_feed_takes_one_sdk_event_and_follows_the_run(shape: str) -> None:
    """``feed(event)``: the run and its step end as the plain pairs would, no finding."""
    items = openai_events(RUN) if shape == "openai" else azure_items(RUN)
    tracker = Tracker()
    for item in items:
        tracker.feed(item)
    tracker.finish()
    assert tracker.findings == []
    assert tracker.status_of(STEP_ID) == "completed"
    assert tracker.runs[RUN_ID].status == "completed"
    plain = Tracker().consume(Event(n, d, None, 0, 0) for n, d in RUN)
    assert to_dict(tracker.snapshot(STEP_ID)) == to_dict(plain.snapshot(STEP_ID))


def test_consume_takes_every_accepted_shape_in_one_stream() -> None:
    """SDK objects, pairs, mappings and Events, mixed: one lifecycle."""
    (run_created, run_queued, run_in_progress) = run_start()
    mixed: list[object] = [
        openai_events([run_created])[0],
        azure_items([run_queued])[0],
        {"event": run_in_progress[0], "data": run_in_progress[1]},
        created(),
        Event(*in_progress(), None, 0, 0),
        openai_events([completed()])[0],
        azure_items([run_event("completed")])[0],
    ]
    tracker = Tracker().consume(mixed)
    tracker.finish()
    assert tracker.findings == []
    assert tracker.status_of(STEP_ID) == "completed"


def test_aconsume_reads_an_async_stream() -> None:
    """``await aconsume(stream)`` as for an AsyncStream of the openai client."""

    async def stream() -> AsyncIterator[Any]:
        for item in openai_events(RUN):
            await asyncio.sleep(0)
            yield item

    tracker = asyncio.run(Tracker().aconsume(stream()))
    assert (tracker.events, tracker.findings) == (len(RUN), [])


def test_a_fault_in_sdk_events_is_found_as_in_plain_ones() -> None:
    """A delta for a step never created: ``unknown-step``, whatever the shape."""
    faulty = [*run_start(), delta("step_ghost", tool_details()), *lifecycle()]
    expected = _plain_findings(faulty)
    assert ("unknown-step", "step_ghost") in expected
    for items in (openai_events(faulty), azure_items(faulty)):
        tracker = Tracker().consume(items)
        tracker.finish()
        assert [(f.rule, f.step_id) for f in tracker.findings] == expected


def test_an_sdk_model_as_the_data_is_taken_as_its_json() -> None:
    """``feed(name, model)``: the model's wire JSON, not a ``malformed-event``."""
    event = openai_events([created()])[0]
    tracker = Tracker()
    assert tracker.feed("thread.run.step.created", event.data) == []
    assert tracker.status_of(STEP_ID) == "in_progress"


@pytest.mark.parametrize(
    "item",
    [42, "thread.run.step.created", ("a", "b", "c", "d"), {"data": {}}, object()],
    ids=["int", "bare name", "4-tuple", "mapping without event", "object"],
)
def test_anything_else_is_a_type_error_that_lists_what_is_accepted(item: object) -> None:
    """One argument that is no event: a TypeError naming every accepted shape."""
    tracker = Tracker()
    with pytest.raises(TypeError, match=r"not an event: .*steplife accepts a steplife Event"):
        tracker.feed(item)
    with pytest.raises(TypeError, match="openai stream event"):
        tracker.consume([item])
    assert tracker.events == 0


def test_a_name_that_is_not_a_string_says_how_to_feed_an_event_object() -> None:
    """``feed(event, data)`` with an event object first: the message shows ``feed(event)``."""
    event = openai_events([created()])[0]
    with pytest.raises(TypeError, match=r"pass it alone: feed\(event\)"):
        Tracker().feed(event, {})


def test_importing_steplife_imports_neither_sdk() -> None:
    """SDKs are recognised by what they expose, never imported."""
    code = (
        "import sys, steplife, steplife.live; "
        "assert not {'openai', 'azure'} & {m.split('.')[0] for m in sys.modules}"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- one Tracker across a run's streams ------------------------------------------------

TOOL = tool_details()
FIRST_STREAM = [
    *run_start(),
    created(details=TOOL),
    in_progress(details=TOOL),
    delta(STEP_ID, tool_details(function_fragment(0, call_id="call_1", name="f", arguments="{}"))),
    run_event("requires_action"),
]
SECOND_STREAM = [
    run_event("queued"),
    run_event("in_progress"),
    completed(details=tool_details(function_call(output="42"))),
    *lifecycle("step_2"),
    run_event("completed"),
]


def test_one_tracker_follows_a_run_across_its_two_streams() -> None:
    """Fed both streams, finished after the second: no finding."""
    tracker = Tracker()
    tracker.consume(openai_events(FIRST_STREAM))
    tracker.consume(openai_events(SECOND_STREAM))
    tracker.finish()
    assert tracker.findings == []
    assert tracker.runs[RUN_ID].status == "completed"


def test_a_run_left_waiting_for_tool_outputs_says_how_to_follow_it() -> None:
    """Finished after the first stream alone: the dangling step's message says why."""
    tracker = Tracker().consume(openai_events(FIRST_STREAM))
    (finding,) = tracker.finish()
    assert finding.rule == "dangling-step"
    assert "its run waits for tool outputs (requires_action)" in finding.message
    assert "fed the stream that submits them too" in finding.message


# -- observers -------------------------------------------------------------------------


def test_on_transition_hears_every_status_change_of_steps_and_runs() -> None:
    """In order: the run's moves and the step's, with source, target and event."""
    heard: list[Transition] = []
    Tracker(on_transition=heard.append).consume(Event(n, d, None, 0, 0) for n, d in RUN)
    assert [(t.entity, t.source, t.target, t.event) for t in heard] == [
        ("run", None, "queued", "thread.run.created"),
        ("run", "queued", "in_progress", "thread.run.in_progress"),
        ("step", None, "in_progress", "thread.run.step.created"),
        ("step", "in_progress", "completed", "thread.run.step.completed"),
        ("run", "in_progress", "completed", "thread.run.completed"),
    ]
    assert heard[3].record.status == "completed"
    assert heard[3].id == STEP_ID


def test_a_step_adopted_already_ended_is_one_transition_from_nothing() -> None:
    """First seen at its end: ``source`` None, target its terminal status."""
    heard: list[Transition] = []
    Tracker(on_transition=heard.append).feed(*completed())
    assert [(t.source, t.target) for t in heard] == [(None, "completed")]


def test_on_finding_hears_each_finding_and_in_strict_mode_the_refused_one() -> None:
    """Collect mode: every finding; strict: the error that is raised, heard first."""
    heard: list[Finding] = []
    events = [*lifecycle(), completed()]  # completed twice: after-terminal
    tracker = Tracker(on_finding=heard.append)
    for name, data in events:
        tracker.feed(name, data)
    assert heard == tracker.findings
    assert [f.rule for f in heard] == ["after-terminal"]
    strict_heard: list[Finding] = []
    strict = Tracker(strict=True, on_finding=strict_heard.append)
    for name, data in events[:-1]:
        strict.feed(name, data)
    with pytest.raises(StreamError):
        strict.feed(*events[-1])
    assert [(f.rule, f.severity) for f in strict_heard] == [("after-terminal", Severity.ERROR)]


def test_a_refused_event_tells_no_transition() -> None:
    """Strict mode refuses before anything moves: observers hear no move that did not happen."""
    heard: list[Transition] = []
    strict = Tracker(strict=True, on_transition=heard.append)
    for name, data in lifecycle():
        strict.feed(name, data)
    with pytest.raises(StreamError):
        strict.feed(*completed())  # completed twice: after-terminal, an error
    assert [t.target for t in heard] == ["in_progress", "completed"]


@pytest.mark.parametrize("shape", ["openai", "azure"])
def test_the_store_ingests_the_sdk_events_as_the_tracker_takes_them(
    shape: str, tmp_path: Any
) -> None:
    """``store.ingest(stream)`` of SDK events: the step stored as from plain pairs."""
    from steplife.store import open_store

    items = openai_events(RUN) if shape == "openai" else azure_items(RUN)
    with open_store(tmp_path / "sdk.db") as store:
        report = store.ingest(items)
        stored = store.get(STEP_ID)
    with open_store(tmp_path / "plain.db") as store:
        store.ingest(RUN)
        plain = store.get(STEP_ID)
    assert (report.ok, report.applied) == (True, 3)
    assert to_dict(stored.step) == to_dict(plain.step)
    assert [e.event for e in stored.history] == [e.event for e in plain.history]


def test_azure_s_rename_of_expires_at_is_undone_for_a_step_that_did_not_expire() -> None:
    """azure-ai-agents renames ``expires_at`` to ``expired_at``; steplife gives it back."""
    name, step = created()
    wire = {**step, "expires_at": 1_700_003_600}
    wire.pop("expired_at")  # as the service sends it
    ((_, model, _),) = azure_items([(name, wire)])
    assert model.as_dict()["expired_at"] == 1_700_003_600  # the SDK's rename
    tracker = Tracker()
    assert tracker.feed((name, model, None)) == []
    snapshot = to_dict(tracker.snapshot(STEP_ID))
    assert (snapshot["expires_at"], snapshot["expired_at"]) == (1_700_003_600, None)
    expired = {**wire, "status": "expired", "expires_at": FINISHED}
    ((_, model, _),) = azure_items([("thread.run.step.expired", expired)])
    from steplife._sdk import plain

    assert plain(model)["expired_at"] == FINISHED  # expired: both name the same instant
