"""Hypothesis strategies for run steps and every object nested in them.

Every strategy yields values the API could send: they load with the official
``openai`` package's types, and a step from `run_steps` breaks no rule of the
catalogue (no finding at all unless ``allow_warnings=True``, and never an error).
Strategies are plural nouns, take keyword-only arguments and check them at once,
raising `hypothesis.errors.InvalidArgument`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Final, cast

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from steplife import Run, RunStep
from steplife.model import (
    RUN_END_STAMPS,
    STEP_STAMPS,
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterOutput,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchRankingOptions,
    FileSearchResult,
    FileSearchResultContent,
    FileSearchToolCall,
    Function,
    FunctionToolCall,
    ImageFile,
    IncompleteDetails,
    LastError,
    MessageCreation,
    MessageCreationDetails,
    Metadata,
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    RunStatus,
    StepDetails,
    StepStatus,
    StepType,
    SubmitToolOutputs,
    ToolCall,
    ToolCallsDetails,
    UnknownToolCall,
    Usage,
)

__all__ = [
    "ERROR_CODES",
    "INCOMPLETE_REASONS",
    "METADATA_KEY_CHARS",
    "METADATA_PAIRS",
    "METADATA_VALUE_CHARS",
    "RANKERS",
    "RUN_ENDINGS",
    "RUN_ERROR_CODES",
    "RUN_STATUSES",
    "STATUSES",
    "STEP_TYPES",
    "TERMINAL_STATUSES",
    "TOOL_CALL_TYPES",
    "unknown_tool_calls",
    "code_interpreter_images",
    "code_interpreter_logs",
    "code_interpreter_outputs",
    "code_interpreter_tool_calls",
    "code_interpreters",
    "file_search_ranking_options",
    "file_search_result_contents",
    "file_search_results",
    "file_search_tool_calls",
    "file_searches",
    "function_tool_calls",
    "functions",
    "image_files",
    "incomplete_details",
    "last_errors",
    "message_creation_details",
    "message_creations",
    "metadatas",
    "required_actions",
    "required_functions",
    "required_tool_calls",
    "run_steps",
    "runs",
    "step_details",
    "submit_tool_outputs",
    "tool_calls",
    "tool_calls_details",
    "usages",
]

STATUSES: Final[tuple[StepStatus, ...]] = (
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "expired",
)
"""Every step status; ``in_progress`` first, so it is what a status shrinks to."""
TERMINAL_STATUSES: Final[tuple[StepStatus, ...]] = STATUSES[1:]
"""The four absorbing statuses, ``completed`` first."""
STEP_TYPES: Final[tuple[StepType, ...]] = ("message_creation", "tool_calls")
"""The two step types."""
TOOL_CALL_TYPES: Final = ("function", "code_interpreter", "file_search")
"""The three tool-call variants, by their ``type`` tag."""
ERROR_CODES: Final = ("server_error", "rate_limit_exceeded")
"""The ``last_error.code`` values the API documents."""
RANKERS: Final = ("auto", "default_2024_08_21")
"""The file-search rankers the API documents."""
RUN_STATUSES: Final[tuple[RunStatus, ...]] = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "completed",
    "failed",
    "cancelled",
    "expired",
    "incomplete",
)
"""Every run status: the four a run waits or works in, then its five endings."""
RUN_ENDINGS: Final[tuple[RunStatus, ...]] = RUN_STATUSES[4:]
"""The five absorbing run statuses, ``completed`` first."""
RUN_ERROR_CODES: Final = (*ERROR_CODES, "invalid_prompt")
"""The ``last_error.code`` values the API documents for a run (one more than a step's)."""
INCOMPLETE_REASONS: Final = ("max_completion_tokens", "max_prompt_tokens")
"""Why a run ends ``incomplete``: the token limit it reached."""
METADATA_PAIRS: Final = 16
METADATA_KEY_CHARS: Final = 64
METADATA_VALUE_CHARS: Final = 512

STAMP_OF: Final = STEP_STAMPS
RUN_STAMP_OF: Final = RUN_END_STAMPS
"""The run endings that have a stamp of their own (expired and incomplete have none)."""
RUN_TTL: Final = 600
"""How long after its creation a run expires, in the runs drawn here (the API's 10 minutes)."""
_LATEST: Final = 4_102_444_800  # 2100-01-01: the API stamps Unix seconds
_LONGEST_STEP: Final = 86_400
_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME_ALPHABET: Final = _ID_ALPHABET + "_-"


# -- argument checks ---------------------------------------------------------------


def check_type(value: object, expected: type, name: str) -> None:
    """Raise `InvalidArgument` unless `value` is an instance of `expected` (no bool for int)."""
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InvalidArgument(f"{name}={value!r} must be of type {expected.__name__}")


def check_bounds(name: str, min_value: int, max_value: int, *, floor: int = 0) -> None:
    """Raise `InvalidArgument` unless ``floor <= min_value <= max_value`` (all ints)."""
    check_type(min_value, int, f"min_{name}")
    check_type(max_value, int, f"max_{name}")
    if min_value < floor:
        raise InvalidArgument(f"min_{name}={min_value} must be at least {floor}")
    if max_value < min_value:
        raise InvalidArgument(f"max_{name}={max_value} must be at least min_{name}={min_value}")


def check_choices(
    name: str, value: object, allowed: tuple[str, ...], *, many: bool
) -> tuple[str, ...]:
    """`value` (one allowed string, or a non-empty collection of them when `many`) as a tuple.

    The tuple keeps the order of `allowed`, so sampling from it shrinks predictably.
    """
    if isinstance(value, str):
        chosen: tuple[object, ...] = (value,)
    elif many and isinstance(value, Collection):
        chosen = tuple(value)
    else:
        kind = "a string or a collection of strings" if many else "a string"
        raise InvalidArgument(f"{name}={value!r} must be {kind}")
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise InvalidArgument(f"{name}: {unknown!r} not among {allowed!r}")
    if not chosen:
        raise InvalidArgument(f"{name} must not be empty")
    return tuple(v for v in allowed if v in chosen)


def check_strategy(value: object, name: str) -> None:
    """Raise `InvalidArgument` unless `value` is a hypothesis strategy."""
    check_type(value, st.SearchStrategy, name)


# -- small pieces ------------------------------------------------------------------


def ids(prefix: str) -> st.SearchStrategy[str]:
    """API-looking ids: `prefix`, an underscore, then 1 to 24 letters and digits."""
    return st.text(_ID_ALPHABET, min_size=1, max_size=24).map(lambda s: f"{prefix}_{s}")


_texts = st.text(max_size=40)
_scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _texts
_function_names = st.text(_NAME_ALPHABET, min_size=1, max_size=64)


def arguments_texts() -> st.SearchStrategy[str]:
    """Function-call arguments as the model writes them: a JSON object, as text."""
    objects = st.dictionaries(st.text(max_size=12), _json_scalars, max_size=4)
    return objects.map(lambda obj: json.dumps(obj, ensure_ascii=False))


def usages() -> st.SearchStrategy[Usage]:
    """Token counts whose ``total_tokens`` is the sum of the other two."""
    return _usages()


@st.composite
def _usages(draw: st.DrawFn) -> Usage:
    # A composite, not builds(Usage.of, ...): counterexamples then show `Usage(...)`.
    counts = st.integers(min_value=0, max_value=10**7)
    return Usage.of(prompt_tokens=draw(counts), completion_tokens=draw(counts))


def last_errors() -> st.SearchStrategy[LastError]:
    """Errors with a documented code and any message."""
    return st.builds(LastError, code=st.sampled_from(ERROR_CODES), message=_texts)


def metadatas() -> st.SearchStrategy[Metadata]:
    """Metadata up to and exactly at its limits: 16 pairs, 64-char keys, 512-char values.

    Keys and values are any unicode text (no surrogates, which JSON cannot carry):
    short, or filled to exactly the limit (all keys, all values, or both). The
    number of pairs runs from 0 to 16. Every choice shrinks towards ``{}``.
    """
    return _metadatas()


def repeated(text: str, chars: int) -> str:
    """`text` (a dot when empty) repeated to exactly `chars` characters."""
    return ((text or "·") * chars)[:chars]


_SHORT_TEXTS: Final = st.text(max_size=24)


@st.composite
def _metadatas(draw: st.DrawFn) -> Metadata:
    # A fixed shape (a count, two switches, two lists of short texts) rather than a
    # choice between dictionaries: it shrinks smoothly, and filling short texts to
    # the limits keeps 16 x (64 + 512) characters within hypothesis' budget.
    pairs = draw(st.integers(0, METADATA_PAIRS))
    long_keys, long_values = draw(st.booleans()), draw(st.booleans())

    def key(text: str) -> str:
        return repeated(text, METADATA_KEY_CHARS) if long_keys else text

    keys = draw(st.lists(_SHORT_TEXTS, min_size=pairs, max_size=pairs, unique_by=key))
    values = draw(st.lists(_SHORT_TEXTS, min_size=pairs, max_size=pairs))
    return {
        key(k): repeated(v, METADATA_VALUE_CHARS) if long_values else v
        for k, v in zip(keys, values, strict=True)
    }


def message_creations() -> st.SearchStrategy[MessageCreation]:
    """The ``message_creation`` body: the id of the message the step created."""
    return st.builds(MessageCreation, message_id=ids("msg"))


def message_creation_details() -> st.SearchStrategy[MessageCreationDetails]:
    """``step_details`` of a ``message_creation`` step."""
    return st.builds(MessageCreationDetails, message_creation=message_creations())


def code_interpreter_logs() -> st.SearchStrategy[CodeInterpreterLogs]:
    """Text output of a code-interpreter call."""
    return st.builds(CodeInterpreterLogs, logs=_texts)


def image_files() -> st.SearchStrategy[ImageFile]:
    """A file the code interpreter produced."""
    return st.builds(ImageFile, file_id=ids("file"))


def code_interpreter_images() -> st.SearchStrategy[CodeInterpreterImage]:
    """Image output of a code-interpreter call."""
    return st.builds(CodeInterpreterImage, image=image_files())


def code_interpreter_outputs() -> st.SearchStrategy[CodeInterpreterOutput]:
    """Logs or image outputs (logs first: what they shrink to)."""
    return st.one_of(code_interpreter_logs(), code_interpreter_images())


def code_interpreters(*, max_outputs: int = 3) -> st.SearchStrategy[CodeInterpreter]:
    """A code-interpreter body: any input text and up to `max_outputs` outputs."""
    check_bounds("outputs", 0, max_outputs)
    outputs = st.lists(code_interpreter_outputs(), max_size=max_outputs)
    return st.builds(CodeInterpreter, input=st.text(max_size=80), outputs=outputs)


def code_interpreter_tool_calls() -> st.SearchStrategy[CodeInterpreterToolCall]:
    """Code-interpreter tool calls."""
    return st.builds(CodeInterpreterToolCall, id=ids("call"), code_interpreter=code_interpreters())


def file_search_ranking_options() -> st.SearchStrategy[FileSearchRankingOptions]:
    """Ranking options with a documented ranker and a threshold in 0..1."""
    return st.builds(
        FileSearchRankingOptions, ranker=st.sampled_from(RANKERS), score_threshold=_scores
    )


def file_search_result_contents() -> st.SearchStrategy[FileSearchResultContent]:
    """A piece of a file-search result; each key present or absent."""
    return st.builds(
        FileSearchResultContent, type=st.none() | st.just("text"), text=st.none() | _texts
    )


def file_search_results() -> st.SearchStrategy[FileSearchResult]:
    """One file-search hit, with or without its content."""
    return st.builds(
        FileSearchResult,
        file_id=ids("file"),
        file_name=_texts,
        score=_scores,
        content=st.none() | st.lists(file_search_result_contents(), max_size=2),
    )


def file_searches() -> st.SearchStrategy[FileSearch]:
    """A file-search body; ``ranking_options`` and ``results`` each present or absent."""
    return st.builds(
        FileSearch,
        ranking_options=st.none() | file_search_ranking_options(),
        results=st.none() | st.lists(file_search_results(), max_size=3),
    )


def file_search_tool_calls() -> st.SearchStrategy[FileSearchToolCall]:
    """File-search tool calls."""
    return st.builds(FileSearchToolCall, id=ids("call"), file_search=file_searches())


def functions(*, output: bool | None = None) -> st.SearchStrategy[Function]:
    """A function call: a valid function name, JSON arguments, and maybe its output.

    ``output=True`` always sets the output (the tool outputs were submitted),
    ``False`` never does, None (the default) draws either.
    """
    if output is not None:
        check_type(output, bool, "output")
    outputs: st.SearchStrategy[str | None] = (
        st.none() | _texts if output is None else (_texts if output else st.none())
    )
    return st.builds(Function, name=_function_names, arguments=arguments_texts(), output=outputs)


def function_tool_calls(*, output: bool | None = None) -> st.SearchStrategy[FunctionToolCall]:
    """Function tool calls; `output` as for `functions`."""
    return st.builds(FunctionToolCall, id=ids("call"), function=functions(output=output))


_UNKNOWN_TOOL_TYPES: Final = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(
    lambda name: name not in TOOL_CALL_TYPES
)


def unknown_tool_calls() -> st.SearchStrategy[UnknownToolCall]:
    """Tool calls of a type the API did not document, as an ``UnknownToolCall`` loads them.

    The type is a lowercase name that is none of `TOOL_CALL_TYPES`; the call carries a
    body under that name (``{"browser": {...}}``), kept in ``extra``. A step holding one
    breaks only ``unknown-value``, a warning.
    """
    return _UNKNOWN_TOOL_TYPES.flatmap(
        lambda name: st.builds(
            UnknownToolCall,
            id=ids("call"),
            type=st.just(name),
            extra=st.fixed_dictionaries({name: st.dictionaries(_texts, _texts, max_size=2)}),
        )
    )


def tool_calls(
    *, types: Collection[str] = TOOL_CALL_TYPES, output: bool | None = None
) -> st.SearchStrategy[ToolCall]:
    """Tool calls of the variants named in `types`; `output` applies to function calls."""
    chosen = check_choices("types", types, TOOL_CALL_TYPES, many=True)
    makers: dict[str, st.SearchStrategy[Any]] = {
        "function": function_tool_calls(output=output),
        "code_interpreter": code_interpreter_tool_calls(),
        "file_search": file_search_tool_calls(),
    }
    return st.one_of([makers[name] for name in chosen])


def tool_calls_details(
    *, min_calls: int = 0, max_calls: int = 4, output: bool | None = None
) -> st.SearchStrategy[ToolCallsDetails]:
    """``step_details`` of a ``tool_calls`` step with `min_calls` to `max_calls` calls."""
    check_bounds("calls", min_calls, max_calls)
    calls = st.lists(tool_calls(output=output), min_size=min_calls, max_size=max_calls)
    return st.builds(ToolCallsDetails, tool_calls=calls)


def step_details(
    *, type: StepType | None = None, output: bool | None = None
) -> st.SearchStrategy[StepDetails]:
    """Step details of `type` (either when None); `output` as for `functions`."""
    if type is not None:
        check_choices("type", type, STEP_TYPES, many=False)
    messages = message_creation_details()
    calls = tool_calls_details(output=output)
    if type == "message_creation":
        return messages
    if type == "tool_calls":
        return calls
    return st.one_of(messages, calls)


# -- whole steps -------------------------------------------------------------------


def run_steps(
    *,
    status: StepStatus | Collection[StepStatus] | None = None,
    type: StepType | None = None,
    step_details: st.SearchStrategy[StepDetails] | None = None,
    metadata: st.SearchStrategy[Metadata | None] | None = None,
    allow_warnings: bool = False,
) -> st.SearchStrategy[RunStep]:
    """Valid run steps in `status` (one status or several; any when None).

    Stamps agree with the status and never precede ``created_at``; a completed
    step carries its usage, a failed one its ``last_error``; function calls carry
    their output once completed and none while in progress. `type` fixes the step
    type, or `step_details` the strategy for the details (not both); `metadata`
    replaces the default (null or `metadatas`). With ``allow_warnings=True`` the
    steps may also have the quirks of real data that break warning-level rules
    (usage on a failed step, a completed one without usage, a failed one without
    ``last_error``); they never break an error-level rule.
    """
    statuses = (
        STATUSES
        if status is None
        else cast(tuple[StepStatus, ...], check_choices("status", status, STATUSES, many=True))
    )
    if type is not None:
        check_choices("type", type, STEP_TYPES, many=False)
        if step_details is not None:
            raise InvalidArgument("pass type= or step_details=, not both")
    if step_details is not None:
        check_strategy(step_details, "step_details")
    if metadata is not None:
        check_strategy(metadata, "metadata")
    check_type(allow_warnings, bool, "allow_warnings")
    return _run_steps(
        _StepParts(
            statuses=statuses,
            details=_step_details(type=type) if step_details is None else step_details,
            fit_outputs=step_details is None,
            metadata=st.none() | metadatas() if metadata is None else metadata,
            usages=st.none() | usages() if allow_warnings else usages(),
            errors=st.none() | last_errors() if allow_warnings else last_errors(),
            other_usages=st.none() | usages() if allow_warnings else st.none(),
        )
    )


_step_details = step_details  # `run_steps` has an argument of that name


@attrs.frozen
class _StepParts:
    """The strategies a `run_steps` draw uses, built once (building costs more than drawing)."""

    statuses: tuple[StepStatus, ...]
    details: st.SearchStrategy[StepDetails]
    fit_outputs: bool
    metadata: st.SearchStrategy[Metadata | None]
    usages: st.SearchStrategy[Usage | None]
    errors: st.SearchStrategy[LastError | None]
    other_usages: st.SearchStrategy[Usage | None]


_STEP_IDS: Final = ids("step")
_RUN_IDS: Final = ids("run")
_ASSISTANT_IDS: Final = ids("asst")
_THREAD_IDS: Final = ids("thread")


@st.composite
def _run_steps(draw: st.DrawFn, parts: _StepParts) -> RunStep:
    status = draw(st.sampled_from(parts.statuses))
    created_at = draw(st.integers(min_value=0, max_value=_LATEST))
    details = draw(parts.details)
    if parts.fit_outputs:
        details = with_outputs(details, status)
    # Everything is drawn whatever the status, so the number of choices does not
    # depend on it and shrinking moves freely between statuses.
    took = draw(st.integers(0, _LONGEST_STEP))
    usage, other_usage, error = draw(parts.usages), draw(parts.other_usages), draw(parts.errors)
    fields: dict[str, Any] = {}
    if status != "in_progress":
        fields[STAMP_OF[status]] = created_at + took
        fields["usage"] = usage if status == "completed" else other_usage
    if status == "failed":
        fields["last_error"] = error
    return RunStep(
        id=draw(_STEP_IDS),
        created_at=created_at,
        run_id=draw(_RUN_IDS),
        assistant_id=draw(_ASSISTANT_IDS),
        thread_id=draw(_THREAD_IDS),
        type=details.type,
        status=status,
        step_details=details,
        metadata=draw(parts.metadata),
        **fields,
    )


def with_outputs(details: StepDetails, status: str) -> StepDetails:
    """`details` with function outputs as a step in `status` has them.

    None while in progress (the outputs are not submitted yet); set once completed
    (an empty string where none was drawn); as drawn otherwise.
    """
    if details.type != "tool_calls" or status not in ("in_progress", "completed"):
        return details
    calls: list[ToolCall] = []
    for call in details.tool_calls:
        if isinstance(call, FunctionToolCall):
            output = None if status == "in_progress" else (call.function.output or "")
            call = attrs.evolve(call, function=attrs.evolve(call.function, output=output))
        calls.append(call)
    return attrs.evolve(details, tool_calls=calls)


# -- runs --------------------------------------------------------------------------


def required_functions() -> st.SearchStrategy[RequiredFunction]:
    """The function a waiting run asks the caller to run: a valid name, JSON arguments."""
    return st.builds(RequiredFunction, name=_function_names, arguments=arguments_texts())


def required_tool_calls() -> st.SearchStrategy[RequiredToolCall]:
    """One function call whose output a waiting run needs."""
    return st.builds(
        RequiredToolCall, id=ids("call"), type=st.just("function"), function=required_functions()
    )


def submit_tool_outputs() -> st.SearchStrategy[SubmitToolOutputs]:
    """The one to three calls whose outputs a waiting run needs."""
    return st.builds(
        SubmitToolOutputs, tool_calls=st.lists(required_tool_calls(), min_size=1, max_size=3)
    )


def required_actions() -> st.SearchStrategy[RequiredAction]:
    """What a ``requires_action`` run waits for: always ``submit_tool_outputs`` today."""
    return st.builds(
        RequiredAction,
        type=st.just("submit_tool_outputs"),
        submit_tool_outputs=submit_tool_outputs(),
    )


def incomplete_details() -> st.SearchStrategy[IncompleteDetails]:
    """Why a run ended ``incomplete``: one of the two token limits."""
    return st.builds(IncompleteDetails, reason=st.sampled_from(INCOMPLETE_REASONS))


def runs(
    *,
    status: RunStatus | Collection[RunStatus] | None = None,
    allow_warnings: bool = False,
) -> st.SearchStrategy[Run]:
    """Valid runs in `status` (one status or several; any when None).

    Each run carries exactly what its status does: ``started_at`` once it started
    (a queued run may have started before, when it is queued again after its tool
    outputs were submitted; a run can fail, expire or be cancelled before it
    starts); ``expires_at`` while it can still expire, and once it expired; the
    stamp of its ending (``completed_at``, ``failed_at``, ``cancelled_at``; an
    incomplete run may carry ``completed_at`` too), never before it started;
    ``required_action`` exactly while it requires action; ``last_error`` when it
    failed; ``incomplete_details`` when incomplete; ``usage`` only once it ended
    (always when completed). Such a run breaks no run rule of the catalogue. With
    ``allow_warnings=True`` a failed run may lack its ``last_error``, the one
    warning-level run rule; no error-level rule is ever broken.
    """
    statuses = (
        RUN_STATUSES
        if status is None
        else cast(tuple[RunStatus, ...], check_choices("status", status, RUN_STATUSES, many=True))
    )
    check_type(allow_warnings, bool, "allow_warnings")
    errors = st.none() | _RUN_LAST_ERRORS if allow_warnings else _RUN_LAST_ERRORS
    return _runs(statuses, errors)


_RUN_LAST_ERRORS: Final = st.builds(
    LastError, code=st.sampled_from(RUN_ERROR_CODES), message=_texts
)
_REQUIRED_ACTIONS: Final = required_actions()
_INCOMPLETE_DETAILS: Final = incomplete_details()
_USAGES: Final = usages()
_MAYBE_USAGES: Final = st.none() | usages()
_STARTED: Final = frozenset(("in_progress", "requires_action", "completed", "incomplete"))
"""Statuses a run reaches only once it started; the others it may reach before."""


@st.composite
def _runs(
    draw: st.DrawFn, statuses: tuple[RunStatus, ...], errors: st.SearchStrategy[LastError | None]
) -> Run:
    status = draw(st.sampled_from(statuses))
    created_at = draw(st.integers(min_value=0, max_value=_LATEST))
    # Everything is drawn whatever the status (see `_run_steps`), so shrinking moves
    # freely between statuses.
    started = draw(st.booleans())
    waited = draw(st.integers(0, 60))
    took = draw(st.integers(0, RUN_TTL))
    action, details = draw(_REQUIRED_ACTIONS), draw(_INCOMPLETE_DETAILS)
    error, usage, other_usage = draw(errors), draw(_USAGES), draw(_MAYBE_USAGES)
    stamped = draw(st.booleans())
    started_at = created_at + waited if started or status in _STARTED else None
    ended_at = (created_at if started_at is None else started_at) + took
    terminal = status in RUN_ENDINGS
    stamps: dict[str, int | None] = dict.fromkeys(RUN_STAMP_OF.values())
    if status in RUN_STAMP_OF:
        stamps[RUN_STAMP_OF[status]] = ended_at
    elif status == "incomplete" and stamped:
        stamps["completed_at"] = ended_at
    return Run(
        id=draw(_RUN_IDS),
        created_at=created_at,
        assistant_id=draw(_ASSISTANT_IDS),
        thread_id=draw(_THREAD_IDS),
        status=status,
        started_at=started_at,
        # The API clears the deadline of a run that ended otherwise than by expiring.
        expires_at=None if terminal and status != "expired" else created_at + RUN_TTL,
        required_action=action if status == "requires_action" else None,
        last_error=error if status == "failed" else None,
        incomplete_details=details if status == "incomplete" else None,
        usage=usage if status == "completed" else (other_usage if terminal else None),
        cancelled_at=stamps["cancelled_at"],
        failed_at=stamps["failed_at"],
        completed_at=stamps["completed_at"],
    )
