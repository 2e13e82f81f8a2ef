"""The lifecycle diagram, drawn in Mermaid from the one machine definition.

transitions' Mermaid renderer needs no Graphviz. The diagram machine is built from
`MACHINE_CONFIG`, the same data as the machine that drives steps, so the picture
cannot drift from the behaviour; a test compares the committed file with this output.
"""

from __future__ import annotations

from transitions.extensions.diagrams import GraphMachine

from steplife._lifecycle import build_machine

__all__ = ["DIAGRAM_PATH", "mermaid"]

DIAGRAM_PATH = "docs/diagrams/run-step.mmd"
"""Where the committed diagram lives, relative to the repository root."""


def mermaid() -> str:
    """The run-step lifecycle as a Mermaid state diagram (text ending in a newline)."""
    machine = build_machine(
        GraphMachine, model="self", graph_engine="mermaid", title="run step lifecycle"
    )
    source: str = machine.get_graph().draw(None)
    # Drop the "active state" styling: the diagram shows the definition, not a step.
    lines = [line.rstrip() for line in source.splitlines() if "s_active" not in line]
    # transitions draws the start arrow but not the absorbing ends; add them.
    lines += [f"  {s.name} --> [*]" for s in machine.states.values() if s.final]
    return "\n".join(lines).rstrip("\n") + "\n"
