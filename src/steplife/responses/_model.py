"""The Responses API's wire records: a response, its output items, and their vocabulary.

The successor of runs and run steps (OpenAI's own mapping: runs -> responses, run steps
-> output items). As for `steplife.model`, the records carry no behaviour and only the
fields that decide the lifecycle; every other key the API sends (``model``, ``tools``,
an item's ``content`` or ``action``, ...) is kept in the record's ``extra`` and written
back after the modelled keys. A modelled key the payload did not send reads as null and
is written as ``null`` (steplife's convention for every record), so a March 2025
response without ``background`` or ``completed_at`` writes them back as nulls.

This module imports nothing of steplife but the records' shared ``extra`` field and
`IncompleteDetails`, which a response shares with a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

import attrs

from steplife.model import IncompleteDetails, _extra

__all__ = [
    "ITEM_STATUSES",
    "ITEM_TERMINAL_STATUSES",
    "ITEM_TYPE_STATUSES",
    "RESPONSE_STATUSES",
    "RESPONSE_TERMINAL_STATUSES",
    "TOOL_CALL_TYPES",
    "AWAITING_CLIENT",
    "FunctionCallItem",
    "IncompleteDetails",
    "ItemStatus",
    "MessageItem",
    "OutputItem",
    "ReasoningItem",
    "Response",
    "ResponseError",
    "ResponseStatus",
    "ResponseUsage",
    "ToolCallItem",
    "ToolCallType",
    "UnknownItem",
]

ResponseStatus: TypeAlias = Literal[
    "queued", "in_progress", "completed", "failed", "cancelled", "incomplete"
]
"""Every status a response can have; the last four are terminal."""

ItemStatus: TypeAlias = Literal[
    "in_progress",
    "searching",
    "interpreting",
    "generating",
    "calling",
    "completed",
    "incomplete",
    "failed",
]
"""Every status an output item can have: ``in_progress``, the tool items' intermediate
statuses, and the three endings. Which of them an item's type has is `ITEM_TYPE_STATUSES`."""

RESPONSE_STATUSES: Final[tuple[ResponseStatus, ...]] = (
    "queued",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "incomplete",
)
RESPONSE_TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(RESPONSE_STATUSES[2:])
ITEM_STATUSES: Final[tuple[ItemStatus, ...]] = (
    "in_progress",
    "searching",
    "interpreting",
    "generating",
    "calling",
    "completed",
    "incomplete",
    "failed",
)
ITEM_TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(("completed", "incomplete", "failed"))

ToolCallType: TypeAlias = Literal[
    "file_search_call",
    "web_search_call",
    "computer_call",
    "computer_call_output",
    "function_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "custom_tool_call",
    "custom_tool_call_output",
    "tool_search_call",
    "tool_search_output",
    "program",
    "program_output",
    "additional_tools",
    "compaction",
]
"""The documented output item types other than message, function_call and reasoning
(the openai SDK's ``ResponseOutputItem`` union, checked by a test); they load as a
`ToolCallItem`. Another type loads as an `UnknownItem`, with an ``unknown-value`` warning."""

TOOL_CALL_TYPES: Final[tuple[str, ...]] = ToolCallType.__args__  # type: ignore[attr-defined]

_GENERAL: Final = frozenset(("in_progress", "completed", "incomplete"))
ITEM_TYPE_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    "message": _GENERAL,
    "function_call": _GENERAL,
    "reasoning": _GENERAL,
    "file_search_call": frozenset(
        ("in_progress", "searching", "completed", "incomplete", "failed")
    ),
    "web_search_call": frozenset(("in_progress", "searching", "completed", "incomplete", "failed")),
    "computer_call": _GENERAL,
    "computer_call_output": frozenset(("in_progress", "completed", "incomplete", "failed")),
    "function_call_output": _GENERAL,
    "image_generation_call": frozenset(("in_progress", "generating", "completed", "failed")),
    "code_interpreter_call": frozenset(
        ("in_progress", "interpreting", "completed", "incomplete", "failed")
    ),
    "local_shell_call": _GENERAL,
    "local_shell_call_output": _GENERAL,
    "shell_call": _GENERAL,
    "shell_call_output": _GENERAL,
    "apply_patch_call": frozenset(("in_progress", "completed")),
    "apply_patch_call_output": frozenset(("completed", "failed")),
    "mcp_call": frozenset(("in_progress", "calling", "completed", "incomplete", "failed")),
    # mcp_list_tools and custom_tool_call document no status, but real captures send
    # the general ones on custom tool calls: an item type without a documented status
    # may carry the general three.
    "mcp_list_tools": _GENERAL | {"failed"},
    "mcp_approval_request": _GENERAL,
    "mcp_approval_response": _GENERAL,
    "custom_tool_call": _GENERAL,
    "custom_tool_call_output": _GENERAL,
    "tool_search_call": _GENERAL,
    "tool_search_output": _GENERAL,
    "program": _GENERAL,
    "program_output": frozenset(("completed", "incomplete")),
    "additional_tools": _GENERAL,
    "compaction": _GENERAL,
}
"""Each documented item type -> the statuses it may carry (the SDK's, per type)."""

AWAITING_CLIENT: Final[frozenset[str]] = frozenset(("computer_call",))
"""Item types that stay ``in_progress`` in a finished response: the call waits for the
client to act and send its output (a live capture has a ``completed`` response whose
``computer_call`` is ``in_progress``), as a run waits in ``requires_action``."""


@attrs.define(kw_only=True)
class ResponseUsage:
    """Token counts of a finished response; ``total_tokens`` is the sum of the other two.

    The details (``input_tokens_details``, ``output_tokens_details``) and what other
    servers add (OpenRouter's ``cost``, ``is_byok``) are carried in ``extra``.
    """

    input_tokens: int
    output_tokens: int
    total_tokens: int
    extra: Mapping[str, Any] = _extra()

    @classmethod
    def of(cls, input_tokens: int, output_tokens: int) -> ResponseUsage:
        """Build a usage whose total is the sum of its two parts."""
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )


@attrs.define(kw_only=True)
class ResponseError:
    """Why a response failed: ``{"code", "message"}`` (the code is an open set)."""

    code: str
    message: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class MessageItem:
    """An assistant ``message`` output item; its ``content`` is carried in ``extra``."""

    id: str
    type: Literal["message"] = "message"
    status: ItemStatus | None = None
    role: str = "assistant"
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FunctionCallItem:
    """A ``function_call`` output item: the call the client runs, by its ``call_id``."""

    id: str | None = None
    type: Literal["function_call"] = "function_call"
    status: ItemStatus | None = None
    call_id: str
    name: str
    arguments: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class ReasoningItem:
    """A ``reasoning`` output item: it usually carries no status at all."""

    id: str
    type: Literal["reasoning"] = "reasoning"
    status: ItemStatus | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class ToolCallItem:
    """Any other documented output item (`ToolCallType`): a tool call or its output.

    Only what the lifecycle reads is modelled; the rest (``action``, ``queries``,
    ``code``, ``outputs``, ``server_label``, ...) is carried in ``extra``.
    """

    id: str | None = None
    type: ToolCallType
    status: ItemStatus | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class UnknownItem:
    """An output item of a type the API does not document (an open set).

    It loads as what it is, with everything but its ``id``, ``type`` and ``status``
    in ``extra``; the ``unknown-value`` rule warns about it.
    """

    id: str | None = None
    type: str
    status: str | None = None
    extra: Mapping[str, Any] = _extra()


OutputItem: TypeAlias = MessageItem | FunctionCallItem | ReasoningItem | ToolCallItem | UnknownItem
"""One output item, tagged on ``type``; an undocumented type is an `UnknownItem`."""


@attrs.define(kw_only=True)
class Response:
    """A ``response`` object: the fields that decide its lifecycle and its items'.

    The API's response carries many more (model, instructions, tools, text, reasoning,
    service_tier, ...); they are carried in ``extra``, written back as read. Build one
    with `steplife.responses.ResponseLifecycle.create` or load one with
    `steplife.responses.from_dict`.
    """

    id: str
    object: str = "response"
    created_at: int
    status: ResponseStatus = "in_progress"
    background: bool | None = None
    completed_at: int | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    output: list[OutputItem] = attrs.Factory(list)
    usage: ResponseUsage | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_terminal(self) -> bool:
        """Whether the response has reached one of its four absorbing statuses."""
        return self.status in RESPONSE_TERMINAL_STATUSES
