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

from steplife._timeline._html import html
from steplife._timeline._mermaid import mermaid
from steplife._timeline._model import Lane, Span, Timeline, replay_timeline, timeline, timeline_of

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
