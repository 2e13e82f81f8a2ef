"""Hypothesis strategies for valid run steps and everything nested in them.

"Valid" means no error-level rule is broken: stamps agree with the status and never
precede ``created_at``, usage appears only on finished steps (completed, and failed
as real data shows) with a correct total, ``last_error`` only on failed steps,
metadata within its limits, and only documented values in the closed string sets
(so the official SDK accepts every generated step). Warning-level findings
(``usage-missing``, ``failure-without-error``, ``usage-without-completion``) are
allowed unless ``clean=True``.

The project's own private strategies; ``steplife.testing`` is the public home.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Final

from hypothesis import strategies as st

from steplife import RunStep
from steplife.model import (
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
    LastError,
    MessageCreation,
    MessageCreationDetails,
    Metadata,
    StepDetails,
    StepStatus,
    ToolCall,
    ToolCallsDetails,
    Usage,
)

STATUSES: Final[tuple[StepStatus, ...]] = (
    "in_progress",
    "cancelled",
    "failed",
    "completed",
    "expired",
)
TERMINAL: Final[tuple[StepStatus, ...]] = STATUSES[1:]
STAMP_OF: Final[dict[str, str]] = {
    "cancelled": "cancelled_at",
    "completed": "completed_at",
    "expired": "expired_at",
    "failed": "failed_at",
}
DOCUMENTED_RANKERS: Final = ("auto", "default_2024_08_21")
DOCUMENTED_ERROR_CODES: Final = ("server_error", "rate_limit_exceeded")

# 1970 to 2100: the API stamps Unix seconds.
_EPOCH_MAX: Final = 4_102_444_800
_LATEST_FINISH: Final = 10**6

texts = st.text(max_size=40)
"""Any short text, including the empty string and non-ASCII."""

# The factories below are cached: a strategy is immutable, and one built anew for each
# draw (as `_run_steps` would) is validated and labelled anew each time, which cost
# about 60 % of a property test's run.


@cache
def ids(prefix: str) -> st.SearchStrategy[str]:
    """API-looking ids: ``prefix`` and an underscore, then letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return st.text(alphabet, min_size=1, max_size=24).map(lambda s: f"{prefix}_{s}")


@cache
def usages() -> st.SearchStrategy[Usage]:
    """Token counts whose total is the sum of the two parts."""
    counts = st.integers(min_value=0, max_value=10**7)
    return st.builds(Usage.of, counts, counts)


@cache
def last_errors() -> st.SearchStrategy[LastError]:
    """Errors with a documented code."""
    return st.builds(LastError, code=st.sampled_from(DOCUMENTED_ERROR_CODES), message=texts)


@cache
def metadatas() -> st.SearchStrategy[Metadata]:
    """Metadata within the API's limits: <=16 pairs, keys <=64 and values <=512 chars."""
    return st.dictionaries(
        st.text(max_size=64), st.text(max_size=512), max_size=16
    ) | st.dictionaries(
        # Exactly at the limits, to keep the boundaries honest.
        st.text(min_size=64, max_size=64),
        st.text(min_size=512, max_size=512),
        min_size=16,
        max_size=16,
    )


@cache
def code_interpreter_outputs() -> st.SearchStrategy[CodeInterpreterOutput]:
    """Logs or image outputs."""
    logs = st.builds(CodeInterpreterLogs, logs=texts)
    images = st.builds(CodeInterpreterImage, image=st.builds(ImageFile, file_id=ids("file")))
    return st.one_of(logs, images)


@cache
def code_interpreter_tool_calls() -> st.SearchStrategy[CodeInterpreterToolCall]:
    """Code-interpreter calls with any number of outputs."""
    body = st.builds(
        CodeInterpreter,
        input=texts,
        outputs=st.lists(code_interpreter_outputs(), max_size=3),
    )
    return st.builds(CodeInterpreterToolCall, id=ids("call"), code_interpreter=body)


_scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@cache
def file_search_tool_calls() -> st.SearchStrategy[FileSearchToolCall]:
    """File-search calls, each optional key present or absent."""
    contents = st.builds(
        FileSearchResultContent,
        type=st.none() | st.just("text"),
        text=st.none() | texts,
    )
    results = st.builds(
        FileSearchResult,
        file_id=ids("file"),
        file_name=texts,
        score=_scores,
        content=st.none() | st.lists(contents, max_size=2),
    )
    ranking = st.builds(
        FileSearchRankingOptions,
        ranker=st.sampled_from(DOCUMENTED_RANKERS),
        score_threshold=_scores,
    )
    body = st.builds(
        FileSearch,
        ranking_options=st.none() | ranking,
        results=st.none() | st.lists(results, max_size=3),
    )
    return st.builds(FileSearchToolCall, id=ids("call"), file_search=body)


@cache
def function_tool_calls() -> st.SearchStrategy[FunctionToolCall]:
    """Function calls, with or without their output."""
    body = st.builds(Function, name=texts, arguments=texts, output=st.none() | texts)
    return st.builds(FunctionToolCall, id=ids("call"), function=body)


@cache
def tool_calls() -> st.SearchStrategy[ToolCall]:
    """Any of the three tool-call variants."""
    return st.one_of(code_interpreter_tool_calls(), file_search_tool_calls(), function_tool_calls())


@cache
def step_details() -> st.SearchStrategy[StepDetails]:
    """Message-creation details or a list of up to four tool calls."""
    messages = st.builds(
        MessageCreationDetails,
        message_creation=st.builds(MessageCreation, message_id=ids("msg")),
    )
    calls = st.builds(ToolCallsDetails, tool_calls=st.lists(tool_calls(), max_size=4))
    return st.one_of(messages, calls)


@st.composite
def _run_steps(
    draw: st.DrawFn, statuses: Sequence[StepStatus], clean: bool, details: StepDetails | None
) -> RunStep:
    status = draw(st.sampled_from(statuses))
    created_at = draw(st.integers(min_value=0, max_value=_EPOCH_MAX))
    chosen = draw(step_details()) if details is None else details
    fields: dict[str, Any] = {}
    if status != "in_progress":
        fields[STAMP_OF[status]] = created_at + draw(st.integers(0, _LATEST_FINISH))
    if status == "completed":
        fields["usage"] = draw(usages() if clean else st.none() | usages())
    elif status == "failed":
        fields["last_error"] = draw(last_errors() if clean else st.none() | last_errors())
        fields["usage"] = None if clean else draw(st.none() | usages())
    return RunStep(
        id=draw(ids("step")),
        created_at=created_at,
        run_id=draw(ids("run")),
        assistant_id=draw(ids("asst")),
        thread_id=draw(ids("thread")),
        type=chosen.type,
        status=status,
        step_details=chosen,
        metadata=draw(st.none() | metadatas()),
        **fields,
    )


def run_steps(
    *,
    statuses: Sequence[StepStatus] = STATUSES,
    clean: bool = False,
    details: StepDetails | None = None,
) -> st.SearchStrategy[RunStep]:
    """Valid run steps in one of `statuses`.

    `clean` also rules out every warning-level finding; `details` fixes the
    step_details (and so the type) instead of drawing them.
    """
    return _run_steps(tuple(statuses), clean, details)


def in_progress_steps(*, clean: bool = False) -> st.SearchStrategy[RunStep]:
    """Valid steps that have not finished yet."""
    return run_steps(statuses=("in_progress",), clean=clean)
