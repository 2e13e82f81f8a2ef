"""`steplife timeline`: the model of a capture in time, its two drawings and the command."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpers import REPO
from steplife._events import open_input, read_events
from steplife._findings import SHOWN_LIMIT, Finding, Severity
from steplife._timeline import (
    Timeline,
    html,
    mermaid,
    replay_timeline,
    timeline,
    timeline_of,
)
from steplife._timeline._model import plain as _plain
from steplife._tracker import Tracker
from steplife.cli import main
from steplife.errors import InvalidRecordError
from steplife.model import (
    RUN_END_STAMPS,
    RUN_TERMINAL_STATUSES,
    STEP_STAMPS,
    TERMINAL_STATUSES,
    Run,
    RunStep,
)
from streams import (
    BROKEN_EXAMPLE,
    CREATED,
    EXAMPLES,
    FINISHED,
    RUN_ENDED,
    RUN_ID,
    StreamEvent,
    completed,
    created,
    function_fragment,
    jsonl,
    lifecycle,
    replay,
    run_event,
    run_start,
    terminal,
    tool_calls_delta,
    tool_details,
)

CAPTURES = sorted([*EXAMPLES.glob("*.jsonl"), *EXAMPLES.glob("*.sse")])
DOCS_EXAMPLE = "examples/broken.jsonl"
HOSTILE_IDS = [
    "step: one # two ; three %% four",
    "section evil",
    "title x",
    "line\nbreak\r\tand\x00nul",
    "<script>alert(1)</script> & \"quoted\" 'single'",
    "x" * 5000,
    "\u202eright-to-left",
]


def drawn(events: list[StreamEvent], **options: Any) -> Timeline:
    """The timeline of `events`, replayed as a JSONL capture."""
    return timeline_of(replay(events, keep_finished=True, **options), source="stream.jsonl")


def write(tmp_path: Path, events: list[StreamEvent], name: str = "capture.jsonl") -> str:
    path = tmp_path / name
    path.write_bytes(jsonl(events))
    return str(path)


def task_lines(chart: str) -> list[str]:
    """The task lines of a Mermaid gantt chart (every line with a task's data)."""
    return [line for line in chart.splitlines() if " :" in line]


def task_data(line: str) -> list[str]:
    """A task line's tags and times: what follows its one ``:``."""
    return [part.strip() for part in line.split(":", 1)[1].split(",")]


def task_label(line: str) -> str:
    return line.split(":", 1)[0].strip()


def parsed(page: str) -> ET.Element:
    """The HTML page as XML: it must be well-formed after its doctype."""
    assert page.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


SVG = "{http://www.w3.org/2000/svg}"
LABELS = ("run-label", "label")


# -- the model -----------------------------------------------------------------------


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_span_runs_from_created_at_to_the_stamp_its_status_sets(path: Path) -> None:
    """Steps end at `STEP_STAMPS[status]`, runs at `RUN_END_STAMPS[status]`, or None."""
    drawing = replay_timeline(str(path))
    tracker = Tracker(keep_finished=True)
    with open_input(path) as raw:
        tracker.consume(read_events(raw, str(path)))
    records: dict[tuple[str, str], RunStep | Run] = {
        **{("step", s.id): s for s in tracker.steps.values()},
        **{("run", r.id): r for r in tracker.runs.values()},
    }

    assert sorted(records) == sorted((s.kind, s.id) for s in drawing.spans)
    for span in drawing.spans:
        record = records[span.kind, span.id]
        stamps = STEP_STAMPS if span.kind == "step" else RUN_END_STAMPS
        field = stamps.get(record.status)
        assert (span.start, span.status) == (record.created_at, record.status)
        assert span.end == (None if field is None else getattr(record, field))
        if span.end is not None:
            assert span.until == span.end


def test_a_completed_step_and_run_span_their_stamps() -> None:
    """The clean lifecycle: run and step from their creation to their completion."""
    events = [*run_start(), *lifecycle(), run_event("completed")]
    (lane,) = drawn(events).lanes

    assert lane.run is not None
    assert (lane.run.start, lane.run.end, lane.run.until) == (CREATED - 2, RUN_ENDED, RUN_ENDED)
    (step,) = lane.steps
    assert (step.start, step.end, step.until, step.is_open) == (CREATED, FINISHED, FINISHED, False)
    assert (step.kind, step.type, step.status) == ("step", "message_creation", "completed")


def test_an_open_step_has_no_end_and_is_drawn_to_the_capture_s_last_time() -> None:
    """A step left in progress: open, no end stamp, until the latest time of the capture."""
    events = [
        *run_start(),
        created("step_open"),
        created("step_late", created_at=CREATED + 20),
        terminal("completed", "step_late", at=CREATED + 25, created_at=CREATED + 20),
    ]
    result = drawn(events)
    (lane,) = result.lanes
    steps = {s.id: s for s in lane.steps}

    assert result.last == CREATED + 25  # step_late's stamp, the latest time carried
    assert (steps["step_open"].is_open, steps["step_open"].end) == (True, None)
    assert steps["step_open"].until == result.last
    assert lane.run is not None
    assert lane.run.is_open
    assert lane.run.until == result.last


def test_an_expired_run_is_drawn_to_the_latest_time_it_or_its_steps_carry() -> None:
    """Expired runs have no stamp of their own: their latest known time stands in."""
    result = replay_timeline(str(EXAMPLES / "expired-run.jsonl"))
    (lane,) = result.lanes
    assert lane.run is not None
    (step,) = lane.steps

    assert (lane.run.status, lane.run.end, lane.run.is_open) == ("expired", None, False)
    assert lane.run.until == step.end == result.last


def test_steps_whose_run_is_not_in_the_capture_share_a_lane_of_their_own() -> None:
    """A step of an unknown run goes in the run-less lane, drawn last."""
    events = [
        *run_start(),
        *lifecycle("step_known"),
        *lifecycle("step_a", run_id="run_elsewhere"),
        *lifecycle("step_b", run_id="run_nowhere", created_at=CREATED - 1),
        run_event("completed"),
    ]
    result = drawn(events)

    assert [lane.run.id if lane.run else None for lane in result.lanes] == [RUN_ID, None]
    assert [s.id for s in result.lanes[1].steps] == ["step_b", "step_a"]
    assert "    section steps without a known run" in mermaid(result).splitlines()


def test_a_stream_without_run_events_draws_its_steps_without_a_run() -> None:
    result = drawn([*lifecycle("step_1"), *lifecycle("step_2")])

    assert [(lane.run, [s.id for s in lane.steps]) for lane in result.lanes] == [
        (None, ["step_1", "step_2"])
    ]


def test_findings_go_to_their_step_else_their_run_else_unplaced() -> None:
    """Each finding is attached once: to the step it names, the run it names, or neither."""
    step_finding = Finding(rule="a", severity=Severity.ERROR, message="m", step_id="step_1")
    cross = attrs.evolve(step_finding, rule="b", run_id=RUN_ID)
    run_finding = Finding(rule="c", severity=Severity.WARNING, message="m", run_id=RUN_ID)
    strange_step = attrs.evolve(run_finding, rule="d", step_id="step_unknown")
    nowhere = Finding(rule="e", severity=Severity.ERROR, message="m", step_id="step_unknown")
    stray = Finding(rule="f", severity=Severity.ERROR, message="m")
    tracker = replay([*run_start(), *lifecycle()], keep_finished=True)
    findings = [step_finding, cross, run_finding, strange_step, nowhere, stray]

    result = timeline(tracker.steps.values(), tracker.runs.values(), findings)

    (lane,) = result.lanes
    assert lane.run is not None
    assert [f.rule for f in lane.steps[0].findings] == ["a", "b"]
    assert [f.rule for f in lane.run.findings] == ["c", "d"]
    assert [f.rule for f in result.unplaced] == ["e", "f"]
    assert sorted(f.rule for f in result.findings) == list("abcdef")


def test_the_broken_examples_findings_are_attached_as_the_examples_readme_says() -> None:
    """broken-runs.jsonl: its cross-entity findings sit on the steps they name."""
    result = replay_timeline(str(EXAMPLES / "broken-runs.jsonl"))
    by_step = {s.id: [f.rule for f in s.findings] for s in result.spans if s.kind == "step"}

    assert by_step == {
        "step_Cv8nK3xQz7WbM2tLp9RdH4sF": ["run-finished-with-open-steps", "step-outside-run"],
        "step_Dq2mX7vKz9NbT4wLc8PdH3yJ": ["step-run-mismatch", "step-outlives-run"],
        "step_Jr9vM4nQx2KbW8tLz3CdH7pF": ["dangling-step", "expiry-not-propagated"],
    }
    broken = replay_timeline(str(BROKEN_EXAMPLE))
    assert [f.rule for f in broken.unplaced] == ["unknown-step", "malformed-event"]


def test_a_stamp_before_creation_keeps_its_value_and_is_drawn_at_creation() -> None:
    """The model keeps the stamp as sent; the chart draws a milestone at the creation."""
    events = [created(), terminal("completed", at=CREATED - 30)]
    result = drawn(events)
    (step,) = result.spans

    assert (step.start, step.end, step.until) == (CREATED, CREATED - 30, CREATED - 30)
    (line,) = task_lines(mermaid(result))
    assert task_data(line)[-3:] == ["milestone", f"{CREATED}000", f"{CREATED}000"]
    assert "stamp-before-created" in task_label(line)


def test_a_step_whose_merged_deltas_do_not_load_is_still_drawn(tmp_path: Path) -> None:
    """`replay_timeline` falls back on the step's last snapshot; `timeline_of` raises."""
    events = [
        created(details=tool_details()),
        tool_calls_delta("step_1", function_fragment(0, arguments="{}")),  # no id, no name
    ]
    tracker = replay(events, keep_finished=True)
    with pytest.raises(InvalidRecordError):
        timeline_of(tracker)

    (step,) = replay_timeline(write(tmp_path, events)).spans

    assert (step.id, step.type, step.is_open) == ("step_1", "tool_calls", True)


def test_timeline_of_refuses_a_tracker_that_forgets_finished_steps() -> None:
    with pytest.raises(ValueError, match="keep_finished"):
        timeline_of(Tracker(keep_finished=False))


def test_an_empty_capture_has_nothing_to_draw() -> None:
    result = timeline([], [], [])

    assert (result.lanes, result.first, result.last) == ((), None, None)
    assert task_lines(mermaid(result)) == []
    assert "Nothing to draw" in html(result)
    parsed(html(result))


# -- Mermaid -----------------------------------------------------------------------------


def test_the_chart_is_a_gantt_in_milliseconds_with_a_section_per_run() -> None:
    events = [
        *run_start("run_a"),
        *lifecycle("step_a", run_id="run_a"),
        run_event("completed", "run_a"),
        *run_start("run_b"),
        *lifecycle("step_b", run_id="run_b", status="failed"),
        run_event("failed", "run_b"),
    ]
    chart = mermaid(drawn(events))
    lines = chart.splitlines()

    assert lines[:5] == [
        "gantt",
        "    title steplife timeline of stream.jsonl",
        "    dateFormat x",
        "    axisFormat %H:%M:%S",
        "    todayMarker off",
    ]
    assert [line for line in lines if "section" in line] == [
        "    section run run_a",
        "    section run run_b",
    ]
    assert chart.endswith("\n")
    assert not chart.endswith("\n\n")
    run_a, step_a, run_b, step_b = task_lines(chart)
    assert task_data(run_a) == ["done", f"{CREATED - 2}000", f"{RUN_ENDED}000"]
    assert task_data(step_a) == ["done", f"{CREATED}000", f"{FINISHED}000"]
    assert task_data(run_b)[0] == task_data(step_b)[0] == "crit"


@pytest.mark.parametrize(
    ("status", "tags"),
    [
        ("completed", ["done"]),
        ("failed", ["crit"]),
        ("expired", ["crit"]),
        ("cancelled", []),
    ],
)
def test_a_step_s_tags_follow_its_status(status: str, tags: list[str]) -> None:
    (line,) = task_lines(mermaid(drawn(lifecycle(status=status))))

    assert task_data(line)[:-2] == tags


def test_an_open_step_is_active_and_an_error_makes_any_step_critical() -> None:
    events = [
        *lifecycle("step_done"),
        completed("step_done"),  # after-terminal: an error about a completed step
        created("step_open", created_at=CREATED + 1),
    ]
    lines = task_lines(mermaid(drawn(events)))

    assert [task_data(line)[:-2] for line in lines] == [["crit", "done"], ["active"]]
    assert "✖ after-terminal" in task_label(lines[0])
    assert "⚠ dangling-step" in task_label(lines[1])


def test_findings_about_nothing_drawn_are_milestones_at_the_last_time() -> None:
    chart = mermaid(replay_timeline(str(BROKEN_EXAMPLE)))
    tail = chart.split("    section findings about no run or step drawn\n", 1)[1]

    labels = [task_label(line) for line in task_lines(tail)]
    assert labels == ["✖ unknown-step step_Yt6nM2xQw9KbR4vLz8CdH3pF", "✖ malformed-event"]
    assert all(task_data(line)[:2] == ["crit", "milestone"] for line in task_lines(tail))


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_ids_cannot_break_the_chart(hostile: str) -> None:
    """An id stays inside its label: one line, no ``:``, ``#`` or ``;`` of its own, cut."""
    events = [
        *run_start(hostile),
        *lifecycle(hostile, run_id=hostile),
        *lifecycle("step_orphan", run_id=hostile + ":other", created_at=CREATED + 1),
    ]
    chart = mermaid(drawn(events))
    lines = chart.splitlines()

    assert len(lines) == 5 + 2 + 3  # header, two sections, three tasks
    sections = [line for line in lines if line.startswith("    section ")]
    assert sections[1] == "    section steps without a known run"
    for line in task_lines(chart):
        label = task_label(line)
        assert label.split()[0] in ("run", "message_creation")  # never the id first
        bare = re.sub(r"#\d+;", "", label)  # Mermaid's entities, read before parsing
        assert not {":", ";", "%", "#"} & set(bare)
        assert len(bare) < SHOWN_LIMIT + 60
    assert "\x00" not in chart
    assert "\r" not in chart
    assert "\u202e" not in chart


def test_the_chart_does_not_depend_on_the_order_records_come_in() -> None:
    tracker = replay(
        [*run_start(), *(e for i in range(6) for e in lifecycle(f"step_{i}"))],
        keep_finished=True,
    )
    steps = list(tracker.steps.values())
    expected = mermaid(timeline(steps, tracker.runs.values(), tracker.findings))

    random.Random(7).shuffle(steps)

    assert mermaid(timeline(steps, tracker.runs.values(), tracker.findings)) == expected
    assert [s.id for s in timeline(steps, [], []).spans] == [f"step_{i}" for i in range(6)]


# -- HTML --------------------------------------------------------------------------------


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_the_page_is_well_formed_and_self_contained(path: Path) -> None:
    """XML after its doctype; no script, no external source or link of any kind."""
    page = html(replay_timeline(str(path)))
    root = parsed(page)
    reader = _Tags()
    reader.feed(page)

    assert root.tag == "html"
    assert "<script" not in page.lower()
    assert all("src" not in attributes for _, attributes in reader.tags)
    assert all("href" not in attributes for _, attributes in reader.tags)
    assert not {"script", "link", "img", "iframe", "object"} & {tag for tag, _ in reader.tags}
    assert root.find(f".//{SVG}svg") is not None


def test_the_page_draws_a_row_per_run_and_step_coloured_by_status() -> None:
    result = replay_timeline(str(EXAMPLES / "broken-runs.jsonl"))
    svg = parsed(html(result)).find(f".//{SVG}svg")
    assert svg is not None

    bars = [r.get("class", "") for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    expected = [f"{s.kind} {'open' if s.is_open else s.status}" for s in result.spans]
    assert bars == expected
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert len(ticks) >= 2
    assert all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t or "") for t in ticks)


def test_every_status_has_a_colour_and_a_legend_entry() -> None:
    """The legend covers every ending of a step or run, and ``open``."""
    page = html(replay_timeline(str(BROKEN_EXAMPLE)))
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    svg = parsed(page).find(f".//{SVG}svg")
    assert svg is not None
    legend = {
        r.get("class", "").split()[1]
        for r in svg.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is None
    }

    for status in {"open", *TERMINAL_STATUSES, *RUN_TERMINAL_STATUSES}:
        assert re.search(rf"^\.{status} \{{ fill: #[0-9a-f]{{6}};", style, re.M), status
        assert status in legend


def test_a_finding_mark_s_tooltip_gives_each_rule_and_message() -> None:
    result = replay_timeline(str(EXAMPLES / "broken-runs.jsonl"))
    svg = parsed(html(result)).find(f".//{SVG}svg")
    assert svg is not None

    marks = [g for g in svg.iter(f"{SVG}g") if "finding" in g.get("class", "")]
    tooltips = [g.findtext(f"{SVG}title") for g in marks if g.find(f"{SVG}title") is not None]
    spans = [s for s in result.spans if s.findings]
    assert len(tooltips) == len(spans)
    for tooltip, span in zip(tooltips, spans, strict=True):
        assert tooltip == "\n".join(
            f"{f.severity.value} {f.rule}: {f.message}" for f in span.findings
        )
    classes = [g.get("class") for g in marks if g.find(f"{SVG}title") is not None]
    assert classes == ["finding error", "finding error", "finding warning"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_ids_are_escaped_in_the_page(hostile: str) -> None:
    events = [*run_start(hostile), *lifecycle(hostile, run_id=hostile)]
    page = html(drawn(events))
    root = parsed(page)

    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") in LABELS]

    assert labels == [_plain(hostile), _plain(hostile)]  # the run's and the step's
    assert "<script>" not in page
    assert "\x00" not in page
    assert "\u202e" not in page


# -- the command -------------------------------------------------------------------------


def test_the_command_draws_mermaid_to_stdout_and_exits_0_despite_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """broken.jsonl has errors: the picture is drawn all the same, exit 0."""
    code = main(["timeline", str(BROKEN_EXAMPLE)])
    out, err = capsys.readouterr()

    assert (code, err) == (0, "")
    assert out == mermaid(replay_timeline(str(BROKEN_EXAMPLE)))


def test_html_goes_to_the_file_o_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "timeline.html"

    code = main(["timeline", str(BROKEN_EXAMPLE), "--as", "html", "-o", str(target)])

    assert (code, capsys.readouterr().out) == (0, "")
    assert target.read_text(encoding="utf-8") == html(replay_timeline(str(BROKEN_EXAMPLE)))


def test_the_format_can_be_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, [*lifecycle()], name="capture.txt")

    assert main(["timeline", path, "--format", "jsonl"]) == 0
    assert len(task_lines(capsys.readouterr().out)) == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("missing.jsonl", None, "cannot open"),
        ("garbage.bin", b"\x89PNG\r\n\x1a\n\x00\x00", "neither JSONL nor SSE"),
    ],
)
def test_an_unreadable_input_exits_2_with_one_line_and_no_output_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes | None,
    reason: str,
) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    target = tmp_path / "out.html"

    code = main(["timeline", str(path), "--as", "html", "-o", str(target)])
    out, err = capsys.readouterr()

    assert (code, out) == (2, "")
    assert err.startswith("steplife: ")
    assert reason in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not target.exists()


def test_an_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["timeline", str(BROKEN_EXAMPLE), "-o", str(tmp_path / "no" / "such.mmd")])

    assert code == 2
    assert "cannot write" in capsys.readouterr().err


def test_a_bad_drawing_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["timeline", str(BROKEN_EXAMPLE), "--as", "png"])

    assert exit_.value.code == 2
    assert "--as" in capsys.readouterr().err


# -- the docs ------------------------------------------------------------------------------


def command_output(monkeypatch: pytest.MonkeyPatch, capsys: Any, *argv: str) -> str:
    """What ``steplife timeline`` prints, run from the repository root as the docs say."""
    monkeypatch.chdir(REPO)
    assert main(["timeline", *argv]) == 0
    out: str = capsys.readouterr().out
    return out


def test_the_mermaid_chart_in_docs_timeline_md_is_current(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/timeline.md embeds what the command draws of the example now."""
    doc = (REPO / "docs" / "timeline.md").read_text(encoding="utf-8")
    block = doc.split("```mermaid\n", 1)[1].split("```", 1)[0]

    expected = command_output(monkeypatch, capsys, DOCS_EXAMPLE)

    assert block == expected, f"stale: paste `steplife timeline {DOCS_EXAMPLE}` in the block"
    assert f"$ steplife timeline {DOCS_EXAMPLE}" in doc


def test_docs_timeline_example_html_is_current(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = (REPO / "docs" / "timeline-example.html").read_text(encoding="utf-8")

    expected = command_output(monkeypatch, capsys, DOCS_EXAMPLE, "--as", "html")

    assert committed == expected, (
        f"stale: steplife timeline {DOCS_EXAMPLE} --as html -o docs/timeline-example.html"
    )


@pytest.mark.parametrize(
    ("seconds", "tick"),
    [
        (30, r"\d\d:\d\d:\d\d"),
        (3 * 3600, r"\d\d:\d\d"),
        (3 * 86400, r"\d\d-\d\d \d\d:\d\d"),
        (400 * 86400, r"\d{4}-\d\d-\d\d"),
        (10**18, r"\d+"),  # beyond what a date can say: the number itself
    ],
)
def test_the_axis_ticks_suit_the_capture_s_length(seconds: int, tick: str) -> None:
    """Ticks at round steps, at most nine, labelled as finely as their step needs."""
    events = [created(), terminal("completed", at=CREATED + seconds)]
    page = html(drawn(events))
    svg = parsed(page).find(f".//{SVG}svg")
    assert svg is not None

    ticks = [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]

    assert 2 <= len(ticks) <= 9
    assert all(re.fullmatch(tick, t) for t in ticks), ticks
    assert task_lines(mermaid(drawn(events)))


def test_the_page_groups_steps_without_a_known_run_under_a_label() -> None:
    page = html(drawn([*lifecycle("step_1", run_id="run_elsewhere")]))
    svg = parsed(page).find(f".//{SVG}svg")
    assert svg is not None

    groups = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "group-label"]

    assert groups == ["steps without a known run"]
