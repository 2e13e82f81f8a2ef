"""`Transition`: a status change, as a Tracker's ``on_transition`` observer hears it."""

from __future__ import annotations

from typing import Literal

import attrs

from steplife.model import Run, RunStep

__all__ = ["Transition"]


@attrs.frozen(kw_only=True)
class Transition:
    """A status change a `steplife.Tracker` followed.

    ``entity`` is ``"step"`` or ``"run"``; ``source`` is None when the tracker first
    sees the record (created, or adopted mid-life); ``event`` is the stream event that
    moved it; ``record`` is the snapshot after the move (a `RunStep` or a `Run`).
    """

    entity: Literal["step", "run"]
    id: str
    source: str | None
    target: str
    event: str
    record: RunStep | Run
