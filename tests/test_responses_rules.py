"""The Responses rules of one snapshot: each has a clean and a broken example, exactly."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import pytest

from responses_streams import CREATED, RESPONSE_ID, message, response
from steplife import CATALOGUE, Finding, Rules, Severity
from steplife.responses import MessageItem, UnknownItem, from_dict, parse
from steplife.responses._checks import check_item, check_response
from steplife.responses._wire import structure_response

E, W = Severity.ERROR, Severity.WARNING
USAGE: Final = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


class Example(NamedTuple):
    code: str
    clean: dict[str, Any]
    broken: dict[str, Any]
    message: str
    path: str | None = None
    item_id: str | None = None


EXAMPLES: Final = [
    Example(
        "response-object-type",
        response(),
        response(object="thread.run"),
        "object is 'thread.run', expected 'response'",
    ),
    Example(
        "response-usage-before-terminal",
        response("completed"),
        response("in_progress", usage=USAGE),
        "usage is set while the response is in_progress; it stays null until it ends",
    ),
    Example(
        "response-usage-total",
        response("completed", usage=USAGE),
        response("completed", usage={**USAGE, "total_tokens": 8}),
        "total_tokens=8 but input_tokens + output_tokens = 7",
    ),
    Example(
        "response-error-without-failure",
        response("failed"),
        response("completed", error={"code": "server_error", "message": "x"}),
        "error is set on the completed response; only failed responses carry one",
    ),
    Example(
        "response-failure-without-error",
        response("failed"),
        response("failed", error=None),
        "the response failed without error",
    ),
    Example(
        "response-incomplete-details",
        response("incomplete"),
        response("incomplete", incomplete_details=None),
        "the response is incomplete but incomplete_details is null",
    ),
    Example(
        "response-completed-at",
        response("completed"),
        response("incomplete", completed_at=CREATED + 5),
        "completed_at is set on the incomplete response; only completed ones carry it",
    ),
    Example(
        "response-finished-with-open-items",
        response("completed", output=[message(0, "completed")]),
        response("completed", output=[message(0, "in_progress")]),
        "output[0]: the response ended completed while its message item is still in_progress",
        "output[0]",
        "msg_0",
    ),
    Example(
        "item-status-type",
        response("completed", output=[message(0, "completed")]),
        response("completed", output=[message(0, "failed")]),
        "output[0]: a message item has no status 'failed' (it has completed, in_progress, "
        "incomplete)",
        "output[0]",
        "msg_0",
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.code)
def test_the_clean_example_breaks_no_rule(example: Example) -> None:
    expected: list[Finding] = []
    assert expected == list(parse(example.clean).findings)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.code)
def test_the_broken_example_breaks_exactly_its_rule(example: Example) -> None:
    expected = [
        Finding(
            rule=example.code,
            severity=CATALOGUE[example.code].severity,
            message=example.message,
            step_id=example.item_id,
            path=example.path,
            run_id=RESPONSE_ID,
        )
    ]
    assert expected == list(parse(example.broken).findings)


def test_the_examples_cover_every_response_and_item_rule() -> None:
    """Each rule scoped to a response or an item has an example here."""
    scoped = {code for code, rule in CATALOGUE.items() if rule.scope in ("response", "item")}
    assert scoped == {example.code for example in EXAMPLES}


def test_a_completed_at_before_created_at_is_refused() -> None:
    broken = response("completed", completed_at=CREATED - 1)
    [finding] = parse(broken).findings
    assert f"completed_at={CREATED - 1} precedes created_at={CREATED}" == finding.message


def test_negative_token_counts_are_refused() -> None:
    broken = response(
        "completed", usage={"input_tokens": -1, "output_tokens": 1, "total_tokens": 0}
    )
    [finding] = parse(broken).findings
    assert "response-usage-total" == finding.rule


def test_a_computer_call_in_progress_in_a_completed_response_passes() -> None:
    """The live capture: the call waits for the client's screenshot."""
    call = {"id": "cu_1", "type": "computer_call", "status": "in_progress", "call_id": "c"}
    assert () == parse(response("completed", output=[call])).findings


def test_an_undocumented_item_type_loads_with_a_warning() -> None:
    parsed = parse(response("completed", output=[{"id": "h_1", "type": "hologram", "depth": 3}]))
    assert parsed.ok
    record = parsed.record
    assert record is not None
    [item] = record.output
    assert UnknownItem(id="h_1", type="hologram", extra={"depth": 3}) == item
    assert [("unknown-value", W)] == [(f.rule, f.severity) for f in parsed.findings]


def test_rules_ignore_and_escalate_responses_rules() -> None:
    broken = response("failed", error=None)
    rules = Rules(severity={"response-failure-without-error": "error"})
    assert [E] == [f.severity for f in parse(broken, rules=rules).findings]
    assert () == parse(broken, rules=Rules(ignore={"response-failure-without-error"})).findings


def test_check_item_alone() -> None:
    assert [] == check_item(MessageItem(id="m", status="completed"), Rules())
    assert ["item-status-type"] == [
        f.rule for f in check_item(MessageItem(id="m", status="generating"), Rules())
    ]


def test_check_response_of_a_loaded_record() -> None:
    loaded = structure_response(response("completed"))
    assert not isinstance(loaded, list)
    assert [] == check_response(loaded, Rules())


def test_from_dict_raises_on_an_error_level_rule() -> None:
    from steplife import InvalidRecordError

    with pytest.raises(InvalidRecordError, match="response-usage-before-terminal"):
        from_dict(response("in_progress", usage=USAGE))


def test_check_takes_a_response_or_an_item() -> None:
    from steplife.responses import ReasoningItem, Response, ResponseUsage, check

    assert [] == check(Response(id="r", created_at=1))
    assert ["response-usage-before-terminal"] == [
        f.rule
        for f in check(
            Response(
                id="r",
                created_at=1,
                usage=ResponseUsage.of(1, 1),
            )
        )
    ]
    assert [] == check(ReasoningItem(id="rs"))
    assert ["item-status-type"] == [f.rule for f in check(MessageItem(id="m", status="calling"))]


def test_the_public_names_resolve_with_a_docstring() -> None:
    import steplife.responses

    for name in steplife.responses.__all__:
        value = getattr(steplife.responses, name)
        assert value is not None, name
    assert sorted(steplife.responses.__all__) == dir(steplife.responses)
    with pytest.raises(AttributeError):
        steplife.responses.nothing  # noqa: B018
