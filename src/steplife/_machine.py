"""The lifecycle engine: a lifecycle written once as data, compiled into its machine.

A `Definition` says everything a lifecycle is: its statuses (which are final, which is
first), its triggers (from where, to where), the stamp each destination sets, and how a
move applies its payload to the record. `Engine` compiles it once: it builds the one
`transitions` machine (``model=None``, fired on a record explicitly, the state kept in
the record's own ``status``) and reads off that machine the table of moves that the
replay path consults without firing. A new lifecycle is a new definition, not a copy of
this code.

This is the only module that imports `transitions` (the diagram module also imports its
Mermaid extension to draw a definition).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import attrs
from transitions import EventData, Machine, MachineError

from steplife.errors import IllegalTransitionError

__all__ = ["Apply", "Definition", "Engine", "Machine", "Refused"]

Refused = MachineError
"""What a machine's fire function raises when the machine refuses the move."""

Apply = Callable[..., None]
"""``apply(record, destination, *payload)``: stamp `record` and set what the move carries.

Called before the state moves, so a refused or failed move never leaves a new status
beside old fields."""


@attrs.frozen
class Definition:
    """A lifecycle as data: the one source its machine, tables and diagrams come from."""

    entity: Literal["step", "run", "response", "item"]
    """What moves through it (``step``, ``run``, ``response``, output ``item``), as errors
    name it."""
    statuses: tuple[str, ...]
    """Every status, the first being where a new record starts."""
    final: frozenset[str]
    """The statuses nothing leaves."""
    sources: Mapping[str, tuple[str, ...]]
    """trigger -> the statuses it may fire from."""
    targets: Mapping[str, str]
    """trigger -> the status it leads to (one destination per trigger)."""
    stamps: Mapping[str, str]
    """destination -> the ``*_at`` field a move there stamps."""
    apply: Apply = attrs.field(eq=False, repr=False)

    def config(self) -> dict[str, Any]:
        """The `transitions` configuration of this lifecycle (for `build` and diagrams)."""
        return {
            "states": [{"name": s, "final": s in self.final} for s in self.statuses],
            "initial": self.statuses[0],
            "transitions": [
                {
                    "trigger": trigger,
                    "source": list(self.sources[trigger]),
                    "dest": dest,
                    "before": _callback(self.apply, dest),
                }
                for trigger, dest in self.targets.items()
            ],
            "model_attribute": "status",
            "auto_transitions": False,
            "send_event": True,
        }

    def build(
        self, machine_class: type[Machine] = Machine, model: object = None, **extra: Any
    ) -> Machine:
        """A machine of `machine_class` built from `config` (a diagram passes its own)."""
        return machine_class(model=model, **self.config(), **extra)


def _callback(apply: Apply, destination: str) -> Callable[[EventData], None]:
    """The `transitions` callback that hands a move to `destination` to `apply`."""

    @functools.wraps(apply)
    def before(event: EventData) -> None:
        apply(event.model, destination, *event.args)

    return before


class Engine:
    """A compiled lifecycle: its machine, its fire functions and the moves read off it."""

    __slots__ = ("between", "definition", "fires", "machine", "moves")

    def __init__(self, definition: Definition) -> None:
        self.definition: Final = definition
        self.machine: Final = definition.build()
        events = self.machine.events
        self.fires: Final[Mapping[str, Callable[..., bool]]] = {
            trigger: event.trigger for trigger, event in events.items()
        }
        """trigger -> the machine's own fire function, ``fire(record, *payload)``.

        It raises `Refused` when the machine refuses the move (the record is then
        unchanged; `refusal` is the error to raise instead). A record's status must be
        one of the definition's: transitions raises a bare ValueError for any other."""
        self.moves: Final[Mapping[tuple[str, str], str]] = {
            (source, trigger): str(transition.dest)
            for trigger, event in events.items()
            for source, transitions in event.transitions.items()
            for transition in transitions
            if transition.dest is not None  # an internal transition moves nothing
        }
        """(status, trigger) -> the status it leads to; a refused move has no entry."""
        self.between: Final[Mapping[tuple[str, str], str]] = {
            (source, dest): trigger for (source, trigger), dest in self.moves.items()
        }
        """(status, status) -> the trigger that makes that move, if one does."""

    def refusal(self, record: Any, trigger: str) -> IllegalTransitionError:
        """The error for `trigger` refused on `record`."""
        status = record.status
        final = status in self.definition.final
        return IllegalTransitionError(
            record.id, status, trigger, entity=self.definition.entity, terminal=final
        )
