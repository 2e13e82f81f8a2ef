"""steplife.otel: runs and steps as OpenTelemetry spans, findings as span events.

Every test exports to an in-memory exporter through a tracer provider of its own;
the global provider is never set.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer

from steplife import Finding, Tracker
from steplife.live import Transition
from steplife.otel import FINDING_SPAN, RUN_SPAN, STEP_SPAN, Telemetry, instrument
from streams import (
    ASSISTANT_ID,
    CREATED,
    FINISHED,
    RUN_ENDED,
    RUN_ID,
    STEP_ID,
    THREAD_ID,
    USAGE,
    StreamEvent,
    completed,
    created,
    delta,
    in_progress,
    lifecycle,
    run_event,
    run_start,
    terminal,
)

NS = 1_000_000_000
DOC = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test")
    provider.shutdown()


def feed(tracker: Tracker, events: Iterable[StreamEvent]) -> Tracker:
    for name, data in events:
        tracker.feed(name, data)
    return tracker


def traced(tracer: Tracer, events: Iterable[StreamEvent], **options: Any) -> Telemetry:
    """A Telemetry that heard `events` through an instrumented Tracker, then closed."""
    tracker = Tracker(**options)
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, events)
    tracker.finish()
    telemetry.close()
    return telemetry


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def one(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = named(exporter, name)
    return span


def events_of(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


def run_with_step(status: str = "completed", run_status: str = "completed") -> list[StreamEvent]:
    return [*run_start(), *lifecycle(status=status), run_event(run_status)]


# -- spans and their shape -------------------------------------------------------------


def test_a_run_and_its_step_are_one_span_each_the_step_a_child_of_the_run(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """One `steplife.run`, one `steplife.step`, in one trace, the step under the run."""
    traced(tracer, run_with_step())
    run, step = one(exporter, RUN_SPAN), one(exporter, STEP_SPAN)
    assert len(exporter.get_finished_spans()) == 2
    assert run.parent is None
    assert step.parent is not None
    assert run.context is not None
    assert step.parent.span_id == run.context.span_id
    assert step.context is not None
    assert step.context.trace_id == run.context.trace_id


def test_spans_start_at_created_at_and_end_at_the_terminal_stamp(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Unix seconds as nanoseconds: the run's and the step's own stamps."""
    traced(tracer, run_with_step())
    run, step = one(exporter, RUN_SPAN), one(exporter, STEP_SPAN)
    assert ((CREATED - 2) * NS, RUN_ENDED * NS) == (run.start_time, run.end_time)
    assert (CREATED * NS, FINISHED * NS) == (step.start_time, step.end_time)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired"])
def test_a_step_span_ends_at_the_stamp_of_its_terminal_status(
    tracer: Tracer, exporter: InMemorySpanExporter, status: str
) -> None:
    """Each terminal status is read off its own ``*_at`` field."""
    traced(tracer, [*run_start(), created(), terminal(status, at=FINISHED + 3)])
    assert (FINISHED + 3) * NS == one(exporter, STEP_SPAN).end_time


def test_span_attributes_carry_ids_status_type_and_usage(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Ids are attributes, never in the span name; usage once the record carries it."""
    traced(tracer, run_with_step())
    ids = {
        "steplife.run.id": RUN_ID,
        "steplife.thread.id": THREAD_ID,
        "steplife.assistant.id": ASSISTANT_ID,
        "steplife.status": "completed",
        "steplife.usage.prompt_tokens": USAGE["prompt_tokens"],
        "steplife.usage.completion_tokens": USAGE["completion_tokens"],
        "steplife.usage.total_tokens": USAGE["total_tokens"],
    }
    step_expected = {**ids, "steplife.step.id": STEP_ID, "steplife.step.type": "message_creation"}
    assert step_expected == dict(one(exporter, STEP_SPAN).attributes or {})
    assert ids == dict(one(exporter, RUN_SPAN).attributes or {})


def test_a_failed_step_is_an_error_with_the_last_error(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """ERROR status described by last_error's message; its code as attributes."""
    traced(tracer, run_with_step(status="failed", run_status="failed"))
    for span in (one(exporter, STEP_SPAN), one(exporter, RUN_SPAN)):
        assert StatusCode.ERROR == span.status.status_code
        assert span.status.description == "boom"
        attributes = span.attributes or {}
        assert attributes["steplife.last_error.code"] == "server_error"
        assert attributes["error.type"] == "server_error"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", StatusCode.OK),
        ("failed", StatusCode.ERROR),
        ("expired", StatusCode.ERROR),
        ("cancelled", StatusCode.UNSET),
    ],
)
def test_a_step_span_status_follows_its_terminal_status(
    tracer: Tracer, exporter: InMemorySpanExporter, status: str, code: StatusCode
) -> None:
    """OK when completed, ERROR when failed or expired, unset when cancelled."""
    traced(tracer, [*run_start(), *lifecycle(status=status)])
    assert code == one(exporter, STEP_SPAN).status.status_code


def test_an_expired_step_without_last_error_names_its_status_as_the_error_type(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """``error.type`` is set on every ERROR span: the status, when no code is given."""
    traced(tracer, [*run_start(), *lifecycle(status="expired")])
    assert "expired" == (one(exporter, STEP_SPAN).attributes or {})["error.type"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", StatusCode.OK),
        ("failed", StatusCode.ERROR),
        ("expired", StatusCode.ERROR),
        ("cancelled", StatusCode.UNSET),
        ("incomplete", StatusCode.UNSET),
    ],
)
def test_a_run_span_status_follows_its_terminal_status(
    tracer: Tracer, exporter: InMemorySpanExporter, status: str, code: StatusCode
) -> None:
    """The run's endings map as the step's do; incomplete (a token limit) stays unset."""
    traced(tracer, [*run_start(), run_event(status)])
    assert code == one(exporter, RUN_SPAN).status.status_code


def test_an_incomplete_run_says_why(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """incomplete_details.reason is an attribute."""
    traced(tracer, [*run_start(), run_event("incomplete")])
    reason = (one(exporter, RUN_SPAN).attributes or {})["steplife.incomplete_reason"]
    assert reason == "max_completion_tokens"


def test_a_run_ending_without_a_stamp_ends_its_span_when_heard(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """An expired run carries no end stamp: its span ends when the event is heard."""
    before = time.time_ns()
    traced(tracer, [*run_start(), run_event("expired")])
    after = time.time_ns()
    end = one(exporter, RUN_SPAN).end_time
    assert end is not None
    assert before <= end <= after


def test_a_stamp_before_creation_ends_the_span_at_its_start(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The rule reports the stamp; the span cannot end before it starts."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), created(), terminal("completed", at=CREATED - 100)])
    telemetry.close()
    assert "stamp-before-created" in [f.rule for f in tracker.findings]
    step = one(exporter, STEP_SPAN)
    assert step.start_time == step.end_time == CREATED * NS


def test_a_step_whose_run_was_not_seen_is_a_root_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """No run span to hang it under: the step's span starts a trace of its own."""
    traced(tracer, lifecycle())
    assert [] == named(exporter, RUN_SPAN)
    assert one(exporter, STEP_SPAN).parent is None


def test_a_step_adopted_already_ended_is_one_whole_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """First heard at its end: its span still runs from created_at to its stamp."""
    traced(tracer, [completed()])
    step = one(exporter, STEP_SPAN)
    assert (CREATED * NS, FINISHED * NS) == (step.start_time, step.end_time)
    assert StatusCode.OK == step.status.status_code


def test_a_status_change_in_between_only_updates_the_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """requires_action and back: one run span, its status attribute the last one."""
    events = [*run_start(), run_event("requires_action"), run_event("in_progress")]
    traced(tracer, events)
    run = one(exporter, RUN_SPAN)
    assert (run.attributes or {})["steplife.status"] == "in_progress"


def test_a_step_id_heard_again_after_the_tracker_forgot_it_gets_a_new_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Past the Tracker's memory, an id seen again is a new step: a span of its own."""
    traced(tracer, [*lifecycle(), *lifecycle()], keep_finished=False, remember_finished=0)
    assert 2 == len(named(exporter, STEP_SPAN))


def test_values_no_exporter_could_carry_are_left_out_or_cut(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """A token count beyond 64 bits is omitted, a huge id cut, a bad stamp read as now."""
    huge = {"prompt_tokens": 2**70, "completion_tokens": 1, "total_tokens": 2**70 + 1}
    long_id = "step_" + "x" * 5000
    before = time.time_ns()
    traced(tracer, [completed(long_id, usage=huge, created_at=-1)])
    step = one(exporter, STEP_SPAN)
    attributes = step.attributes or {}
    assert 1 == attributes["steplife.usage.completion_tokens"]
    assert "steplife.usage.prompt_tokens" not in attributes
    assert 1024 == len(str(attributes["steplife.step.id"]))
    assert step.start_time is not None
    assert step.start_time >= before


# -- findings ---------------------------------------------------------------------------


def test_a_step_completed_twice_is_an_after_terminal_event_on_its_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The finding's rule names the event; severity, message, where as attributes."""
    traced(tracer, [*run_start(), *lifecycle(), completed()])
    step = one(exporter, STEP_SPAN)
    assert ["after-terminal"] == events_of(step)
    attributes = step.events[0].attributes or {}
    assert attributes["steplife.finding.severity"] == "error"
    assert "already ended completed" in str(attributes["steplife.finding.message"])
    assert attributes["steplife.step.id"] == STEP_ID
    # The span ended at the step's end: its findings are stamped there.
    assert FINISHED * NS == step.events[0].timestamp
    assert [] == named(exporter, FINDING_SPAN)


def test_a_terminal_event_finding_lands_on_the_span_it_ended(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The Tracker reports findings after the move: the ended span waits for them."""
    traced(tracer, [*run_start(), created(), completed(usage=None)])
    assert ["usage-missing"] == events_of(one(exporter, STEP_SPAN))


def test_a_finding_located_in_a_file_carries_the_file_and_line(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """file, line and event index come along when the event was read from a file."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    for line, (name, data) in enumerate([*lifecycle(), completed()], 1):
        tracker.feed(name, data, file="stream.jsonl", line=line, index=line)
    telemetry.close()
    (event,) = one(exporter, STEP_SPAN).events
    attributes = event.attributes or {}
    assert ("stream.jsonl", 4, 4) == (
        attributes["steplife.finding.file"],
        attributes["steplife.finding.line"],
        attributes["steplife.finding.event_index"],
    )


def test_a_run_finding_is_an_event_on_the_run_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Usage on a run in progress is about the run: on its span."""
    traced(tracer, [*run_start(), run_event("in_progress", usage=USAGE)])
    assert ["run-usage-before-terminal", "dangling-run"] == events_of(one(exporter, RUN_SPAN))


def test_a_finding_about_an_ended_step_goes_on_its_run_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Once the step's span has ended, its run's (still open) takes the finding."""
    events = [*run_start(), *lifecycle(), created("step_2"), completed()]
    traced(tracer, events)
    (step, _) = sorted(named(exporter, STEP_SPAN), key=lambda s: str(s.attributes))
    assert [] == events_of(step)
    run = one(exporter, RUN_SPAN)
    assert ["after-terminal"] == events_of(run)
    assert (run.events[0].attributes or {})["steplife.step.id"] == STEP_ID


def test_a_finding_no_span_is_about_gets_a_short_span_of_its_own(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """A delta of a step never seen, and an empty input: one finding span each."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    tracker.feed(*delta("step_9"))
    Tracker(on_finding=telemetry.on_finding).finish()  # an empty input
    spans = named(exporter, FINDING_SPAN)
    assert [["unknown-step"], ["empty-stream"]] == [events_of(span) for span in spans]
    assert {"steplife.step.id": "step_9"} == dict(spans[0].attributes or {})
    assert spans[1].attributes == {}
    assert all(span.parent is None for span in spans)


def test_a_finding_about_a_run_whose_span_ended_gets_a_span_naming_the_run(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The run's span is let go once ended: a late finding about it stands alone."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), run_event("completed")])
    telemetry.flush()
    tracker.feed(*run_event("completed"))  # completed twice: after-terminal
    span = one(exporter, FINDING_SPAN)
    assert ["after-terminal"] == events_of(span)
    assert {"steplife.run.id": RUN_ID} == dict(span.attributes or {})
    assert [] == events_of(one(exporter, RUN_SPAN))


def test_a_finding_does_not_change_a_span_status(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """An error-level finding is an event; the status stays the API's verdict."""
    traced(tracer, [*run_start(), *lifecycle(), completed()])
    assert StatusCode.OK == one(exporter, STEP_SPAN).status.status_code


def test_a_finding_refused_in_strict_mode_is_still_exported(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Strict mode raises after the observers heard the finding."""
    tracker = Tracker(strict=True)
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), *lifecycle()])
    with pytest.raises(Exception, match="after-terminal"):
        tracker.feed(*completed())
    telemetry.close()
    assert ["after-terminal"] == events_of(one(exporter, STEP_SPAN))


# -- ending: flush, close, memory -------------------------------------------------------


def test_an_ended_span_is_exported_at_the_next_status_change(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Parked for its terminal event's findings, then ended by the next move."""
    tracker = Tracker()
    instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), *lifecycle()])
    assert [] == named(exporter, STEP_SPAN)
    tracker.feed(*created("step_2"))
    assert 1 == len(named(exporter, STEP_SPAN))


def test_flush_exports_the_spans_of_records_that_ended(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """flush ends parked spans at their stamps, and leaves open ones open."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), *lifecycle()])
    telemetry.flush()
    assert FINISHED * NS == one(exporter, STEP_SPAN).end_time
    assert [] == named(exporter, RUN_SPAN)
    assert 1 == telemetry.open_spans


def test_close_ends_open_spans_and_marks_them_unfinished(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """A run and a step still in progress end at close, ``steplife.unfinished``."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), created(), in_progress()])
    tracker.finish()
    assert () == exporter.get_finished_spans()
    before = time.time_ns()
    telemetry.close()
    assert 0 == telemetry.open_spans
    run, step = one(exporter, RUN_SPAN), one(exporter, STEP_SPAN)
    for span in (run, step):
        assert (span.attributes or {})["steplife.unfinished"] is True
        assert span.end_time is not None
        assert span.end_time >= before
        assert StatusCode.UNSET == span.status.status_code
    # finish, then close: the end of input's finding is on the open step's span.
    assert ["dangling-step"] == events_of(step)


def test_close_ends_parked_spans_at_their_stamps_not_as_unfinished(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """A record that ended is not unfinished, even if its span was still held."""
    traced(tracer, run_with_step())
    for span in exporter.get_finished_spans():
        assert "steplife.unfinished" not in (span.attributes or {})


def test_spans_are_let_go_once_ended(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """Memory follows the records in flight: many steps, a handful of spans held."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, run_start())
    held = []
    for number in range(50):
        feed(tracker, lifecycle(f"step_{number}"))
        held.append(telemetry.open_spans)
    assert max(held) <= 3  # the run, the step just ended (parked), the new one
    tracker.feed(*run_event("completed"))
    telemetry.flush()
    assert 0 == telemetry.open_spans
    assert 50 == len(named(exporter, STEP_SPAN))
    assert {} == telemetry._step_runs  # the step -> run index went with the run's span


def test_a_telemetry_used_after_close_starts_afresh(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """close leaves nothing behind: a later run gets spans of its own."""
    tracker = Tracker()
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), created()])
    telemetry.close()
    feed(tracker, [*run_start("run_2"), run_event("completed", "run_2")])
    telemetry.close()
    assert 2 == len(named(exporter, RUN_SPAN))


# -- attaching ----------------------------------------------------------------------------


def test_instrument_keeps_the_observers_already_set(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The user's observers still hear everything, before the Telemetry does."""
    moves: list[Transition] = []
    findings: list[Finding] = []
    tracker = Tracker(on_transition=moves.append, on_finding=findings.append)
    telemetry = instrument(tracker, tracer=tracer)
    feed(tracker, [*run_start(), *lifecycle(), completed()])
    telemetry.close()
    assert ["queued", "in_progress", "in_progress", "completed"] == [m.target for m in moves]
    assert ["after-terminal"] == [f.rule for f in findings]
    assert ["after-terminal"] == events_of(one(exporter, STEP_SPAN))


def test_an_observer_that_raises_does_not_keep_the_telemetry_from_hearing(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The user's exception propagates; the span is recorded all the same."""

    def refuse(transition: Transition) -> None:
        raise RuntimeError(transition.target)

    tracker = Tracker(on_transition=refuse)
    telemetry = instrument(tracker, tracer=tracer)
    with pytest.raises(RuntimeError, match="completed"):
        tracker.feed(*completed())
    telemetry.close()
    assert StatusCode.OK == one(exporter, STEP_SPAN).status.status_code


def test_the_telemetry_observers_can_be_given_to_a_tracker_directly(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """on_transition and on_finding are plain observers."""
    telemetry = Telemetry(tracer=tracer)
    tracker = Tracker(on_transition=telemetry.on_transition, on_finding=telemetry.on_finding)
    feed(tracker, run_with_step())
    telemetry.close()
    assert [RUN_SPAN, STEP_SPAN] == sorted(s.name for s in exporter.get_finished_spans())


def test_the_default_tracer_is_the_global_providers(exporter: InMemorySpanExporter) -> None:
    """Without a provider configured, spans go nowhere and nothing fails."""
    tracker = Tracker()
    telemetry = instrument(tracker)
    feed(tracker, [*run_with_step(), completed()])
    telemetry.close()
    assert 0 == telemetry.open_spans
    assert () == exporter.get_finished_spans()  # this test's provider is not the global one


# -- the import -----------------------------------------------------------------------------


def test_importing_steplife_does_not_import_opentelemetry() -> None:
    """The extra is optional: only ``steplife.otel`` imports it."""
    code = "import steplife, sys; assert 'opentelemetry' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_extra_the_import_error_says_what_to_install() -> None:
    """An ImportError that names ``steplife[otel]``."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n    import steplife.otel\n"
        "except ImportError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "pip install 'steplife[otel]'" in done.stdout


# -- the guide ------------------------------------------------------------------------------


def test_the_telemetry_section_of_the_embedding_guide_runs() -> None:
    """docs/embedding.md, section Telemetry: its Python blocks run, in order."""
    text = DOC.read_text()
    section = text.split("\n## Telemetry\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks
    namespace: dict[str, Any] = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"embedding.md Telemetry block {number}", "exec"), namespace)
