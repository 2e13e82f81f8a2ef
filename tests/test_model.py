"""The attrs records: defaults, named constructors, field order and the public facade."""

from __future__ import annotations

import copy
import pickle
import re

import attrs
import pytest

import steplife
from helpers import WIRE_ORDER, make_step
from steplife import RunStep
from steplife.model import (
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchResultContent,
    FileSearchToolCall,
    Function,
    FunctionToolCall,
    ImageFile,
    MessageCreation,
    MessageCreationDetails,
    ToolCallsDetails,
    Usage,
)


def test_run_step_defaults_to_a_fresh_in_progress_step() -> None:
    """Only the identity and details are required; the rest starts as the API's new step."""
    step = make_step()

    expected = ("thread.run.step", "in_progress", None, None, None, None, None, None, None)
    actual = (
        step.object,
        step.status,
        step.cancelled_at,
        step.completed_at,
        step.expired_at,
        step.failed_at,
        step.last_error,
        step.usage,
        step.metadata,
    )
    assert expected == actual


def test_run_step_fields_are_the_16_wire_keys_in_wire_order() -> None:
    """The record's field order is the order the API writes its keys; ``extra`` comes last."""
    expected = [*WIRE_ORDER, "extra"]
    assert expected == [field.name for field in attrs.fields(RunStep)]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("in_progress", False),
        ("cancelled", True),
        ("failed", True),
        ("completed", True),
        ("expired", True),
    ],
)
def test_is_terminal_is_false_only_while_in_progress(status: str, terminal: bool) -> None:
    """Every status except in_progress absorbs the step."""
    assert terminal == make_step(status=status).is_terminal


def test_usage_of_sums_the_total() -> None:
    """`Usage.of` computes total_tokens from the two parts."""
    assert Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7) == Usage.of(3, 4)


def test_records_are_keyword_only() -> None:
    """Positional construction is refused, so field reordering can never misassign."""
    with pytest.raises(TypeError):
        Usage(1, 2, 3)  # type: ignore[call-arg]


def test_records_compare_by_value() -> None:
    """Two steps with equal fields are equal; one differing field makes them differ."""
    assert make_step() == make_step()
    assert make_step() != make_step(created_at=1)


@pytest.mark.parametrize(
    ("record", "tag"),
    [
        (
            MessageCreationDetails(message_creation=MessageCreation(message_id="m")),
            "message_creation",
        ),
        (ToolCallsDetails(), "tool_calls"),
        (CodeInterpreterLogs(logs="x"), "logs"),
        (CodeInterpreterImage(image=ImageFile(file_id="f")), "image"),
        (
            CodeInterpreterToolCall(id="c", code_interpreter=CodeInterpreter(input="")),
            "code_interpreter",
        ),
        (FileSearchToolCall(id="c"), "file_search"),
        (FunctionToolCall(id="c", function=Function(name="f", arguments="{}")), "function"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_tagged_records_default_their_type_tag(record: object, tag: str) -> None:
    """Each member of a tagged union fills in its own ``type``."""
    assert tag == record.type  # type: ignore[attr-defined]


def test_list_defaults_are_not_shared_between_instances() -> None:
    """Default lists come from a factory: appending to one leaves the next empty."""
    first = ToolCallsDetails()
    first.tool_calls.append(FileSearchToolCall(id="c"))

    expected: list[object] = []
    assert expected == ToolCallsDetails().tool_calls
    assert expected == CodeInterpreter(input="").outputs


def test_optional_nested_values_default_to_none() -> None:
    """Keys the API may omit or send as null default to None."""
    assert FileSearch(ranking_options=None, results=None) == FileSearchToolCall(id="c").file_search
    assert FileSearchResultContent(type=None, text=None) == FileSearchResultContent()
    assert None is Function(name="f", arguments="").output


def test_all_is_sorted_and_every_name_is_exported() -> None:
    """The facade's ``__all__`` is sorted and each name resolves on the package."""
    assert sorted(steplife.__all__) == list(steplife.__all__)
    missing = [name for name in steplife.__all__ if not hasattr(steplife, name)]
    expected: list[str] = []
    assert expected == missing


def test_version_is_a_release_string() -> None:
    """``__version__`` is a dotted release number."""
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", steplife.__version__)


def test_a_record_without_unknown_keys_shares_one_empty_read_only_extra() -> None:
    """No memory per record: the default ``extra`` is one shared object, equal to ``{}``,
    that copies and pickles as itself and cannot be written to."""
    first, second = make_step(), make_step()
    shared = first.extra

    assert shared is second.extra
    assert ({} == shared, shared == {}, shared != {"a": 1}, len(shared)) == (True, True, True, 0)
    assert shared is copy.copy(shared) is copy.deepcopy(shared)
    assert shared is pickle.loads(pickle.dumps(shared))
    assert pickle.loads(pickle.dumps(first)) == first
    with pytest.raises(TypeError):
        shared["a"] = 1
    with pytest.raises(TypeError):
        hash(shared)
    assert "{}" == repr(shared)
