"""steplife.testing's valid event streams: realistic, accepted everywhere, small when shrunk."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai.types.beta import AssistantStreamEvent
from pydantic import TypeAdapter

from helpers import COSTLY, examples
from steplife import Run, Tracker, from_dict, read_events, to_dict
from steplife.model import StepType
from steplife.testing import (
    EventStream,
    event_streams,
    replay,
    replay_lines,
    to_jsonl,
    to_jsonl_lines,
    to_sse,
)

# Hypothesis warns when it shows a large example (16 pairs of long metadata, say):
# no problem for these tests, which show examples on purpose or on failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


SDK_EVENT: TypeAdapter[Any] = TypeAdapter(AssistantStreamEvent)
STEP = "thread.run.step."
RUN = "thread.run."
RUN_ENDINGS = ("completed", "failed", "cancelled", "expired", "incomplete")
TERMINAL = ("completed", "failed", "cancelled", "expired")
STAMP = {status: f"{status}_at" for status in TERMINAL}
EXISTS = settings(max_examples=1000, database=None, phases=[Phase.generate], derandomize=True)
"""For `find` when only the existence of an example matters: a fixed search, no shrinking."""
SHRUNK = settings(database=None, phases=[Phase.generate, Phase.shrink], derandomize=True)
"""For `find` when the smallest example matters (no explain phase: it only costs time).

Derandomized: about one seed in 400 shrank the arguments-in-pieces example to a local
minimum (a spare step left in front), which failed a CI run; a fixed search is the same
on every run and in every profile.
"""


def step_events(stream: EventStream) -> dict[str, list[tuple[int, str, Any]]]:
    """Each step's events, in order: (position, kind, data)."""
    found: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for i, event in enumerate(stream):
        if event["event"].startswith(STEP):
            found[event["data"]["id"]].append((i, event["event"][len(STEP) :], event["data"]))
    return found


def run_events(stream: EventStream) -> dict[str, list[tuple[int, str, Any]]]:
    """Each run's events, in order: (position, kind, data)."""
    found: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for i, event in enumerate(stream):
        name = event["event"]
        if name.startswith(RUN) and not name.startswith(STEP):
            found[event["data"]["id"]].append((i, name[len(RUN) :], event["data"]))
    return found


def ended(stream: EventStream) -> set[str]:
    return {
        step_id
        for step_id, events in step_events(stream).items()
        if any(kind in TERMINAL for _, kind, _ in events)
    }


@examples(COSTLY)
@given(event_streams(max_runs=3, max_steps=4, interleave=True))
def test_the_validator_accepts_every_valid_stream(stream: EventStream) -> None:
    """No false positive: a fresh Tracker, following the runs, finds nothing at all.

    A strict one raises nothing either; each run ends once, in one of the five
    endings, as the Tracker reports it. (One test, so each stream is drawn once.)
    """
    tracker = replay(stream)
    assert tracker.findings == []
    assert tracker.live_ids == []
    assert replay(stream, tracker=Tracker(strict=True)).findings == []
    runs = run_events(stream)
    endings = [events[-1][1] for events in runs.values()]
    assert all(ending in RUN_ENDINGS for ending in endings)
    assert sorted(tracker.run_statuses.elements()) == sorted(endings)
    per_run: dict[str, int] = defaultdict(int)
    for events in step_events(stream).values():
        per_run[events[0][2]["run_id"]] += 1
    assert sorted(tracker.steps_per_run.elements()) == sorted(per_run[r] for r in runs)


@examples(COSTLY)
@given(event_streams(max_runs=2, interleave=True))
def test_each_run_ends_after_its_steps_with_what_its_ending_carries(stream: EventStream) -> None:
    """No step outlives its run; the ending's fields are there, as the rules want them."""
    steps = step_events(stream)
    for run_id, events in run_events(stream).items():
        end, kind, data = events[-1]
        run = from_dict(data, Run)
        assert (kind == "failed") == (run.last_error is not None)
        assert (kind == "incomplete") == (run.incomplete_details is not None)
        assert [k for _, k, _ in events].count("cancelling") == (kind == "cancelled")
        mine = [e for e in steps.values() if e[0][2]["run_id"] == run_id]
        for step in mine:
            position, step_kind, step_data = step[-1]
            if position > end:
                # Only the expiry of a step still open when its run expired.
                assert (kind, step_kind) == ("expired", "expired")
            stamp = {
                "completed": run.completed_at,
                "failed": run.failed_at,
                "cancelled": run.cancelled_at,
                "incomplete": run.completed_at,
            }.get(kind)
            if stamp is not None:
                assert step_data[STAMP[step_kind]] <= stamp


@given(event_streams(max_runs=2, interleave=True, dangling=True))
def test_dangling_steps_are_the_only_finding(stream: EventStream) -> None:
    """Steps left open are reported as dangling, exactly those, and nothing else."""
    tracker = replay(stream)
    assert {f.rule for f in tracker.findings} <= {"dangling-step"}
    expected = set(step_events(stream)) - ended(stream)
    actual = {f.step_id for f in tracker.findings}
    assert expected == actual


@given(event_streams(max_runs=2, interleave=True, dangling=True))
def test_the_official_sdk_accepts_every_event(stream: EventStream) -> None:
    """Every event but ``done`` loads as the SDK's ``AssistantStreamEvent``."""
    for event in stream:
        if event["event"] == "done":
            assert event["data"] == "[DONE]"
        else:
            SDK_EVENT.validate_python(event)


@given(event_streams(max_runs=2, interleave=True, dangling=True))
def test_each_step_is_created_then_in_progress_then_ends_once(stream: EventStream) -> None:
    """Per step: created, in_progress, deltas, at most one end; stamps never go back."""
    for step_id, events in step_events(stream).items():
        kinds = [kind for _, kind, _ in events]
        assert kinds[:2] == ["created", "in_progress"], step_id
        assert set(kinds[2:-1]) <= {"delta"}, step_id
        assert kinds[-1] in (*TERMINAL, "delta", "in_progress"), step_id
        created_at = events[0][2]["created_at"]
        for _, kind, data in events:
            if kind in TERMINAL:
                assert data[STAMP[kind]] >= created_at
            if kind != "delta":
                assert data["created_at"] == created_at


@given(event_streams(max_runs=2, interleave=True, dangling=True))
def test_jsonl_and_sse_read_back_as_the_same_events(stream: EventStream) -> None:
    """Both renderings, read with steplife's own readers, give back the stream."""
    expected = [(event["event"], event["data"]) for event in stream]
    jsonl = read_events(io.BytesIO(to_jsonl(stream)), "s.jsonl", "jsonl")
    sse = read_events(io.BytesIO(to_sse(stream).encode()), "s.sse", "sse")
    assert expected == [(event.name, event.data) for event in jsonl]
    assert expected == [(event.name, event.data) for event in sse]


@examples(COSTLY)
@given(event_streams(max_runs=2, interleave=True, dangling=True))
def test_replaying_lines_or_events_finds_the_same(stream: EventStream) -> None:
    """`replay` and `replay_lines` agree, up to where each finding was located."""
    expected = [(f.rule, f.step_id) for f in replay(stream).findings]
    actual = [(f.rule, f.step_id) for f in replay_lines(to_jsonl_lines(stream)).findings]
    assert expected == actual


@given(event_streams(types=["tool_calls"], statuses=["completed"], run_events=False))
def test_the_deltas_rebuild_every_call(stream: EventStream) -> None:
    """Merged deltas equal the final calls, but for what only the end carries.

    That is the function output (set when the tool outputs are submitted) and the
    file-search body, which no delta carries.
    """
    for step_id, events in step_events(stream).items():
        if not any(kind == "delta" for _, kind, _ in events):
            continue
        end = events[-1][0]
        tracker = replay(stream[:end], finish=False)
        merged = to_dict(tracker.snapshot(step_id))["step_details"]["tool_calls"]
        final = stream[end]["data"]["step_details"]["tool_calls"]
        for call in final:
            if call["type"] == "function":
                call["function"]["output"] = None
            if call["type"] == "file_search":
                call["file_search"] = {}
        assert final == merged


@examples(COSTLY)
@given(st.data())
def test_the_shape_asked_for_is_the_shape_drawn(data: st.DataObject) -> None:
    """Step counts, types and end statuses stay within what was asked."""
    min_steps = data.draw(st.integers(0, 3))
    max_steps = data.draw(st.integers(min_steps, 4))
    types: set[Any] = data.draw(
        st.sets(st.sampled_from(["message_creation", "tool_calls"]), min_size=1)
    )
    statuses = data.draw(st.sets(st.sampled_from(TERMINAL), min_size=1))
    runs = data.draw(st.integers(1, 2))
    stream = data.draw(
        event_streams(
            min_steps=min_steps,
            max_steps=max_steps,
            min_runs=runs,
            max_runs=runs,
            types=types,
            statuses=statuses,
        )
    )
    per_run: dict[str, int] = defaultdict(int)
    for events in step_events(stream).values():
        created = events[0][2]
        per_run[created["run_id"]] += 1
        assert created["type"] in types
        assert events[-1][1] in statuses
    assert all(min_steps <= count <= max_steps for count in per_run.values())
    starts = [e for e in stream if e["event"] == "thread.run.created"]
    assert len(starts) == runs


@given(event_streams(quirks=True))
def test_quirks_give_steps_the_shape_of_real_captures(stream: EventStream) -> None:
    """``expires_at`` instead of ``expired_at`` (beside it once expired), no metadata."""
    for events in step_events(stream).values():
        for _, kind, data in events:
            if kind == "delta":
                continue
            assert "metadata" not in data
            assert "expires_at" in data
            assert ("expired_at" in data) == (kind == "expired")


@given(event_streams(quirks=False))
def test_without_quirks_steps_have_the_spec_form(stream: EventStream) -> None:
    """The 16 fields of the spec, and no other."""
    for events in step_events(stream).values():
        for _, kind, data in events:
            if kind != "delta":
                assert len(data) == 16
                assert "expires_at" not in data


@given(event_streams(deltas=False, run_events=False))
def test_deltas_and_run_events_can_be_left_out(stream: EventStream) -> None:
    """Only step snapshots remain."""
    kinds = {event["event"][len(STEP) :] for event in stream}
    assert kinds <= {"created", "in_progress", *TERMINAL}


def test_the_smallest_stream_is_one_short_step() -> None:
    """Shrinking ends at one message step: created, in_progress, completed."""
    stream = find(event_streams(run_events=False), lambda s: True, settings=SHRUNK)
    assert [e["event"] for e in stream] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.completed",
    ]
    assert stream[0]["data"]["id"] == "step_1"
    assert stream[0]["data"]["metadata"] is None


def test_the_smallest_full_stream_is_readable() -> None:
    """With its run around it, the smallest stream still fits on a screen."""
    stream = find(event_streams(), lambda s: True, settings=SHRUNK)
    assert [e["event"] for e in stream] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]


TOOL_STEPS: tuple[StepType, ...] = ("tool_calls",)


def test_a_counterexample_shrinks_to_the_step_that_matters() -> None:
    """A consumer that assumes arguments come in one delta fails on a six-event stream."""

    def arguments_in_pieces(stream: EventStream) -> bool:
        pieces: dict[str, int] = defaultdict(int)
        for event in stream:
            if event["event"] != STEP + "delta":
                continue
            for entry in event["data"]["delta"]["step_details"].get("tool_calls", []):
                if entry.get("function", {}).get("arguments"):
                    pieces[event["data"]["id"]] += 1
        return any(count > 1 for count in pieces.values())

    stream = find(
        # Tool-call steps only: with message steps drawn too, a search of 100 examples
        # sometimes met no function call split in pieces at all.
        event_streams(run_events=False, max_runs=2, interleave=True, types=TOOL_STEPS),
        arguments_in_pieces,
        settings=SHRUNK,
    )
    assert [e["event"][len(STEP) :] for e in stream] == [
        "created",
        "in_progress",
        "delta",  # the call: id, name, empty arguments
        "delta",  # "{"
        "delta",  # "}"
        "completed",
    ]


def test_steps_can_interleave() -> None:
    """With ``interleave``, a step's events can come between another step's."""

    def interleaved(stream: EventStream) -> bool:
        order = [e["data"]["id"] for e in stream if e["event"].startswith(STEP)]
        return any(a == c != b for a, b, c in zip(order, order[1:], order[2:], strict=False))

    find(event_streams(min_steps=2, interleave=True), interleaved, settings=EXISTS)


def test_function_calls_pause_for_their_outputs() -> None:
    """A stream may stop at ``requires_action``; the next opens with the step's end."""
    stream = find(
        event_streams(types=["tool_calls"]),
        lambda s: any(e["event"] == "thread.run.requires_action" for e in s),
        settings=SHRUNK,
    )
    names = [e["event"] for e in stream]
    pause = names.index("thread.run.requires_action")
    assert names[pause + 1 : pause + 5] == [
        "done",
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    calls = stream[pause + 2]["data"]["step_details"]["tool_calls"]
    assert any(
        call["type"] == "function" and call["function"]["output"] is not None for call in calls
    )
    assert replay(stream).findings == []


@pytest.mark.parametrize("ending", RUN_ENDINGS)
def test_every_run_ending_is_drawn(ending: str) -> None:
    """``run_statuses`` picks how runs end; each ending validates clean."""
    stream = find(
        event_streams(run_statuses=[ending]),
        lambda s: any(e["event"] == RUN + ending for e in s),
        settings=SHRUNK,
    )
    assert replay(stream, tracker=Tracker(strict=True)).run_statuses == {ending: 1}


def test_steps_may_end_while_their_run_is_cancelling() -> None:
    """The cancel request comes once the last step was created; steps end after it."""
    stream = find(
        event_streams(run_statuses=["cancelled"]),
        lambda s: any(
            e["event"].startswith(STEP)
            for e in s[[x["event"] for x in s].index(RUN + "cancelling") :]
        ),
        settings=EXISTS,
    )
    assert replay(stream).findings == []


def test_a_run_may_expire_before_its_open_steps() -> None:
    """An expired run's open steps end expired after it: the expiry is propagated."""
    stream = find(
        event_streams(statuses=["expired"], run_statuses=["expired"]),
        lambda s: [e["event"] for e in s][-3:-1] == [RUN + "expired", STEP + "expired"],
        settings=SHRUNK,
    )
    assert replay(stream).findings == []
    assert [e["event"] for e in stream][-3:] == [RUN + "expired", STEP + "expired", "done"]


def test_several_runs_interleave() -> None:
    """With ``interleave``, the events of two runs can alternate."""

    def alternating(stream: EventStream) -> bool:
        runs = [e["data"]["id"] for e in stream if e["event"] in (RUN + "created", RUN + "queued")]
        return any(a == c != b for a, b, c in zip(runs, runs[1:], runs[2:], strict=False))

    stream = find(
        event_streams(min_runs=2, max_runs=2, interleave=True), alternating, settings=EXISTS
    )
    assert replay(stream).findings == []


def test_function_outputs_only_show_in_the_final_snapshot() -> None:
    """While the step is in progress no output is shown; completed, it is."""
    stream = find(
        event_streams(types=["tool_calls"], statuses=["completed"], run_events=False),
        lambda s: any(c["type"] == "function" for c in s[-1]["data"]["step_details"]["tool_calls"]),
        settings=SHRUNK,
    )
    for event in stream:
        details = event["data"].get("step_details") or event["data"]["delta"]["step_details"]
        for call in details["tool_calls"]:
            if call["type"] == "function" and "output" in call["function"]:
                shown = call["function"]["output"] is not None
                assert shown == (event["event"] == STEP + "completed")


@pytest.mark.parametrize(
    "arguments",
    [
        {"min_steps": -1},
        {"min_steps": 3, "max_steps": 2},
        {"max_steps": 1.5},
        {"min_runs": 0},
        {"types": ["function"]},
        {"types": []},
        {"statuses": ["in_progress"]},
        {"statuses": "done"},
        {"run_statuses": ["queued"]},
        {"run_statuses": []},
        {"run_statuses": 3},
        {"interleave": 1},
        {"dangling": None},
        {"deltas": "yes"},
        {"run_events": 0},
        {"quirks": "sometimes"},
    ],
)
def test_bad_arguments_are_refused_at_once(arguments: dict[str, Any]) -> None:
    """Arguments are checked when the strategy is made."""
    with pytest.raises(InvalidArgument):
        event_streams(**arguments)


def test_renderings_have_the_documented_form() -> None:
    """JSONL: one object per line; SSE: event, data, blank line; ``done`` as ``[DONE]``."""
    stream: EventStream = [
        {"event": "thread.run.step.delta", "data": {"id": "step_1", "é": "ü"}},
        {"event": "done", "data": "[DONE]"},
    ]
    assert (
        to_jsonl(stream)
        == (
            '{"event":"thread.run.step.delta","data":{"id":"step_1","é":"ü"}}\n'
            '{"event":"done","data":"[DONE]"}\n'
        ).encode()
    )
    assert to_sse(stream) == (
        'event: thread.run.step.delta\ndata: {"id":"step_1","é":"ü"}\n\n'
        "event: done\ndata: [DONE]\n\n"
    )
