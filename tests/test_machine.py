"""The lifecycle engine: each definition compiles into a machine, and its tables agree."""

from __future__ import annotations

from typing import Any

import pytest

from steplife._lifecycle import STEP_LIFECYCLE
from steplife._machine import Definition, Engine, Refused
from steplife._run_lifecycle import RUN_LIFECYCLE
from steplife.errors import IllegalTransitionError

DEFINITIONS = [STEP_LIFECYCLE, RUN_LIFECYCLE]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.entity)
def test_the_machine_has_nothing_the_compiled_moves_would_skip(definition: Definition) -> None:
    """No condition, no unless, no callback but the definition's own, no internal move:
    a move the table allows is one the machine makes, whatever the payload."""
    machine = Engine(definition).machine
    for event in machine.events.values():
        for transitions in event.transitions.values():
            for transition in transitions:
                assert transition.conditions == []
                assert transition.dest is not None
                assert [getattr(c, "__wrapped__", None) for c in transition.before] == [
                    definition.apply
                ]
                assert transition.after == []
                assert transition.prepare == []
    for state in machine.states.values():
        assert state.on_enter == []
        assert state.on_exit == []


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.entity)
def test_the_moves_read_off_the_machine_are_the_definition_s(definition: Definition) -> None:
    """Each trigger leads from each of its sources to its one target, and nothing else."""
    engine = Engine(definition)
    expected = {
        (source, trigger): definition.targets[trigger]
        for trigger, sources in definition.sources.items()
        for source in sources
    }
    assert expected == dict(engine.moves)
    assert {(s, d): t for (s, t), d in expected.items()} == dict(engine.between)
    assert not {source for source, _ in engine.moves} & definition.final


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.entity)
def test_every_stamp_belongs_to_a_status_of_the_lifecycle(definition: Definition) -> None:
    """The stamp table names only statuses the lifecycle has, each stamped once."""
    assert set(definition.stamps) <= set(definition.statuses)
    assert len(set(definition.stamps.values())) == len(definition.stamps)


class Record:
    """Anything with an ``id`` and a ``status`` can be moved by an engine."""

    def __init__(self, status: str) -> None:
        self.id = "record_1"
        self.status = status
        self.moves: list[tuple[str, tuple[Any, ...]]] = []


def _note(record: Record, destination: str, *payload: Any) -> None:
    record.moves.append((destination, payload))


TOY = Definition(
    entity="step",
    statuses=("open", "shut"),
    final=frozenset(("shut",)),
    sources={"shut": ("open",)},
    targets={"shut": "shut"},
    stamps={"shut": "shut_at"},
    apply=_note,
)


def test_a_new_lifecycle_is_a_definition_the_engine_fires() -> None:
    """A definition of its own moves a record, hands `apply` the payload, and refuses
    what it does not allow with the record unchanged."""
    engine = Engine(TOY)
    record = Record("open")
    engine.fires["shut"](record, 42)
    assert (record.status, record.moves) == ("shut", [("shut", (42,))])
    with pytest.raises(Refused):
        engine.fires["shut"](record, 43)
    assert (record.status, len(record.moves)) == ("shut", 1)
    refusal = engine.refusal(record, "shut")
    assert isinstance(refusal, IllegalTransitionError)
    assert "cannot shut from status 'shut'" in str(refusal)
    assert set(engine.fires) == set(TOY.targets)
