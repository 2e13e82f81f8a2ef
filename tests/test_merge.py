"""The delta merge rule: the official SDK's `accumulate_delta`, without its traps."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any, TypeAlias

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steplife._merge import MergeError, merge_delta

Json: TypeAlias = dict[str, Any]
Accumulate: TypeAlias = Callable[[Json, Json], Json]


@pytest.fixture(scope="module")
def sdk_accumulate() -> Accumulate:
    """The official SDK's merge function, the oracle for the merge rule."""
    module = pytest.importorskip(
        "openai.lib.streaming._deltas", reason="the openai package (test extra) is absent"
    )
    accumulate: Accumulate = module.accumulate_delta
    return accumulate


# -- generated delta sequences --------------------------------------------------------


@st.composite
def splits(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut into pieces at random places (empty pieces included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    return [text[start:end] for start, end in itertools.pairwise(bounds)]


@st.composite
def tool_call_fragments(draw: st.DrawFn, index: int) -> tuple[list[Json], Json]:
    """The ToolCallDelta fragments of one call, in order, and the call they must build."""
    call_id = f"call_{index}"
    text = draw(st.text(max_size=40))
    pieces = draw(splits(text))
    if draw(st.booleans()):
        name = draw(st.sampled_from(["get_weather", "lookup", "f"]))
        body = {"name": name, "arguments": "", "output": None}
        first = {"index": index, "id": call_id, "type": "function", "function": body}
        rest = [
            {"index": index, "type": "function", "function": {"arguments": piece}}
            for piece in pieces
        ]
        final = {**first, "function": {**body, "arguments": text}}
        return [first, *rest], final
    logs = draw(st.lists(st.text(max_size=10), max_size=3))
    first = {
        "index": index,
        "id": call_id,
        "type": "code_interpreter",
        "code_interpreter": {"input": "", "outputs": []},
    }
    rest = [
        {"index": index, "type": "code_interpreter", "code_interpreter": {"input": piece}}
        for piece in pieces
    ]
    rest += [
        {
            "index": index,
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": 0, "type": "logs", "logs": chunk}]},
        }
        for chunk in logs
    ]
    outputs = [{"index": 0, "type": "logs", "logs": "".join(logs)}] if logs else []
    final = {**first, "code_interpreter": {"input": text, "outputs": outputs}}
    return [first, *rest], final


@st.composite
def delta_sequences(draw: st.DrawFn) -> tuple[list[Json], list[Json]]:
    """Step-details deltas for 1-4 tool calls, and the ``tool_calls`` they must build.

    Fragments of different calls interleave, several may share one delta, and a
    call's first fragment always comes after the first fragment of the call before it
    (indices appear in order, as the API sends them).
    """
    calls = [draw(tool_call_fragments(i)) for i in range(draw(st.integers(1, 4)))]
    pending = [fragments for fragments, _ in calls]
    order: list[Json] = []
    started = 0
    while any(pending):
        ready = [i for i in range(min(started + 1, len(pending))) if pending[i]]
        i = draw(st.sampled_from(ready))
        order.append(pending[i].pop(0))
        started = max(started, i + 1)
    cuts = sorted(set(draw(st.lists(st.integers(1, len(order)), max_size=len(order)))))
    bounds = [0, *[c for c in cuts if c < len(order)], len(order)]
    deltas = [
        {"type": "tool_calls", "tool_calls": order[start:end]}
        for start, end in itertools.pairwise(bounds)
    ]
    return deltas, [final for _, final in calls]


STARTS: list[Json] = [{"type": "tool_calls", "tool_calls": []}, {}]
"""What a step's details hold before its first delta: as `created` sent them, or nothing."""


@given(sequence=delta_sequences(), start=st.sampled_from(STARTS))
def test_merging_generated_deltas_gives_what_the_official_sdk_gives(
    sdk_accumulate: Accumulate, sequence: tuple[list[Json], list[Json]], start: Json
) -> None:
    deltas, _ = sequence
    expected = copy.deepcopy(start)
    for delta in deltas:
        # The SDK stores delta entries themselves and merges into them: give it copies.
        expected = sdk_accumulate(expected, copy.deepcopy(delta))
    actual = copy.deepcopy(start)
    for delta in deltas:
        actual = merge_delta(actual, delta)
    assert expected == actual


@given(sequence=delta_sequences(), start=st.sampled_from(STARTS))
def test_merged_deltas_rebuild_every_tool_call_in_full(
    sequence: tuple[list[Json], list[Json]], start: Json
) -> None:
    deltas, calls = sequence
    pristine = copy.deepcopy(deltas)
    merged = copy.deepcopy(start)
    for delta in deltas:
        merged = merge_delta(merged, delta)
    assert calls == merged["tool_calls"]
    assert merged["type"] == "tool_calls"
    assert pristine == deltas  # the deltas themselves are never modified


# -- the rule, case by case ------------------------------------------------------------


def test_strings_concatenate_numbers_add_and_a_null_or_missing_value_is_replaced() -> None:
    acc: Json = {"text": "ab", "n": 1, "x": 0.5, "empty": None}
    delta: Json = {"text": "cd", "n": 2, "x": 1, "empty": "now", "new": {"k": "v"}}
    expected = {"text": "abcd", "n": 3, "x": 1.5, "empty": "now", "new": {"k": "v"}}
    assert expected == merge_delta(acc, delta)


def test_index_and_type_are_replaced_never_accumulated() -> None:
    acc: Json = {"index": 1, "type": "function", "name": "f"}
    assert merge_delta(acc, {"index": 1, "type": "function", "name": "g"}) == {
        "index": 1,
        "type": "function",
        "name": "fg",
    }


def test_a_null_in_the_delta_leaves_the_value_alone() -> None:
    assert merge_delta({"output": "42"}, {"output": None}) == {"output": "42"}


def test_objects_merge_recursively() -> None:
    acc: Json = {"function": {"name": "f", "arguments": '{"a"'}}
    delta: Json = {"function": {"arguments": ":1}"}}
    assert merge_delta(acc, delta) == {"function": {"name": "f", "arguments": '{"a":1}'}}


def test_a_list_of_scalars_only_grows() -> None:
    assert merge_delta({"ids": ["a"]}, {"ids": ["b", "c"]}) == {"ids": ["a", "b", "c"]}


def test_several_fragments_for_one_index_in_one_delta_all_merge() -> None:
    delta: Json = {
        "tool_calls": [
            {"index": 0, "id": "c", "type": "function", "function": {"arguments": "a"}},
            {"index": 0, "type": "function", "function": {"arguments": "b"}},
        ]
    }
    merged = merge_delta({}, delta)
    assert merged["tool_calls"][0]["function"] == {"arguments": "ab"}
    assert len(merged["tool_calls"]) == 1


def test_out_of_order_indices_are_placed_at_their_index() -> None:
    merged = merge_delta({"tool_calls": []}, {"tool_calls": [{"index": 1, "text": "b"}]})
    merged = merge_delta(merged, {"tool_calls": [{"index": 0, "text": "a"}]})
    merged = merge_delta(merged, {"tool_calls": [{"index": 1, "text": "2"}]})
    assert merged["tool_calls"] == [{"index": 0, "text": "a"}, {"index": 1, "text": "b2"}]


def test_an_id_and_a_ranker_a_server_repeats_are_kept_whole() -> None:
    """As a live capture sends a file-search call: the whole call again in each delta."""

    def call(ranker: str) -> Json:
        options = {"ranker": ranker, "score_threshold": 0.0}
        body = {"ranking_options": options, "results": []}
        return {"index": 0, "id": "call_1", "type": "file_search", "file_search": body}

    merged: Json = {}
    for ranker in ("auto", "default_2024_08_21", "default-2024-08-21"):
        merged = merge_delta(merged, {"tool_calls": [call(ranker)]})
    assert [call("default-2024-08-21")] == merged["tool_calls"]


def test_streamed_text_still_concatenates_beside_a_repeated_id() -> None:
    """Only whole values are replaced: the arguments of a function call still build up."""
    first: Json = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{"}}
    again: Json = {"index": 0, "id": "call_1", "function": {"arguments": "}"}}
    merged = merge_delta(merge_delta({}, {"tool_calls": [first]}), {"tool_calls": [again]})
    assert merged["tool_calls"] == [
        {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
    ]


def test_an_index_beyond_the_end_leaves_a_hole_until_it_is_filled() -> None:
    merged = merge_delta({}, {"tool_calls": [{"index": 2, "id": "c"}]})
    assert merged["tool_calls"] == [None, None, {"index": 2, "id": "c"}]


def test_the_accumulator_is_never_modified() -> None:
    acc: Json = {"tool_calls": [{"index": 0, "function": {"arguments": "a"}}], "n": 1}
    pristine = copy.deepcopy(acc)
    merge_delta(acc, {"tool_calls": [{"index": 0, "function": {"arguments": "b"}}], "n": 2})
    assert pristine == acc


def test_a_merge_that_fails_half_way_leaves_the_accumulator_unchanged() -> None:
    acc: Json = {"tool_calls": [{"index": 0, "function": {"arguments": "a"}}]}
    pristine = copy.deepcopy(acc)
    half_bad: Json = {
        "tool_calls": [
            {"index": 0, "function": {"arguments": "b"}},
            {"index": 0, "function": {"arguments": 5}},
        ]
    }
    with pytest.raises(MergeError):
        merge_delta(acc, half_bad)
    assert pristine == acc


CALLS: Json = {"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "a"}}]}


@pytest.mark.parametrize(
    ("acc", "delta", "path"),
    [
        pytest.param(CALLS, {"tool_calls": ["x"]}, "tool_calls[0]", id="entry not an object"),
        pytest.param(CALLS, {"tool_calls": [{"id": "d"}]}, "tool_calls[0].index", id="no index"),
        pytest.param(
            CALLS, {"tool_calls": [{"index": -1}]}, "tool_calls[0].index", id="negative index"
        ),
        pytest.param(
            CALLS, {"tool_calls": [{"index": "0"}]}, "tool_calls[0].index", id="string index"
        ),
        pytest.param(
            CALLS, {"tool_calls": [{"index": True}]}, "tool_calls[0].index", id="boolean index"
        ),
        pytest.param(
            CALLS,
            {"tool_calls": [{"index": 0}, {"index": 0, "function": {"arguments": 5}}]},
            "tool_calls[1].function.arguments",
            id="number into string, nested",
        ),
        pytest.param({"function": {"a": "x"}}, {"function": "x"}, "function", id="str into dict"),
        pytest.param({"arguments": "x"}, {"arguments": {"a": 1}}, "arguments", id="dict into str"),
        pytest.param({"arguments": "x"}, {"arguments": ["y"]}, "arguments", id="list into str"),
        pytest.param({"n": 1}, {"n": "1"}, "n", id="str into number"),
        pytest.param({"flag": True}, {"flag": True}, "flag", id="booleans do not add"),
        pytest.param(
            {"outputs": [{"index": 0}, ["nested"]]},
            {"outputs": [{"index": 1, "logs": "x"}]},
            "outputs[0]",
            id="entry merges into a non-object",
        ),
    ],
)
def test_a_delta_of_the_wrong_shape_raises_merge_error_with_its_path(
    acc: Json, delta: Json, path: str
) -> None:
    with pytest.raises(MergeError) as raised:
        merge_delta(copy.deepcopy(acc), delta)
    assert path == raised.value.path
    assert str(raised.value).startswith(f"{path}: ")


def test_merge_error_is_a_value_error_and_paths_start_with_the_given_prefix() -> None:
    with pytest.raises(ValueError, match=r"^delta\.step_details\.tool_calls: cannot merge") as e:
        merge_delta({"tool_calls": []}, {"tool_calls": "x"}, "delta.step_details")
    assert isinstance(e.value, MergeError)
    assert e.value.path == "delta.step_details.tool_calls"


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
)
json_keys = st.sampled_from(["index", "type", "id", "arguments", "tool_calls", "outputs"])
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children),
    max_leaves=16,
)
json_objects = st.dictionaries(json_keys, json_values, max_size=5)


@given(acc=json_objects, delta=json_objects)
def test_any_json_delta_merges_or_raises_merge_error_never_a_bare_type_error(
    acc: Json, delta: Json
) -> None:
    pristine = copy.deepcopy(acc)
    outcome: Json | MergeError
    try:
        outcome = merge_delta(acc, delta)
    except MergeError as exc:
        outcome = exc
    if isinstance(outcome, MergeError):
        assert outcome.path
    else:
        assert set(outcome) == set(acc) | set(delta)
    assert pristine == acc


@pytest.mark.parametrize("index", [2**62, 2**63])
def test_a_huge_index_is_a_merge_error_not_an_allocation(index: int) -> None:
    with pytest.raises(MergeError) as raised:
        merge_delta({"tool_calls": []}, {"tool_calls": [{"index": index}]})
    assert raised.value.path == "tool_calls[0].index"


def test_a_delta_nested_deeper_than_any_step_is_a_merge_error_not_a_recursion_error() -> None:
    deep: Json = {"a": "x"}
    for _ in range(2000):
        deep = {"a": deep}
    with pytest.raises(MergeError) as raised:
        merge_delta(
            {"tool_calls": [{"index": 0, "x": deep}]}, {"tool_calls": [{"index": 0, "x": deep}]}
        )
    assert raised.value.path.startswith("tool_calls[0].x.a.a")
