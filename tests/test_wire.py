"""JSON both ways: key order, nulls, tolerated drift, strict loading and bad-input reports."""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import pytest

from helpers import (
    CREATED,
    UNKNOWN_TOOL_SNAPSHOT,
    WIRE_ORDER,
    finished,
    lost,
    make_step,
    make_tool_step,
    real_snapshot_params,
    real_step_snapshots,
    require_real_fixtures,
    without_extra,
)
from steplife import (
    Finding,
    InvalidRecordError,
    Rules,
    RunStep,
    Severity,
    from_dict,
    from_json,
    parse,
    to_dict,
    to_json,
)
from steplife.model import (
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchRankingOptions,
    FileSearchResult,
    FileSearchResultContent,
    FileSearchToolCall,
    Function,
    FunctionToolCall,
    ImageFile,
    ToolCall,
    ToolCallsDetails,
    UnknownToolCall,
)

NULLABLE = [
    "cancelled_at",
    "completed_at",
    "expired_at",
    "failed_at",
    "last_error",
    "usage",
    "metadata",
]


def every_tool_step() -> RunStep:
    """A completed tool_calls step holding every nested type, every optional key set."""
    calls: list[ToolCall] = [
        CodeInterpreterToolCall(
            id="call_ci",
            code_interpreter=CodeInterpreter(
                input="print(1)",
                outputs=[
                    CodeInterpreterLogs(logs="1\n"),
                    CodeInterpreterImage(image=ImageFile(file_id="file_img")),
                ],
            ),
        ),
        FileSearchToolCall(
            id="call_fs",
            file_search=FileSearch(
                ranking_options=FileSearchRankingOptions(ranker="auto", score_threshold=0.25),
                results=[
                    FileSearchResult(
                        file_id="file_1",
                        file_name="a.txt",
                        score=0.75,
                        content=[FileSearchResultContent(type="text", text="hello")],
                    )
                ],
            ),
        ),
        FunctionToolCall(
            id="call_fn", function=Function(name="f", arguments='{"x":1}', output="2")
        ),
    ]
    return finished(
        "completed",
        type="tool_calls",
        step_details=ToolCallsDetails(tool_calls=calls),
        metadata={"k": "v"},
    )


def wire(step: RunStep | None = None, **changes: Any) -> dict[str, Any]:
    """The JSON dict of `step` (default: a clean tool step) with top-level `changes`."""
    data = to_dict(step if step is not None else make_tool_step())
    data.update(changes)
    return data


def messages(error: InvalidRecordError) -> list[str]:
    return [f.message for f in error.findings]


# -- writing ------------------------------------------------------------------------


def test_top_level_keys_are_in_api_order() -> None:
    """``to_dict`` writes all 16 keys in the order the API sends them."""
    expected = WIRE_ORDER
    assert expected == list(to_dict(make_step()))


def test_nested_keys_are_in_api_order() -> None:
    """Every nested object is written in the API's key order too."""
    data = to_dict(every_tool_step())
    ci, fs, fn = data["step_details"]["tool_calls"]

    expected = [
        ["type", "tool_calls"],
        ["id", "type", "code_interpreter"],
        ["input", "outputs"],
        ["type", "logs"],
        ["type", "image"],
        ["id", "type", "file_search"],
        ["ranking_options", "results"],
        ["ranker", "score_threshold"],
        ["file_id", "file_name", "score", "content"],
        ["type", "text"],
        ["id", "type", "function"],
        ["name", "arguments", "output"],
        ["prompt_tokens", "completion_tokens", "total_tokens"],
    ]
    actual = [
        list(data["step_details"]),
        list(ci),
        list(ci["code_interpreter"]),
        list(ci["code_interpreter"]["outputs"][0]),
        list(ci["code_interpreter"]["outputs"][1]),
        list(fs),
        list(fs["file_search"]),
        list(fs["file_search"]["ranking_options"]),
        list(fs["file_search"]["results"][0]),
        list(fs["file_search"]["results"][0]["content"][0]),
        list(fn),
        list(fn["function"]),
        list(data["usage"]),
    ]
    assert expected == actual


def test_message_creation_and_last_error_key_order() -> None:
    """message_creation details and last_error follow the API's order."""
    data = to_dict(finished("failed"))

    expected = [["type", "message_creation"], ["message_id"], ["code", "message"]]
    actual = [
        list(data["step_details"]),
        list(data["step_details"]["message_creation"]),
        list(data["last_error"]),
    ]
    assert expected == actual


def test_every_nullable_is_written_as_null() -> None:
    """A fresh step writes each nullable key, as null; a function's missing output too."""
    data = to_dict(make_tool_step())

    expected = dict.fromkeys(NULLABLE)
    assert expected == {key: data[key] for key in NULLABLE}
    output = data["step_details"]["tool_calls"][0]["function"]
    assert "output" in output
    assert None is output["output"]


def test_optional_file_search_keys_are_omitted_when_none() -> None:
    """ranking_options, results, content and its type/text are left out, not null."""
    results = [
        FileSearchResult(file_id="f", file_name="n", score=0.5),
        FileSearchResult(
            file_id="f",
            file_name="n",
            score=0.5,
            content=[FileSearchResultContent(), FileSearchResultContent(text="t")],
        ),
    ]
    empty = FileSearchToolCall(id="a")
    full = FileSearchToolCall(id="b", file_search=FileSearch(results=results))
    step = make_step(type="tool_calls", step_details=ToolCallsDetails(tool_calls=[empty, full]))

    calls = to_dict(step)["step_details"]["tool_calls"]

    expected = [
        {"id": "a", "type": "file_search", "file_search": {}},
        {
            "id": "b",
            "type": "file_search",
            "file_search": {
                "results": [
                    {"file_id": "f", "file_name": "n", "score": 0.5},
                    {
                        "file_id": "f",
                        "file_name": "n",
                        "score": 0.5,
                        "content": [{}, {"text": "t"}],
                    },
                ]
            },
        },
    ]
    assert expected == calls


def test_to_json_is_compact_to_dict() -> None:
    """``to_json`` is the compact JSON text of ``to_dict``, keys in the same order."""
    step = every_tool_step()

    expected = json.dumps(to_dict(step), separators=(",", ":"), ensure_ascii=False).encode()
    assert expected == to_json(step)


def test_to_dict_returns_fresh_plain_data() -> None:
    """The result holds only dicts, lists and scalars, and editing it leaves the step alone."""
    step = every_tool_step()
    before = copy.deepcopy(step)
    data = to_dict(step)

    data["step_details"]["tool_calls"].clear()
    data["usage"]["total_tokens"] = 0

    assert before == step
    assert json.loads(json.dumps(to_dict(step))) == to_dict(step)


# -- reading ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [make_step(), make_tool_step(), every_tool_step(), finished("failed"), finished("expired")],
    ids=["message", "function", "every-type", "failed", "expired"],
)
def test_round_trip_both_ways(step: RunStep) -> None:
    """dict and JSON round trips give back an equal step."""
    assert step == from_dict(to_dict(step))
    assert step == from_json(to_json(step))
    assert step == from_json(to_json(step).decode())


def test_parse_returns_step_and_findings() -> None:
    """``parse`` hands back the step with its warnings, ``ok`` when none is an error."""
    parsed = parse(wire(finished("completed", usage=None)))

    expected = (finished("completed", usage=None), ["usage-missing"], True)
    assert expected == (parsed.record, [f.rule for f in parsed.findings], parsed.ok)


def test_parse_accepts_json_text() -> None:
    """``parse`` takes bytes and str as JSON text."""
    step = every_tool_step()

    assert step == parse(to_json(step)).record
    assert step == parse(to_json(step).decode()).record


def test_expires_at_is_accepted_and_carried_back() -> None:
    """Real streams send the run's ``expires_at``: no stamp of the step, written back as read."""
    data = wire()
    del data["expired_at"]
    data["expires_at"] = CREATED + 600

    step = from_dict(data, RunStep)

    assert None is step.expired_at
    assert {"expires_at": CREATED + 600} == step.extra
    assert CREATED + 600 == to_dict(step)["expires_at"]
    no_findings: tuple[Finding, ...] = ()
    assert no_findings == parse(data, strict=True).findings


def test_expires_at_beside_expired_at_keeps_expired_at() -> None:
    """When both keys come, ``expired_at`` is the step's own stamp."""
    data = wire(finished("expired"), expires_at=1)

    expected = CREATED + 5
    assert expected == from_dict(data, RunStep).expired_at


@pytest.mark.parametrize("key", NULLABLE)
def test_missing_nullable_key_reads_as_null(key: str) -> None:
    """Real steps omit ``metadata``; any nullable key may be missing and reads as None."""
    data = wire()
    del data[key]

    assert None is getattr(from_dict(data), key)


def test_missing_function_output_reads_as_null() -> None:
    """``function.output`` is nullable, so it may be missing."""
    data = wire()
    del data["step_details"]["tool_calls"][0]["function"]["output"]

    assert make_tool_step() == from_dict(data)


def test_unknown_keys_are_carried_everywhere() -> None:
    """Extra keys at any depth (as in 2025 captures) load without a finding, kept whole."""
    data = wire(every_tool_step(), brand_new=1)
    data["usage"]["prompt_token_details"] = {"cached_tokens": 0}
    data["step_details"]["tool_calls"][1]["file_search"]["results"][0]["attributes"] = {}
    data["step_details"]["tool_calls"][0]["code_interpreter"]["outputs"][0]["extra"] = None

    parsed = parse(data, RunStep)

    assert () == parsed.findings
    assert parsed.record is not None
    assert every_tool_step() == without_extra(parsed.record)
    assert data == to_dict(parsed.record)
    assert parsed.record.usage is not None
    assert {"prompt_token_details": {"cached_tokens": 0}} == parsed.record.usage.extra


def test_strict_reports_each_unknown_key_with_its_path() -> None:
    """``strict=True`` reports every unknown key as ``unknown-key``, the step still built."""
    data = wire(every_tool_step(), brand_new=1)
    data["usage"]["prompt_token_details"] = {"cached_tokens": 0}
    data["step_details"]["tool_calls"][1]["file_search"]["results"][0]["attributes"] = {}

    parsed = parse(data, strict=True)

    expected = [
        ("unknown-key", Severity.ERROR, "brand_new"),
        (
            "unknown-key",
            Severity.ERROR,
            "step_details.tool_calls[1].file_search.results[0].attributes",
        ),
        ("unknown-key", Severity.ERROR, "usage.prompt_token_details"),
    ]
    actual = sorted((f.rule, f.severity, f.path) for f in parsed.findings)
    assert expected == actual
    assert parsed.record is not None
    assert every_tool_step() == without_extra(parsed.record)
    assert not parsed.ok


def test_strict_from_dict_raises_naming_the_unknown_key() -> None:
    """``from_dict(strict=True)`` refuses unknown keys, with the key's path in the message."""
    with pytest.raises(InvalidRecordError, match=r"unknown-key: brand_new: unknown key"):
        from_dict(wire(brand_new=1), strict=True)


def test_strict_unknown_key_follows_the_rules() -> None:
    """Rules grade unknown keys: ignored they vanish, downgraded they only warn."""
    data = wire(brand_new=1)

    loaded = from_dict(data, RunStep, strict=True, rules=Rules(ignore={"unknown-key"}))
    assert attrs.evolve(make_tool_step(), extra={"brand_new": 1}) == loaded
    parsed = parse(data, strict=True, rules=Rules(severity={"unknown-key": "warning"}))
    expected = (True, [("unknown-key", Severity.WARNING)])
    assert expected == (parsed.ok, [(f.rule, f.severity) for f in parsed.findings])


def test_bad_input_gives_one_error_listing_every_problem() -> None:
    """Every problem is reported at once, each with its JSON path, in one InvalidRecordError."""
    data = wire(every_tool_step(), id=5, created_at="5", status="done")
    del data["run_id"]
    data["usage"]["total_tokens"] = True
    calls = data["step_details"]["tool_calls"]
    del calls[2]["function"]["name"]
    calls[0]["code_interpreter"]["outputs"][1]["image"] = {"file_id": 7}
    calls[1]["file_search"]["results"][0]["score"] = "high"

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)

    expected = [
        "id: expected a string, got a number",
        "created_at: expected an integer, got a string",
        "run_id: missing",
        "status: 'done' is not one of 'in_progress', 'cancelled', 'failed', 'completed', 'expired'",
        "step_details.tool_calls[0].code_interpreter.outputs[1].image.file_id: "
        "expected a string, got a number",
        "step_details.tool_calls[1].file_search.results[0].score: expected a number, got a string",
        "step_details.tool_calls[2].function.name: missing",
        "usage.total_tokens: expected an integer, got a boolean",
    ]
    assert expected == messages(caught.value)
    text = str(caught.value)
    assert text.startswith("invalid run step:\n")
    assert "  - error schema: step_details.tool_calls[2].function.name: missing" in text
    assert len(expected) == text.count("\n  - error schema: ")


def path_set(data: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


FN = ["step_details", "tool_calls", 2, "function"]
FS = ["step_details", "tool_calls", 1, "file_search"]

WRONG_TYPES: list[Any] = [
    pytest.param(
        [*FS, "results", 0, "score"],
        True,
        "step_details.tool_calls[1].file_search.results[0].score: expected a number, got a boolean",
        id="bool-for-float",
    ),
    pytest.param(
        [*FS, "ranking_options", "score_threshold"],
        "0.5",
        "step_details.tool_calls[1].file_search.ranking_options.score_threshold: "
        "expected a number, got a string",
        id="str-for-float",
    ),
    pytest.param(
        [*FS, "results", 0, "content"],
        "text",
        "step_details.tool_calls[1].file_search.results[0].content: "
        "expected an array, got a string",
        id="str-for-optional-list",
    ),
    pytest.param(
        [*FS, "ranking_options"],
        [],
        "step_details.tool_calls[1].file_search.ranking_options: expected an object, got an array",
        id="list-for-optional-object",
    ),
    pytest.param(
        ["step_details", "tool_calls", 0, "code_interpreter", "outputs", 0, "logs"],
        None,
        "step_details.tool_calls[0].code_interpreter.outputs[0].logs: expected a string, got null",
        id="null-for-logs",
    ),
    pytest.param(
        ["created_at"], "5", "created_at: expected an integer, got a string", id="str-for-int"
    ),
    pytest.param(
        ["created_at"], True, "created_at: expected an integer, got a boolean", id="bool-for-int"
    ),
    pytest.param(
        ["created_at"], 5.0, "created_at: expected an integer, got 5.0", id="float-for-int"
    ),
    pytest.param(
        ["completed_at"],
        "1",
        "completed_at: expected an integer or null, got a string",
        id="str-for-stamp",
    ),
    pytest.param(
        ["completed_at"],
        False,
        "completed_at: expected an integer or null, got a boolean",
        id="bool-for-stamp",
    ),
    pytest.param(["id"], 5, "id: expected a string, got a number", id="int-for-str"),
    pytest.param(["thread_id"], None, "thread_id: expected a string, got null", id="null-for-str"),
    pytest.param(["object"], None, "object: expected a string, got null", id="null-object"),
    pytest.param(
        [*FN, "arguments"],
        {},
        "step_details.tool_calls[2].function.arguments: expected a string, got an object",
        id="object-for-str",
    ),
    pytest.param(
        [*FN, "output"],
        1,
        "step_details.tool_calls[2].function.output: expected a string or null, got a number",
        id="int-for-optional-str",
    ),
    pytest.param(
        ["step_details", "tool_calls"],
        "",
        "step_details.tool_calls: expected an array, got a string",
        id="empty-str-for-list",
    ),
    pytest.param(
        ["step_details", "tool_calls"],
        {},
        "step_details.tool_calls: expected an array, got an object",
        id="object-for-list",
    ),
    pytest.param(
        ["step_details", "tool_calls"],
        None,
        "step_details.tool_calls: expected an array, got null",
        id="null-for-list",
    ),
    pytest.param(
        ["step_details"], [], "step_details: expected an object, got an array", id="list-for-object"
    ),
    pytest.param(["usage"], "12", "usage: expected an object, got a string", id="str-for-usage"),
    pytest.param(
        ["last_error"], [], "last_error: expected an object, got an array", id="list-for-last-error"
    ),
    pytest.param(
        ["metadata"], [], "metadata: expected an object, got an array", id="list-for-metadata"
    ),
    pytest.param(["status"], 1, "status: expected a string, got a number", id="int-for-enum"),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG_TYPES)
def test_wrong_types_are_never_coerced(path: list[Any], value: Any, message: str) -> None:
    """A JSON value of the wrong type is reported with its path, never converted."""
    data = path_set(wire(every_tool_step()), path, value)

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data, RunStep)

    expected = [message]
    assert expected == messages(caught.value)


def test_an_int_is_accepted_where_a_number_is_expected() -> None:
    """JSON has one number type: ``score: 1`` loads as the float 1.0."""
    data = to_dict(every_tool_step())
    data["step_details"]["tool_calls"][1]["file_search"]["results"][0]["score"] = 1

    call = from_dict(data).step_details.tool_calls[1]  # type: ignore[union-attr]
    assert isinstance(call, FileSearchToolCall)
    assert call.file_search.results is not None
    score = call.file_search.results[0].score

    assert (float, 1.0) == (type(score), score)


BAD_ENUMS: list[Any] = [
    pytest.param(["status"], "done", "status: 'done' is not one of", id="status"),
    pytest.param(
        ["type"],
        "tool_call",
        "type: 'tool_call' is not one of 'message_creation', 'tool_calls'",
        id="type",
    ),
    pytest.param(
        ["step_details", "type"],
        "browser",
        "step_details: type is 'browser', expected one of 'message_creation', 'tool_calls'",
        id="details-type",
    ),
    pytest.param(
        ["step_details", "tool_calls", 0, "type"],
        5,
        "step_details.tool_calls[0]: type is 5, expected one of "
        "'code_interpreter', 'file_search', 'function'",
        id="tool-type-number",
    ),
    pytest.param(
        ["step_details", "tool_calls", 0, "type"],
        None,
        "step_details.tool_calls[0]: type is missing",
        id="tool-type-null",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_ENUMS)
def test_bad_enum_values_are_schema_errors(path: list[Any], value: Any, message: str) -> None:
    """Values that decide the lifecycle or the shape stay strict."""
    data = path_set(wire(), path, value)

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)

    found = messages(caught.value)
    one_match = [True]
    assert one_match == [text.startswith(message) for text in found]


def test_bad_output_and_content_tags_are_schema_errors() -> None:
    """Code-interpreter outputs and file-search content have closed tags too."""
    data = to_dict(every_tool_step())
    calls = data["step_details"]["tool_calls"]
    calls[0]["code_interpreter"]["outputs"][0]["type"] = "video"
    calls[1]["file_search"]["results"][0]["content"][0]["type"] = "html"

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)

    expected = [
        "step_details.tool_calls[0].code_interpreter.outputs[0]: type is 'video', "
        "expected one of 'logs', 'image'",
        "step_details.tool_calls[1].file_search.results[0].content[0].type: "
        "'html' is not one of 'text'",
    ]
    assert expected == messages(caught.value)


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("status", ["status"]),
        ("object", ["object"]),
        ("step_details", ["step_details"]),
        ("tool_calls", ["step_details", "tool_calls"]),
        ("file_search", ["step_details", "tool_calls", 0, "file_search"]),
        ("outputs", ["step_details", "tool_calls", 0, "code_interpreter", "outputs"]),
        ("message_creation", ["step_details", "message_creation"]),
    ],
)
def test_missing_required_key_is_reported_not_defaulted(key: str, path: list[Any]) -> None:
    """Only nullable keys may be missing: a step without ``status`` is not in_progress."""
    if path[:2] == ["step_details", "tool_calls"] and len(path) > 2:
        call = (
            FileSearchToolCall(id="c")
            if key == "file_search"
            else CodeInterpreterToolCall(id="c", code_interpreter=CodeInterpreter(input=""))
        )
        data = to_dict(
            make_step(type="tool_calls", step_details=ToolCallsDetails(tool_calls=[call]))
        )
    elif key == "tool_calls":
        data = wire()
    else:
        data = wire(make_step())
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data, RunStep)

    where = ".".join(str(p) for p in path).replace(".0.", "[0].")
    expected = [f"{where}: missing"]
    assert expected == messages(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{", "$: not valid JSON"),
        ("", "$: not valid JSON"),
        (b"\xff", "$: not valid JSON"),
        ("[]", "$: expected an object, got an array"),
        ("5", "$: expected an object, got a number"),
        ("null", "$: expected an object, got null"),
        ('"step"', "$: expected an object, got a string"),
    ],
    ids=["truncated", "empty", "not-utf8", "array", "number", "null", "string"],
)
def test_bad_json_text_is_one_schema_finding(text: bytes | str, message: str) -> None:
    """Invalid or non-object JSON gives a single ``schema`` finding at ``$``."""
    parsed = parse(text)
    with pytest.raises(InvalidRecordError) as caught:
        from_json(text)

    assert None is parsed.record
    at_the_root = [("schema", "$")]
    assert at_the_root == [(f.rule, f.path) for f in parsed.findings]
    assert parsed.findings[0].message.startswith(message)
    assert caught.value.findings == parsed.findings


@pytest.mark.parametrize(
    "value",
    [None, [], 5, "x", b"", object()],
    # A stable id for the object: parallel workers must collect the same names.
    ids=lambda value: type(value).__name__ if type(value) is object else repr(value),
)
def test_from_dict_of_a_non_dict_raises_invalid_step(value: Any) -> None:
    """Whatever is passed, the failure is an InvalidRecordError, never a bare TypeError."""
    with pytest.raises(InvalidRecordError):
        from_dict(value)


def test_hyphenated_ranker_loads_with_an_unknown_value_warning() -> None:
    """The live ``default-2024-08-21`` spelling loads (the SDK refuses it) with a warning."""
    data = to_dict(every_tool_step())
    data["step_details"]["tool_calls"][1]["file_search"]["ranking_options"]["ranker"] = (
        "default-2024-08-21"
    )

    parsed = parse(data)

    expected = [("unknown-value", Severity.WARNING)]
    assert expected == [(f.rule, f.severity) for f in parsed.findings]
    assert parsed.ok
    assert "'default-2024-08-21'" in parsed.findings[0].message
    assert data == to_dict(from_dict(data))


def test_undocumented_error_code_loads_with_a_warning() -> None:
    """``last_error.code`` outside the documented set loads, with ``unknown-value``."""
    data = wire(finished("failed"), last_error={"code": "invalid_prompt", "message": "m"})

    parsed = parse(data)

    expected = (True, ["unknown-value"])
    assert expected == (parsed.ok, [f.rule for f in parsed.findings])


def test_rule_errors_on_loaded_data_raise_with_the_step_id() -> None:
    """Data that is well-formed but breaks an error rule is refused, naming the step."""
    data = wire(finished("completed"), completed_at=CREATED - 1)

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)

    assert str(caught.value).startswith(
        "invalid run step 'step_1':\n  - error stamp-before-created: "
    )
    step_id = "step_1"
    assert step_id == caught.value.findings[0].step_id


def test_parse_rules_filter_rule_findings() -> None:
    """``parse(rules=...)`` applies the same tuning as ``check``."""
    data = wire(finished("completed", usage=None))

    parsed = parse(data, rules=Rules(ignore={"usage-missing"}))

    no_findings: tuple[Finding, ...] = ()
    assert no_findings == parsed.findings


def test_schema_problems_are_reported_even_when_schema_is_ignored() -> None:
    """A step that cannot be built always says why: ``schema`` cannot be silenced."""
    parsed = parse(wire(id=5), rules=Rules(ignore={"schema"}))

    expected = [("schema", "id: expected a string, got a number")]
    assert expected == [(f.rule, f.message) for f in parsed.findings]
    assert None is parsed.record


def test_metadata_values_are_kept_for_the_rule_to_judge() -> None:
    """Non-string metadata values load and are reported by ``metadata-limits``."""
    parsed = parse(wire(metadata={"n": 5}))

    expected = [("metadata-limits", "metadata['n'] is not a string pair")]
    assert expected == [(f.rule, f.message) for f in parsed.findings]


def test_usage_extra_keys_are_written_back_after_the_counts() -> None:
    """Loaded extra keys are written back as read, after the documented keys."""
    data = wire(finished("completed"))
    data["usage"] = {"completion_tokens_details": {"reasoning_tokens": 0}, **data["usage"]}

    written = to_dict(from_dict(data))["usage"]

    expected = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert (expected, list(expected)) == (written, list(written))


# -- real captures ------------------------------------------------------------------


def key_orders(value: Any, path: str = "$") -> dict[str, list[str]]:
    """The key order of every object inside `value`, by JSON path."""
    found: dict[str, list[str]] = {}
    if isinstance(value, dict):
        found[path] = list(value)
        for key, item in value.items():
            found.update(key_orders(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.update(key_orders(item, f"{path}[{i}]"))
    return found


@pytest.mark.parametrize(("label", "data"), real_snapshot_params())
def test_real_snapshot_key_order_is_kept(label: str, data: dict[str, Any]) -> None:
    """For every real step, steplife writes back every key of the capture, in order.

    In each object the modelled keys come first, in the capture's order (a null the
    capture lacked may be added among them), then the unmodelled ones in the
    capture's order.
    """
    step = from_dict(data, RunStep)
    original = key_orders(data)
    written = key_orders(to_dict(step))
    modelled = key_orders(to_dict(without_extra(step)))

    assert [] == lost(data, to_dict(step))
    for path, keys in written.items():
        ours = modelled.get(path, [])
        theirs = [key for key in original.get(path, []) if key not in ours]
        assert ours + theirs == keys, path
        assert [key for key in original.get(path, []) if key in ours] == [
            key for key in ours if key in original.get(path, [])
        ], path


def test_every_real_snapshot_is_found() -> None:
    """The fixture walk finds all 222 step objects SOURCES.md counts."""
    require_real_fixtures()

    expected = 222
    assert expected == len(real_step_snapshots())


@pytest.mark.parametrize(("label", "data"), real_snapshot_params())
def test_every_real_snapshot_loads_without_error(label: str, data: dict[str, Any]) -> None:
    """Live data has no error; the unknown ``browser`` tool call loads with a warning."""
    parsed = parse(data)

    if label == UNKNOWN_TOOL_SNAPSHOT:
        expected = ["undocumented value: step_details.tool_calls[1].type 'browser'"]
        assert expected == [f.message for f in parsed.findings]
    no_errors: list[Finding] = []
    assert no_errors == [f for f in parsed.findings if f.is_error]
    assert parsed.record is not None
    assert data["id"] == parsed.record.id


@pytest.mark.parametrize(
    ("change", "path", "what"),
    [
        ({"created_at": 2**64}, "created_at", "an integer beyond 64 bits"),
        ({"id": "step_\ud800"}, "id", "a string with a lone surrogate"),
        ({"metadata": {"k\udc00": "v"}}, "metadata.k\udc00", "a string with a lone surrogate"),
    ],
    ids=["big integer", "surrogate", "surrogate key"],
)
def test_python_data_json_cannot_carry_is_refused_with_its_path(
    change: dict[str, Any], path: str, what: str
) -> None:
    data = {**to_dict(make_step()), **change}
    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)
    (finding,) = caught.value.findings
    assert (finding.rule, finding.path) == ("schema", path)
    assert finding.message.endswith(f"{what}, which JSON cannot carry")


def test_to_json_of_a_record_set_in_python_raises_a_steplife_error() -> None:
    """Fields can be set directly; what JSON cannot carry is an error of ours, not a TypeError."""
    step = make_step()
    step.id = "step_\ud800"
    with pytest.raises(InvalidRecordError, match="cannot be written as JSON") as caught:
        to_json(step)
    assert [f.path for f in caught.value.findings] == ["id"]


def test_an_undocumented_tool_call_type_loads_as_what_it_is() -> None:
    """The tool-call type is an open set: ``browser`` loads whole, with a warning."""
    data = wire()
    data["step_details"]["tool_calls"].append(
        {"id": "call_b", "type": "browser", "browser": {"url": "https://example.com"}}
    )

    parsed = parse(data, RunStep)

    assert parsed.ok
    assert ["unknown-value"] == [f.rule for f in parsed.findings]
    assert parsed.record is not None
    assert data == to_dict(parsed.record)
    details = parsed.record.step_details
    assert isinstance(details, ToolCallsDetails)
    expected = UnknownToolCall(
        id="call_b", type="browser", extra={"browser": {"url": "https://example.com"}}
    )
    assert expected == details.tool_calls[1]


def test_a_step_type_outside_its_set_is_still_an_error() -> None:
    """Values that decide the lifecycle are a closed set: the step's type is not open."""
    with pytest.raises(InvalidRecordError, match="type: 'browser' is not one of"):
        from_dict(wire(type="browser"), RunStep)
