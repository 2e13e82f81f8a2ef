"""The hypothesis plugin: ``st.from_type`` knows every steplife type, with no import."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from typing import Any, cast

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.beta.threads import Run as SdkRun
from openai.types.beta.threads.required_action_function_tool_call import (
    Function as SdkRequiredFunction,
)
from openai.types.beta.threads.required_action_function_tool_call import (
    RequiredActionFunctionToolCall,
)
from openai.types.beta.threads.run import (
    IncompleteDetails,
    RequiredAction,
    RequiredActionSubmitToolOutputs,
)
from openai.types.beta.threads.runs import (
    CodeInterpreterToolCall,
    FileSearchToolCall,
    FunctionToolCall,
    MessageCreationStepDetails,
    ToolCallsStepDetails,
)
from openai.types.beta.threads.runs import RunStep as SdkRunStep
from openai.types.beta.threads.runs.code_interpreter_tool_call import (
    CodeInterpreter,
    CodeInterpreterOutputImage,
    CodeInterpreterOutputImageImage,
    CodeInterpreterOutputLogs,
)
from openai.types.beta.threads.runs.file_search_tool_call import (
    FileSearch,
    FileSearchRankingOptions,
    FileSearchResult,
    FileSearchResultContent,
)
from openai.types.beta.threads.runs.function_tool_call import Function
from openai.types.beta.threads.runs.message_creation_step_details import MessageCreation
from openai.types.beta.threads.runs.run_step import LastError, Usage
from pydantic import BaseModel

import steplife
import steplife.model
from steplife import Run, RunStep, check, to_dict
from steplife.testing import _strategies
from steplife.testing._plugin import REGISTERED

SDK_TYPE: dict[type, type[BaseModel]] = {
    steplife.RunStep: SdkRunStep,
    steplife.model.Usage: Usage,
    steplife.model.LastError: LastError,
    steplife.model.MessageCreation: MessageCreation,
    steplife.model.MessageCreationDetails: MessageCreationStepDetails,
    steplife.model.ToolCallsDetails: ToolCallsStepDetails,
    steplife.model.FunctionToolCall: FunctionToolCall,
    steplife.model.Function: Function,
    steplife.model.CodeInterpreterToolCall: CodeInterpreterToolCall,
    steplife.model.CodeInterpreter: CodeInterpreter,
    steplife.model.CodeInterpreterLogs: CodeInterpreterOutputLogs,
    steplife.model.CodeInterpreterImage: CodeInterpreterOutputImage,
    steplife.model.ImageFile: CodeInterpreterOutputImageImage,
    steplife.model.FileSearchToolCall: FileSearchToolCall,
    steplife.model.FileSearch: FileSearch,
    steplife.model.FileSearchRankingOptions: FileSearchRankingOptions,
    steplife.model.FileSearchResult: FileSearchResult,
    steplife.model.FileSearchResultContent: FileSearchResultContent,
    steplife.Run: SdkRun,
    steplife.model.RequiredAction: RequiredAction,
    steplife.model.SubmitToolOutputs: RequiredActionSubmitToolOutputs,
    steplife.model.RequiredToolCall: RequiredActionFunctionToolCall,
    steplife.model.RequiredFunction: SdkRequiredFunction,
    steplife.model.IncompleteDetails: IncompleteDetails,
}
"""Each steplife record and the official SDK's model of the same object."""

RUN_EXTRAS: dict[str, Any] = {
    "model": "gpt-4o",
    "instructions": "",
    "tools": [],
    "parallel_tool_calls": True,
}
"""What the SDK requires of a run beyond the fields steplife models."""

RECORDS = sorted(
    (
        getattr(steplife.model, name)
        for name in steplife.model.__all__
        if attrs.has(getattr(steplife.model, name))
    ),
    key=lambda cls: cls.__name__,
)


def unwrapped(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy under hypothesis' lazy wrappers, whose repr shows what it draws."""
    while hasattr(strategy, "wrapped_strategy"):
        strategy = strategy.wrapped_strategy
    return strategy


NO_SDK_MODEL = frozenset({steplife.model.UnknownToolCall})
"""Records the SDK has no model of: its tool-call union refuses an undocumented type."""


def test_every_record_type_is_registered() -> None:
    """Every attrs record steplife exports has a strategy behind ``st.from_type``."""
    assert set(RECORDS) == set(REGISTERED)
    assert set(RECORDS) == set(SDK_TYPE) | NO_SDK_MODEL


COMPOSITES = (RunStep, Run, steplife.model.Usage)
"""Records whose strategy is a composite: no arguments in its repr, so the behaviour
tests below pin them instead."""


@pytest.mark.parametrize(
    "cls", [cls for cls in RECORDS if cls not in COMPOSITES], ids=lambda cls: cls.__name__
)
def test_from_type_resolves_to_the_toolkit_strategy(cls: type) -> None:
    """``st.from_type(cls)`` is the strategy `steplife.testing` names for it."""
    expected = repr(unwrapped(getattr(_strategies, REGISTERED[cls])()))
    actual = repr(unwrapped(st.from_type(cls)))
    assert expected == actual


@pytest.mark.parametrize(
    "cls", [cls for cls in RECORDS if cls in SDK_TYPE], ids=lambda cls: cls.__name__
)
@given(data=st.data())
def test_from_type_values_are_accepted_by_the_official_sdk(cls: type, data: Any) -> None:
    """Every value ``st.from_type`` draws loads as the SDK's model of the same object."""
    value: Any = data.draw(st.from_type(cls))
    assert isinstance(value, cls)
    if isinstance(value, RunStep):
        payload = to_dict(value)
    elif isinstance(value, Run):
        payload = {**to_dict(value), **RUN_EXTRAS}
    else:
        payload = attrs.asdict(cast(Any, value))
    SDK_TYPE[cls].model_validate(payload)


@given(st.from_type(RunStep), st.from_type(Run), st.from_type(steplife.model.Usage))
def test_from_type_steps_runs_and_usages_break_no_rule(
    step: RunStep, run: Run, usage: steplife.model.Usage
) -> None:
    """The registered strategies are the toolkit's: clean steps and runs, consistent totals."""
    assert check(step) == []
    assert check(run) == []
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@given(
    st.from_type(cast(Any, steplife.model.ToolCall)),
    st.from_type(cast(Any, steplife.model.StepDetails)),
)
def test_the_unions_resolve_through_their_members(call: Any, details: Any) -> None:
    """``ToolCall`` and ``StepDetails`` are unions of registered records."""
    assert isinstance(
        call,
        steplife.model.FunctionToolCall
        | steplife.model.CodeInterpreterToolCall
        | steplife.model.FileSearchToolCall
        | steplife.model.UnknownToolCall,
    )
    assert details.type in ("message_creation", "tool_calls")


def test_the_entry_points_are_declared() -> None:
    """The installed distribution declares both plugins."""
    hypothesis = importlib.metadata.entry_points(group="hypothesis", name="steplife")
    pytest11 = importlib.metadata.entry_points(group="pytest11", name="steplife")
    assert [e.value for e in hypothesis] == ["steplife.testing._plugin:_hypothesis_setup_hook"]
    assert [e.value for e in pytest11] == ["steplife.testing._pytest_plugin"]


def test_from_type_works_without_importing_the_toolkit() -> None:
    """In a fresh interpreter, importing hypothesis alone registers the strategies."""
    script = textwrap.dedent(
        """
        import sys
        from hypothesis import given, settings, strategies as st
        import steplife

        assert "steplife.testing._plugin" in sys.modules  # loaded by hypothesis itself
        assert "steplife.testing._strategies" not in sys.modules  # only on first use

        @settings(max_examples=20, database=None)
        @given(st.from_type(steplife.RunStep))
        def clean(step):
            assert steplife.check(step) == []

        clean()
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
