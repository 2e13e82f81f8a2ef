"""The ResponseTracker: each stream rule of the Responses API, broken once, is reported alone."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import pytest

from responses_streams import (
    RESPONSE_ID,
    Event,
    function_call,
    message,
    number,
    reasoning,
    renumber,
    replay,
    response,
    rules_of,
    stream,
    web_search,
)
from steplife import CATALOGUE, Rules, StreamError
from steplife import Event as StreamEvent
from steplife.responses import ResponseTracker

E, W = "error", "warning"


def index_of(events: list[Event], name: str, nth: int = 0) -> int:
    return [i for i, (n, _) in enumerate(events) if n == name][nth]


def drop(
    name: str, nth: int = 0, *, keep_numbers: bool = False
) -> Callable[[list[Event]], list[Event]]:
    def mutate(events: list[Event]) -> list[Event]:
        i = index_of(events, name, nth)
        left = events[:i] + events[i + 1 :]
        return left if keep_numbers else renumber(left)

    return mutate


def insert_after(name: str, event: Event, nth: int = 0) -> Callable[[list[Event]], list[Event]]:
    def mutate(events: list[Event]) -> list[Event]:
        i = index_of(events, name, nth)
        return renumber([*events[: i + 1], event, *events[i + 1 :]])

    return mutate


def edit(
    name: str, change: Callable[[dict[str, Any]], None], nth: int = 0
) -> Callable[[list[Event]], list[Event]]:
    def mutate(events: list[Event]) -> list[Event]:
        events = copy.deepcopy(events)
        change(events[index_of(events, name, nth)][1])
        return events

    return mutate


def at(**values: Any) -> dict[str, Any]:
    return values


DELTA: Final = "response.output_text.delta"
ADDED: Final = "response.output_item.added"
DONE: Final = "response.output_item.done"
COMPLETED: Final = "response.completed"


def completed_output(
    change: Callable[[list[dict[str, Any]]], None],
) -> Callable[[list[Event]], list[Event]]:
    return edit(COMPLETED, lambda data: change(data["response"]["output"]))


CASES: Final[
    list[tuple[str, list[Event], Callable[[list[Event]], list[Event]], list[tuple[str, str]]]]
] = [
    ("a lost delta leaves a gap", stream(), drop(DELTA, keep_numbers=True), [("sequence-gap", E)]),
    (
        "a delta sent twice",
        stream(),
        lambda events: [*events[:5], events[4], *events[5:]],
        [("sequence-repeated", E)],
    ),
    (
        "one event without its number",
        stream(),
        edit(DELTA, lambda data: data.pop("sequence_number")),
        [("sequence-missing", E)],
    ),
    (
        "a created not numbered 0",
        stream(),
        lambda events: number(events, start=3),
        [("sequence-gap", E)],
    ),
    (
        "the event line and data.type disagree",
        stream(),
        lambda events: [
            (n if i != 4 else "response.output_text.done", d) for i, (n, d) in enumerate(events)
        ],
        [("event-type-mismatch", E)],
    ),
    (
        "a delta for an index never added",
        stream(),
        edit(DELTA, lambda data: data.update(output_index=7)),
        [("unknown-item", E)],
    ),
    (
        "a .done for an index never added",
        stream(),
        lambda events: renumber(
            [*events[:-1], (DONE, {"output_index": 3, "item": message(3, "completed")}), events[-1]]
        ),
        [("unknown-item", E)],
    ),
    (
        "a text delta on a function call",
        stream([function_call()]),
        insert_after(
            "response.function_call_arguments.delta",
            (
                DELTA,
                {
                    "item_id": "fc_0",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": "x",
                    "logprobs": [],
                },
            ),
        ),
        [("item-type-mismatch", E)],
    ),
    (
        "a delta naming another item",
        stream(),
        edit(DELTA, lambda data: data.update(item_id="msg_other")),
        [("item-index-mismatch", E)],
    ),
    (
        "an item added at an index out of order",
        stream([reasoning(0), message(1)]),
        lambda events: [
            (n, {**d, "output_index": 2} if d.get("output_index") == 1 else d) for n, d in events
        ],
        [("item-index-mismatch", E)] * 3,
    ),
    (
        "the final output holds another type where an item was added",
        stream(),
        completed_output(lambda output: output.__setitem__(0, reasoning(0))),
        [("item-index-mismatch", E)],
    ),
    (
        "the final output holds an item never streamed",
        stream(),
        completed_output(lambda output: output.append(message(1, "completed"))),
        [("item-index-mismatch", E)],
    ),
    (
        "the final output renames an item",
        stream(),
        completed_output(lambda output: output[0].update(id="msg_final")),
        [("snapshot-diverged", W)],
    ),
    (
        "an MCP tool list closed by its own event alone",
        stream(),
        lambda events: renumber(
            [
                *events[:2],
                (
                    ADDED,
                    {
                        "output_index": 0,
                        "item": {
                            "id": "mcpl_0",
                            "type": "mcp_list_tools",
                            "server_label": "s",
                            "tools": [],
                        },
                    },
                ),
                ("response.mcp_list_tools.in_progress", {"item_id": "mcpl_0", "output_index": 0}),
                ("response.mcp_list_tools.completed", {"item_id": "mcpl_0", "output_index": 0}),
                *[
                    (n, {**d, "output_index": 1} if "output_index" in d else d)
                    for n, d in events[2:-1]
                ],
                (
                    COMPLETED,
                    {
                        "response": response(
                            "completed",
                            output=[
                                {
                                    "id": "mcpl_0",
                                    "type": "mcp_list_tools",
                                    "server_label": "s",
                                    "tools": [],
                                },
                                events[-2][1]["item"],
                            ],
                        )
                    },
                ),
            ]
        ),
        [("item-done-missing", W)],
    ),
    (
        "a stream cut before its end",
        stream(),
        lambda events: events[:-1],
        [("dangling-response", W)],
    ),
    (
        "a response that completes with its item open",
        stream(),
        drop(DONE),
        [("response-finished-with-open-items", E)],
    ),
    (
        "an event after the response ended",
        stream(),
        lambda events: renumber([*events, events[4]]),
        [("after-terminal", E)],
    ),
    (
        "a delta after its item's done",
        stream(),
        lambda events: renumber([*events[:-1], events[4], events[-1]]),
        [("after-terminal", E)],
    ),
    (
        "response.completed carrying in_progress",
        stream(),
        edit(
            COMPLETED,
            lambda data: data["response"].update(
                status="in_progress", completed_at=None, usage=None
            ),
        ),
        [("status-mismatch", E), ("dangling-response", W)],
    ),
    (
        "an item added already completed",
        stream(),
        edit(ADDED, lambda data: data["item"].update(status="completed")),
        [("status-mismatch", E)],
    ),
    (
        "an item done still in progress",
        stream(),
        edit(DONE, lambda data: data["item"].update(status="in_progress")),
        [("status-mismatch", E)],
    ),
    (
        "a response going back to queued",
        stream(),
        insert_after("response.in_progress", ("response.queued", {"response": response("queued")})),
        [("illegal-transition", E)],
    ),
    (
        "a web search that searches after it completed",
        stream([web_search()]),
        lambda events: renumber([*events[:6], events[4], *events[6:]]),
        [("illegal-transition", E)],
    ),
    (
        "response.created twice",
        stream(),
        lambda events: renumber([events[0], (events[0][0], {"response": response()}), *events[1:]]),
        [("duplicate-created", E)],
    ),
    (
        "an index added twice",
        stream(),
        lambda events: renumber([*events[:3], events[2], *events[3:]]),
        [("duplicate-created", E)],
    ),
    (
        "created_at changes",
        stream(),
        edit("response.in_progress", lambda data: data["response"].update(created_at=1)),
        [("identity-changed", E)],
    ),
    (
        "an item done as another type",
        stream(),
        edit(DONE, lambda data: data.update(item=reasoning(0))),
        [("identity-changed", E), ("item-index-mismatch", E)],
    ),
    (
        "a payload that is no response",
        stream(),
        edit("response.in_progress", lambda data: data["response"].update(created_at="yesterday")),
        [("malformed-event", E)],
    ),
    (
        "a misspelt event",
        stream(),
        lambda events: renumber([*events[:2], ("response.output_itme.added", {}), *events[2:]]),
        [("unknown-event", W)],
    ),
    (
        "an undocumented item type",
        stream(),
        lambda events: edit(ADDED, lambda data: data["item"].update(type="hologram"))(
            edit(DONE, lambda data: data["item"].update(type="hologram"))(
                completed_output(lambda output: output[0].update(type="hologram"))(events)
            )
        ),
        [("unknown-value", W), ("unknown-value", W)],
    ),
    (
        "an item of a documented type changing type",
        stream(),
        edit(ADDED, lambda data: data["item"].update(type="hologram")),
        [("unknown-value", W), ("identity-changed", E)],
    ),
    (
        "a message searching",
        stream(),
        edit(DONE, lambda data: data["item"].update(status="searching")),
        [("status-mismatch", E), ("item-status-type", E)],
    ),
    (
        "usage on an in-progress response",
        stream(),
        edit(
            "response.in_progress",
            lambda data: data["response"].update(
                usage={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
            ),
        ),
        [("response-usage-before-terminal", E)],
    ),
]


@pytest.mark.parametrize(
    ("clean", "mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_broken_stream_gives_exactly_its_findings(
    clean: list[Event],
    mutate: Callable[[list[Event]], list[Event]],
    expected: list[tuple[str, str]],
) -> None:
    """The clean stream gives nothing; the broken one exactly the findings listed."""
    assert [] == rules_of(replay(clean))
    assert expected == rules_of(replay(mutate(clean)))


def test_the_examples_cover_every_response_stream_rule() -> None:
    """A new response_stream rule in the catalogue needs an example in CASES."""
    stream_rules = {code for code, rule in CATALOGUE.items() if rule.scope == "response_stream"}
    found = {rule for case in CASES for rule, _ in case[3]}
    assert stream_rules <= found


@pytest.mark.parametrize(
    "items",
    [
        [message()],
        [reasoning(0), function_call(1)],
        [web_search(0), message(1)],
        [reasoning(0), message(1), function_call(2)],
    ],
)
@pytest.mark.parametrize("background", [False, True])
def test_clean_streams_give_no_finding(items: list[dict[str, Any]], background: bool) -> None:
    """Reasoning without status, tool statuses, background mode: nothing to report."""
    tracker = replay(stream(items, background=background))
    assert [] == tracker.findings
    assert {"completed": 1} == dict(tracker.response_statuses)
    assert len(items) == sum(tracker.item_statuses.values())
    assert [] == tracker.open_items


def test_a_stream_without_numbers_is_clean_as_early_2025_captures_are() -> None:
    """Before May 2025 no event carried sequence_number: nothing is required then."""
    assert [] == replay(stream(numbered=False)).findings


def test_a_numbered_event_in_an_unnumbered_stream_is_sequence_missing() -> None:
    events = stream(numbered=False)
    events[3][1]["sequence_number"] = 3
    assert [("sequence-missing", E)] == rules_of(replay(events))


def test_a_resumed_stream_may_begin_mid_way() -> None:
    """starting_after=N: the stream begins at N+1, without response.created."""
    events = stream(background=True)
    assert [] == replay(events[3:]).findings
    assert [] == replay(events[1:]).findings


def test_a_resumed_stream_begun_inside_an_item_adopts_it() -> None:
    """A resumption inside an item: the item opened before it began, nothing is unknown."""
    events = stream()
    assert [] == rules_of(replay(events[5:]))


def test_resume_continues_the_numbering_and_skips_what_was_applied() -> None:
    """The client resumes after the last number it read: replayed events are not re-applied."""
    events = stream(background=True)
    tracker = ResponseTracker()
    for name, data in events[:8]:
        tracker.feed(name, data)
    tracker.resume(starting_after=5)
    for name, data in events[6:]:
        tracker.feed(name, data)
    tracker.finish()
    assert [] == tracker.findings
    assert "completed" == tracker.status_of(RESPONSE_ID)


def test_resume_that_skips_events_is_a_gap() -> None:
    events = stream()
    tracker = ResponseTracker()
    for name, data in events[:5]:
        tracker.feed(name, data)
    tracker.resume(starting_after=4)
    for name, data in events[6:]:
        tracker.feed(name, data)
    assert [("sequence-gap", E)] == rules_of(tracker)


def test_resume_refuses_a_bad_number() -> None:
    with pytest.raises(ValueError, match="starting_after"):
        ResponseTracker().resume(starting_after=-2)


def test_the_same_stream_fed_twice_repeats_every_number() -> None:
    """Two captures of one response, fed to one tracker: the second repeats the first."""
    events = stream()
    tracker = ResponseTracker()
    for name, data in events[:3] + events[1:3]:
        tracker.feed(name, data)
    assert [("sequence-repeated", E), ("sequence-repeated", E)] == rules_of(tracker)


def test_two_responses_one_after_the_other_are_each_numbered_from_zero() -> None:
    second = [
        (
            name,
            {**data, "response": {**data["response"], "id": "resp_2"}}
            if "response" in data
            else data,
        )
        for name, data in stream([function_call()])
    ]
    tracker = replay(stream() + second)
    assert [] == tracker.findings
    assert {"completed": 2} == dict(tracker.response_statuses)


def test_an_error_event_then_failed_is_clean() -> None:
    """The real shape: an `error` event, numbered, then response.failed with its error."""
    events = number(
        [
            ("response.created", {"response": response()}),
            ("response.in_progress", {"response": response()}),
            (
                "error",
                {
                    "error": {
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                        "message": "quota",
                        "param": None,
                    }
                },
            ),
            ("response.failed", {"response": response("failed")}),
        ]
    )
    tracker = replay(events)
    assert [] == tracker.findings
    assert "failed" == tracker.status_of(RESPONSE_ID)


def test_a_computer_call_left_in_progress_is_not_an_open_item() -> None:
    """It waits for the client's action, as the live capture shows."""
    call = {
        "id": "cu_0",
        "type": "computer_call",
        "status": "in_progress",
        "call_id": "c",
        "action": {"type": "screenshot"},
    }
    events = number(
        [
            ("response.created", {"response": response()}),
            ("response.in_progress", {"response": response()}),
            (ADDED, {"output_index": 0, "item": call}),
            (DONE, {"output_index": 0, "item": call}),
            (COMPLETED, {"response": response("completed", output=[call])}),
        ]
    )
    assert [] == replay(events).findings


def test_strict_mode_raises_at_the_first_error_and_changes_nothing() -> None:
    events = stream()
    broken = renumber([*events, events[4]])
    tracker = ResponseTracker(strict=True)
    for name, data in broken[:-1]:
        tracker.feed(name, data)
    events_before = tracker.events
    with pytest.raises(StreamError) as raised:
        tracker.feed(*broken[-1])
    assert "after-terminal" == raised.value.finding.rule
    assert events_before == tracker.events


def test_require_terminal_makes_a_dangling_response_an_error() -> None:
    tracker = replay(stream()[:-1], ResponseTracker(require_terminal=True))
    assert [("dangling-response", E)] == rules_of(tracker)


def test_rules_tune_the_responses_rules_too() -> None:
    rules = Rules(ignore={"sequence-gap"}, severity={"dangling-response": "error"})
    events = stream()
    broken = events[:3] + events[4:-1]
    assert [("dangling-response", E)] == rules_of(replay(broken, ResponseTracker(rules=rules)))


def test_findings_name_the_response_in_run_id_and_the_item_in_step_id() -> None:
    tracker = replay(drop(DONE)(stream()))
    [finding] = tracker.findings
    assert (RESPONSE_ID, "msg_0") == (finding.run_id, finding.step_id)


def test_feed_takes_every_event_shape() -> None:
    """(name, data), a bare typed mapping, {"event", "data"}, a steplife Event, an SDK model."""
    from openai._models import construct_type
    from openai.types.responses import ResponseStreamEvent

    events = stream()
    shapes: list[object] = [
        events[0],
        dict(events[1][1]),
        {"event": events[2][0], "data": events[2][1]},
        StreamEvent(events[3][0], events[3][1], None, 4, 4),
        # As the SDK builds its events: without validation, from the JSON it read.
        *[construct_type(type_=ResponseStreamEvent, value=data) for _, data in events[4:]],
    ]
    tracker = ResponseTracker().consume(shapes)
    tracker.finish()
    assert [] == tracker.findings
    assert len(events) == tracker.events


def test_aconsume_takes_an_async_stream() -> None:
    async def events() -> AsyncIterator[Event]:
        for event in stream():
            yield event

    tracker = asyncio.run(ResponseTracker().aconsume(events()))
    assert "completed" == tracker.status_of(RESPONSE_ID)


def test_feed_refuses_what_is_no_event() -> None:
    with pytest.raises(TypeError, match="not an event"):
        ResponseTracker().feed(3)
    with pytest.raises(TypeError, match="name must be a string"):
        ResponseTracker().feed(3, {})


def test_the_tracker_keeps_each_response_and_its_items() -> None:
    tracker = replay(stream([reasoning(0), message(1)]))
    assert ["reasoning", "message"] == [item.type for item in tracker.items(RESPONSE_ID)]
    assert "completed" == tracker.responses[RESPONSE_ID].status
    assert {2: 1} == dict(tracker.items_per_response)


def test_a_done_sentinel_and_non_object_data() -> None:
    tracker = ResponseTracker()
    assert [] == tracker.feed("", "[DONE]")
    assert [("malformed-event", E)] == [
        (f.rule, f.severity.value) for f in tracker.feed("response.created", [1])
    ]


def test_an_empty_input_is_an_empty_stream() -> None:
    assert [("empty-stream", W)] == rules_of(replay([]))


def test_polled_snapshots_are_judged_as_the_events_they_imply() -> None:
    """queued then completed passed through in_progress; a finished one polled again is fine."""
    done = response("completed", background=True, output=[message(0, "completed")])
    tracker = ResponseTracker()
    for snapshot in (response("queued", background=True), done, done):
        tracker.poll(snapshot)
    assert [] == tracker.findings
    assert [] == rules_of(tracker)
    tracker.poll(response("in_progress", background=True))
    assert [("after-terminal", E)] == rules_of(tracker)


def test_polled_snapshots_that_go_back_are_illegal() -> None:
    tracker = ResponseTracker()
    tracker.poll(response("in_progress"))
    tracker.poll(response("queued"))
    tracker.poll(response("in_progress", created_at=1))
    tracker.poll({"id": "resp_x", "created_at": "x"})
    assert [
        ("illegal-transition", E),
        ("identity-changed", E),
        *[("malformed-event", E)] * 4,  # object, created_at, status, output
    ] == rules_of(tracker)


def test_a_polled_snapshot_is_checked_with_its_items() -> None:
    tracker = ResponseTracker()
    tracker.poll(response("completed", output=[message(0, "in_progress")]))
    assert [("response-finished-with-open-items", E)] == rules_of(tracker)


@pytest.mark.parametrize("value", [[1], {"a": 1}, True, 1.5, None, "x", -1])
@pytest.mark.parametrize("field", ["output_index", "item_id", "sequence_number", "type"])
def test_hostile_values_are_findings_never_crashes(field: str, value: Any) -> None:
    """Whatever a field holds, every event of the stream is fed without an exception."""
    for at in range(len(stream())):
        events = copy.deepcopy(stream())
        events[at][1][field] = value
        replay(events)
