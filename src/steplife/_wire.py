"""JSON both ways: the cattrs converters and the functions users call.

This is the only module that imports cattrs. `make_converter` builds a configured
converter (no global converter is mutated). It installs these rules:

- primitives are checked, never coerced: a string field refuses ``5``, an int field
  refuses ``"5"`` and ``true``; a float field takes any JSON number;
- ``step_details``, tool calls and code-interpreter outputs are tagged unions on
  ``type``, dispatched by a dict lookup;
- nothing read is lost: keys a record does not model (the API grows; real streams
  send a step's ``expires_at``, usage token details, ...) are kept in its ``extra``
  and written back after the modelled keys, at every depth; loading strictly also
  reports them, except the documented ones (a step's ``expires_at``, a run's
  ``model``, ``tools``, ...); a missing nullable field reads as null;
- what could not be written back is refused at load with its path: an integer
  beyond 64 bits, a lone surrogate, a non-string key, an infinite or NaN float, an
  unknown value nested more than 200 levels deep;
- keys the spec marks optional (file-search ``ranking_options``, ``results``,
  ``content`` and its ``type``/``text``) are left out when null; every other
  nullable field is written as ``null``; key order is the API's.

Loading is fast by default (cattrs' generated hooks without detailed validation);
only when that fails is the input walked again by a detailed converter, to report
every problem with its JSON path. The replay then reads what it can of such a payload
(`structure_leniently`): a timestamp sent as an ISO-8601 date-time is read as the Unix
second it names, a value of the wrong type as null where the spec allows null, so a
sloppy server's events still go through the lifecycle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import NoneType, UnionType
from typing import Any, Final, Generic, Literal, TypeVar, Union, get_origin, overload

import attrs
import cattrs
import orjson
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from steplife._findings import Finding, Severity, shown
from steplife._rules import DEFAULT_RULES, Rules
from steplife.errors import InvalidRecordError
from steplife.model import (
    NO_EXTRA,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterOutput,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchResult,
    FileSearchResultContent,
    FileSearchToolCall,
    FunctionToolCall,
    MessageCreationDetails,
    Metadata,
    Record,
    Run,
    RunStep,
    StepDetails,
    ToolCall,
    ToolCallsDetails,
    UnknownToolCall,
)

__all__ = [
    "Leniency",
    "Parsed",
    "Record",
    "from_dict",
    "from_json",
    "iso_instant",
    "make_converter",
    "parse",
    "structure",
    "structure_as",
    "structure_leniently",
    "structure_run",
    "to_dict",
    "to_json",
    "unknown_keys",
]

T = TypeVar("T")

_UNIONS: Final[Mapping[Any, Mapping[str, type]]] = {
    StepDetails: {"message_creation": MessageCreationDetails, "tool_calls": ToolCallsDetails},
    ToolCall: {
        "code_interpreter": CodeInterpreterToolCall,
        "file_search": FileSearchToolCall,
        "function": FunctionToolCall,
    },
    CodeInterpreterOutput: {"logs": CodeInterpreterLogs, "image": CodeInterpreterImage},
}
_OPEN_UNIONS: Final[Mapping[Any, type]] = {ToolCall: UnknownToolCall}
"""The unions whose tag is an open set, and the record an undocumented tag loads as."""
# Innermost first: cattrs binds the nested hooks when it generates a record's hook,
# so a record registered before its children would write their nulls.
_OMIT_IF_NULL: Final = (FileSearchResultContent, FileSearchResult, FileSearch)
_TOLERATED_KEYS: Final[Mapping[type, frozenset[str]]] = {
    RunStep: frozenset(("expires_at",)),
    # A run's documented fields that do not bear on the lifecycle: carried, even
    # when loading strictly (only keys the API does not document are reported).
    Run: frozenset(
        (
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
    ),
}


class _WireTypeError(TypeError):
    """A JSON value of the wrong type; its message is the whole user-facing text."""


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if type(value) in (int, float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _structure_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    raise _WireTypeError(f"expected a string, got {_json_type(value)}")


def _structure_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if type(value) is float:
        # orjson reads an integer beyond 64 bits as a float: name the value, not its type.
        why = " (beyond 64 bits)" if abs(value) >= 2**63 else ""
        raise _WireTypeError(f"expected an integer, got {value!r}{why}")
    raise _WireTypeError(f"expected an integer, got {_json_type(value)}")


_NOT_FINITE: Final = "a number JSON cannot carry (infinite or NaN)"


def _structure_float(value: Any, _: type) -> float:
    if type(value) is float:
        if value - value != 0:  # inf - inf and nan - nan are nan
            raise _WireTypeError(_NOT_FINITE)
        return value
    if type(value) is int:
        return float(value)
    raise _WireTypeError(f"expected a number, got {_json_type(value)}")


def _literal_hook(literal: Any) -> Callable[[Any, Any], Any]:
    allowed = frozenset(literal.__args__)
    shown = ", ".join(repr(v) for v in literal.__args__)

    def structure(value: Any, _: Any) -> Any:
        if type(value) is str and value in allowed:
            return value
        if type(value) is not str:
            raise _WireTypeError(f"expected a string, got {_json_type(value)}")
        raise _WireTypeError(f"{value!r} is not one of {shown}")

    return structure


def _optional_hook(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    # cattrs' generic Optional hook inspects the union on every call; ours is made once.
    def factory(optional: Any) -> Callable[[Any, Any], Any]:
        inner = next(arg for arg in optional.__args__ if arg is not NoneType)
        if inner in (int, str):
            name = {int: "an integer", str: "a string"}[inner]

            def structure_scalar(value: Any, _: Any) -> Any:
                if value is None or type(value) is inner:
                    return value
                raise _WireTypeError(f"expected {name} or null, got {_json_type(value)}")

            return structure_scalar
        hook = converter.get_structure_hook(inner)

        def structure(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure

    return factory


def _is_optional(tp: Any) -> bool:
    args = getattr(tp, "__args__", ())
    return len(args) == 2 and NoneType in args and get_origin(tp) in (UnionType, Union)


def _is_literal(tp: Any) -> bool:
    return get_origin(tp) is Literal


def _structure_metadata(value: Any, _: type) -> Metadata:
    # Values are kept as sent: the `metadata-limits` rule reports non-strings with a
    # better message than a type error would.
    if type(value) is dict:
        return dict(value)
    raise _WireTypeError(f"expected an object, got {_json_type(value)}")


def _tagged_union(
    converter: cattrs.Converter, variants: Mapping[str, type], other: type | None
) -> Callable[[Any, Any], Any]:
    """Structure a union by its ``type`` tag; an unknown string tag loads as `other`, if any."""
    expected = ", ".join(repr(tag) for tag in variants)
    hooks: dict[str, Callable[[Any, Any], Any]] = {}  # filled on first use: hooks are lazy

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise _WireTypeError(f"expected an object, got {_json_type(value)}")
        tag = value.get("type")
        if type(tag) is not str or (tag not in variants and other is None):
            shown = "missing" if tag is None else repr(tag)
            raise _WireTypeError(f"type is {shown}, expected one of {expected}")
        hook = hooks.get(tag)
        if hook is None:
            hook = hooks[tag] = converter.get_structure_hook(variants.get(tag, other))
        return hook(value, None)

    return structure


def _by_class(converter: cattrs.Converter) -> Callable[[Any], Any]:
    hooks: dict[type, Callable[[Any], Any]] = {}

    def unstructure(value: Any) -> Any:
        cls = type(value)
        hook = hooks.get(cls)
        if hook is None:
            hook = hooks[cls] = converter.get_unstructure_hook(cls)
        return hook(value)

    return unstructure


def _equals(expected: Any) -> Callable[[Any], bool]:
    def predicate(tp: Any) -> bool:
        return bool(tp == expected)

    return predicate


def _records_hook(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Wrap cattrs' generated hook for each attrs record with a check that it got an object.

    The wrapper also requires every non-nullable key: the records default some of
    them (``status``, ``tool_calls``, ...) for construction in code, but on the wire
    only a nullable key may be missing (and then reads as null).
    """

    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        # `extra` is no key: it is what the other keys leave over.
        generated = make_dict_structure_fn(cls, converter, extra=override(omit=True))
        fields = wire_fields(cls)
        known = frozenset(field.name for field in fields)
        order = {field.name: i for i, field in enumerate(fields)}
        required = tuple(
            (field.name, field.type)
            for field in fields
            if field.default is not attrs.NOTHING and not _is_optional(field.type)
        )

        def structure(value: Any, _: Any) -> Any:
            if type(value) is not dict:
                raise _WireTypeError(f"expected an object, got {_json_type(value)}")
            missing = [(name, tp) for name, tp in required if name not in value]
            if not missing:
                record = generated(value, cls)
                record.extra = _leftover_at_path(value, known, cls)
                return record
            if not converter.detailed_validation:
                raise KeyError(missing[0][0])
            errors: list[Exception] = []
            for name, tp in missing:
                error = KeyError(name)
                error.add_note(AttributeValidationNote(f"{name} is missing", name, tp))
                errors.append(error)
            try:
                generated(value, cls)
            except ClassValidationError as exc:
                errors += exc.exceptions
            errors.sort(key=lambda error: order.get(_attribute_of(error), len(order)))
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)

        return structure

    return factory


def _attribute_of(error: BaseException) -> str:
    notes = getattr(error, "__notes__", ())
    return next((n.name for n in notes if isinstance(n, AttributeValidationNote)), "")


_MISSING: Final = object()
"""What a generated structure function reads for an absent nullable key."""


def wire_fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    """The fields of record `cls` that are keys on the wire, in the API's order (not `extra`)."""
    return tuple(f for f in attrs.fields(attrs.resolve_types(cls)) if f.name != "extra")


def _leftover(value: dict[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    """The keys of `value` that are not `known`, with values the record owns (a copy)."""
    left = {key: _owned(item) for key, item in value.items() if key not in known}
    return left or NO_EXTRA


_CARRIED_DEPTH: Final = 200
"""How deeply an unmodelled value may nest: JSON writers stop at 255 levels in all."""


def unknown_keys(value: dict[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    """The keys of `value` that are not `known`, their values shared with `value`."""
    return {key: item for key, item in value.items() if key not in known} or NO_EXTRA


def _leftover_at_path(value: dict[str, Any], known: frozenset[str], cls: type) -> Mapping[str, Any]:
    """`_leftover`, raising a failure at the key that cannot be carried (for its path)."""
    left = {}
    for key, item in value.items():
        if key not in known:
            try:
                left[key] = _owned(item)
            except _WireTypeError as exc:
                exc.add_note(AttributeValidationNote(str(exc), key, Any))
                raise ClassValidationError(
                    f"While structuring {cls.__name__}", [exc], cls
                ) from None
    return left or NO_EXTRA


def _owned(value: Any) -> Any:
    """`value` with every dict and list copied, so no caller's object is shared.

    Raises for what could not be written back: a float JSON cannot carry (it would
    read as null), or nesting deeper than `_CARRIED_DEPTH`. A container is copied by
    a JSON round trip, in C (a run's ``tools`` would take ten times as long in
    Python); only when that cannot vouch for it (it failed, or wrote a ``null``, which
    an infinite float also becomes) is it walked in Python, to say what is wrong.
    """
    if type(value) is dict or type(value) is list:
        try:
            text = orjson.dumps(value)
        except orjson.JSONEncodeError:
            return _walked(value)
        if b"null" in text:
            return _walked(value)
        return orjson.loads(text)
    if type(value) is float and value - value != 0:
        raise _WireTypeError(_NOT_FINITE)
    return value


def _walked(value: Any, depth: int = 0) -> Any:
    """`_owned`, in Python: copies `value`, raising at what JSON could not carry."""
    if type(value) is dict or type(value) is list:
        if depth == _CARRIED_DEPTH:
            raise _WireTypeError(
                f"nested more than {_CARRIED_DEPTH} levels deep, too deep to carry"
            )
        if type(value) is dict:
            return {key: _walked(item, depth + 1) for key, item in value.items()}
        return [_walked(item, depth + 1) for item in value]
    if type(value) is float and value - value != 0:
        raise _WireTypeError(_NOT_FINITE)
    return value


def _with_extra(written: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`written` followed by the record's unmodelled keys (a modelled key always wins)."""
    for key, item in extra.items():
        if key not in written:
            written[key] = _copied(item)
    return written


def _copied(value: Any) -> Any:
    """A copy of `value` (a JSON value), so what is written shares nothing with the record.

    By a JSON round trip, in C, when it can; else walked (a value JSON could not
    carry is copied as it is: `to_json` says what is wrong with it).
    """
    if type(value) is not dict and type(value) is not list:
        return value
    try:
        return orjson.loads(orjson.dumps(value))
    except orjson.JSONEncodeError:
        if type(value) is dict:
            return {key: _copied(item) for key, item in value.items()}
        return [_copied(item) for item in value]


def _is_list(tp: Any) -> bool:
    return get_origin(tp) is list


def _list_hook(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Wrap cattrs' list hook with a check that it got an array.

    cattrs turns any iterable into a list, so ``""`` or ``{}`` would load as ``[]``
    and ``"ab"`` as two items.
    """

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        generated = list_structure_factory(tp, converter)

        def structure(value: Any, _: Any) -> Any:
            if type(value) is not list:
                raise _WireTypeError(f"expected an array, got {_json_type(value)}")
            return generated(value, tp)

        return structure

    return factory


def _strict_records_hook(
    converter: cattrs.Converter,
    leftover: Callable[[dict[str, Any], frozenset[str]], Mapping[str, Any]],
) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Generate, for each attrs record, a fast structure function with inline checks.

    This is the hot path (the detailed converter explains failures). cattrs'
    generated functions call a hook per field and copy defaulted fields through a
    keyword dict; ours read each key once and check scalars inline (``type(v) is
    str``), so a whole step loads in about half the time. The wire rules are the
    same: non-nullable keys are required, a missing nullable key reads as null,
    scalars are never coerced (an int becomes a float, nothing else changes type).
    """

    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        namespace: dict[str, Any] = {"_cls": cls, "_Error": _WireTypeError}
        lines = [
            "def structure(o, _=None):",
            "    if type(o) is not dict:",
            "        raise _Error('expected an object')",
        ]
        fields = wire_fields(cls)
        namespace["_known"] = frozenset(field.name for field in fields)
        namespace["_leftover"] = leftover
        namespace["_MISSING"] = _MISSING
        lines.append("    m = 0")  # how many nullable keys are missing
        for i, field in enumerate(fields):
            required = field.default is attrs.NOTHING or not _is_optional(field.type)
            if required:
                lines.append(f"    v{i} = o[{field.name!r}]")
            else:
                lines.append(f"    v{i} = o.get({field.name!r}, _MISSING)")
                lines.append(f"    if v{i} is _MISSING: v{i} = None; m += 1")
            lines += _field_check(converter, f"v{i}", field.type, namespace, f"t{i}")
        arguments = ", ".join(f"{field.name}=v{i}" for i, field in enumerate(fields))
        # Every modelled key present was read: the object has a key beyond them exactly
        # when it holds more keys than that. A count, not a set test, on the hot path.
        lines.append(f"    if len(o) + m == {len(fields)}: return _cls({arguments})")
        lines.append(f"    return _cls({arguments}, extra=_leftover(o, _known))")
        # The code is built from our own records' fields, never from input.
        source = "\n".join(lines)
        exec(compile(source, f"<steplife structure {cls.__name__}>", "exec"), namespace)
        structure: Callable[[Any, Any], Any] = namespace["structure"]
        return structure

    return factory


def _records_unstructure_hook(
    converter: cattrs.Converter,
) -> Callable[[Any], Callable[[Any], Any]]:
    """Generate, for each attrs record, a function writing it as the API's JSON object.

    Keys come in field order (the API's); scalars are read directly, nested records
    through the converter's hooks; a key the spec marks optional (`_OMIT_IF_NULL`
    classes) is left out when null, every other null is written as ``null``.
    """

    def factory(cls: Any) -> Callable[[Any], Any]:
        namespace: dict[str, Any] = {}
        omit = cls in _OMIT_IF_NULL
        lines = ["def unstructure(o):"]
        entries = []
        fields = wire_fields(cls)
        namespace["_with_extra"] = _with_extra
        namespace["_NO_EXTRA"] = NO_EXTRA
        for i, field in enumerate(fields):
            value = _unstructure_expr(converter, f"o.{field.name}", field.type, namespace, f"h{i}")
            if omit:
                lines.append(f"    v{i} = {value}")
            else:
                entries.append(f"{field.name!r}: {value}")
        if omit:
            lines.append("    d = {}")
            for i, field in enumerate(fields):
                lines.append(f"    if v{i} is not None: d[{field.name!r}] = v{i}")
        else:
            lines.append("    d = {" + ", ".join(entries) + "}")
        lines.append("    return d if o.extra is _NO_EXTRA else _with_extra(d, o.extra)")
        source = "\n".join(lines)
        exec(compile(source, f"<steplife unstructure {cls.__name__}>", "exec"), namespace)
        unstructure: Callable[[Any], Any] = namespace["unstructure"]
        return unstructure

    return factory


def _unstructure_expr(
    converter: cattrs.Converter, attr: str, tp: Any, namespace: dict[str, Any], name: str
) -> str:
    optional = _is_optional(tp)
    inner = next(arg for arg in tp.__args__ if arg is not NoneType) if optional else tp
    if inner in (str, int, float) or _is_literal(inner):
        return attr
    if _is_list(inner):
        namespace[name] = converter.get_unstructure_hook(inner.__args__[0])
        expr = f"[{name}(e) for e in {attr}]"
    else:
        namespace[name] = converter.get_unstructure_hook(inner)
        expr = f"{name}({attr})"
    return f"(None if {attr} is None else {expr})" if optional else expr


_SCALARS: Final = {str: "str", int: "int"}


def _field_check(
    converter: cattrs.Converter, var: str, tp: Any, namespace: dict[str, Any], name: str
) -> list[str]:
    """Lines that check (or convert) `var` of type `tp`, raising on anything else."""
    optional = _is_optional(tp)
    inner = next(arg for arg in tp.__args__ if arg is not NoneType) if optional else tp
    guard = f"{var} is not None and " if optional else ""
    if inner in _SCALARS:
        return [
            f"    if {guard}type({var}) is not {_SCALARS[inner]}:",
            "        raise _Error('wrong type')",
        ]
    if inner is float:
        return [
            f"    if {guard}type({var}) is not float:",
            f"        if type({var}) is not int: raise _Error('wrong type')",
            f"        {var} = float({var})",
            f"    elif {var} - {var} != 0: raise _Error('not finite')",
        ]
    if _is_literal(inner):
        namespace[name] = frozenset(inner.__args__)
        return [
            f"    if {guard}(type({var}) is not str or {var} not in {name}):",
            "        raise _Error('not an allowed value')",
        ]
    if _is_list(inner):
        item = inner.__args__[0]
        namespace[name] = converter.get_structure_hook(item)
        namespace[f"{name}_type"] = item
        check = [
            f"    if type({var}) is not list: raise _Error('expected an array')",
            f"    {var} = [{name}(e, {name}_type) for e in {var}]",
        ]
        if optional:
            return [f"    if {var} is not None:"] + ["    " + line for line in check]
        return check
    namespace[name] = converter.get_structure_hook(inner)
    namespace[f"{name}_type"] = inner
    if optional:
        return [f"    if {var} is not None: {var} = {name}({var}, {name}_type)"]
    return [f"    {var} = {name}({var}, {name}_type)"]


def make_converter(
    *, detailed: bool = False, strict: bool = False, shared: bool = False
) -> cattrs.Converter:
    """A converter that reads and writes run steps exactly as the API does.

    `detailed` makes failures collect every problem with its path (slower);
    `strict` also reports unknown keys. A `shared` converter keeps an unknown key's
    value as it is in the payload, not a checked copy: for callers that own the
    payload they load (the replay, which decoded it). See the module docstring.
    """
    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=strict)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook_factory(_is_literal, _literal_hook)
    converter.register_structure_hook_factory(_is_optional, _optional_hook(converter))
    if detailed:
        converter.register_structure_hook_factory(attrs.has, _records_hook(converter))
    else:
        leftover = unknown_keys if shared else _leftover
        factory = _strict_records_hook(converter, leftover)
        converter.register_structure_hook_factory(attrs.has, factory)
    converter.register_structure_hook_factory(_is_list, _list_hook(converter))
    # cattrs re-dispatches a union on every value; ours look the class up once.
    for union in _UNIONS:
        converter.register_unstructure_hook_func(_equals(union), _by_class(converter))
    # Unions and parametrised generics are not classes: match them by equality.
    converter.register_structure_hook_func(_equals(Metadata), _structure_metadata)
    for union, variants in _UNIONS.items():
        hook = _tagged_union(converter, variants, _OPEN_UNIONS.get(union))
        converter.register_structure_hook_func(_equals(union), hook)
    converter.register_unstructure_hook_factory(attrs.has, _records_unstructure_hook(converter))
    return converter


_FAST: Final = make_converter()
_SHARED: Final = make_converter(shared=True)
_DETAILED: Final = make_converter(detailed=True)
_STRICT: Final = make_converter(detailed=True, strict=True)


def _schema(path: str, message: str, rule: str = "schema") -> Finding:
    return Finding(rule=rule, severity=Severity.ERROR, message=f"{path}: {message}", path=path)


_INT_RANGE: Final = range(-(2**63), 2**64)
"""The integers JSON writers carry (orjson's range: signed and unsigned 64 bits)."""


def _unwritable(data: Any) -> Finding | None:
    """A schema finding when `data` holds what JSON cannot carry, else None.

    Only Python data can: an integer beyond 64 bits, a string with a lone surrogate
    (JSON text read by steplife never has one). Loaded, either would make `to_json`
    fail later; it is refused with its path instead. The walk runs only on failure.
    """
    try:
        orjson.dumps(data)
    except orjson.JSONEncodeError:
        try:
            found = _first_unwritable(data, "")
        except RecursionError:  # nested too deep to walk: the loader says so its way
            return None
        if found is not None:
            path, what = found
            return _schema(path or "$", f"{what}, which JSON cannot carry")
    return None


def _first_unwritable(value: Any, path: str) -> tuple[str, str] | None:
    if type(value) is int and value not in _INT_RANGE:
        return path, "an integer beyond 64 bits"
    if type(value) is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "a string with a lone surrogate"
    elif type(value) is dict:
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if type(key) is not str:
                return here, "a key that is not a string"
            found = _first_unwritable(key, here) or _first_unwritable(item, here)
            if found is not None:
                return found
    elif type(value) is list:
        for index, item in enumerate(value):
            if (found := _first_unwritable(item, f"{path}[{index}]")) is not None:
                return found
    return None


def _problems(exc: BaseException, path: str) -> Iterator[Finding]:
    if isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            here = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    here = f"{path}.{note.name}" if path else note.name
                elif isinstance(note, IterableValidationNote):
                    here = f"{path}[{note.index}]"
            yield from _problems(sub, here)
    elif isinstance(exc, ForbiddenExtraKeysError):
        # A Mapping built in code may mix key types; JSON keys are always strings.
        for key in sorted(exc.extra_fields, key=str):
            yield _schema(f"{path}.{key}" if path else str(key), "unknown key", rule="unknown-key")
    elif isinstance(exc, KeyError):
        yield _schema(path, "missing")
    elif isinstance(exc, _WireTypeError):
        yield _schema(path or "$", str(exc))
    else:
        # cattrs' own messages, e.g. for a Literal: "'foo' not in literal (...)".
        yield _schema(path or "$", str(exc) or type(exc).__name__)


def _structure_detailed(
    data: Any,
    converter: cattrs.Converter,
    cls: type[T] = RunStep,  # type: ignore[assignment]
) -> T | list[Finding]:
    if type(data) is not dict:
        return [_schema("$", f"expected an object, got {_json_type(data)}")]
    tolerated = _TOLERATED_KEYS[cls]
    if converter is _STRICT and tolerated & data.keys():
        data = {k: v for k, v in data.items() if k not in tolerated}
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        return list(_problems(exc, "")) or [_schema("$", repr(exc))]


def structure(data: Any, *, strict: bool = False) -> RunStep | list[Finding]:
    """Load `data` as a step, or return the schema findings that prevent it.

    For the replay and the store, which own the payloads they load: an unknown key's
    value is kept as it is in `data`, not copied (`from_dict` copies and checks it).
    """
    return _structure(RunStep, data, strict, shared=True)


def structure_run(data: Any, *, strict: bool = False) -> Run | list[Finding]:
    """Load `data` as a run, or return the schema findings that prevent it.

    A run's documented but unmodelled keys (model, tools, ...) are carried in its
    ``extra`` (shared with `data`, as `structure` does); only undocumented ones are
    reported, when `strict`.
    """
    return _structure(Run, data, strict, shared=True)


def _structure(
    cls: type[RecordT], data: Any, strict: bool, shared: bool = False
) -> RecordT | list[Finding]:
    if not strict:
        try:
            hooks = _SHARED_HOOKS if shared else _FAST_HOOKS
            return hooks[cls](data, cls)  # type: ignore[no-any-return]
        except Exception:
            pass
    return _structure_detailed(data, _STRICT if strict else _DETAILED, cls)


# -- the public load/dump API -----------------------------------------------------------

RecordT = TypeVar("RecordT", bound=Record)
_RECORDS: Final[tuple[type[Record], ...]] = (RunStep, Run)


class _Hooks(dict[type, Callable[..., Any]]):
    """A record class -> its converter's hook, generated on first use.

    Generating a record's hooks compiles code for it and every record nested in it:
    tens of milliseconds a converter, which a command that never needs a converter
    (or needs one of them) should not pay at import.
    """

    def __init__(self, make: Callable[[type], Callable[..., Any]]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, cls: type) -> Callable[..., Any]:
        if cls not in _RECORDS:
            raise KeyError(cls)
        hook = self[cls] = self._make(cls)
        return hook


_FAST_HOOKS: Final = _Hooks(_FAST.get_structure_hook)
_SHARED_HOOKS: Final = _Hooks(_SHARED.get_structure_hook)
_UNSTRUCTURE: Final = _Hooks(_FAST.get_unstructure_hook)
_BY_OBJECT: Final[Mapping[str, type[Record]]] = {
    str(attrs.fields_dict(cls)["object"].default): cls for cls in _RECORDS
}
"""The ``object`` value each record is written with -> its class."""
_NAMES: Final[Mapping[type, str]] = {RunStep: "run step", Run: "run"}


@attrs.frozen
class Parsed(Generic[RecordT]):
    """A loaded record together with every finding about it.

    `record` is None when the input could not be turned into a record at all (bad
    JSON, missing fields, wrong types, an ``object`` steplife does not read);
    `findings` then holds those problems.
    """

    record: RecordT | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """Whether a record was loaded and no finding is an error."""
        return self.record is not None and not any(f.is_error for f in self.findings)


def _check(record: Record, rules: Rules) -> list[Finding]:
    if type(record) is Run:
        return rules.check_run(record)
    return rules.check(record)  # type: ignore[arg-type]


def _kind_of(data: Any, kind: type[Record] | None) -> type[Record] | Finding:
    """The record class to load `data` as: `kind`, else the one its ``object`` names."""
    if kind is not None:
        if kind not in _NAMES:
            raise TypeError(f"kind must be RunStep or Run, not {kind!r}")
        return kind
    if not isinstance(data, Mapping):
        return _schema("$", f"expected an object, got {_json_type(data)}")
    named = data.get("object")
    found = _BY_OBJECT.get(named) if type(named) is str else None
    if found is not None:
        return found
    readable = " or ".join(repr(name) for name in sorted(_BY_OBJECT))
    if named is None:
        return _schema("object", f"missing; a record names what it is here ({readable})")
    return _schema("object", f"{shown(named)} is not a record steplife reads; expected {readable}")


@overload
def parse(
    data: Mapping[str, Any] | bytes | str,
    kind: type[RecordT],
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Parsed[RecordT]: ...
@overload
def parse(
    data: Mapping[str, Any] | bytes | str,
    kind: None = None,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Parsed[Record]: ...
def parse(
    data: Mapping[str, Any] | bytes | str,
    kind: type[Any] | None = None,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Parsed[Any]:
    """Load a record from a dict or JSON text and check it, never raising for bad data.

    The record is the one the payload's ``object`` names (a ``thread.run.step`` loads
    as a `RunStep`, a ``thread.run`` as a `Run`); pass `kind` to load it as that class
    whatever it says (and to give type checkers the precise type).

    Returns the record (None when it could not be built) with every finding: schema
    problems with their JSON paths, unknown keys when `strict`, and every broken rule.
    """
    return _parse(data, kind, strict, rules)[0]


def _parse(
    data: Any, kind: type[Record] | None, strict: bool, rules: Rules
) -> tuple[Parsed[Any], type[Record] | None]:
    """`parse`, also saying which class it loaded as (None when it could not tell)."""
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return Parsed(None, (_schema("$", f"not valid JSON: {exc}"),)), kind
    elif (unwritable := _unwritable(data)) is not None:
        return Parsed(None, (unwritable,)), kind
    cls = _kind_of(data, kind)
    if isinstance(cls, Finding):
        return Parsed(None, (cls,)), None
    # Unknown keys never stop a record from loading: `rules` decides what they are
    # worth, so it is built leniently and the strict walk only reports them.
    result = _structure(cls, data, strict=False)
    if isinstance(result, list):
        everything = _structure(cls, data, strict=True) if strict else result
        if isinstance(everything, list):  # always, as strict only adds problems
            result = everything
        return Parsed(None, tuple(_graded(result, rules))), cls
    findings = []
    if strict and isinstance(unknown := _structure(cls, data, strict=True), list):
        findings = [_about(result, f) for f in _graded(unknown, rules)]
    return Parsed(result, (*findings, *_check(result, rules))), cls


def _about(record: Record, finding: Finding) -> Finding:
    """`finding`, naming the record it is about."""
    if type(record) is Run:
        return attrs.evolve(finding, run_id=record.id)
    return attrs.evolve(finding, step_id=record.id)


def _graded(findings: list[Finding], rules: Rules) -> list[Finding]:
    # A `schema` problem is what kept the record from being built: it stands whatever
    # the rules say, or the caller would be told "invalid" with no reason.
    graded = []
    for f in findings:
        if f.rule == "schema":
            graded.append(f)
            continue
        finding = rules.finding(f.rule, f.message, path=f.path)
        if finding is not None:
            graded.append(finding)
    return graded


@overload
def from_dict(
    data: Mapping[str, Any],
    kind: type[RecordT],
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> RecordT: ...
@overload
def from_dict(
    data: Mapping[str, Any],
    kind: None = None,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Record: ...
def from_dict(
    data: Mapping[str, Any],
    kind: type[Any] | None = None,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Record:
    """Load a record from a JSON-like dict, checking every rule.

    The record is the one the payload's ``object`` names (see `parse`); pass `kind`
    (`RunStep` or `Run`) to load it as that class. Raises `InvalidRecordError`
    listing every problem (each with its JSON path, like
    ``step_details.tool_calls[2].function.name: missing``) when the data is not a
    valid record or breaks an error-level rule. Warnings do not raise; use `parse`
    to see them.
    """
    if not strict:
        record = _fast_load(data, kind, rules)
        # Checked once the record loaded: a bad payload pays for the check in `parse` only.
        if record is not None and _unwritable(data) is None:
            return record
    return _raise_unless_ok(*_parse(data, kind, strict, rules))


@overload
def from_json(
    data: bytes | str, kind: type[RecordT], *, strict: bool = False, rules: Rules = DEFAULT_RULES
) -> RecordT: ...
@overload
def from_json(
    data: bytes | str, kind: None = None, *, strict: bool = False, rules: Rules = DEFAULT_RULES
) -> Record: ...
def from_json(
    data: bytes | str,
    kind: type[Any] | None = None,
    *,
    strict: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> Record:
    """Like `from_dict`, from JSON text."""
    if not strict:
        try:
            loaded = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # `parse` below reports it
        else:
            record = _fast_load(loaded, kind, rules)
            if record is not None:
                return record
    return _raise_unless_ok(*_parse(data, kind, strict, rules))


def _fast_load(data: Any, kind: type[Record] | None, rules: Rules) -> Record | None:
    """The record when `data` is a clean one, else None (then `parse` says why)."""
    cls = _kind_of(data, kind)
    if isinstance(cls, Finding):
        return None
    try:
        record: Record = _FAST_HOOKS[cls](data, cls)
    except Exception:
        return None
    for finding in _check(record, rules):
        if finding.severity is Severity.ERROR:
            return None
    return record


def _raise_unless_ok(parsed: Parsed[Any], cls: type[Record] | None) -> Record:
    """The parsed record when it loaded with no error-level finding; else `InvalidRecordError`."""
    record: Record | None = parsed.record
    if record is None or not parsed.ok:
        what = _NAMES[cls] if cls is not None else "record"
        named = f"{what} {shown(record.id)}" if record is not None and record.id else what
        raise InvalidRecordError(f"invalid {named}", parsed.findings)
    return record


def to_dict(value: Record) -> dict[str, Any]:
    """A record (a step or a run) as the API's JSON object (dicts, lists and scalars)."""
    return _UNSTRUCTURE[type(value)](value)  # type: ignore[no-any-return]


def to_json(value: Record) -> bytes:
    """A record (a step or a run) as compact JSON bytes, in the API's key order.

    Raises `InvalidRecordError` for a record built in Python with what JSON cannot
    carry (an integer beyond 64 bits, a string with a lone surrogate): the loaders
    refuse such data, but a record's fields can be set directly.
    """
    try:
        data = to_dict(value)
        return orjson.dumps(data)
    except RecursionError:  # an unknown key nested too deeply even to copy
        problem = _schema("$", "nested too deeply to write")
    except orjson.JSONEncodeError:
        problem = _unwritable(data) or _schema("$", "not writable as JSON")
    named = f"{_NAMES[type(value)]} {shown(value.id)}"
    raise InvalidRecordError(f"{named} cannot be written as JSON", [problem])


def unstructure(value: Any) -> Any:
    """Any steplife record (a step or a nested object) as plain JSON-ready data."""
    return _FAST.unstructure(value)


def structure_as(data: Any, cls: type[T]) -> T:
    """Load `data`, which the caller owns, as `cls` (see `structure`); raises on any problem."""
    return _SHARED.structure(data, cls)


# -- reading what can be read of a sloppy payload ---------------------------------------

_ISO_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
"""An ISO-8601 date and time of day, with an optional UTC offset (RFC 3339 and kin)."""


def iso_instant(value: object) -> tuple[float, bool] | None:
    """The Unix time an ISO-8601 date-time string names, and whether it gave an offset.

    None for anything else (a date alone, a number, a string of another shape). A
    date-time without an offset (``datetime.now().isoformat()``) is read as UTC.
    """
    if type(value) is not str or len(value) > 40 or not _ISO_DATE_TIME.fullmatch(value):
        return None
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
    try:
        moment = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:  # 2024-02-30, 25:00, a fraction of more than 6 digits
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC).timestamp(), False
    return moment.timestamp(), True


@attrs.frozen
class Leniency(Generic[RecordT]):
    """What `structure_leniently` read of a payload that does not load as it was sent.

    `converted` holds a ``timestamp-not-unix`` warning per ISO-8601 timestamp read
    as Unix seconds, `nulled` the ``schema`` problem of each value read as null (the
    field's, or its nearest nullable parent's), and `instants` the exact instant each
    converted timestamp named, by its JSON path (its Unix second drops the fraction).
    """

    record: RecordT
    converted: tuple[Finding, ...]
    nulled: tuple[Finding, ...]
    instants: Mapping[str, float]


_PART: Final = re.compile(r"[^.\[\]]+|\[\d+\]")


def _path_parts(path: str) -> list[str | int] | None:
    parts: list[str | int] = [
        int(part[1:-1]) if part[0] == "[" else part for part in _PART.findall(path)
    ]
    return parts or None


def _path_text(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _fields_of(cls: type) -> Mapping[str, attrs.Attribute[Any]]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = {field.name: field for field in wire_fields(cls)}
    return fields


_FIELDS: Final[dict[type, Mapping[str, attrs.Attribute[Any]]]] = {}


def _concrete(tp: Any, value: Any) -> Any:
    """`tp` without its None, a union resolved by the ``type`` tag of `value`."""
    if _is_optional(tp):
        tp = next(arg for arg in tp.__args__ if arg is not NoneType)
    variants = _UNIONS.get(tp)
    if variants is None:
        return tp
    tag = value.get("type") if type(value) is dict else None
    if type(tag) is str and tag in variants:
        return variants[tag]
    return _OPEN_UNIONS.get(tp)


def _slot(cls: type, data: Any, parts: Sequence[str | int]) -> tuple[Any, Any, bool] | None:
    """The declared type at `parts` in `data` (read as `cls`), its value, and if null fits."""
    tp: Any = cls
    value: Any = data
    nullable = False
    for part in parts:
        tp = _concrete(tp, value)
        if isinstance(part, int):
            if not _is_list(tp) or type(value) is not list or not 0 <= part < len(value):
                return None
            tp, value, nullable = tp.__args__[0], value[part], False
        else:
            if tp is None or not attrs.has(tp) or type(value) is not dict:
                return None
            field = _fields_of(tp).get(part)
            if field is None:
                return None
            tp, value, nullable = field.type, value.get(part), _is_optional(field.type)
    return tp, value, nullable


def _replaced(data: Any, parts: Sequence[str | int], value: Any) -> Any:
    """A copy of `data` with `value` at `parts`: only the containers on the path are copied."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    copy: Any = dict(data) if type(data) is dict else list(data)
    copy[head] = _replaced(data[head], rest, value) if rest else value
    return copy


def structure_leniently(
    cls: type[RecordT], data: Any, problems: Sequence[Finding]
) -> Leniency[RecordT] | None:
    """Read what can be read of `data`, which fails to load as `cls` with `problems`.

    For the replay, after `structure` or `structure_run` returned `problems`: each
    timestamp sent as an ISO-8601 date-time (where the API sends Unix seconds) is read
    as the second it names; any other value of the wrong type is read as null, when
    the spec allows null there or in a parent (a broken ``usage`` count nulls the
    ``usage``). None when a problem sits where null does not fit (an ``id``, a
    ``status``, a tool call's name): such a payload cannot be checked. `data` itself
    is never changed.
    """
    if type(data) is not dict or not problems:
        return None
    repaired: Any = data
    converted: list[Finding] = []
    nulled: list[Finding] = []
    instants: dict[str, float] = {}
    cleared: list[list[str | int]] = []
    for problem in problems:
        parts = _path_parts(problem.path or "")
        if problem.rule != "schema" or parts is None:
            return None
        if any(parts[: len(prefix)] == prefix for prefix in cleared):
            continue  # a parent was read as null already
        slot = _slot(cls, repaired, parts)
        if slot is None:
            return None
        tp, value, _ = slot
        instant = iso_instant(value) if _concrete(tp, None) is int else None
        if instant is not None:
            moment, offset = instant
            second = math.floor(moment)
            repaired = _replaced(repaired, parts, second)
            where = "" if offset else " (no UTC offset: read as UTC)"
            converted.append(
                Finding(
                    rule="timestamp-not-unix",
                    severity=Severity.WARNING,
                    message=f"{problem.path}: {shown(value)} is an ISO-8601 date-time, not Unix "
                    f"seconds: read as {second}{where}",
                    path=problem.path,
                )
            )
            instants[problem.path or ""] = moment
            continue
        for end in range(len(parts), 0, -1):
            found = _slot(cls, repaired, parts[:end])
            if found is not None and found[2]:
                break
        else:
            return None
        prefix = parts[:end]
        repaired = _replaced(repaired, prefix, None)
        cleared.append(prefix)
        parent = "" if end == len(parts) else f" ({_path_text(prefix)} read as null)"
        nulled.append(attrs.evolve(problem, message=problem.message + (parent or "; read as null")))
    result = _structure(cls, repaired, False, shared=True)
    if isinstance(result, list):
        return None
    return Leniency(result, tuple(converted), tuple(nulled), instants)
