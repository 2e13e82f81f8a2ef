"""The timeline as a Mermaid gantt chart: a section per run, a task per step."""

from __future__ import annotations

from typing import Final

from steplife._findings import SHOWN_LIMIT, Severity
from steplife._timeline._model import (
    ERROR_MARK,
    WARNING_MARK,
    Span,
    Timeline,
    marks,
    plain,
)

__all__ = ["mermaid"]


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
    return plain(text, limit).translate(_MERMAID_TEXT)


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
    tail = marks(span.findings)  # rule codes of the catalogue: nothing to cut
    label = f"{what} {_mermaid_text(span.id)} {span.status}{_mermaid_text(tail, len(tail))}"
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
            label = f"{ERROR_MARK if error else WARNING_MARK} {finding.rule}"
            about = finding.step_id or finding.run_id
            if about is not None:
                label += f" {_mermaid_text(about)}"
            lines.append(_task(label, ["crit"] if error else [], timeline.last, timeline.last))
    return "\n".join(lines) + "\n"
