"""The timeline's model: one lane per run, a span per run and step, with their findings.

`timeline` builds it from the records a replay ended with; the helpers at the end make
text from the input safe to draw (`_mermaid` and `_html` draw it).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final, Literal

import attrs

from steplife._events import Format, open_input, read_events
from steplife._findings import SHOWN_LIMIT, Finding, Severity, cut
from steplife._rules import DEFAULT_RULES, Rules
from steplife._tracker import Tracker
from steplife._transition import Transition
from steplife.errors import SteplifeError
from steplife.model import (
    RUN_END_STAMPS,
    RUN_STAMPS,
    RUN_TERMINAL_STATUSES,
    STEP_STAMPS,
    TERMINAL_STATUSES,
    Run,
    RunStep,
)

__all__ = [
    "ERROR_MARK",
    "MESSAGE_LIMIT",
    "WARNING_MARK",
    "Lane",
    "Span",
    "Timeline",
    "marks",
    "plain",
    "replay_timeline",
    "status_class",
    "timeline",
    "timeline_of",
    "utc",
]


@attrs.frozen(kw_only=True)
class Span:
    """A run or a step on the time axis, from its ``created_at`` to its end.

    `end` is the stamp its status sets (``completed_at`` for a completed step, ...), or
    None: while it is open, when its status sets none (an expired or incomplete run), or
    when the record lacks it. `until` is where it is drawn to: `end`; else, while it is
    open, the capture's last time; else the latest time it carries (a run: it and its
    steps). `until` precedes `start` when a stamp does (``stamp-before-created``).
    """

    kind: Literal["run", "step"]
    id: str
    status: str
    type: str | None
    """A step's type; None for a run."""
    start: int
    end: int | None
    until: int
    is_open: bool
    findings: tuple[Finding, ...] = ()

    @property
    def has_error(self) -> bool:
        """Whether an error-level finding is about this run or step."""
        return any(f.severity is Severity.ERROR for f in self.findings)


@attrs.frozen(kw_only=True)
class Lane:
    """A run and its steps; `run` is None for the steps whose run is not in the capture."""

    run: Span | None
    steps: tuple[Span, ...]


@attrs.frozen(kw_only=True)
class Timeline:
    """A capture's runs and steps in time, and the findings about each.

    `unplaced` holds the findings about no run or step drawn (an unreadable line, a
    delta for a step never created). `first` and `last` bound every time the records
    carry; both are None when there is no record to draw.
    """

    source: str
    lanes: tuple[Lane, ...]
    unplaced: tuple[Finding, ...]
    first: int | None
    last: int | None

    @property
    def spans(self) -> list[Span]:
        """Every span, in drawing order: each run, then its steps."""
        spans: list[Span] = []
        for lane in self.lanes:
            if lane.run is not None:
                spans.append(lane.run)
            spans.extend(lane.steps)
        return spans

    @property
    def findings(self) -> list[Finding]:
        """Every finding: the placed ones, span by span, then the unplaced ones."""
        return [f for span in self.spans for f in span.findings] + list(self.unplaced)


# -- building ------------------------------------------------------------------------


def _stamp(record: RunStep | Run, field: str | None) -> int | None:
    """`record`'s stamp `field` (a name of the stamp tables); None without a field."""
    if field is None:
        return None
    stamp: int | None = getattr(record, field)
    return stamp


def _times(record: RunStep | Run, fields: Iterable[str]) -> list[int]:
    """`record`'s ``created_at`` and every stamp of `fields` it carries."""
    stamps = (_stamp(record, field) for field in fields)
    return [record.created_at, *(t for t in stamps if t is not None)]


def _step_times(step: RunStep) -> list[int]:
    return _times(step, STEP_STAMPS.values())


def _run_times(run: Run) -> list[int]:
    return _times(run, RUN_STAMPS.values())


def timeline(
    steps: Iterable[RunStep],
    runs: Iterable[Run],
    findings: Iterable[Finding],
    *,
    source: str = "",
) -> Timeline:
    """The timeline of `steps` and `runs` (a replay's last snapshots) and their `findings`.

    A finding goes to the step it names, else to the run it names, else to `unplaced`.
    """
    step_list = sorted(steps, key=lambda s: (s.created_at, s.id))
    run_list = sorted(runs, key=lambda r: (r.created_at, r.id))
    times = [t for s in step_list for t in _step_times(s)]
    times += [t for r in run_list for t in _run_times(r)]
    first, last = (min(times), max(times)) if times else (None, None)
    step_ids = {s.id for s in step_list}
    run_ids = {r.id for r in run_list}
    about: dict[tuple[str, str], list[Finding]] = {}
    unplaced: list[Finding] = []
    for finding in findings:
        if finding.step_id is not None and finding.step_id in step_ids:
            about.setdefault(("step", finding.step_id), []).append(finding)
        elif finding.run_id is not None and finding.run_id in run_ids:
            about.setdefault(("run", finding.run_id), []).append(finding)
        else:
            unplaced.append(finding)
    by_run: dict[str | None, list[RunStep]] = {}
    for step in step_list:
        by_run.setdefault(step.run_id if step.run_id in run_ids else None, []).append(step)

    def span(record: RunStep | Run, end_field: str | None, is_open: bool, latest: int) -> Span:
        end = _stamp(record, end_field)
        kind: Literal["run", "step"] = "step" if isinstance(record, RunStep) else "run"
        assert last is not None  # a record carries a time
        return Span(
            kind=kind,
            id=record.id,
            status=record.status,
            type=record.type if isinstance(record, RunStep) else None,
            start=record.created_at,
            end=end,
            until=end if end is not None else last if is_open else latest,
            is_open=is_open,
            findings=tuple(about.get((kind, record.id), ())),
        )

    def step_span(step: RunStep) -> Span:
        is_open = step.status not in TERMINAL_STATUSES
        return span(step, STEP_STAMPS.get(step.status), is_open, max(_step_times(step)))

    lanes = []
    for run in run_list:
        own = by_run.get(run.id, [])
        latest = max([*_run_times(run), *(t for s in own for t in _step_times(s))])
        is_open = run.status not in RUN_TERMINAL_STATUSES
        lanes.append(
            Lane(
                run=span(run, RUN_END_STAMPS.get(run.status), is_open, latest),
                steps=tuple(step_span(s) for s in own),
            )
        )
    if None in by_run:
        lanes.append(Lane(run=None, steps=tuple(step_span(s) for s in by_run[None])))
    return Timeline(
        source=source, lanes=tuple(lanes), unplaced=tuple(unplaced), first=first, last=last
    )


def timeline_of(tracker: Tracker, *, source: str = "") -> Timeline:
    """The timeline of what `tracker` replayed (call its `finish` first).

    Raises `ValueError` when the tracker keeps no finished snapshots
    (``keep_finished=False``), and `InvalidRecordError` when the deltas merged into a
    step still in progress make no valid details (`replay_timeline` draws that step all
    the same).
    """
    if not tracker.keep_finished:
        raise ValueError("timeline_of: the tracker must keep finished steps (keep_finished=True)")
    return timeline(tracker.steps.values(), tracker.runs.values(), tracker.findings, source=source)


def replay_timeline(path: str, *, fmt: Format = "auto", rules: Rules = DEFAULT_RULES) -> Timeline:
    """Replay the capture at `path` (``-`` for stdin; JSONL or SSE, gzip or not); its timeline.

    Raises `InputError` when the input cannot be opened or read.
    """
    name = "<stdin>" if path == "-" else path
    heard: dict[str, RunStep] = {}

    def hear(transition: Transition) -> None:
        if isinstance(transition.record, RunStep):
            heard[transition.id] = transition.record

    tracker = Tracker(rules=rules, keep_finished=True, on_transition=hear)
    with open_input(path) as raw:
        tracker.consume(read_events(raw, name, fmt))
    tracker.finish(file=name)
    # Every step the tracker followed was heard. Its snapshot is the truth, but a live
    # step whose merged deltas do not load has none: its last snapshot heard stands in,
    # as the picture needs only its identity and status.
    steps = dict(heard)
    for step_id in steps:
        with contextlib.suppress(SteplifeError):
            steps[step_id] = tracker.snapshot(step_id)
    return timeline(steps.values(), tracker.runs.values(), tracker.findings, source=name)


# -- text from the input -----------------------------------------------------------------

_UNSAFE: Final = re.compile(
    # Controls and line separators (a label is one line), bidirectional overrides and
    # zero-width characters (text that reads as other text), and what XML forbids.
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def plain(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` cut to `limit` characters, each unsafe one shown as U+FFFD."""
    return _UNSAFE.sub("\ufffd", cut(text, limit))


MESSAGE_LIMIT: Final = 400
ERROR_MARK: Final = "✖"
WARNING_MARK: Final = "⚠"


def marks(findings: Sequence[Finding]) -> str:
    """The findings as a label's tail: each rule once, errors first (`` ✖ a ⚠ b``)."""
    errors = dict.fromkeys(f.rule for f in findings if f.severity is Severity.ERROR)
    warnings = dict.fromkeys(f.rule for f in findings if f.severity is not Severity.ERROR)
    tail = f" {ERROR_MARK} {', '.join(errors)}" if errors else ""
    return tail + (f" {WARNING_MARK} {', '.join(warnings)}" if warnings else "")


def status_class(span: Span) -> str:
    """The colour a span is drawn in: its ending, or ``open``."""
    return "open" if span.is_open else span.status


def utc(t: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime(fmt)
    except (OverflowError, OSError, ValueError):  # beyond what a date can say
        return str(t)
