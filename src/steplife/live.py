"""Embedding steplife in an orchestrator while runs happen.

`steplife.Tracker` takes the SDKs' own stream events (``feed``, ``consume``,
``aconsume``) and reports to observers (``on_transition``, ``on_finding``). This
module holds what goes with it: the `Transition` those observers hear; `tracked`,
which has an SDK's own event handler feed a Tracker; and `Poller`, which turns polled
snapshots (``runs.steps.list``, ``runs.retrieve``) into the events they imply. See
docs/embedding.md.
"""

from __future__ import annotations

from steplife._handlers import tracked
from steplife._polling import Poller
from steplife._transition import Transition

__all__ = ["Poller", "Transition", "tracked"]
