"""The Responses API, the successor of runs and run steps: responses and output items.

OpenAI's own mapping: runs -> responses, run steps -> output items. The same engine,
catalogue and command check both generations:

- `Response` and the output item records (`MessageItem`, `FunctionCallItem`,
  `ReasoningItem`, `ToolCallItem`, `UnknownItem`), every key they do not model kept
  in ``extra``; `from_dict`, `from_json`, `parse`, `to_dict`, `to_json` for JSON, and
  `check` for a record built in Python;
- `ResponseLifecycle`, which drives a response and its items through their machines
  (two `Definition` s on steplife's engine; ``steplife diagram response`` and
  ``steplife diagram item`` draw them);
- `ResponseTracker`, which replays Responses streams (SSE with or without ``event:``
  lines, JSONL of ``{"event", "data"}`` or of bare typed events), as `steplife.Tracker`
  replays Assistants streams; ``steplife validate`` tells which API a file speaks.

The rules are entries of `steplife.CATALOGUE` with the scopes ``response``, ``item``
and ``response_stream``, tuned with the same `steplife.Rules`. A finding about a
response names it in ``run_id``, one about an item in ``step_id``.

Names load on first use, so ``import steplife`` pays nothing for this module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from steplife.responses._checks import check
    from steplife.responses._lifecycle import ResponseLifecycle
    from steplife.responses._model import (
        FunctionCallItem,
        IncompleteDetails,
        ItemStatus,
        MessageItem,
        OutputItem,
        ReasoningItem,
        Response,
        ResponseError,
        ResponseStatus,
        ResponseUsage,
        ToolCallItem,
        ToolCallType,
        UnknownItem,
    )
    from steplife.responses._tracker import ResponseTracker
    from steplife.responses._wire import Parsed, from_dict, from_json, parse, to_dict, to_json

__all__ = [
    "FunctionCallItem",
    "IncompleteDetails",
    "ItemStatus",
    "MessageItem",
    "OutputItem",
    "Parsed",
    "ReasoningItem",
    "Response",
    "ResponseError",
    "ResponseLifecycle",
    "ResponseStatus",
    "ResponseTracker",
    "ResponseUsage",
    "ToolCallItem",
    "ToolCallType",
    "UnknownItem",
    "check",
    "from_dict",
    "from_json",
    "parse",
    "to_dict",
    "to_json",
]

_HOMES: Final = {
    "_checks": ("check",),
    "_lifecycle": ("ResponseLifecycle",),
    "_tracker": ("ResponseTracker",),
    "_wire": ("Parsed", "from_dict", "from_json", "parse", "to_dict", "to_json"),
}
_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME_OF.get(name, '_model')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
