"""steplife.testing.responses: valid streams replay clean, each mutation is caught as its rule."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from helpers import COSTLY, HEAVY, examples
from steplife import CATALOGUE, Severity, StreamError, validate_file
from steplife.responses import Response, ResponseTracker, UnknownItem, parse, to_json
from steplife.testing.responses import (
    RESPONSE_MUTATIONS,
    InvalidStream,
    ResponseLifecycleAdapter,
    ResponseStream,
    invalid_response_streams,
    output_items,
    replay_response_lines,
    replay_responses,
    response_lifecycle_machine,
    response_streams,
    responses,
    to_response_jsonl_lines,
    to_response_sse,
)

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

PER_RULE = settings(max_examples=max(10, settings().max_examples // 8))
RESPONSES_SCOPES = ("response", "item", "response_stream")
ANY_BASE = response_streams(
    max_items=3, background=None, numbered=None, interleave=True, quirks=True
)


def assert_reported(stream: InvalidStream) -> None:
    """A fresh ResponseTracker reports `stream.rule` and no other error; strict raises it."""
    findings = replay_response_lines(stream.lines).findings
    errors = {f.rule for f in findings if f.severity is Severity.ERROR}
    if stream.severity is Severity.ERROR:
        assert errors == {stream.rule}, stream.description
        with pytest.raises(StreamError) as raised:
            replay_response_lines(stream.lines, tracker=ResponseTracker(strict=True))
        assert raised.value.finding.rule == stream.rule, stream.description
    else:
        assert stream.rule in {f.rule for f in findings}, stream.description
        assert errors == set(), stream.description


@examples(COSTLY)
@given(
    st.one_of(
        response_streams(max_items=4, background=None, numbered=None, quirks=True),
        response_streams(max_items=4, background=None, numbered=None, interleave=True),
    )
)
def test_generated_streams_replay_clean(stream: ResponseStream) -> None:
    """Every drawn stream, whatever its shape, breaks no rule at all."""
    assert [] == replay_responses(stream).findings
    assert [] == replay_response_lines(to_response_jsonl_lines(stream, bare=True)).findings


@examples(COSTLY)
@given(response_streams(interleave=True, background=True, resumed=True, numbered=None))
def test_captures_of_resumed_streams_replay_clean(stream: ResponseStream) -> None:
    """A resumption's capture begins mid-way, items included: nothing to report."""
    assert [] == replay_responses(stream).findings


@settings(max_examples=10)
@given(response_streams(quirks=True), st.booleans())
def test_generated_streams_validate_clean_as_sse(
    tmp_path_factory: pytest.TempPathFactory, stream: ResponseStream, event_lines: bool
) -> None:
    path = tmp_path_factory.mktemp("sse") / "capture.sse"
    path.write_bytes(to_response_sse(stream, event_lines=event_lines))
    report = validate_file(str(path))
    assert () == report.findings
    assert 1 == sum(report.steps_per_run.values())


@examples(COSTLY)
@given(invalid_response_streams(base=ANY_BASE))
def test_every_mutation_is_reported_as_exactly_its_rule(stream: InvalidStream) -> None:
    assert_reported(stream)


@pytest.mark.parametrize("rule", sorted(RESPONSE_MUTATIONS))
@PER_RULE
@given(data=st.data())
def test_each_rule_is_produced_and_reported(rule: str, data: Any) -> None:
    stream = data.draw(invalid_response_streams(rule=rule))
    assert rule == stream.rule
    assert_reported(stream)


def test_the_mutations_cover_every_responses_rule() -> None:
    """Each rule of the Responses scopes has a mutation; each mutation's rule is catalogued."""
    scoped = {code for code, rule in CATALOGUE.items() if rule.scope in RESPONSES_SCOPES}
    assert scoped <= set(RESPONSE_MUTATIONS)
    assert set(RESPONSE_MUTATIONS) <= set(CATALOGUE)


@pytest.mark.parametrize(
    "arguments",
    [{"rule": "no-such-rule"}, {"rule": "schema"}, {"rule": []}, {"rule": [1]}, {"base": [1]}],
)
def test_bad_arguments_are_refused_at_once(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        invalid_response_streams(**arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_items": 0},
        {"types": "dragon"},
        {"endings": ["cancelled"]},
        {"interleave": 1},
        {"background": "yes"},
    ],
)
def test_bad_stream_arguments_are_refused_at_once(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        response_streams(**arguments)


@given(responses())
def test_drawn_responses_break_no_rule_and_round_trip(response: Response) -> None:
    parsed = parse(to_json(response))
    assert () == parsed.findings
    assert response == parsed.record


@given(output_items(ended=True))
def test_drawn_items_that_ended_carry_an_ending_or_no_status(item: Any) -> None:
    assert item.status in (None, "completed", "incomplete", "failed")


@given(st.from_type(Response), st.from_type(UnknownItem))
def test_from_type_works_without_an_import(response: Response, item: UnknownItem) -> None:
    assert isinstance(response, Response)
    assert isinstance(item, UnknownItem)


TestResponseLifecycle = response_lifecycle_machine(ResponseLifecycleAdapter).TestCase
TestResponseLifecycle.settings = examples(HEAVY)


def test_the_machine_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidArgument):
        response_lifecycle_machine(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        response_lifecycle_machine(ResponseLifecycleAdapter, rejections=(int,))  # type: ignore[arg-type]


def test_the_machine_catches_an_adapter_that_accepts_everything() -> None:
    class Sloppy(ResponseLifecycleAdapter):
        def apply(self, response_id: str, trigger: str, **payload: Any) -> None:
            with contextlib.suppress(Exception):
                super().apply(response_id, trigger, **payload)

    machine = response_lifecycle_machine(Sloppy).TestCase
    machine.settings = settings(max_examples=200, database=None, deadline=None)
    with pytest.raises(AssertionError, match="illegal call"):
        machine("runTest").runTest()
