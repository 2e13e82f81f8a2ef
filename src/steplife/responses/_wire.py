"""JSON both ways for responses and output items, on steplife's own converters.

`configure_converter` adds to a converter made by `steplife._wire.make_converter` (the
one that reads steps and runs: primitives checked, never coerced; unknown keys kept in
``extra`` at every depth and written back; hooks generated once per record) what the
Responses records need, and nothing else:

- a boolean (a response's ``background``) is a JSON boolean, never coerced;
- output items are a tagged union on ``type`` whose tag is an open set: the documented
  types load as their record (`ToolCallItem` for the tool calls and outputs), any other
  string as an `UnknownItem` (the ``unknown-value`` rule warns about it);
- unions are written by the record's own class, looked up once;
- an item's ``id`` and ``status`` are written only where set: the API leaves them out
  (a reasoning item has no status) rather than sending null.

Loading is fast by default; only when that fails is the input walked again by a
detailed converter, to report every problem with its JSON path, as for steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
import orjson

from steplife import _wire as base
from steplife._findings import Finding, Severity, shown
from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import InvalidRecordError
from steplife.responses._checks import check_response
from steplife.responses._model import (
    TOOL_CALL_TYPES,
    FunctionCallItem,
    MessageItem,
    OutputItem,
    ReasoningItem,
    Response,
    ToolCallItem,
    UnknownItem,
)

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "RESPONSE_KEYS",
    "Parsed",
    "configure_converter",
    "from_dict",
    "from_json",
    "make_converter",
    "parse",
    "structure_item",
    "structure_response",
    "to_dict",
    "to_json",
]

T = TypeVar("T")

ITEM_VARIANTS: Final[Mapping[str, type]] = {
    "message": MessageItem,
    "function_call": FunctionCallItem,
    "reasoning": ReasoningItem,
    **dict.fromkeys(TOOL_CALL_TYPES, ToolCallItem),
}
"""Each documented item type -> the record it loads as."""

RESPONSE_KEYS: Final = frozenset(
    # The openai SDK's `Response` fields (checked by a test), and what live captures
    # send beyond them: loading strictly reports only keys outside this set.
    (
        "id",
        "object",
        "created_at",
        "status",
        "background",
        "completed_at",
        "error",
        "incomplete_details",
        "output",
        "usage",
        "access_programs",
        "billing",
        "conversation",
        "frequency_penalty",
        "image",
        "input_transformations",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "presence_penalty",
        "previous_response_id",
        "prompt",
        "prompt_cache_diagnostics",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tool_usage",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    )
)
"""The keys a response documents; `parse(..., strict=True)` reports any other."""


@attrs.frozen
class Parsed:
    """A loaded response together with every finding about it.

    `record` is None when the input could not be turned into a response at all (bad
    JSON, missing fields, wrong types); `findings` then holds those problems.
    """

    record: Response | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """Whether a response was loaded and no finding is an error."""
        return self.record is not None and not any(f.is_error for f in self.findings)


def _structure_bool(value: Any, _: type) -> bool:
    if type(value) is bool:
        return value
    raise base._WireTypeError(f"expected a boolean, got {base._json_type(value)}")


def _where_sent(converter: cattrs.Converter, cls: type) -> Callable[[Any], dict[str, Any]]:
    """The writer of item class `cls`: its ``id`` and ``status`` only where they are set.

    Both are optional on the wire (a reasoning item has no status, a custom tool call
    may have no id): a record that has none writes no key, rather than a null the
    API never sends.
    """
    generated = base._records_unstructure_hook(converter)(cls)

    def unstructure(item: Any) -> dict[str, Any]:
        written: dict[str, Any] = generated(item)
        if item.status is None:
            del written["status"]
        if item.id is None:
            del written["id"]
        return written

    return unstructure


def configure_converter(converter: cattrs.Converter) -> cattrs.Converter:
    """Add the Responses records' rules (see the module docstring) to `converter`."""
    converter.register_structure_hook(bool, _structure_bool)
    for cls in (MessageItem, FunctionCallItem, ReasoningItem, ToolCallItem, UnknownItem):
        converter.register_unstructure_hook(cls, _where_sent(converter, cls))
    converter.register_unstructure_hook_func(base._equals(OutputItem), base._by_class(converter))
    union = base._tagged_union(converter, ITEM_VARIANTS, UnknownItem)
    converter.register_structure_hook_func(base._equals(OutputItem), union)
    return converter


def make_converter(*, detailed: bool = False, shared: bool = False) -> cattrs.Converter:
    """A converter that reads and writes responses and output items as the API does.

    `detailed` collects every problem with its path (slower); a `shared` converter
    keeps an unknown key's value as it is in the payload (for the replay, which owns
    what it decoded). Unknown keys are never refused: `parse` reports them itself
    when strict.
    """
    return configure_converter(base.make_converter(detailed=detailed, shared=shared))


_FAST: Final = make_converter()
_SHARED: Final = make_converter(shared=True)
_DETAILED: Final = make_converter(detailed=True)


class _Hooks(dict[Any, Callable[..., Any]]):
    """A type -> its converter's hook, generated on first use (as `steplife._wire` does)."""

    def __init__(self, make: Callable[[Any], Callable[..., Any]]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, tp: Any) -> Callable[..., Any]:
        hook = self[tp] = self._make(tp)
        return hook


_FAST_HOOKS: Final = _Hooks(_FAST.get_structure_hook)
_SHARED_HOOKS: Final = _Hooks(_SHARED.get_structure_hook)
_UNSTRUCTURE: Final = _Hooks(_FAST.get_unstructure_hook)


def _detailed(data: Any, tp: Any) -> Any:
    """`data` loaded as `tp`, or the schema findings (with JSON paths) that prevent it."""
    if type(data) is not dict:
        return [base._schema("$", f"expected an object, got {base._json_type(data)}")]
    try:
        return _DETAILED.structure(data, tp)
    except Exception as exc:
        return list(base._problems(exc, "")) or [base._schema("$", repr(exc))]


def structure_response(data: Any) -> Response | list[Finding]:
    """Load `data` as a response, or return the schema findings that prevent it.

    For the replay, which owns the payloads it loads: an unknown key's value is kept
    as it is in `data`, not copied (`from_dict` copies it).
    """
    try:
        return _SHARED_HOOKS[Response](data, Response)  # type: ignore[no-any-return]
    except Exception:
        return _detailed(data, Response)  # type: ignore[no-any-return]


def structure_item(data: Any) -> OutputItem | list[Finding]:
    """Load `data` as an output item (its record told by its ``type``), or the findings."""
    try:
        return _SHARED_HOOKS[OutputItem](data, OutputItem)  # type: ignore[no-any-return]
    except Exception:
        return _detailed(data, OutputItem)  # type: ignore[no-any-return]


def _unknown_keys(data: Mapping[str, Any], rules: Rules) -> list[Finding]:
    found = []
    for key in data:
        if key not in RESPONSE_KEYS:
            finding = rules.finding("unknown-key", f"{key}: unknown key", path=str(key))
            if finding is not None:
                found.append(finding)
    return found


def parse(
    data: Mapping[str, Any] | bytes | str,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Parsed:
    """Load a response from a dict or JSON text and check it, never raising for bad data.

    Returns the response (None when it could not be built) with every finding: schema
    problems with their JSON paths, the response's keys it does not document when
    `strict` (``unknown-key``; an item's keys vary by type and are not checked), and
    every rule the response and its output items break.
    """
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return Parsed(None, (base._schema("$", f"not valid JSON: {exc}"),))
    elif (unwritable := base._unwritable(data)) is not None:
        return Parsed(None, (unwritable,))
    if type(data) is not dict:
        data = dict(data) if isinstance(data, Mapping) else data
    try:
        response: Response = _FAST_HOOKS[Response](data, Response)
    except Exception:
        found = _detailed(data, Response)
        if isinstance(found, list):
            return Parsed(None, tuple(found))
        response = found  # pragma: no cover - the fast loader refuses what this refuses
    findings = _unknown_keys(data, rules) if strict and isinstance(data, Mapping) else []
    findings = [attrs.evolve(f, run_id=response.id) for f in findings]
    return Parsed(response, (*findings, *check_response(response, rules)))


def from_dict(
    data: Mapping[str, Any], *, strict: bool = False, rules: Rules = DEFAULT_RULES
) -> Response:
    """Load a response from a JSON-like dict, checking every rule.

    Raises `InvalidRecordError` listing every problem (each with its JSON path) when
    the data is not a valid response or breaks an error-level rule. Warnings do not
    raise; use `parse` to see them.
    """
    parsed = parse(data, strict=strict, rules=rules)
    return _raise_unless_ok(parsed)


def from_json(data: bytes | str, *, strict: bool = False, rules: Rules = DEFAULT_RULES) -> Response:
    """Like `from_dict`, from JSON text."""
    return _raise_unless_ok(parse(data, strict=strict, rules=rules))


def _raise_unless_ok(parsed: Parsed) -> Response:
    response = parsed.record
    if response is None or not parsed.ok:
        named = f"response {shown(response.id)}" if response is not None else "response"
        raise InvalidRecordError(f"invalid {named}", parsed.findings)
    return response


def to_dict(value: Response | OutputItem) -> dict[str, Any]:
    """A response or an output item as the API's JSON object (dicts, lists and scalars)."""
    return _UNSTRUCTURE[type(value)](value)  # type: ignore[no-any-return]


def to_json(value: Response | OutputItem) -> bytes:
    """A response or an output item as compact JSON bytes, in the API's key order.

    Raises `InvalidRecordError` for a record built in Python with what JSON cannot
    carry (an integer beyond 64 bits, a string with a lone surrogate).
    """
    data = to_dict(value)
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        problem = base._unwritable(data) or base._schema("$", "not writable as JSON")
    what = "response" if type(value) is Response else "output item"
    raise InvalidRecordError(
        f"{what} {shown(value.id)} cannot be written as JSON",
        [Finding(rule=problem.rule, severity=Severity.ERROR, message=problem.message)],
    )
