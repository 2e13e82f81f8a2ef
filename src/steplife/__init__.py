"""steplife: lifecycle validation for OpenAI Assistants run steps.

A wire-exact `RunStep` record, one lifecycle machine that moves it from
``in_progress`` to a terminal status, one catalogue of coded rules, and JSON both
ways. See the README for a tour.
"""

from __future__ import annotations

from steplife._events import Event, Format, InputError, open_input, read_events
from steplife._lifecycle import Clock, Lifecycle, Trigger, system_clock
from steplife._model import (
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
    RunStep,
    StepDetails,
    StepStatus,
    StepType,
    ToolCall,
    ToolCallsDetails,
    Usage,
)
from steplife._rules import CATALOGUE, Finding, Rule, Rules, Severity, check
from steplife._tracker import StreamError, Tracker
from steplife._validate import FileReport, Report, validate_file, validate_paths
from steplife._version import __version__
from steplife._wire import Parsed, from_dict, from_json, parse, to_dict, to_json
from steplife.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidStepError,
    SteplifeError,
    SteplifeWarning,
    StoreError,
    UnknownRuleError,
)

__all__ = [
    "CATALOGUE",
    "Clock",
    "CodeInterpreter",
    "CodeInterpreterImage",
    "CodeInterpreterLogs",
    "CodeInterpreterOutput",
    "CodeInterpreterToolCall",
    "ConflictError",
    "Event",
    "FileReport",
    "FileSearch",
    "FileSearchRankingOptions",
    "FileSearchResult",
    "FileSearchResultContent",
    "FileSearchToolCall",
    "Finding",
    "Format",
    "Function",
    "FunctionToolCall",
    "IllegalTransitionError",
    "ImageFile",
    "InputError",
    "InvalidStepError",
    "LastError",
    "Lifecycle",
    "MessageCreation",
    "MessageCreationDetails",
    "Metadata",
    "Parsed",
    "Report",
    "Rule",
    "Rules",
    "RunStep",
    "Severity",
    "StepDetails",
    "StepStatus",
    "StepType",
    "SteplifeError",
    "SteplifeWarning",
    "StoreError",
    "StreamError",
    "ToolCall",
    "ToolCallsDetails",
    "Tracker",
    "Trigger",
    "UnknownRuleError",
    "Usage",
    "__version__",
    "check",
    "from_dict",
    "from_json",
    "open_input",
    "parse",
    "read_events",
    "system_clock",
    "to_dict",
    "to_json",
    "validate_file",
    "validate_paths",
]
