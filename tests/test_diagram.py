"""The committed Mermaid diagram is exactly what the machine definition draws."""

from __future__ import annotations

from helpers import REPO
from steplife._diagram import DIAGRAM_PATH, mermaid

REGENERATE = (
    ".venv/bin/python -c \"from steplife._diagram import mermaid; print(mermaid(), end='')\" "
    f"> {DIAGRAM_PATH}"
)


def test_committed_diagram_matches_the_machine() -> None:
    """docs/diagrams/run-step.mmd equals ``mermaid()``; regenerate it when this fails."""
    path = REPO / DIAGRAM_PATH

    assert path.is_file(), f"missing; create it with: {REGENERATE}"
    assert mermaid() == path.read_text(encoding="utf-8"), f"stale; regenerate: {REGENERATE}"


def test_diagram_draws_every_transition_and_end() -> None:
    """Each trigger is an arrow out of in_progress, and every terminal status ends."""
    lines = mermaid().splitlines()

    expected = [
        "  in_progress --> completed: complete",
        "  in_progress --> failed: fail",
        "  in_progress --> cancelled: cancel",
        "  in_progress --> expired: expire",
        "  [*] --> in_progress",
        "  cancelled --> [*]",
        "  failed --> [*]",
        "  completed --> [*]",
        "  expired --> [*]",
    ]
    assert expected == [line for line in lines if "-->" in line]


def test_diagram_is_a_mermaid_state_diagram_ending_in_one_newline() -> None:
    """The text declares a state diagram and ends with exactly one newline."""
    text = mermaid()

    assert "stateDiagram-v2" in text.splitlines()
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert "s_active" not in text
