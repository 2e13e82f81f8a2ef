"""Property-testing tools for run-step lifecycles: strategies, streams, a state machine.

Install with ``pip install steplife[testing]`` (it brings hypothesis). Everything
here follows hypothesis' API style: strategies are plural nouns with keyword-only
arguments, checked at once (`hypothesis.errors.InvalidArgument`).

- `run_steps`, `runs` and one strategy per nested type (also behind
  ``st.from_type``, registered through hypothesis' plugin entry point);
- `event_streams`, valid streams of runs and their steps as the API sends them, with `to_jsonl`,
  `to_sse` and `replay`;
- `invalid_event_streams`, streams with one known defect and the rule it breaks;
- `lifecycle_machine` and `run_lifecycle_machine`, state machines to point at your
  own orchestrator's steps and runs;
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
    from steplife.testing._stateful import (
        LifecycleAdapter,
        RunAdapter,
        RunLifecycleAdapter,
        StepAdapter,
        lifecycle_machine,
        run_lifecycle_machine,
    )
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
        incomplete_details,
        last_errors,
        message_creation_details,
        message_creations,
        metadatas,
        required_actions,
        required_functions,
        required_tool_calls,
        run_steps,
        runs,
        step_details,
        submit_tool_outputs,
        tool_calls,
        tool_calls_details,
        unknown_tool_calls,
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
    "RunAdapter",
    "RunLifecycleAdapter",
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
    "incomplete_details",
    "invalid_event_streams",
    "last_errors",
    "lifecycle_machine",
    "message_creation_details",
    "message_creations",
    "metadatas",
    "replay",
    "replay_lines",
    "required_actions",
    "required_functions",
    "required_tool_calls",
    "run_lifecycle_machine",
    "run_steps",
    "runs",
    "step_details",
    "submit_tool_outputs",
    "to_jsonl",
    "to_jsonl_lines",
    "to_sse",
    "tool_calls",
    "unknown_tool_calls",
    "tool_calls_details",
    "usages",
]

_HOMES: Final = {
    "_mutations": ("MUTATIONS", "UNREACHABLE_RULES", "InvalidStream", "invalid_event_streams"),
    "_stateful": (
        "LifecycleAdapter",
        "RunAdapter",
        "RunLifecycleAdapter",
        "StepAdapter",
        "lifecycle_machine",
        "run_lifecycle_machine",
    ),
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
