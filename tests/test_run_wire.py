"""Run JSON both ways: key order, round trips, real captures, the SDK as oracle, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.beta.threads import Run as SdkRun

from helpers import MISSING_REAL_FIXTURES, REAL_FIXTURES, lost, require_real_fixtures
from steplife import (
    Finding,
    InvalidRecordError,
    Parsed,
    Rules,
    Run,
    Severity,
    _wire,
    from_dict,
    from_json,
    parse,
    to_dict,
    to_json,
)
from steplife._rules import DEFAULT_RULES
from steplife.model import (
    IncompleteDetails,
    LastError,
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    SubmitToolOutputs,
    Usage,
)
from streams import run_object

RUN_WIRE_ORDER: Final = [
    "id",
    "object",
    "created_at",
    "assistant_id",
    "thread_id",
    "status",
    "started_at",
    "expires_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "required_action",
    "last_error",
    "incomplete_details",
    "usage",
]
"""The run keys steplife models, in the order the API writes them (as captured live)."""
MODELLED: Final = frozenset(RUN_WIRE_ORDER)
REQUIRES_ACTION_CAPTURE: Final = (
    "openai-dotnet/rec-2025-10-30/StreamingToolCall.01.POST.threads_runs.sse"
)
STATUSES: Final = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
)


USAGE_KEYS: Final = ("prompt_tokens", "completion_tokens", "total_tokens")


def modelled(payload: dict[str, Any]) -> dict[str, Any]:
    """What steplife models of a run payload: its modelled keys (null when absent)."""
    return {key: payload.get(key) for key in RUN_WIRE_ORDER}


# -- the real run payloads ------------------------------------------------------------------


def real_run_payloads() -> list[tuple[str, dict[str, Any]]]:
    """Every run object of a ``thread.run.*`` event (not a step event) in the SSE captures.

    Only ``data:`` lines that are valid JSON count: the spec's own examples hold
    malformed run lines (SOURCES.md, finding 8). Labels are ``<path>#<n>``, n
    counting the file's run payloads from 0.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if not REAL_FIXTURES.is_dir():
        return found
    for path in sorted(REAL_FIXTURES.rglob("*")):
        if path.suffix not in (".sse", ".txt") or not path.is_file():
            continue
        found += _run_payloads_of(path)
    return found


def _run_payloads_of(path: Path) -> list[tuple[str, dict[str, Any]]]:
    relative = path.relative_to(REAL_FIXTURES).as_posix()
    found: list[tuple[str, dict[str, Any]]] = []
    event = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
            continue
        if not line.startswith("data:") or not event.startswith("thread.run."):
            continue
        if event.startswith("thread.run.step."):
            continue
        try:
            data = json.loads(line.removeprefix("data:"))
        except ValueError:
            continue
        if isinstance(data, dict):
            found.append((f"{relative}#{len(found)}", data))
    return found


def real_run_params() -> list[Any]:
    """`real_run_payloads` as pytest parameters; one skipped parameter when absent."""
    payloads = real_run_payloads()
    if not payloads:
        return [pytest.param("absent", {}, marks=pytest.mark.skip(reason=MISSING_REAL_FIXTURES))]
    return [pytest.param(label, data, id=label) for label, data in payloads]


def requires_action_payload() -> dict[str, Any]:
    """The ``thread.run.requires_action`` payload of the dotnet tool-call capture."""
    path = require_real_fixtures() / REQUIRES_ACTION_CAPTURE
    payloads = [data for _, data in _run_payloads_of(path)]
    return next(data for data in payloads if data["status"] == "requires_action")


def test_the_captures_hold_many_run_payloads() -> None:
    """The loaders below are tried on every run status the captures show (guards the scan)."""
    require_real_fixtures()
    payloads = real_run_payloads()

    expected = {"queued", "in_progress", "requires_action", "completed"}
    assert expected == {data["status"] for _, data in payloads}
    assert len(payloads) >= 90


def test_to_dict_writes_the_keys_in_the_api_order() -> None:
    """A real run's modelled keys come in the order to_dict writes them, before the rest."""
    payload = requires_action_payload()

    real_order = [key for key in payload if key in MODELLED]
    written = list(to_dict(from_dict(payload, Run)))
    assert real_order == written[: len(MODELLED)]
    assert RUN_WIRE_ORDER == real_order


@pytest.mark.parametrize(("label", "payload"), real_run_params())
def test_every_real_run_loads_clean(label: str, payload: dict[str, Any]) -> None:
    """Each real run payload loads without any finding, and writes back all it read.

    Every key comes back with its value (the modelled ones in the API's order, then
    the rest); only a modelled key the payload lacked is added, as null.
    """
    parsed = parse(payload, Run)

    assert () == parsed.findings, label
    assert parsed.record is not None
    written = to_dict(parsed.record)
    assert [] == lost(payload, written)
    assert modelled(payload) == {key: written[key] for key in RUN_WIRE_ORDER}
    in_payload = [k for k in written if k in MODELLED and k in payload]
    assert [k for k in payload if k in MODELLED] == in_payload
    assert {k: None for k in written if k not in payload} == {
        k: v for k, v in written.items() if k not in payload
    }


@pytest.mark.parametrize(("label", "payload"), real_run_params())
def test_every_real_run_survives_both_loaders(label: str, payload: dict[str, Any]) -> None:
    """run_from_dict and run_from_json return the same run as parse_run."""
    parsed = parse(payload, Run)

    expected = (parsed.record, parsed.record)
    assert expected == (from_dict(payload, Run), from_json(json.dumps(payload), Run)), label


def test_strict_loading_of_real_runs_reports_only_undocumented_keys() -> None:
    """Strictly, real runs report only keys the API does not document.

    ``file_ids`` (the v1 API's) and the token details inside ``usage`` (2025
    captures; reported the same way inside a step's usage).
    """
    require_real_fixtures()
    unknown = set()
    for _, payload in real_run_payloads():
        for finding in parse(payload, Run, strict=True).findings:
            assert "unknown-key" == finding.rule
            unknown.add(finding.path)

    expected = {"file_ids", "usage.prompt_token_details", "usage.completion_tokens_details"}
    assert expected == unknown


# -- the SDK as oracle ------------------------------------------------------------------------


def sdk_reading(payload: dict[str, Any], key: str) -> Any:
    """The SDK's reading of one run field, as JSON (its default when the key is absent)."""
    field = SdkRun.model_fields[key]
    assert field.annotation is not None  # every SDK field is annotated
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(field.annotation)
    value = adapter.validate_python(payload[key]) if key in payload else field.get_default()
    return adapter.dump_python(value, mode="json")


@pytest.mark.parametrize(("label", "payload"), real_run_params())
def test_the_sdk_reads_every_modelled_field_as_steplife_does(
    label: str, payload: dict[str, Any]
) -> None:
    """Field by field, the SDK's types read each modelled key to what steplife writes back.

    The SDK's whole-run model refuses many real payloads, always over fields steplife
    does not model (``instructions`` null, ``parallel_tool_calls`` missing, older
    tool shapes); that is checked too, so a refusal over a modelled field would show.
    """
    try:
        SdkRun.model_validate(payload)
    except pydantic.ValidationError as error:
        refused = {str(problem["loc"][0]) for problem in error.errors()}
        assert set() == refused & MODELLED, label

    written = to_dict(from_dict(payload, Run))
    expected = {key: sdk_reading(payload, key) for key in RUN_WIRE_ORDER}
    assert expected == {key: written[key] for key in RUN_WIRE_ORDER}


def test_every_field_the_sdk_documents_is_read_or_tolerated() -> None:
    """A run holding every key the SDK's Run declares loads strictly without unknown-key."""
    payload = dict.fromkeys(SdkRun.model_fields) | run_object("completed")

    parsed = parse(payload, Run, strict=True)

    expected: tuple[Finding, ...] = ()
    assert expected == parsed.findings
    assert set(SdkRun.model_fields) >= MODELLED


# -- round trips --------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
# orjson writes 64-bit integers only.
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
stamps = st.none() | ints
required_actions = st.builds(
    RequiredAction,
    type=texts,
    submit_tool_outputs=st.none()
    | st.builds(
        SubmitToolOutputs,
        tool_calls=st.lists(
            st.builds(
                RequiredToolCall,
                id=texts,
                type=texts,
                function=st.builds(RequiredFunction, name=texts, arguments=texts),
            ),
            max_size=3,
        ),
    ),
)
runs = st.builds(
    Run,
    id=texts,
    object=st.just("thread.run") | texts,
    created_at=ints,
    assistant_id=texts,
    thread_id=texts,
    status=st.sampled_from(STATUSES),
    started_at=stamps,
    expires_at=stamps,
    cancelled_at=stamps,
    failed_at=stamps,
    completed_at=stamps,
    required_action=st.none() | required_actions,
    last_error=st.none() | st.builds(LastError, code=texts, message=texts),
    incomplete_details=st.none() | st.builds(IncompleteDetails, reason=st.none() | texts),
    usage=st.none()
    | st.builds(Usage, prompt_tokens=ints, completion_tokens=ints, total_tokens=ints),
)
"""Any run JSON can hold, clean or not: the rules are not the loader's business."""


@given(runs)
def test_any_run_survives_a_round_trip(run: Run) -> None:
    """Loading what to_dict or to_json wrote gives the same run, whatever rules it breaks."""
    assert run == _wire.structure_run(to_dict(run))
    assert run == _wire.structure_run(orjson.loads(to_json(run)))


@given(runs)
def test_parse_run_finds_exactly_the_broken_rules(run: Run) -> None:
    """parse_run of a written run returns it with the findings check_run gives."""
    expected = Parsed[Run](run, tuple(DEFAULT_RULES.check_run(run)))
    assert expected == parse(to_json(run), Run)


@given(runs)
def test_to_dict_always_writes_every_modelled_key_in_order(run: Run) -> None:
    """Nullable keys are written as null, never left out."""
    assert RUN_WIRE_ORDER == list(to_dict(run))


@pytest.mark.parametrize("status", STATUSES)
def test_clean_runs_round_trip_through_the_checking_loaders(status: str) -> None:
    """A clean run of each status loads back equal through run_from_dict and run_from_json."""
    run = from_dict(run_object(status), Run)

    expected = (run, run)
    assert expected == (from_dict(to_dict(run), Run), from_json(to_json(run), Run))


def test_to_json_is_to_dict_as_compact_json() -> None:
    """to_json writes exactly the dict to_dict returns."""
    run = from_dict(run_object("requires_action"), Run)

    assert orjson.dumps(to_dict(run)) == to_json(run)


def test_missing_nullable_keys_read_as_null() -> None:
    """Older payloads leave out incomplete_details (and others): they read as null."""
    data = run_object("queued")
    for key in ("started_at", "expires_at", "required_action", "incomplete_details", "usage"):
        del data[key]

    run = from_dict(data, Run)

    expected = (None, None, None, None, None)
    actual = (
        run.started_at,
        run.expires_at,
        run.required_action,
        run.incomplete_details,
        run.usage,
    )
    assert expected == actual


# -- bad input ------------------------------------------------------------------------------------


def schema(path: str, message: str) -> Finding:
    return Finding(rule="schema", severity=Severity.ERROR, message=f"{path}: {message}", path=path)


def with_change(path: tuple[Any, ...], value: Any, status: str = "requires_action") -> Any:
    """A clean run payload with the node at `path` set to `value` (deleted when ...)."""
    data = run_object(status)
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


CALL: Final = ("required_action", "submit_tool_outputs", "tool_calls", 0)
BAD_INPUT: Final = [
    (("created_at",), "1700000000", "created_at", "expected an integer, got a string"),
    (("created_at",), True, "created_at", "expected an integer, got a boolean"),
    (("id",), None, "id", "expected a string, got null"),
    (("id",), ..., "id", "missing"),
    (("object",), ..., "object", "missing"),
    (("status",), ..., "status", "missing"),
    (
        ("status",),
        "done",
        "status",
        "'done' is not one of 'queued', 'in_progress', 'requires_action', 'cancelling', "
        "'cancelled', 'failed', 'completed', 'incomplete', 'expired'",
    ),
    (("started_at",), 1.5, "started_at", "expected an integer or null, got a number"),
    (("required_action",), "x", "required_action", "expected an object, got a string"),
    (("required_action", "type"), ..., "required_action.type", "missing"),
    (
        ("required_action", "submit_tool_outputs", "tool_calls"),
        {},
        "required_action.submit_tool_outputs.tool_calls",
        "expected an array, got an object",
    ),
    (
        (*CALL, "id"),
        5,
        "required_action.submit_tool_outputs.tool_calls[0].id",
        "expected a string, got a number",
    ),
    (
        (*CALL, "function"),
        ...,
        "required_action.submit_tool_outputs.tool_calls[0].function",
        "missing",
    ),
    (
        (*CALL, "function", "arguments"),
        {},
        "required_action.submit_tool_outputs.tool_calls[0].function.arguments",
        "expected a string, got an object",
    ),
    (("last_error",), [], "last_error", "expected an object, got an array"),
    (("usage",), {"prompt_tokens": 1, "total_tokens": 1}, "usage.completion_tokens", "missing"),
    (
        ("incomplete_details",),
        {"reason": 3},
        "incomplete_details.reason",
        "expected a string or null, got a number",
    ),
]


@pytest.mark.parametrize(("path", "value", "where", "message"), BAD_INPUT)
def test_bad_input_is_reported_with_its_json_path(
    path: tuple[Any, ...], value: Any, where: str, message: str
) -> None:
    """parse_run names the problem at its JSON path; run_from_dict raises with the same finding."""
    data = with_change(path, value)

    parsed = parse(data, Run)
    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data, Run)

    expected = (None, (schema(where, message),))
    assert expected == (parsed.record, parsed.findings)
    assert parsed.findings == caught.value.findings
    assert f"invalid run:\n  - error schema: {where}: {message}" == str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    """Several bad keys give one finding each, in field order."""
    data = run_object("queued", created_at="x", thread_id=3)
    del data["status"]

    expected = (
        schema("created_at", "expected an integer, got a string"),
        schema("thread_id", "expected a string, got a number"),
        schema("status", "missing"),
    )
    assert expected == parse(data, Run).findings


@pytest.mark.parametrize("text", ["nope", b"{", "", '{"id": }'])
def test_text_that_is_not_json_gives_a_schema_finding(text: str | bytes) -> None:
    """Not-JSON text is one schema finding at ``$``; run_from_json raises with it."""
    parsed = parse(text, Run)
    with pytest.raises(InvalidRecordError) as caught:
        from_json(text, Run)

    assert parsed.record is None
    assert 1 == len(parsed.findings)
    finding = parsed.findings[0]
    expected = ("schema", Severity.ERROR, "$", True)
    assert expected == (
        finding.rule,
        finding.severity,
        finding.path,
        finding.message.startswith("$: not valid JSON: "),
    )
    assert parsed.findings == caught.value.findings


@pytest.mark.parametrize(
    ("value", "shown"),
    [([], "an array"), (1, "a number"), (None, "null"), ("[]", "an array"), (True, "a boolean")],
)
def test_a_run_that_is_no_object_is_one_finding(value: Any, shown: str) -> None:
    """Arrays, numbers, null (as values or as JSON text) are reported at ``$``."""
    expected = Parsed[Run](None, (schema("$", f"expected an object, got {shown}"),))
    assert expected == parse(value, Run)


def test_a_rule_break_on_load_keeps_the_run_but_raises() -> None:
    """A well-formed run breaking an error-level rule: parse_run keeps it, run_from_dict raises."""
    data = run_object("completed", completed_at=None)

    parsed = parse(data, Run)
    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data, Run)

    message = "run status 'completed' needs exactly completed_at, but completed_at is null"
    finding = Finding(
        rule="run-stamp-mismatch", severity=Severity.ERROR, message=message, run_id="run_1"
    )
    expected = ((finding,), False, f"invalid run 'run_1':\n  - error run-stamp-mismatch: {message}")
    assert expected == (parsed.findings, parsed.ok, str(caught.value))
    assert parsed.record is not None


def test_a_warning_on_load_does_not_raise() -> None:
    """A failed run without last_error loads; parse_run shows the warning."""
    data = run_object("failed", last_error=None)

    parsed = parse(data, Run)

    expected = (["run-failure-without-error"], True, parsed.record)
    assert expected == ([f.rule for f in parsed.findings], parsed.ok, from_dict(data, Run))


# -- strict loading ------------------------------------------------------------


def test_unknown_keys_are_ignored_unless_strict() -> None:
    """An undocumented key neither stops a run from loading nor gives a finding.

    It is carried in the run's ``extra`` and written back after the modelled keys.
    """
    data = run_object("queued", surprise=1)

    parsed = parse(data, Run)

    plain = from_dict(run_object("queued"), Run)
    expected = Parsed[Run](attrs.evolve(plain, extra={**plain.extra, "surprise": 1}), ())
    assert expected == parsed
    assert parsed.record is not None
    assert data == to_dict(parsed.record)


def test_strict_loading_reports_an_undocumented_key() -> None:
    """Strict, an undocumented key is an unknown-key error naming the run, at its path."""
    data = run_object("queued", surprise=1)
    data["required_action"] = None

    parsed = parse(data, Run, strict=True)
    with pytest.raises(InvalidRecordError, match="unknown-key: surprise: unknown key"):
        from_dict(data, Run, strict=True)

    expected = (
        Finding(
            rule="unknown-key",
            severity=Severity.ERROR,
            message="surprise: unknown key",
            path="surprise",
            run_id="run_1",
        ),
    )
    assert expected == parsed.findings
    assert parsed.record is not None


def test_strict_loading_reports_a_nested_undocumented_key() -> None:
    """An unknown key inside required_action is reported with its full path."""
    data = with_change((*CALL, "function", "surprise"), 1)

    expected = ["required_action.submit_tool_outputs.tool_calls[0].function.surprise"]
    assert expected == [f.path for f in parse(data, Run, strict=True).findings]


DOCUMENTED_UNMODELLED: Final = (
    "model",
    "instructions",
    "tools",
    "tool_resources",
    "metadata",
    "temperature",
    "top_p",
    "reasoning_effort",
    "max_completion_tokens",
    "max_prompt_tokens",
    "truncation_strategy",
    "response_format",
    "tool_choice",
    "parallel_tool_calls",
)


def test_strict_loading_tolerates_the_documented_keys() -> None:
    """The run's documented fields steplife does not model are read past, even strictly."""
    data = run_object("queued") | dict.fromkeys(DOCUMENTED_UNMODELLED)

    expected: tuple[Finding, ...] = ()
    assert expected == parse(data, Run, strict=True).findings
    run = from_dict(data, Run, strict=True)
    assert data == to_dict(run)
    assert attrs.evolve(run, extra={}) == attrs.evolve(
        from_dict(run_object("queued"), Run), extra={}
    )


def test_rules_grade_unknown_keys() -> None:
    """unknown-key can be ignored or made a warning; then strict loading passes."""
    data = run_object("queued", surprise=1)

    ignored = parse(data, Run, strict=True, rules=Rules(ignore={"unknown-key"}))
    warned = parse(data, Run, strict=True, rules=Rules(severity={"unknown-key": "warning"}))

    expected = ((), [Severity.WARNING], True)
    assert expected == (ignored.findings, [f.severity for f in warned.findings], warned.ok)
    loaded = from_dict(data, Run, strict=True, rules=Rules(severity={"unknown-key": "warning"}))
    plain = from_dict(run_object("queued"), Run)
    assert attrs.evolve(plain, extra={**plain.extra, "surprise": 1}) == loaded


# -- junk never escapes as a bare exception ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def paths_of(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths_of(item, (*here, i))
    return found


@st.composite
def mangled_runs(draw: st.DrawFn) -> Any:
    """A clean run payload with one node deleted, replaced, or given an extra key."""
    data = copy.deepcopy(run_object(draw(st.sampled_from(STATUSES))))
    path = draw(st.sampled_from(paths_of(data)))
    if not path:
        return draw(json_values)
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["delete", "replace", "extra"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "replace":
        parent[path[-1]] = draw(json_values)
    elif isinstance(parent, dict):
        parent[draw(texts)] = draw(json_values)
    return data


@given(json_values | mangled_runs(), st.booleans())
def test_junk_never_raises_anything_but_invalid_step(data: Any, strict: bool) -> None:
    """parse_run never raises; the other loaders return its run or raise InvalidRecordError."""
    parsed = parse(data, Run, strict=strict)
    text = orjson.dumps(data)

    if parsed.ok:
        assert parsed.record == from_dict(data, Run, strict=strict)
        assert parsed.record == from_json(text, Run, strict=strict)
    else:
        assert parsed.findings, "a refusal must say why"
        with pytest.raises(InvalidRecordError) as caught:
            from_dict(data, Run, strict=strict)
        assert parsed.findings == caught.value.findings
        with pytest.raises(InvalidRecordError):
            from_json(text, Run, strict=strict)


@given(mangled_runs())
def test_fast_and_detailed_run_loaders_agree(data: Any) -> None:
    """The fast path accepts exactly what the detailed converter accepts, with equal results."""
    fast = _wire.structure_run(data)
    detailed = _wire._structure_detailed(data, _wire._DETAILED, Run)

    assert detailed == fast


def test_strict_loading_of_a_dict_with_non_string_keys_reports_them() -> None:
    """A mapping (not JSON) with an int key is refused at that key, not a TypeError.

    JSON keys are strings: the key could be neither carried nor written back.
    """
    data: dict[Any, Any] = {**run_object("queued"), 1: "x", "surprise": 2}

    parsed = parse(data, Run, strict=True)

    expected = [("1", "1: a key that is not a string, which JSON cannot carry")]
    assert expected == [(f.path, f.message) for f in parsed.findings]
    assert parsed.record is None


def test_a_run_with_an_integer_json_cannot_carry_is_refused_with_its_path() -> None:
    data = {**run_object("queued"), "created_at": -(2**63) - 1}
    (finding,) = parse(data, Run).findings
    assert (finding.rule, finding.path) == ("schema", "created_at")
    with pytest.raises(InvalidRecordError):
        from_dict(data, Run)
