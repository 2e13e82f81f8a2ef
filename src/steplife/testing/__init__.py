"""Property-testing tools for run-step lifecycles: strategies, streams, a state machine.

Install with ``pip install steplife[testing]`` (it brings hypothesis). Everything
here follows hypothesis' API style: strategies are plural nouns with keyword-only
arguments, checked at once (`hypothesis.errors.InvalidArgument`).

- `run_steps` and one strategy per nested type (also behind ``st.from_type``,
  registered through hypothesis' plugin entry point);
- `event_streams`, valid streams as the API sends them, with `to_jsonl`,
  `to_sse` and `replay`;
- `invalid_event_streams`, streams with one known defect and the rule it breaks;
- `lifecycle_machine`, a state machine to point at your own orchestrator;
- `FakeClock`, also the ``steplife_clock`` pytest fixture.

Importing this package does not import hypothesis; the first strategy used does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from steplife.testing._clock import FakeClock

if TYPE_CHECKING:
    from steplife.testing._mutations import (
        MUTATIONS,
        UNREACHABLE_RULES,
        InvalidStream,
        invalid_event_streams,
    )
    from steplife.testing._stateful import LifecycleAdapter, StepAdapter, lifecycle_machine
    from steplife.testing._strategies import (
        code_interpreter_images,
        code_interpreter_logs,
        code_interpreter_outputs,
        code_interpreter_tool_calls,
        code_interpreters,
        file_search_ranking_options,
        file_search_result_contents,
        file_search_results,
        file_search_tool_calls,
        file_searches,
        function_tool_calls,
        functions,
        image_files,
        last_errors,
        message_creation_details,
        message_creations,
        metadatas,
        run_steps,
        step_details,
        tool_calls,
        tool_calls_details,
        usages,
    )
    from steplife.testing._streams import (
        EventStream,
        event_streams,
        replay,
        replay_lines,
        to_jsonl,
        to_jsonl_lines,
        to_sse,
    )

__all__ = [
    "MUTATIONS",
    "UNREACHABLE_RULES",
    "EventStream",
    "FakeClock",
    "InvalidStream",
    "LifecycleAdapter",
    "StepAdapter",
    "code_interpreter_images",
    "code_interpreter_logs",
    "code_interpreter_outputs",
    "code_interpreter_tool_calls",
    "code_interpreters",
    "event_streams",
    "file_search_ranking_options",
    "file_search_result_contents",
    "file_search_results",
    "file_search_tool_calls",
    "file_searches",
    "function_tool_calls",
    "functions",
    "image_files",
    "invalid_event_streams",
    "last_errors",
    "lifecycle_machine",
    "message_creation_details",
    "message_creations",
    "metadatas",
    "replay",
    "replay_lines",
    "run_steps",
    "step_details",
    "to_jsonl",
    "to_jsonl_lines",
    "to_sse",
    "tool_calls",
    "tool_calls_details",
    "usages",
]

_HOMES: Final = {
    "_mutations": ("MUTATIONS", "UNREACHABLE_RULES", "InvalidStream", "invalid_event_streams"),
    "_stateful": ("LifecycleAdapter", "StepAdapter", "lifecycle_machine"),
    "_streams": (
        "EventStream",
        "event_streams",
        "replay",
        "replay_lines",
        "to_jsonl",
        "to_jsonl_lines",
        "to_sse",
    ),
}
_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    # Hypothesis is imported on first use, so the pytest plugin (which imports this
    # package) keeps working where the `testing` extra is not installed.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME_OF.get(name, '_strategies')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
