"""Timelines: a replayed capture drawn on a time axis, in Mermaid or as an HTML page.

A lifecycle reads faster as a picture than as a table. `timeline` turns the records a
replay ended with into one `Lane` per run, the run's `Span` above its steps' (steps
whose run is not in the capture share a lane of their own), each span with the findings
about it; `mermaid` and `html` draw it. Every stamp is read through the model's tables
(`STEP_STAMPS`, `RUN_STAMPS`, `RUN_END_STAMPS`): a status they gain needs nothing here.

Both drawings are deterministic: runs and steps in order of creation, then of id, and
findings in stream order. Text from the input (ids, the file's name, messages) is cut to
`SHOWN_LIMIT` characters, rid of control characters and escaped for where it goes.
"""

from __future__ import annotations

import contextlib
import html as _html
import re
from collections.abc import Iterable, Mapping, Sequence
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
    "Lane",
    "Span",
    "Timeline",
    "html",
    "mermaid",
    "replay_timeline",
    "timeline",
    "timeline_of",
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


def _plain(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` cut to `limit` characters, each unsafe one shown as U+FFFD."""
    return _UNSAFE.sub("\ufffd", cut(text, limit))


_MESSAGE_LIMIT: Final = 400
_ERROR_MARK: Final = "✖"
_WARNING_MARK: Final = "⚠"


def _marks(findings: Sequence[Finding]) -> str:
    """The findings as a label's tail: each rule once, errors first (`` ✖ a ⚠ b``)."""
    errors = dict.fromkeys(f.rule for f in findings if f.severity is Severity.ERROR)
    warnings = dict.fromkeys(f.rule for f in findings if f.severity is not Severity.ERROR)
    tail = f" {_ERROR_MARK} {', '.join(errors)}" if errors else ""
    return tail + (f" {_WARNING_MARK} {', '.join(warnings)}" if warnings else "")


def _status_class(span: Span) -> str:
    """The colour a span is drawn in: its ending, or ``open``."""
    return "open" if span.is_open else span.status


def _utc(t: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime(fmt)
    except (OverflowError, OSError, ValueError):  # beyond what a date can say
        return str(t)


# -- Mermaid -----------------------------------------------------------------------------

# Mermaid reads `#58;` as an entity before it parses: what its gantt grammar would read
# (`:` ends a task's name, `#` and `;` end a title's, `%%` starts a comment) is written
# so, and so are `<`, `>` and the two characters Mermaid stands its entities in for.
_MERMAID_TEXT: Final = str.maketrans(
    {c: f"#{ord(c)};" for c in "#:;%<>\N{PILCROW SIGN}\N{LATIN SMALL LIGATURE FL}"}
)
_CRITICAL: Final = frozenset({"failed", "expired"})
_MS: Final = 1000


def _mermaid_text(text: str, limit: int = SHOWN_LIMIT) -> str:
    return _plain(text, limit).translate(_MERMAID_TEXT)


def _task(label: str, tags: list[str], start: int, until: int) -> str:
    # Times in milliseconds (`dateFormat x`): Mermaid 11 reads a task's start written in
    # seconds under `dateFormat X` as milliseconds (1970), though its end as seconds.
    until = max(start, until)  # a stamp before creation: drawn at its start
    if until == start:
        tags = [*tags, "milestone"]  # a bar of no length would not show
    data = ", ".join([*tags, str(start * _MS), str(until * _MS)])
    return f"    {label} :{data}"


def _mermaid_span(span: Span) -> str:
    tags = []
    if span.has_error or span.status in _CRITICAL:
        tags.append("crit")
    if span.status == "completed":
        tags.append("done")
    if span.is_open:
        tags.append("active")
    # The label starts with a word of steplife's (the step's type comes from a closed
    # set), never with the id: an id such as "section x" would read as a keyword.
    what = "run" if span.type is None else span.type
    marks = _marks(span.findings)  # rule codes of the catalogue: nothing to cut
    label = f"{what} {_mermaid_text(span.id)} {span.status}{_mermaid_text(marks, len(marks))}"
    return _task(label, tags, span.start, span.until)


def mermaid(timeline: Timeline) -> str:
    """`timeline` as a Mermaid ``gantt`` chart: a section per run, a task per step.

    A task is tagged ``done`` when completed, ``crit`` when failed, expired or found in
    error, ``active`` while open, and is a ``milestone`` when it has no length; its label
    ends with the rules broken (``✖`` errors, ``⚠`` warnings). Findings about no run or
    step drawn are milestones at the capture's last time, in a section of their own.
    """
    lines = [
        "gantt",
        f"    title steplife timeline of {_mermaid_text(timeline.source or 'a capture')}",
        "    dateFormat x",
        "    axisFormat %H:%M:%S",
        "    todayMarker off",
    ]
    for lane in timeline.lanes:
        if lane.run is None:
            lines.append("    section steps without a known run")
        else:
            lines.append(f"    section run {_mermaid_text(lane.run.id)}")
            lines.append(_mermaid_span(lane.run))
        lines.extend(_mermaid_span(step) for step in lane.steps)
    if timeline.unplaced and timeline.last is not None:
        lines.append("    section findings about no run or step drawn")
        for finding in timeline.unplaced:
            error = finding.severity is Severity.ERROR
            label = f"{_ERROR_MARK if error else _WARNING_MARK} {finding.rule}"
            about = finding.step_id or finding.run_id
            if about is not None:
                label += f" {_mermaid_text(about)}"
            lines.append(_task(label, ["crit"] if error else [], timeline.last, timeline.last))
    return "\n".join(lines) + "\n"


# -- HTML --------------------------------------------------------------------------------

_PAD: Final = 16
_LABEL_W: Final = 340
_CHART_W: Final = 640
_TAIL_W: Final = 300
_ROW_H: Final = 22
_AXIS_H: Final = 28
_MIN_BAR: Final = 3.0
_MAX_TICKS: Final = 8
_NICE_STEPS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)
_DAY: Final = 86400
_COLOURS: Final[Mapping[str, str]] = {
    "open": "#1e6fd9",
    "completed": "#2e8540",
    "failed": "#c62828",
    "expired": "#e8710a",
    "cancelled": "#7a7a7a",
    "incomplete": "#8d6e63",
}
"""A colour for each ending of a step or a run, and for ``open``."""
_LEGEND: Final = ("open", *sorted(TERMINAL_STATUSES | RUN_TERMINAL_STATUSES))
_FINDING_COLOURS: Final = {Severity.ERROR: "#c62828", Severity.WARNING: "#f2b705"}

_STYLE: Final = "\n".join(
    [
        "body { font-family: system-ui, sans-serif; margin: 24px; color: #1b1b1b; }",
        "h1 { font-size: 20px; margin: 0 0 4px; }",
        "p { margin: 4px 0 12px; }",
        "svg text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; }",
        ".grid { stroke: #e3e3e3; }",
        ".tick { fill: #555; text-anchor: middle; }",
        ".run-label { font-weight: bold; }",
        ".group-label { font-style: italic; fill: #555; }",
        ".tail { fill: #444; }",
        ".run { fill-opacity: 0.25; stroke-width: 1.5; }",
        ".open.step { fill-opacity: 0.6; stroke-dasharray: 3 2; stroke-width: 1; }",
        *(f".{name} {{ fill: {colour}; stroke: {colour}; }}" for name, colour in _COLOURS.items()),
        *(
            f".finding.{severity.value} circle {{ fill: {colour}; }}"
            for severity, colour in _FINDING_COLOURS.items()
        ),
        ".finding text { fill: #fff; font-weight: bold; text-anchor: middle; }",
        "table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }",
        "th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }",
        "td.error { color: #c62828; } td.warning { color: #9a6b00; }",
        "code, td.id { font-family: ui-monospace, Menlo, Consolas, monospace; }",
    ]
)


def _esc(text: str, limit: int = SHOWN_LIMIT) -> str:
    return _html.escape(_plain(text, limit))


def _tick_step(span: int) -> int:
    """The smallest round step that cuts `span` seconds in at most `_MAX_TICKS` parts."""
    for step in _NICE_STEPS:
        if span <= step * _MAX_TICKS:
            return step
    step = _DAY // 4
    while span > step * _MAX_TICKS:
        step *= 2
    return step


class _Scale:
    """Seconds to x coordinates over the timeline's bounds."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.span = first, max(1, last - first)

    def x(self, t: int) -> float:
        return _PAD + _LABEL_W + (t - self.first) / self.span * _CHART_W


def _num(value: float) -> str:
    return f"{value:.1f}"


def _span_title(span: Span, last: int) -> str:
    what = f"{span.kind} {_plain(span.id)}" + (f" ({span.type})" if span.type else "")
    since = f"{what}, {span.status}: created {_utc(span.start)}"
    if span.end is not None:
        stamp = STEP_STAMPS[span.status] if span.kind == "step" else RUN_END_STAMPS[span.status]
        ended = f"{since}, {stamp} {_utc(span.end)} ({span.end - span.start} s)"
        if span.end < span.start:
            ended += f": {stamp} precedes created_at"
        return ended
    if span.is_open:
        return f"{since}, still open at the end of the capture ({_utc(last)})"
    return f"{since}, no stamp of its own: drawn to {_utc(span.until)}, its latest time"


def _finding_lines(findings: Iterable[Finding]) -> str:
    return "\n".join(
        f"{f.severity.value} {f.rule}: {_plain(f.message, _MESSAGE_LIMIT)}" for f in findings
    )


def _row(span: Span, y: int, scale: _Scale, last: int) -> list[str]:
    indent = 0 if span.kind == "run" else 14
    label_class = "run-label" if span.kind == "run" else "label"
    x0 = scale.x(span.start)
    width = max(_MIN_BAR, scale.x(max(span.start, span.until)) - x0)
    height = 16 if span.kind == "run" else 12
    top = y + (_ROW_H - height) / 2
    title = _html.escape(_span_title(span, last))
    parts = [
        f'<text class="{label_class}" x="{_PAD + indent}" y="{y + 15}">{_esc(span.id)}</text>',
        f'<rect class="{span.kind} {_status_class(span)}" x="{_num(x0)}" y="{_num(top)}" '
        f'width="{_num(width)}" height="{height}"><title>{title}</title></rect>',
    ]
    tail_x = x0 + width + 8
    if span.findings:
        worst = Severity.ERROR if span.has_error else Severity.WARNING
        cx = tail_x + 6
        parts.append(
            f'<g class="finding {worst.value}"><title>{_html.escape(_finding_lines(span.findings))}'
            f'</title><circle cx="{_num(cx)}" cy="{y + 11}" r="6"/>'
            f'<text x="{_num(cx)}" y="{y + 15}">!</text></g>'
        )
        tail_x += 18
    what = "run" if span.type is None else span.type
    parts.append(
        f'<text class="tail" x="{_num(tail_x)}" y="{y + 15}">{what} · {span.status}</text>'
    )
    return parts


def _axis(scale: _Scale, first: int, last: int, top: int, bottom: int) -> list[str]:
    step = _tick_step(last - first)
    if step < 60:
        fmt = "%H:%M:%S"
    elif step < _DAY:
        # Within a day the header's dates tell which day a time is of; over days, a tick says.
        fmt = "%H:%M" if last - first < _DAY else "%m-%d %H:%M"
    else:
        fmt = "%Y-%m-%d"
    parts = []
    tick = -(-first // step) * step
    while tick <= last:
        x = _num(scale.x(tick))
        parts.append(f'<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x}" y="{top - 8}">{_utc(tick, fmt)}</text>')
        tick += step
    return parts


def _legend(y: int) -> list[str]:
    parts = []
    x = _PAD
    for name in _LEGEND:
        parts.append(f'<rect class="step {name}" x="{x}" y="{y}" width="14" height="10"/>')
        parts.append(f'<text x="{x + 18}" y="{y + 9}">{name}</text>')
        x += 30 + 7 * len(name)
    for severity in (Severity.ERROR, Severity.WARNING):
        parts.append(
            f'<g class="finding {severity.value}"><circle cx="{x + 6}" cy="{y + 5}" r="6"/>'
            f'<text x="{x + 6}" y="{y + 9}">!</text></g>'
        )
        label = f"{severity.value} finding"
        parts.append(f'<text x="{x + 16}" y="{y + 9}">{label}</text>')
        x += 30 + 7 * len(label)
    return parts


def _svg(timeline: Timeline) -> list[str]:
    first, last = timeline.first, timeline.last
    assert first is not None
    assert last is not None
    scale = _Scale(first, last)
    top = _PAD + _AXIS_H
    rows: list[str] = []
    y = top
    for lane in timeline.lanes:
        if lane.run is None:
            rows.append(
                f'<text class="group-label" x="{_PAD}" y="{y + 15}">'
                "steps without a known run</text>"
            )
        else:
            rows.extend(_row(lane.run, y, scale, last))
        y += _ROW_H
        for step in lane.steps:
            rows.extend(_row(step, y, scale, last))
            y += _ROW_H
    bottom = y
    width = 2 * _PAD + _LABEL_W + _CHART_W + _TAIL_W
    height = bottom + 44
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline">',
        *_axis(scale, first, last, top, bottom),
        *rows,
        *_legend(bottom + 20),
        "</svg>",
    ]


def _findings_table(timeline: Timeline) -> list[str]:
    if not timeline.findings:
        return ["<p>No finding.</p>"]
    rows = [
        "<table>",
        "<tr><th>where</th><th>severity</th><th>rule</th><th>about</th><th>message</th></tr>",
    ]
    for f in timeline.findings:
        where = f"line {f.line}" if f.line else f"event {f.event_index}" if f.event_index else ""
        about = f"step {f.step_id}" if f.step_id else f"run {f.run_id}" if f.run_id else ""
        rows.append(
            f'<tr><td>{where}</td><td class="{f.severity.value}">{f.severity.value}</td>'
            f'<td>{_html.escape(f.rule)}</td><td class="id">{_esc(about)}</td>'
            f"<td>{_esc(f.message, _MESSAGE_LIMIT)}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _summary(timeline: Timeline) -> str:
    spans = timeline.spans
    runs = sum(1 for s in spans if s.kind == "run")
    steps = len(spans) - runs
    findings = timeline.findings
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    counts = (
        f"{runs} run{'' if runs == 1 else 's'}, {steps} step{'' if steps == 1 else 's'}, "
        f"{errors} error{'' if errors == 1 else 's'} and {len(findings) - errors} "
        f"warning{'' if len(findings) - errors == 1 else 's'} found"
    )
    if timeline.first is None or timeline.last is None:
        return f"{counts}. Nothing to draw: no run or step in this input."
    return f"{counts}. Times in UTC, from {_utc(timeline.first)} to {_utc(timeline.last)}."


def html(timeline: Timeline) -> str:
    """`timeline` as a self-contained HTML page: inline SVG and CSS, no script, no link.

    A time axis with UTC ticks; each run a pale bar with its steps on rows below it,
    coloured by how each ended (a legend says which colour is which); a finding is a
    ``!`` mark whose tooltip gives each rule and message; a table lists every finding.
    The page is well-formed XML after its doctype.
    """
    source = timeline.source or "a capture"
    body = [
        "<h1>steplife timeline</h1>",
        f"<p><code>{_esc(source)}</code>: {_html.escape(_summary(timeline))}</p>",
    ]
    if timeline.first is not None:
        body.extend(_svg(timeline))
    body.append("<h2>Findings</h2>")
    body.extend(_findings_table(timeline))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            f"<title>steplife timeline of {_esc(source)}</title>",
            f"<style>\n{_STYLE}\n</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
