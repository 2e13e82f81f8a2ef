"""steplife: lifecycle validation for OpenAI Assistants run steps.

A wire-exact `RunStep` record, one lifecycle machine that moves it from
``in_progress`` to a terminal status, a `Run` record with a machine of its own, one
catalogue of coded rules (steps, runs, and steps against their run), and JSON both
ways. The records nested in a step or a run, and the type names of the vocabulary,
are in `steplife.model`; every exception is in `steplife.errors`. See the README for
a tour.
"""

from __future__ import annotations

from steplife._events import Event, Format, open_input, read_events
from steplife._findings import Finding, Severity
from steplife._lifecycle import Clock, Lifecycle, system_clock
from steplife._report import FileReport, Report
from steplife._rules import CATALOGUE, Rule, Rules, check
from steplife._run_lifecycle import RunLifecycle
from steplife._tracker import Tracker
from steplife._validate import validate_file, validate_paths
from steplife._version import __version__
from steplife._wire import Parsed, from_dict, from_json, parse, to_dict, to_json
from steplife.errors import (
    IllegalTransitionError,
    InputError,
    InvalidRecordError,
    SteplifeError,
    SteplifeWarning,
    StreamError,
    UnknownRuleError,
)
from steplife.model import Run, RunStep

__all__ = [
    "CATALOGUE",
    "Clock",
    "Event",
    "FileReport",
    "Finding",
    "Format",
    "IllegalTransitionError",
    "InputError",
    "InvalidRecordError",
    "Lifecycle",
    "Parsed",
    "Report",
    "Rule",
    "Rules",
    "Run",
    "RunLifecycle",
    "RunStep",
    "Severity",
    "SteplifeError",
    "SteplifeWarning",
    "StreamError",
    "Tracker",
    "UnknownRuleError",
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
