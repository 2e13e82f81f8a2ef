"""The hypothesis plugin: makes ``st.from_type`` work for `RunStep`, `Run` and every nested type.

Hypothesis runs `_hypothesis_setup_hook` when it is imported, through the
``hypothesis`` entry point steplife declares, so users need no import of their own.
The strategies are imported only when a type is first resolved: this module may be
loaded while ``steplife.testing`` itself is still being imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hypothesis import strategies as st

import steplife
import steplife.model

__all__ = ["REGISTERED", "RESPONSES_REGISTERED", "register"]

REGISTERED: Final[dict[type, str]] = {
    steplife.RunStep: "run_steps",
    steplife.model.Usage: "usages",
    steplife.model.LastError: "last_errors",
    steplife.model.MessageCreation: "message_creations",
    steplife.model.MessageCreationDetails: "message_creation_details",
    steplife.model.ToolCallsDetails: "tool_calls_details",
    steplife.model.FunctionToolCall: "function_tool_calls",
    steplife.model.UnknownToolCall: "unknown_tool_calls",
    steplife.model.Function: "functions",
    steplife.model.CodeInterpreterToolCall: "code_interpreter_tool_calls",
    steplife.model.CodeInterpreter: "code_interpreters",
    steplife.model.CodeInterpreterLogs: "code_interpreter_logs",
    steplife.model.CodeInterpreterImage: "code_interpreter_images",
    steplife.model.ImageFile: "image_files",
    steplife.model.FileSearchToolCall: "file_search_tool_calls",
    steplife.model.FileSearch: "file_searches",
    steplife.model.FileSearchRankingOptions: "file_search_ranking_options",
    steplife.model.FileSearchResult: "file_search_results",
    steplife.model.FileSearchResultContent: "file_search_result_contents",
    steplife.Run: "runs",
    steplife.model.RequiredAction: "required_actions",
    steplife.model.SubmitToolOutputs: "submit_tool_outputs",
    steplife.model.RequiredToolCall: "required_tool_calls",
    steplife.model.RequiredFunction: "required_functions",
    steplife.model.IncompleteDetails: "incomplete_details",
}
"""Every steplife record type, and the name of its strategy in `steplife.testing`."""


def _resolver(name: str) -> Callable[[type], st.SearchStrategy[Any]]:
    def resolve(_: type) -> st.SearchStrategy[Any]:
        from steplife.testing import _strategies

        strategy: st.SearchStrategy[Any] = getattr(_strategies, name)()
        return strategy

    return resolve


RESPONSES_REGISTERED: Final = {
    "Response": "responses",
    "ResponseUsage": "response_usages",
    "ResponseError": "response_errors",
    "MessageItem": "message",
    "FunctionCallItem": "function_call",
    "ReasoningItem": "reasoning",
    "ToolCallItem": "web_search_call",
    "UnknownItem": "unknown_items",
}
"""The Responses records (`steplife.responses`), and their strategy in
`steplife.testing.responses` (an item class: the item type its strategy draws)."""


def _responses_resolver(name: str) -> Callable[[type], st.SearchStrategy[Any]]:
    def resolve(_: type) -> st.SearchStrategy[Any]:
        from steplife.testing import responses

        found = getattr(responses, name, None)
        if found is not None:
            strategy: st.SearchStrategy[Any] = found()
            return strategy
        return responses.output_items(types=name)

    return resolve


def register() -> None:
    """Register a strategy for each type of `REGISTERED` with hypothesis."""
    for cls, name in REGISTERED.items():
        st.register_type_strategy(cls, _resolver(name))
    from steplife.responses import _model

    for class_name, name in RESPONSES_REGISTERED.items():
        st.register_type_strategy(getattr(_model, class_name), _responses_resolver(name))


def _hypothesis_setup_hook() -> None:
    register()
