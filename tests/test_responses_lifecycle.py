"""The response's and the output item's machines: definitions on the engine, drivers on top."""

from __future__ import annotations

import warnings

import pytest

from steplife import IllegalTransitionError, InvalidRecordError, SteplifeWarning
from steplife._machine import Engine
from steplife.model import IncompleteDetails
from steplife.responses import (
    MessageItem,
    ReasoningItem,
    ResponseError,
    ResponseLifecycle,
    ResponseUsage,
    ToolCallItem,
)
from steplife.responses._lifecycle import (
    ITEM_LIFECYCLE,
    ITEM_MOVES,
    RESPONSE_LIFECYCLE,
    RESPONSE_MOVES,
    item_trigger_between,
    response_trigger_between,
)
from steplife.responses._model import ITEM_STATUSES, RESPONSE_STATUSES

CLOCK = 1_700_000_000


def life() -> ResponseLifecycle:
    return ResponseLifecycle(clock=lambda: CLOCK)


@pytest.mark.parametrize(
    "definition", [RESPONSE_LIFECYCLE, ITEM_LIFECYCLE], ids=["response", "item"]
)
def test_the_moves_table_is_the_machine_s_for_every_status_and_trigger(definition: object) -> None:
    """Fire every trigger from every status on a fresh record: the table agrees."""
    engine = Engine(definition)  # type: ignore[arg-type]

    class Record:
        id = "r"
        status = ""

    for status in engine.definition.statuses:
        for trigger, fire in engine.fires.items():
            record = Record()
            record.status = status
            try:
                fire(record) if engine.definition.entity == "item" else fire(record, _payload())
            except Exception:
                assert (status, trigger) not in engine.moves
            else:
                assert engine.moves[status, trigger] == record.status


def _payload() -> object:
    from steplife.responses._lifecycle import _Payload

    return _Payload(at=CLOCK)


def test_terminal_statuses_absorb() -> None:
    for status in ("completed", "failed", "cancelled", "incomplete"):
        assert not [t for (s, t) in RESPONSE_MOVES if s == status]
    for status in ("completed", "incomplete", "failed"):
        assert not [t for (s, t) in ITEM_MOVES if s == status]


def test_triggers_between_statuses() -> None:
    assert "start" == response_trigger_between("queued", "in_progress")
    assert response_trigger_between("in_progress", "queued") is None
    assert "search" == item_trigger_between("in_progress", "searching")
    assert "complete" == item_trigger_between("interpreting", "completed")
    assert item_trigger_between("searching", "interpreting") is None
    assert set(RESPONSE_STATUSES) == set(RESPONSE_LIFECYCLE.statuses)
    assert set(ITEM_STATUSES) == set(ITEM_LIFECYCLE.statuses)


def test_a_background_response_is_queued_then_started() -> None:
    lifecycle = life()
    response = lifecycle.create(id="resp_1", background=True)
    assert ("queued", CLOCK) == (response.status, response.created_at)
    lifecycle.start(response)
    assert "in_progress" == response.status


def test_a_response_completes_with_its_items_done() -> None:
    lifecycle = life()
    response = lifecycle.create(id="resp_1")
    message = lifecycle.add_item(response, MessageItem(id="msg_1", status="in_progress"))
    lifecycle.add_item(response, ReasoningItem(id="rs_1"))
    search = lifecycle.add_item(
        response, ToolCallItem(id="ws_1", type="web_search_call", status="in_progress")
    )
    lifecycle.fire_item(response, search, "search")
    lifecycle.fire_item(response, search, "complete")
    lifecycle.fire_item(response, message, "complete")
    lifecycle.complete(response, usage=ResponseUsage.of(3, 4), at=CLOCK + 1)
    assert ("completed", CLOCK + 1) == (response.status, response.completed_at)
    assert ["completed", None, "completed"] == [item.status for item in response.output]


def test_completing_with_an_open_item_is_refused_and_changes_nothing() -> None:
    lifecycle = life()
    response = lifecycle.create(id="resp_1")
    lifecycle.add_item(response, MessageItem(id="msg_1", status="in_progress"))
    with pytest.raises(InvalidRecordError, match="response-finished-with-open-items"):
        lifecycle.complete(response, usage=ResponseUsage.of(1, 1))
    assert ("in_progress", None, None) == (response.status, response.completed_at, response.usage)


def test_a_refused_trigger_raises_illegal_transition() -> None:
    lifecycle = life()
    response = lifecycle.create(id="resp_1")
    with pytest.raises(IllegalTransitionError, match="cannot start from status 'in_progress'"):
        lifecycle.start(response)
    with pytest.raises(IllegalTransitionError):
        lifecycle.fire(response, "explode")
    lifecycle.cancel(response)
    with pytest.raises(IllegalTransitionError, match="terminal"):
        lifecycle.add_item(response, MessageItem(id="m"))


def test_fail_and_mark_incomplete_carry_their_payloads() -> None:
    lifecycle = life()
    failed = lifecycle.fail(
        lifecycle.create(id="r1"), error=ResponseError(code="server_error", message="x")
    )
    assert "server_error" == (failed.error.code if failed.error else None)
    incomplete = lifecycle.mark_incomplete(
        lifecycle.create(id="r2"), incomplete_details=IncompleteDetails(reason="max_output_tokens")
    )
    assert "incomplete" == incomplete.status


def test_a_failed_response_without_error_warns() -> None:
    with pytest.warns(SteplifeWarning, match="response-failure-without-error"):
        life().fail(life().create(id="r"), error=None)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidRecordError):
        life().create(id=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecordError):
        life().complete(life().create(id="r"), usage={"input_tokens": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidRecordError, match="stamp"):
        life().complete(life().create(id="r"), usage=None, at=1.5)  # type: ignore[arg-type]


def test_items_move_by_their_machine_and_their_type() -> None:
    lifecycle = life()
    response = lifecycle.create(id="resp_1")
    message = lifecycle.add_item(response, MessageItem(id="m", status="in_progress"))
    with pytest.raises(InvalidRecordError, match="item-status-type"):
        lifecycle.fire_item(response, message, "search")  # a message never searches
    assert "in_progress" == message.status
    reasoning = lifecycle.add_item(response, ReasoningItem(id="rs"))
    with pytest.raises(IllegalTransitionError):
        lifecycle.fire_item(response, reasoning, "complete")  # no status: nothing to move
    with pytest.raises(InvalidRecordError, match="not in response"):
        lifecycle.fire_item(response, MessageItem(id="other", status="in_progress"), "complete")
    with pytest.raises(InvalidRecordError, match="status-mismatch"):
        lifecycle.add_item(response, MessageItem(id="m2", status="completed"))
    lifecycle.fire_item(response, message, "complete")
    with pytest.raises(IllegalTransitionError):
        lifecycle.fire_item(response, message, "fail")


def test_an_undocumented_item_warns_when_added() -> None:
    from steplife.responses import UnknownItem

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        life().add_item(life().create(id="r"), UnknownItem(id="h", type="hologram"))
    assert ["unknown-value"] == [w.message.finding.rule for w in caught]  # type: ignore[union-attr]


def test_repr() -> None:
    assert repr(life()).startswith("ResponseLifecycle(clock=")
