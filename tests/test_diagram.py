"""The committed Mermaid diagrams are exactly what the machine definitions draw.

The interlock diagram also makes claims about behaviour (which step events each run
status admits, which rule reports a run ending with a step open): those are checked
here against the Tracker itself, so the picture cannot say what the code does not do.
"""

from __future__ import annotations

import re

import pytest

from helpers import REPO
from steplife._diagram import (
    DIAGRAM_PATH,
    DIAGRAMS,
    Admission,
    admissions,
    interlock_mermaid,
    mermaid,
    run_mermaid,
)
from steplife._lifecycle import EVENT_KINDS
from steplife._run_lifecycle import RUN_MACHINE_CONFIG
from steplife._runs import STEP_ADMISSION
from steplife.model import RUN_STATUSES, RUN_TERMINAL_STATUSES
from streams import (
    STEP_ID,
    StreamEvent,
    created,
    delta,
    function_call,
    in_progress,
    replay,
    run_event,
    run_start,
    terminal,
    tool_details,
)

REGENERATE = "make diagrams"
ENDING_RULES = {"run-finished-with-open-steps", "expiry-not-propagated"}


@pytest.mark.parametrize("name", list(DIAGRAMS))
def test_committed_diagram_matches_the_machine(name: str) -> None:
    """Each docs/diagrams/ file equals what its diagram draws; regenerate it when this fails."""
    diagram = DIAGRAMS[name]
    path = REPO / diagram.path

    assert path.is_file(), f"missing; create it with: {REGENERATE}"
    assert diagram.draw() == path.read_text(encoding="utf-8"), f"stale; regenerate: {REGENERATE}"


def test_the_step_diagram_keeps_its_path_and_is_the_default() -> None:
    """``step`` is the first diagram (the command's default) and lives where it always did."""
    assert next(iter(DIAGRAMS)) == "step"
    assert (DIAGRAM_PATH, mermaid) == (DIAGRAMS["step"].path, DIAGRAMS["step"].draw)
    assert ["step", "run", "interlock", "response", "item"] == list(DIAGRAMS)


def test_make_diagrams_writes_every_diagram_to_its_committed_path() -> None:
    """The Makefile's ``diagrams`` target redirects each diagram to its own file."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("\ndiagrams:", 1)[1].split("\n\n", 1)[0]

    written = re.findall(r"steplife diagram (\w+) > (\S+)", target)

    assert [(d.name, d.path) for d in DIAGRAMS.values()] == written


def test_step_diagram_draws_every_transition_and_end() -> None:
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


def machine_edges() -> set[str]:
    """Every edge of the run machine, as the diagram should draw it."""
    return {
        f"{source} --> {transition['dest']}: {transition['trigger']}"
        for transition in RUN_MACHINE_CONFIG["transitions"]
        for source in transition["source"]
    }


@pytest.mark.parametrize("draw", [run_mermaid, interlock_mermaid])
def test_run_diagrams_draw_every_edge_of_the_run_machine_and_no_other(draw: object) -> None:
    """One arrow per (source, trigger) of the run machine, the start arrow and five ends."""
    assert callable(draw)
    arrows = [line.strip() for line in draw().splitlines() if "-->" in line]

    expected_ends = {f"{status} --> [*]" for status in RUN_TERMINAL_STATUSES}
    assert machine_edges() | {"[*] --> queued"} | expected_ends == set(arrows)
    assert len(arrows) == len(set(arrows))  # nothing drawn twice


def test_run_diagram_pins_a_few_documented_edges() -> None:
    """The edges the API documents and real streams show are all in the picture."""
    arrows = {line.strip() for line in run_mermaid().splitlines() if "-->" in line}

    assert {
        "requires_action --> queued: queue",
        "requires_action --> in_progress: start",
        "in_progress --> requires_action: require_action",
        "cancelling --> cancelled: cancel",
        "cancelling --> completed: complete",
        "queued --> expired: expire",
    } <= arrows
    assert not any(
        line.startswith(("cancelled -->", "completed -->"))
        for line in arrows - {f"{status} --> [*]" for status in RUN_TERMINAL_STATUSES}
    )


@pytest.mark.parametrize("name", list(DIAGRAMS))
def test_each_diagram_is_a_titled_mermaid_state_diagram_ending_in_one_newline(name: str) -> None:
    """Front matter with a ``title:`` key, a state diagram, one final newline, no live state."""
    text = DIAGRAMS[name].draw()
    lines = text.splitlines()

    assert lines[0] == lines[2] == "---"
    assert lines[1].startswith("title: ")
    assert ": " not in lines[1].removeprefix("title: ")  # a plain YAML scalar, not a mapping
    assert lines[3] == "stateDiagram-v2"
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert "s_active" not in text
    assert all(line == line.rstrip() for line in lines)


# -- the interlock ----------------------------------------------------------------------


def notes(text: str) -> dict[str, list[str]]:
    """Each ``note right of STATE`` block of `text`: the state and the note's lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("note right of "):
            assert current is None, "a note opened inside another"
            current = found.setdefault(stripped.removeprefix("note right of "), [])
            assert current == [], "two notes on one state"
        elif stripped == "end note":
            assert current is not None, "end note without a note"
            current = None
        elif current is not None:
            current.append(stripped)
    assert current is None, "a note left open"
    return found


def test_every_run_status_is_declared_and_carries_one_note() -> None:
    """A note per run status, each on a declared state, each closed."""
    text = interlock_mermaid()
    declared = re.findall(r'(?m)^  state "\w+" as (\w+)$', text)

    assert list(RUN_STATUSES) == declared
    assert list(RUN_STATUSES) == list(notes(text))


def test_each_note_lists_the_step_events_its_status_admits() -> None:
    """The first line of each note is STEP_ADMISSION's entry, in the order steps send them."""
    for status, lines in notes(interlock_mermaid()).items():
        listed = lines[0].removeprefix("step events: ")
        kinds = [] if listed == "none" else listed.split(", ")
        assert set(kinds) == STEP_ADMISSION[status], status
        assert sorted(kinds, key=EVENT_KINDS.index) == kinds


def test_the_interlock_table_pins_the_special_cases() -> None:
    """requires_action and expired admit events only of steps open when the run got there."""
    rows = {row.status: row for row in admissions()}
    terminal_kinds = ("cancelled", "failed", "completed", "expired")

    assert rows["in_progress"] == Admission(
        "in_progress", ("created", "in_progress", "delta", *terminal_kinds), False, ()
    )
    assert rows["queued"] == Admission(
        "queued", ("in_progress", "delta", *terminal_kinds), False, ()
    )
    assert rows["requires_action"] == Admission("requires_action", terminal_kinds, True, ())
    assert rows["expired"] == Admission("expired", ("expired",), True, ("expiry-not-propagated",))
    for status in ("cancelled", "failed", "completed", "incomplete"):
        assert rows[status] == Admission(status, (), False, ("run-finished-with-open-steps",))


def test_notes_name_the_special_cases_and_the_ending_rules_with_their_severity() -> None:
    """The qualifier and each ending rule (code, severity, meaning) appear in their notes."""
    found = notes(interlock_mermaid())

    assert found["requires_action"][1] == (
        "only of the steps with a function call in progress when the run became requires_action"
    )
    assert found["expired"][1:] == [
        "only of the steps in progress when the run became expired",
        "expiry-not-propagated (warning): when a run expires, its open steps end expired",
    ]
    assert found["completed"] == [
        "step events: none",
        "run-finished-with-open-steps (error): a run ends only after each of its steps ended",
    ]
    assert found["in_progress"] == [
        "step events: created, in_progress, delta, cancelled, failed, completed, expired"
    ]
    assert "any other is step-outside-run (error)" in interlock_mermaid().splitlines()[1]


# What brings a run, started and in_progress, to each status.
PATH_TO: dict[str, list[str]] = {
    "queued": ["requires_action", "queued"],
    "in_progress": [],
    "requires_action": ["requires_action"],
    "cancelling": ["cancelling"],
    "cancelled": ["cancelling", "cancelled"],
    **{status: [status] for status in ("failed", "completed", "incomplete", "expired")},
}


# The open step calls a function, as a step a run waits for does.
CALLING = tool_details(function_call())


def step_event(kind: str, step_id: str) -> StreamEvent:
    """A clean step event of `kind` of the calling step (``created`` is another step's)."""
    if kind == "created":
        return created("step_new", details=CALLING)
    if kind == "in_progress":
        return in_progress(step_id, details=CALLING)
    if kind == "delta":
        return delta(step_id)
    return terminal(kind, step_id, details=CALLING)


def outside_run_at_last_event(events: list[StreamEvent]) -> bool:
    """Whether the last of `events` is reported step-outside-run."""
    tracker = replay(events, finish=False)
    return any(f.rule == "step-outside-run" and f.line == len(events) for f in tracker.findings)


def test_paths_reach_every_run_status() -> None:
    """The test streams below really leave their run in each status."""
    for status, path in PATH_TO.items():
        tracker = replay([*run_start(), *(run_event(kind) for kind in path)], finish=False)
        assert {status: 1} == dict(tracker.run_statuses), status


@pytest.mark.parametrize("row", admissions(), ids=lambda row: row.status)
@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_the_tracker_admits_exactly_the_step_events_the_diagram_lists(
    row: Admission, kind: str
) -> None:
    """For a step open when its run got to the status: admitted iff the note lists it."""
    events = [*run_start(), created(STEP_ID, details=CALLING)]
    events += [run_event(k) for k in PATH_TO[row.status]]
    events.append(step_event(kind, STEP_ID))

    assert (kind not in row.kinds) == outside_run_at_last_event(events)


@pytest.mark.parametrize(
    "row", [row for row in admissions() if row.kinds], ids=lambda row: row.status
)
def test_a_step_not_open_then_is_admitted_unless_the_note_says_only_open_steps(
    row: Admission,
) -> None:
    """A step first seen after its run got to the status: refused iff open_steps_only."""
    kind = row.kinds[-1]  # a terminal kind: every status that admits any admits one
    events = [*run_start(), *(run_event(k) for k in PATH_TO[row.status])]
    events.append(terminal(kind, "step_late", details=CALLING))

    assert kind in ("cancelled", "failed", "completed", "expired")
    assert row.open_steps_only == outside_run_at_last_event(events)


@pytest.mark.parametrize(
    "row",
    [row for row in admissions() if row.status in RUN_TERMINAL_STATUSES],
    ids=lambda row: row.status,
)
def test_a_run_ending_with_a_step_open_is_reported_by_the_rule_its_note_names(
    row: Admission,
) -> None:
    """The run-ending rules the Tracker reports are exactly those of the status's note."""
    events = [
        *run_start(),
        created(STEP_ID, details=CALLING),
        in_progress(STEP_ID, details=CALLING),
    ]
    events += [run_event(k) for k in PATH_TO[row.status]]

    tracker = replay(events)

    assert set(row.ending_rules) == {f.rule for f in tracker.findings} & ENDING_RULES


@pytest.mark.parametrize(
    "row",
    [row for row in admissions() if row.status not in RUN_TERMINAL_STATUSES],
    ids=lambda row: row.status,
)
def test_a_status_that_is_not_terminal_names_no_ending_rule(row: Admission) -> None:
    """Only the five terminal statuses carry an ending rule."""
    assert row.ending_rules == ()


def test_a_step_without_a_function_call_may_not_end_while_its_run_waits() -> None:
    """What the requires_action note says: only steps with a function call are waited for."""
    events = [*run_start(), created(STEP_ID), run_event("requires_action")]
    events.append(terminal("completed", STEP_ID))

    assert outside_run_at_last_event(events)
    assert "with a function call" in notes(interlock_mermaid())["requires_action"][1]
