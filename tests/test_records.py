"""One load/dump API for every record, and the public names it is reached by.

`from_dict`, `from_json` and `parse` load the record a payload's ``object`` names, or
the one `kind` asks for; `to_dict` and `to_json` write either. The facade is short and
sorted; the nested wire records live in `steplife.model`.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, get_origin

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import steplife
import steplife.errors
import steplife.model
from helpers import lost, without_extra
from steplife import InvalidRecordError, Run, RunStep, from_dict, from_json, parse, to_dict
from steplife.model import Record
from steplife.testing import run_steps, runs

records = st.one_of(run_steps(), runs())

STEP_ARGUMENTS: dict[str, Any] = {
    "id": "step_1",
    "run_id": "run_1",
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
    "step_details": steplife.model.MessageCreationDetails(
        message_creation=steplife.model.MessageCreation(message_id="msg_1")
    ),
}
RUN_ARGUMENTS: dict[str, Any] = {"id": "run_1", "thread_id": "thread_1", "assistant_id": "asst_1"}


def clean_step() -> dict[str, Any]:
    return to_dict(steplife.Lifecycle(clock=lambda: 1).start(**STEP_ARGUMENTS))


@given(records)
def test_a_record_loads_back_as_the_class_its_object_names(record: Record) -> None:
    """Without `kind`, each loader returns the record the payload's ``object`` names."""
    data = to_dict(record)
    text = orjson.dumps(data)

    loaded = (parse(data).record, parse(text).record, from_json(text))

    assert (record, record, record) == loaded
    assert {type(record)} == {type(r) for r in loaded}


@given(records)
def test_naming_the_kind_loads_the_same_record(record: Record) -> None:
    """`kind` names the class outright: the result is the one ``object`` would give."""
    data = to_dict(record)

    assert parse(data) == parse(data, type(record))


def test_from_dict_reads_a_clean_record_of_each_kind() -> None:
    """`from_dict` takes a clean step and a clean run alike, returning each as itself."""
    step = clean_step()
    run = to_dict(steplife.RunLifecycle(clock=lambda: 1).create(**RUN_ARGUMENTS))

    assert (RunStep, Run) == (type(from_dict(step)), type(from_dict(run)))


def test_a_payload_without_object_is_refused_with_what_it_should_say() -> None:
    """With no ``object`` and no `kind`, the finding says which values name a record."""
    data = clean_step()
    del data["object"]

    with pytest.raises(InvalidRecordError) as caught:
        from_dict(data)

    expected = [
        "object: missing; a record names what it is here ('thread.run' or 'thread.run.step')"
    ]
    assert expected == [f.message for f in caught.value.findings]
    assert "invalid record:" in str(caught.value)


def test_an_object_steplife_does_not_read_is_refused() -> None:
    """``thread.message`` is no record steplife reads: one finding at ``object``."""
    parsed = parse({**clean_step(), "object": "thread.message"})

    expected = (
        "object: 'thread.message' is not a record steplife reads; "
        "expected 'thread.run' or 'thread.run.step'"
    )
    assert (None, [expected], ["object"]) == (
        parsed.record,
        [f.message for f in parsed.findings],
        [f.path for f in parsed.findings],
    )


@pytest.mark.parametrize("value", [5, None, ["thread.run"], {"a": 1}], ids=repr)
def test_an_object_that_is_no_string_names_no_record(value: Any) -> None:
    """A number, list or map in ``object`` is reported, never looked up (nor hashed)."""
    parsed = parse({**clean_step(), "object": value})

    assert parsed.record is None
    assert ["object"] == [f.path for f in parsed.findings]


def test_a_huge_object_value_is_shortened_in_the_message() -> None:
    """The value is user input: the message shows at most 80 characters of it."""
    parsed = parse({**clean_step(), "object": "x" * 1_000_000})

    message = parsed.findings[0].message
    assert len(message) < 200
    assert "'xxx" in message
    assert "…" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[1]", "$: expected an object, got an array"), ("7", "$: expected an object, got a number")],
)
def test_json_that_is_no_object_is_one_finding(text: str, expected: str) -> None:
    """Without `kind`, a JSON array or scalar is refused before any lookup."""
    parsed = parse(text)

    assert (None, [expected]) == (parsed.record, [f.message for f in parsed.findings])


def test_a_step_payload_loaded_as_a_run_is_refused() -> None:
    """`kind` wins over ``object``: a step's payload asked for as a `Run` does not load."""
    with pytest.raises(InvalidRecordError) as caught:
        from_dict(clean_step(), Run)

    assert str(caught.value).startswith("invalid run")


def test_a_kind_that_is_no_record_is_a_type_error() -> None:
    """Asking for a nested record (or anything else) is a programming error, said so."""
    with pytest.raises(TypeError, match="kind must be RunStep or Run, not"):
        parse(clean_step(), steplife.model.Usage)  # type: ignore[type-var]


def test_to_dict_writes_either_record() -> None:
    """`to_dict` writes a step and a run, each with its own ``object``."""
    run = steplife.RunLifecycle(clock=lambda: 1).create(**RUN_ARGUMENTS)

    assert ("thread.run.step", "thread.run") == (
        clean_step()["object"],
        to_dict(run)["object"],
    )


# -- the public names -----------------------------------------------------------------

FACADE_LIMIT = 35


def test_the_facade_is_short_and_sorted() -> None:
    """At most 35 names, sorted, each resolving on the package."""
    names = steplife.__all__
    assert len(names) <= FACADE_LIMIT
    assert sorted(names) == list(names)
    assert [] == [name for name in names if not hasattr(steplife, name)]


def _public_definitions(module: types.ModuleType) -> set[str]:
    """The classes and type aliases `module` defines itself (not the ones it imports)."""
    found = set()
    for name, value in vars(module).items():
        if name.startswith("_") or name.isupper():
            continue
        defined_here = inspect.isclass(value) and value.__module__ == module.__name__
        if defined_here or isinstance(value, types.UnionType) or get_origin(value) is not None:
            found.add(name)
    return found


def test_the_model_exports_every_record_and_type_it_defines() -> None:
    """`steplife.model.__all__` is sorted and names every record and type alias there."""
    names = steplife.model.__all__
    assert sorted(names) == list(names)
    assert _public_definitions(steplife.model) == set(names)


def test_every_exception_is_in_errors_and_the_facade_shows_the_common_ones() -> None:
    """Each exception the facade exports is the one `steplife.errors` defines."""
    exported = [name for name in steplife.__all__ if name.endswith(("Error", "Warning"))]
    assert [] == [
        name for name in exported if getattr(steplife, name) is not getattr(steplife.errors, name)
    ]


def test_every_record_class_of_the_model_is_an_attrs_class() -> None:
    """The model's classes are all plain attrs records (behaviour lives elsewhere)."""
    classes = [getattr(steplife.model, n) for n in steplife.model.__all__]
    records = [c for c in classes if inspect.isclass(c)]
    assert records
    assert [] == [c for c in records if not attrs.has(c)]


# -- nothing lost ---------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def objects_in(value: Any) -> list[dict[str, Any]]:
    """Every JSON object inside `value`, `value` itself first."""
    found = []
    if type(value) is dict:
        found.append(value)
        for item in value.values():
            found += objects_in(item)
    elif type(value) is list:
        for item in value:
            found += objects_in(item)
    return found


@st.composite
def payloads_with_unknown_keys(draw: st.DrawFn) -> dict[str, Any]:
    """A record's JSON with unknown keys added to some of its objects, at any depth."""
    data = to_dict(draw(records))
    for target in objects_in(data):
        if draw(st.booleans()):
            extra = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))
            # Prefixed so no added key is one the record models at that place.
            target.update({f"x-{key}": value for key, value in extra.items()})
    return data


@given(payloads_with_unknown_keys())
def test_what_is_written_holds_everything_that_was_read(data: dict[str, Any]) -> None:
    """Unknown keys at every level come back with their values, by dict and by JSON."""
    parsed = parse(data)

    assert parsed.record is not None, parsed.findings
    assert [] == lost(data, to_dict(parsed.record))
    assert [] == lost(data, orjson.loads(steplife.to_json(parsed.record)))
    assert parsed == parse(orjson.dumps(data))


@given(payloads_with_unknown_keys())
def test_unknown_keys_change_no_finding(data: dict[str, Any]) -> None:
    """Rules read only the modelled fields: the carried keys add or remove no finding."""
    plain = parse(data)
    assert plain.record is not None
    stripped = without_extra(plain.record)

    assert steplife.check(stripped) == steplife.check(plain.record)


@given(payloads_with_unknown_keys())
def test_loaded_records_share_no_object_with_the_input(data: dict[str, Any]) -> None:
    """Changing the input after loading leaves the record as it was loaded."""
    record = parse(data).record
    assert record is not None
    before = to_dict(record)

    for target in objects_in(data):
        for value in target.values():
            if type(value) in (dict, list):
                value.clear()

    assert before == to_dict(record)
