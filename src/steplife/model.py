"""The wire records: the run step, the run and every object nested in them.

The two records users handle most, `RunStep` and `Run`, are also on the package
(``steplife.RunStep``); everything else the wire carries lives here, with the type
names of the vocabulary (statuses, triggers, step types).


Field names, nesting and order follow the Assistants API's JSON exactly (see the
project's wire spec); the order of the fields is the order the API writes its keys,
which is why the discriminator ``type`` sits where it does in each class. These
classes carry no behaviour: the lifecycle lives in `steplife.Lifecycle`, the rules
in `steplife.Rules`, and JSON in `steplife.from_dict`/`steplife.to_dict`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal, TypeAlias

import attrs

__all__ = [
    "CodeInterpreter",
    "CodeInterpreterImage",
    "CodeInterpreterLogs",
    "CodeInterpreterOutput",
    "CodeInterpreterToolCall",
    "FileSearch",
    "FileSearchRankingOptions",
    "FileSearchResult",
    "FileSearchResultContent",
    "FileSearchToolCall",
    "Function",
    "FunctionToolCall",
    "ImageFile",
    "IncompleteDetails",
    "LastError",
    "LastErrorCode",
    "MessageCreation",
    "MessageCreationDetails",
    "Metadata",
    "Ranker",
    "Record",
    "RequiredAction",
    "RequiredFunction",
    "RequiredToolCall",
    "Run",
    "RunStatus",
    "RunStep",
    "RunTrigger",
    "StepDetails",
    "StepStatus",
    "StepType",
    "SubmitToolOutputs",
    "ToolCall",
    "ToolCallsDetails",
    "Trigger",
    "UnknownToolCall",
    "Usage",
]

StepStatus: TypeAlias = Literal["in_progress", "cancelled", "failed", "completed", "expired"]
"""Every status a run step can have; ``in_progress`` is the only non-terminal one."""

RunStatus: TypeAlias = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
"""Every status a run can have; the last five are terminal."""

Trigger: TypeAlias = Literal["complete", "fail", "cancel", "expire"]
"""The step's four triggers; each leads from ``in_progress`` to one terminal status."""

RunTrigger: TypeAlias = Literal[
    "queue",
    "start",
    "require_action",
    "request_cancel",
    "cancel",
    "fail",
    "complete",
    "mark_incomplete",
    "expire",
]
"""The run's triggers, each named after what happens; each has one destination."""

StepType: TypeAlias = Literal["message_creation", "tool_calls"]
"""The two kinds of run step."""

LastErrorCode: TypeAlias = Literal["server_error", "rate_limit_exceeded"]
"""The error codes the API documents; others load with an ``unknown-value`` warning."""

Ranker: TypeAlias = Literal["auto", "default_2024_08_21"]
"""The file-search rankers the API documents; others load with an ``unknown-value`` warning."""

Metadata: TypeAlias = dict[str, str]
"""Up to 16 string pairs; the ``metadata-limits`` rule checks the limits."""

STATUSES: Final[tuple[StepStatus, ...]] = (
    "in_progress",
    "cancelled",
    "failed",
    "completed",
    "expired",
)
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(STATUSES[1:])
STEP_TYPES: Final[tuple[StepType, ...]] = ("message_creation", "tool_calls")
LAST_ERROR_CODES: Final[frozenset[str]] = frozenset(("server_error", "rate_limit_exceeded"))
RANKERS: Final[frozenset[str]] = frozenset(("auto", "default_2024_08_21"))
RUN_STATUSES: Final[tuple[RunStatus, ...]] = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
)
RUN_TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(RUN_STATUSES[4:])
STEP_STAMPS: Final[Mapping[str, str]] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
"""Each terminal step status -> the ``*_at`` field stamped when a step reaches it."""
RUN_END_STAMPS: Final[Mapping[str, str]] = {
    "cancelled": "cancelled_at",
    "failed": "failed_at",
    "completed": "completed_at",
}
"""The run endings with a stamp of their own (``expired`` and ``incomplete`` have none)."""
RUN_STAMPS: Final[Mapping[str, str]] = {"in_progress": "started_at", **RUN_END_STAMPS}
"""Each run status a move stamps -> its field (``started_at`` again on every resumption)."""


class _NoExtra(Mapping[str, Any]):
    """An empty, read-only mapping that copies and pickles as itself."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        # Mapping's own __eq__ builds two dicts: this one is on the replay's path.
        return other is self or (isinstance(other, Mapping) and not other)

    __hash__ = None  # type: ignore[assignment]  # equal to {}, which is unhashable

    def __copy__(self) -> _NoExtra:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoExtra:
        return self

    def __reduce__(self) -> str:
        return "NO_EXTRA"  # pickled by name: it loads as this very object

    def __repr__(self) -> str:
        return "{}"


NO_EXTRA: Final[Mapping[str, Any]] = _NoExtra()
"""The ``extra`` of a record that has none: shared and read-only, so it costs no memory."""


def _extra() -> Any:
    """The ``extra`` field of every record: the keys the API sent that it does not model.

    They are kept as they came and written back after the modelled keys, so a record
    loses nothing of what was read; rules never read them. Not shown in ``repr``. To
    add keys, assign a new mapping (the default one is read-only).
    """
    return attrs.field(default=NO_EXTRA, kw_only=True, repr=False)


@attrs.define(kw_only=True)
class LastError:
    """Why a step failed: ``{"code", "message"}``."""

    code: str
    message: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class Usage:
    """Token counts of a finished step; ``total_tokens`` is the sum of the other two."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    extra: Mapping[str, Any] = _extra()

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Build a usage whose total is the sum of its two parts."""
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


@attrs.define(kw_only=True)
class MessageCreation:
    """The message a ``message_creation`` step created."""

    message_id: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class MessageCreationDetails:
    """``step_details`` of a ``message_creation`` step."""

    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class CodeInterpreterLogs:
    """Text output of a code-interpreter call."""

    type: Literal["logs"] = "logs"
    logs: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class ImageFile:
    """A file the code interpreter produced."""

    file_id: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class CodeInterpreterImage:
    """Image output of a code-interpreter call."""

    type: Literal["image"] = "image"
    image: ImageFile
    extra: Mapping[str, Any] = _extra()


CodeInterpreterOutput: TypeAlias = CodeInterpreterLogs | CodeInterpreterImage
"""One output of a code-interpreter call, tagged on ``type``."""


@attrs.define(kw_only=True)
class CodeInterpreter:
    """What the code interpreter ran and what it printed."""

    input: str
    outputs: list[CodeInterpreterOutput] = attrs.Factory(list)
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class CodeInterpreterToolCall:
    """A code-interpreter tool call."""

    id: str
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreter
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FileSearchRankingOptions:
    """How file-search results were ranked; ``score_threshold`` lies in 0..1."""

    ranker: str
    score_threshold: float
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FileSearchResultContent:
    """A piece of a file-search result; both keys are optional on the wire."""

    type: Literal["text"] | None = None
    text: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FileSearchResult:
    """One file-search hit; ``content`` only when it was requested."""

    file_id: str
    file_name: str
    score: float
    content: list[FileSearchResultContent] | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FileSearch:
    """The body of a file-search call; both keys are optional on the wire."""

    ranking_options: FileSearchRankingOptions | None = None
    results: list[FileSearchResult] | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FileSearchToolCall:
    """A file-search tool call."""

    id: str
    type: Literal["file_search"] = "file_search"
    file_search: FileSearch = attrs.Factory(FileSearch)
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class Function:
    """A function call; ``output`` stays null until the tool outputs are submitted."""

    name: str
    arguments: str
    output: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class FunctionToolCall:
    """A function tool call."""

    id: str
    type: Literal["function"] = "function"
    function: Function
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class UnknownToolCall:
    """A tool call of a type the API did not document (a live capture has ``browser``).

    The tool-call type is an open set: it decides nothing in the lifecycle. Such a
    call loads as what it is, its ``id`` and ``type``, with everything else kept in
    ``extra`` and written back as read; the ``unknown-value`` rule warns about it.
    """

    id: str
    type: str
    extra: Mapping[str, Any] = _extra()


ToolCall: TypeAlias = (
    CodeInterpreterToolCall | FileSearchToolCall | FunctionToolCall | UnknownToolCall
)
"""One tool call, tagged on ``type``; a type the API did not document is an `UnknownToolCall`."""


@attrs.define(kw_only=True)
class ToolCallsDetails:
    """``step_details`` of a ``tool_calls`` step."""

    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall] = attrs.Factory(list)
    extra: Mapping[str, Any] = _extra()


StepDetails: TypeAlias = MessageCreationDetails | ToolCallsDetails
"""The details of a step, tagged on ``type``, which must equal the step's own ``type``."""


@attrs.define(kw_only=True)
class RunStep:
    """A ``thread.run.step`` object: exactly the API's 16 fields.

    Build one with `Lifecycle.start` (which stamps ``created_at`` and checks the
    rules) or load one with `steplife.from_dict`; construct it directly only when
    you mean to bypass both, as tests of broken data do.
    """

    id: str
    object: str = "thread.run.step"
    created_at: int
    run_id: str
    assistant_id: str
    thread_id: str
    type: StepType
    status: StepStatus = "in_progress"
    cancelled_at: int | None = None
    completed_at: int | None = None
    expired_at: int | None = None
    failed_at: int | None = None
    last_error: LastError | None = None
    step_details: StepDetails
    usage: Usage | None = None
    metadata: Metadata | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_terminal(self) -> bool:
        """Whether the step has reached one of the four absorbing statuses."""
        return self.status != "in_progress"


@attrs.define(kw_only=True)
class RequiredFunction:
    """The function the run asks the caller to run, with its JSON arguments."""

    name: str
    arguments: str
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class RequiredToolCall:
    """One tool call a run waits for; its ``id`` is the id of a step's function call."""

    id: str
    type: str = "function"
    function: RequiredFunction
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class SubmitToolOutputs:
    """The tool calls whose outputs the run waits for."""

    tool_calls: list[RequiredToolCall] = attrs.Factory(list)
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class RequiredAction:
    """What a ``requires_action`` run waits for (today always ``submit_tool_outputs``)."""

    type: str = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputs | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class IncompleteDetails:
    """Why a run ended ``incomplete`` (``max_completion_tokens`` or ``max_prompt_tokens``)."""

    reason: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.define(kw_only=True)
class Run:
    """A ``thread.run`` object: the fields that decide its lifecycle and its steps'.

    The API's run carries more (model, instructions, tools, ...); steplife reads
    these fields and carries the others in ``extra``, written back as read. Build
    one with `RunLifecycle.create` or load one with `steplife.from_dict`.
    """

    id: str
    object: str = "thread.run"
    created_at: int
    assistant_id: str
    thread_id: str
    status: RunStatus = "queued"
    started_at: int | None = None
    expires_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    incomplete_details: IncompleteDetails | None = None
    usage: Usage | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_terminal(self) -> bool:
        """Whether the run has reached one of its five absorbing statuses."""
        return self.status in RUN_TERMINAL_STATUSES


Record: TypeAlias = RunStep | Run
"""Every record steplife loads and writes, told apart by its ``object``."""
