"""Responses and output items, JSON both ways: nothing read is lost, bad input is explained."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest

from responses_streams import function_call, message, reasoning, response, web_search
from steplife import InvalidRecordError, Severity
from steplife.responses import (
    FunctionCallItem,
    MessageItem,
    ReasoningItem,
    Response,
    ResponseUsage,
    ToolCallItem,
    from_dict,
    from_json,
    parse,
    to_dict,
    to_json,
)
from steplife.responses._model import ITEM_TYPE_STATUSES, RESPONSE_STATUSES, TOOL_CALL_TYPES
from steplife.responses._wire import RESPONSE_KEYS, make_converter, structure_item


@pytest.mark.parametrize(
    "item",
    [
        message(0, "completed"),
        function_call(0, "completed"),
        reasoning(0),
        web_search(0, "completed"),
    ],
)
def test_a_response_round_trips_with_every_key(item: dict[str, Any]) -> None:
    """Unknown keys (model, tools, an item's content or action) are written back as read."""
    body = response("completed", output=[item])
    assert body == to_dict(from_dict(body))
    assert body == orjson.loads(to_json(from_json(orjson.dumps(body))))


def test_items_load_as_their_records() -> None:
    record = from_dict(
        response(
            "completed",
            output=[
                message(0, "completed"),
                function_call(1, "completed"),
                reasoning(2),
                web_search(3, "completed"),
            ],
        )
    )
    assert [MessageItem, FunctionCallItem, ReasoningItem, ToolCallItem] == [
        type(i) for i in record.output
    ]
    assert "call_1" == typing.cast(FunctionCallItem, record.output[1]).call_id


def test_a_reasoning_item_without_status_writes_none() -> None:
    """The API sends no status on reasoning items: none is written back."""
    assert "status" not in to_dict(ReasoningItem(id="rs_1"))
    assert "id" not in to_dict(FunctionCallItem(call_id="c", name="f", arguments="{}"))


def test_a_missing_background_reads_as_null_and_is_written_as_null() -> None:
    """steplife's convention for every record: a modelled key is always written."""
    body = response()
    del body["background"]
    record = from_dict(body)
    assert record.background is None
    assert to_dict(record)["background"] is None


def test_bad_input_is_reported_with_json_paths() -> None:
    body = response(background="yes", output=[{"type": "message", "id": 3, "role": "assistant"}])
    body["status"] = "paused"
    parsed = parse(body)
    assert parsed.record is None
    assert [
        "status: 'paused' is not one of 'queued', 'in_progress', 'completed', 'failed', "
        "'cancelled', 'incomplete'",
        "background: expected a boolean, got a string",
        "output[0].id: expected a string, got a number",
    ] == [f.message for f in parsed.findings]
    with pytest.raises(InvalidRecordError):
        from_dict(body)


def test_a_status_outside_every_item_status_is_a_schema_error() -> None:
    found = structure_item({"id": "m", "type": "message", "status": "paused", "role": "assistant"})
    assert isinstance(found, list)
    assert ["status"] == [f.path for f in found]


def test_parse_strict_reports_undocumented_response_keys_only() -> None:
    body = response("completed", output=[message(0, "completed")], surprise=1)
    parsed = parse(body, strict=True)
    assert [("unknown-key", Severity.ERROR, "surprise: unknown key")] == [
        (f.rule, f.severity, f.message) for f in parsed.findings
    ]
    assert () == parse(body).findings


def test_parse_refuses_what_json_cannot_carry() -> None:
    assert parse(b"{not json").record is None
    assert parse(response(created_at=2**70)).record is None


def test_to_json_refuses_what_json_cannot_carry() -> None:
    record = Response(id="r", created_at=1, extra={"x": "\ud800"})
    with pytest.raises(InvalidRecordError, match="cannot be written"):
        to_json(record)


def test_usage_of_sums_its_parts() -> None:
    assert ResponseUsage(input_tokens=2, output_tokens=3, total_tokens=5) == ResponseUsage.of(2, 3)


def test_make_converter_gives_a_fresh_converter() -> None:
    converter = make_converter(detailed=True)
    assert converter.structure(reasoning(0), ReasoningItem) == ReasoningItem(
        id="rs_0", extra={"summary": []}
    )


def test_the_item_types_and_statuses_are_the_sdk_s() -> None:
    """The documented item types and their statuses follow openai's ResponseOutputItem."""
    from openai.types.responses import ResponseOutputItem

    union = typing.get_args(ResponseOutputItem)[0]
    sdk: dict[str, frozenset[str] | None] = {}
    for model in typing.get_args(union):
        fields = model.model_fields
        (tag,) = typing.get_args(fields["type"].annotation)
        status = fields.get("status")
        if status is None:
            sdk[tag] = None
            continue
        annotation = status.annotation
        literal = (
            next(a for a in typing.get_args(annotation) if a is not type(None))
            if typing.get_origin(annotation) is typing.Union
            else annotation
        )
        sdk[tag] = frozenset(typing.get_args(literal))
    assert set(sdk) == {"message", "function_call", "reasoning", *TOOL_CALL_TYPES}
    for tag, statuses in sdk.items():
        if statuses is not None:
            assert statuses == ITEM_TYPE_STATUSES[tag], tag


def test_the_response_statuses_and_keys_are_the_sdk_s() -> None:
    from openai.types.responses import Response as SDKResponse

    annotation = SDKResponse.model_fields["status"].annotation
    literal = next(a for a in typing.get_args(annotation) if a is not type(None))
    assert set(typing.get_args(literal)) == set(RESPONSE_STATUSES)
    assert set(SDKResponse.model_fields) <= RESPONSE_KEYS
