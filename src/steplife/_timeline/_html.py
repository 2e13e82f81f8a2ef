"""The timeline as a self-contained HTML page: inline SVG and CSS, no script, no link."""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Mapping
from typing import Final

from steplife._findings import SHOWN_LIMIT, Finding, Severity
from steplife._timeline._model import (
    MESSAGE_LIMIT,
    Span,
    Timeline,
    plain,
    status_class,
    utc,
)
from steplife.model import (
    RUN_END_STAMPS,
    RUN_TERMINAL_STATUSES,
    STEP_STAMPS,
    TERMINAL_STATUSES,
)

__all__ = ["html"]


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
    return _html.escape(plain(text, limit))


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
    what = f"{span.kind} {plain(span.id)}" + (f" ({span.type})" if span.type else "")
    since = f"{what}, {span.status}: created {utc(span.start)}"
    if span.end is not None:
        stamp = STEP_STAMPS[span.status] if span.kind == "step" else RUN_END_STAMPS[span.status]
        ended = f"{since}, {stamp} {utc(span.end)} ({span.end - span.start} s)"
        if span.end < span.start:
            ended += f": {stamp} precedes created_at"
        return ended
    if span.is_open:
        return f"{since}, still open at the end of the capture ({utc(last)})"
    return f"{since}, no stamp of its own: drawn to {utc(span.until)}, its latest time"


def _finding_lines(findings: Iterable[Finding]) -> str:
    return "\n".join(
        f"{f.severity.value} {f.rule}: {plain(f.message, MESSAGE_LIMIT)}" for f in findings
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
        f'<rect class="{span.kind} {status_class(span)}" x="{_num(x0)}" y="{_num(top)}" '
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
        parts.append(f'<text class="tick" x="{x}" y="{top - 8}">{utc(tick, fmt)}</text>')
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
            f"<td>{_esc(f.message, MESSAGE_LIMIT)}</td></tr>"
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
    return f"{counts}. Times in UTC, from {utc(timeline.first)} to {utc(timeline.last)}."


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
