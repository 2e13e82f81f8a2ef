"""The lifecycle diagrams, drawn in Mermaid from the machine definitions.

transitions' Mermaid renderer needs no Graphviz. Each machine diagram is built from
the same data as the machine that drives steps (`MACHINE_CONFIG`) or runs
(`RUN_MACHINE_CONFIG`), so a picture cannot drift from the behaviour; the interlock
diagram adds to the run machine the step events each run status admits
(`STEP_ADMISSION`) and the rules that judge a run ending with steps still open. The
tests compare every committed file with this output, and check the interlock's claims
against the Tracker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, NamedTuple, cast

from steplife._lifecycle import EVENT_KINDS, build_machine
from steplife._machine import Machine
from steplife._rules import CATALOGUE
from steplife._run_lifecycle import RUN_MACHINE_CONFIG, build_run_machine
from steplife._runs import STEP_ADMISSION, RunBook, RunState
from steplife.model import Run, RunStatus

__all__ = [
    "DIAGRAMS",
    "DIAGRAM_PATH",
    "Admission",
    "Diagram",
    "admissions",
    "interlock_mermaid",
    "item_mermaid",
    "mermaid",
    "response_mermaid",
    "run_mermaid",
]

DIAGRAM_PATH = "docs/diagrams/run-step.mmd"
"""Where the committed step diagram lives, relative to the repository root."""


_OUTSIDE_RULE: Final = "step-outside-run"
_OPEN_AT_END_RULE: Final = "run-finished-with-open-steps"
_NOT_FOLLOWED_RULE: Final = "expiry-not-propagated"
_OPEN_STEPS: Final = {
    # A run waits for its function calls: only the steps making them may end while it does.
    "requires_action": "the steps with a function call in progress",
}


def _draw(build: Callable[..., Machine], title: str) -> list[str]:
    """The lines transitions draws for the machine `build` makes, cleaned up."""
    # The diagram extension imports asyncio and more: only for a diagram.
    from transitions.extensions.diagrams import GraphMachine

    # transitions writes the title alone between the front-matter fences, which
    # Mermaid reads as no title at all: it must be a `title:` key.
    machine = build(GraphMachine, model="self", graph_engine="mermaid", title=f"title: {title}")
    source: str = machine.get_graph().draw(None)
    lines = []
    for line in source.splitlines():
        # The diagram shows the definition, not one model's current state.
        if line.lstrip().startswith("classDef s_active"):
            continue
        lines.append(line.rstrip().replace(" s_active", " s_default"))
    # transitions draws the start arrow but not the absorbing ends; add them.
    lines += [f"  {s.name} --> [*]" for s in machine.states.values() if s.final]
    return lines


def _text(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"


def mermaid() -> str:
    """The run-step lifecycle as a Mermaid state diagram (text ending in a newline)."""
    return _text(_draw(build_machine, "run step lifecycle"))


def run_mermaid() -> str:
    """The run lifecycle as a Mermaid state diagram (text ending in a newline)."""
    return _text(_draw(build_run_machine, "run lifecycle"))


def response_mermaid() -> str:
    """The Responses API's response lifecycle as a Mermaid state diagram."""
    # Imported here: the Responses modules load only when one of their diagrams is drawn.
    from steplife.responses._lifecycle import build_response_machine

    return _text(_draw(build_response_machine, "response lifecycle (Responses API)"))


def item_mermaid() -> str:
    """The Responses API's output item lifecycle as a Mermaid state diagram."""
    from steplife.responses._lifecycle import build_item_machine

    return _text(_draw(build_item_machine, "output item lifecycle (Responses API)"))


class Admission(NamedTuple):
    """What one run status means for the run's steps, as the interlock diagram shows it."""

    status: str
    kinds: tuple[str, ...]
    """The step event kinds the status admits, in the order a step sends them."""
    open_steps_only: bool
    """Whether `kinds` are admitted only for steps in progress when the run entered it."""
    ending_rules: tuple[str, ...]
    """For a terminal status: the rules that report the steps still open when it is reached."""


def _only_for_open_steps(status: str) -> bool:
    # Asked of the check the Tracker itself runs: a step event of an admitted kind,
    # for a step that was not in progress when the run entered `status`.
    run = Run(
        id="run",
        created_at=0,
        assistant_id="asst",
        thread_id="thread",
        status=cast(RunStatus, status),
    )
    state = RunState(run=run, identity=("thread", "asst", 0), awaited=frozenset())
    return any(
        problem.code == _OUTSIDE_RULE
        for kind in STEP_ADMISSION[status]
        for problem in RunBook(None).check_step(state, None, "step", kind, new=False)
    )


def admissions() -> tuple[Admission, ...]:
    """Each run status of the run machine, with the step events it admits.

    A terminal status that admits no step event reports every step still open when
    the run reaches it (``run-finished-with-open-steps``); one that admits some
    (``expired``) lets the steps open then end that way, and reports at the end of
    input those that never did (``expiry-not-propagated``).
    """
    order = {kind: i for i, kind in enumerate(EVENT_KINDS)}
    rows = []
    for state in RUN_MACHINE_CONFIG["states"]:
        status: str = state["name"]
        admitted = STEP_ADMISSION[status]
        kinds = tuple(sorted(admitted, key=lambda kind: (order.get(kind, len(order)), kind)))
        ending: tuple[str, ...] = ()
        if state["final"]:
            ending = (_NOT_FOLLOWED_RULE,) if kinds else (_OPEN_AT_END_RULE,)
        rows.append(Admission(status, kinds, _only_for_open_steps(status), ending))
    return tuple(rows)


def _rule_text(code: str) -> str:
    rule = CATALOGUE[code]
    return f"{code} ({rule.severity.value}): {rule.summary}"


def interlock_mermaid() -> str:
    """How runs and steps interlock, as a Mermaid state diagram of the run.

    Each run status carries a note: the ``thread.run.step.*`` events it admits
    (any other is ``step-outside-run``), the steps they are admitted for when not
    all, and, for a terminal status, the rule that reports a step still open.
    """
    severity = CATALOGUE[_OUTSIDE_RULE].severity.value
    title = f"step events each run status admits, any other is {_OUTSIDE_RULE} ({severity})"
    lines = _draw(build_run_machine, title)
    lines.append("")
    for row in admissions():
        lines.append(f"  note right of {row.status}")
        lines.append(f"    step events: {', '.join(row.kinds) if row.kinds else 'none'}")
        if row.kinds and row.open_steps_only:
            which = _OPEN_STEPS.get(row.status, "the steps in progress")
            lines.append(f"    only of {which} when the run became {row.status}")
        lines.extend(f"    {_rule_text(code)}" for code in row.ending_rules)
        lines.append("  end note")
    return _text(lines)


class Diagram(NamedTuple):
    """One diagram the command draws: its name, committed file and what it shows."""

    name: str
    path: str
    summary: str
    draw: Callable[[], str]


DIAGRAMS: Final[Mapping[str, Diagram]] = {
    diagram.name: diagram
    for diagram in (
        Diagram("step", DIAGRAM_PATH, "the run-step lifecycle", mermaid),
        Diagram("run", "docs/diagrams/run.mmd", "the run lifecycle", run_mermaid),
        Diagram(
            "interlock",
            "docs/diagrams/interlock.mmd",
            "the run lifecycle with the step events each status admits",
            interlock_mermaid,
        ),
        Diagram(
            "response",
            "docs/diagrams/response.mmd",
            "the Responses API's response lifecycle",
            response_mermaid,
        ),
        Diagram(
            "item",
            "docs/diagrams/output-item.mmd",
            "the Responses API's output item lifecycle (items that carry a status)",
            item_mermaid,
        ),
    )
}
"""Every diagram, by the name ``steplife diagram NAME`` takes; ``step`` is the default."""
