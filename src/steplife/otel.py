"""OpenTelemetry export: a Tracker's runs and steps as spans, its findings as span events.

Needs the ``otel`` extra (``pip install 'steplife[otel]'``, the OpenTelemetry API
only): ``import steplife`` never imports this module, nor OpenTelemetry. The spans
go to whatever tracer provider the application configured; steplife picks no SDK
and no exporter.

`instrument` attaches it to a Tracker::

    telemetry = instrument(tracker)  # before feeding it
    ...                              # feed, consume, aconsume
    tracker.finish()
    telemetry.close()                # when the tracker is done

See docs/embedding.md (Telemetry) for the spans, their attributes and their timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

try:
    from opentelemetry import trace
except ImportError as error:
    raise ImportError(
        "steplife.otel needs the OpenTelemetry API: pip install 'steplife[otel]'"
    ) from error
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from steplife._findings import Finding, cut
from steplife._tracker import Tracker
from steplife._transition import Transition
from steplife._version import __version__
from steplife.model import RUN_END_STAMPS, STEP_STAMPS, Run, RunStep

__all__ = ["FINDING_SPAN", "RUN_SPAN", "STEP_SPAN", "Telemetry", "instrument"]

RUN_SPAN: Final = "steplife.run"
"""The name of every run's span (ids are attributes: span names stay low-cardinality)."""
STEP_SPAN: Final = "steplife.step"
"""The name of every step's span."""
FINDING_SPAN: Final = "steplife.finding"
"""The name of the short span that carries a finding no open span is about."""

_MAX_TEXT: Final = 1024
"""The longest string from the input an attribute carries (an id or a message may be huge)."""
_NS: Final = 1_000_000_000
_MAX_INT: Final = 2**63 - 1
_MIN_INT: Final = -(2**63)
_MAX_SECONDS: Final = _MAX_INT // _NS  # OTLP carries nanoseconds in 64 bits
_STATUS: Final[Mapping[str, StatusCode]] = {
    # The API's own verdict, final once the record has ended. A cancellation (and a
    # run left incomplete at its token limit) is the caller's decision, neither a
    # failure of the operation nor a success: its span status stays unset.
    "completed": StatusCode.OK,
    "failed": StatusCode.ERROR,
    "expired": StatusCode.ERROR,
}

_Item = TypeVar("_Item")
_Attributes = dict[str, str | int | bool]


class _Held:
    """A span this Telemetry started and has not ended yet."""

    __slots__ = ("book", "end", "key", "span", "start", "steps")

    def __init__(self, span: Span, start: int, book: dict[str, _Held], key: str) -> None:
        self.span = span
        self.start = start  # ns, as passed to the span
        self.end: int | None = None  # ns, once the record has ended: the span is parked
        self.book = book  # where it is held, under `key`
        self.key = key
        self.steps: list[str] = []  # a run's: the steps whose spans are its children


class Telemetry:
    """Turns what a `steplife.Tracker` reports into OpenTelemetry spans.

    One span per run (`RUN_SPAN`) and one per step (`STEP_SPAN`), a step's a child
    of its run's when the run's span was open when the step was first seen. A span
    starts at the record's ``created_at`` and ends at its terminal stamp (now, when
    the record carries none). Each finding is an event on the span of the step (or
    run) it is about, or on a short span of its own (`FINDING_SPAN`) when none is
    open. Attach it with `instrument`; its `on_transition` and `on_finding` are the
    Tracker's observers.

    The Tracker reports an event's findings after the status change the event made,
    so a record that has ended keeps its span *parked* (its end time fixed) until
    the next status change of any step or run, `flush` or `close`: the findings of
    its terminal event land on it. Only open and parked spans are held: memory
    follows the records in flight.

    ``tracer`` defaults to the global provider's tracer for ``steplife``.
    """

    def __init__(self, *, tracer: Tracer | None = None) -> None:
        self.tracer = tracer if tracer is not None else trace.get_tracer("steplife", __version__)
        self._steps: dict[str, _Held] = {}
        self._runs: dict[str, _Held] = {}
        self._step_runs: dict[str, str] = {}  # step id -> run id, while the run's span is held
        self._parked: list[_Held] = []

    @property
    def open_spans(self) -> int:
        """How many spans are started and not yet ended (parked ones included)."""
        return len(self._steps) + len(self._runs)

    # -- the observers -------------------------------------------------------------

    def on_transition(self, transition: Transition) -> None:
        """Start, update or park the span of the step or run that `transition` moved."""
        # A status change starts the handling of a new event: the findings of the
        # events before it have all been heard, so the spans parked then can end.
        parked, self._parked = self._parked, []
        record = transition.record
        if isinstance(record, RunStep):
            self._step(record)
        else:
            self._run(record)
        for held in parked:
            self._end(held)

    def on_finding(self, finding: Finding) -> None:
        """Add `finding` as an event to the span it is about, or to a span of its own.

        The step's span, else the run's (named by the finding, or the run of the step
        it names), else a short `FINDING_SPAN`. Findings do not set a span's status:
        that is the API's verdict on the step or run; a finding is steplife's verdict
        on the stream, queried by its ``steplife.finding.severity``.
        """
        held = self._held_for(finding)
        attributes = _finding_attributes(finding)
        if held is not None:
            # A parked span's end is the record's end: its findings are stamped there.
            held.span.add_event(finding.rule, attributes, timestamp=held.end)
            return
        ids: _Attributes = {}
        if finding.step_id is not None:
            ids["steplife.step.id"] = cut(finding.step_id, _MAX_TEXT)
        if finding.run_id is not None:
            ids["steplife.run.id"] = cut(finding.run_id, _MAX_TEXT)
        span = self.tracer.start_span(FINDING_SPAN, attributes=ids)
        span.add_event(finding.rule, attributes)
        span.end()

    # -- ending --------------------------------------------------------------------

    def flush(self) -> None:
        """End the parked spans now: those of records that have ended.

        For a long-lived Tracker that may wait a long time for its next event, when
        the last spans should be exported before it comes; `close` does it too.
        """
        parked, self._parked = self._parked, []
        for held in parked:
            self._end(held)

    def close(self) -> None:
        """End every span still held; call it once the Tracker is done (after `finish`).

        Parked spans end at their record's end; spans of steps and runs still in
        progress end now, with ``steplife.unfinished`` true. Calling it after
        `Tracker.finish` lets the ``dangling-step`` findings land on their spans
        first. The Telemetry can be used again afterwards: it starts afresh.
        """
        self.flush()
        now = time.time_ns()
        for held in (*self._steps.values(), *self._runs.values()):
            held.span.set_attribute("steplife.unfinished", True)
            held.span.end(end_time=max(now, held.start))
        self._steps.clear()
        self._runs.clear()
        self._step_runs.clear()

    # -- steps and runs ------------------------------------------------------------

    def _step(self, step: RunStep) -> None:
        attributes = _attributes(step)
        attributes["steplife.step.id"] = cut(step.id, _MAX_TEXT)
        attributes["steplife.step.type"] = step.type
        held = self._steps.get(step.id)
        if held is None or held.end is not None:
            # First seen; or seen again after its end, by a Tracker that forgot it:
            # a new step as far as the lifecycle goes, so a span of its own.
            run = self._runs.get(step.run_id)
            context = None if run is None else trace.set_span_in_context(run.span)
            held = self._start(
                STEP_SPAN, step.created_at, attributes, context, self._steps, step.id
            )
            if run is not None:
                # Remembered until the run's span ends: a finding about the step
                # after its own span has ended goes on its run's.
                run.steps.append(step.id)
                self._step_runs[step.id] = step.run_id
        else:
            held.span.set_attributes(attributes)
        if step.is_terminal:
            self._park(held, step, STEP_STAMPS.get(step.status))

    def _run(self, run: Run) -> None:
        attributes = _attributes(run)
        if run.incomplete_details is not None and run.incomplete_details.reason is not None:
            attributes["steplife.incomplete_reason"] = cut(run.incomplete_details.reason, _MAX_TEXT)
        held = self._runs.get(run.id)
        if held is None or held.end is not None:
            held = self._start(RUN_SPAN, run.created_at, attributes, None, self._runs, run.id)
        else:
            held.span.set_attributes(attributes)
        if run.is_terminal:
            self._park(held, run, RUN_END_STAMPS.get(run.status))

    def _start(
        self,
        name: str,
        created_at: int,
        attributes: _Attributes,
        context: Context | None,
        book: dict[str, _Held],
        key: str,
    ) -> _Held:
        """Start a span `name` at `created_at` and hold it in `book` under `key`."""
        start = _ns(created_at)
        if start is None:
            start = time.time_ns()
        span = self.tracer.start_span(
            name, context=context, attributes=attributes, start_time=start
        )
        held = book[key] = _Held(span, start, book, key)
        return held

    def _park(self, held: _Held, record: RunStep | Run, stamp: str | None) -> None:
        """Set the final status of `held` and fix its end: the record has ended."""
        code = _STATUS.get(record.status)
        if code is StatusCode.ERROR:
            error = record.last_error
            message = None if error is None else cut(error.message, _MAX_TEXT)
            held.span.set_status(Status(code, message))
            kind = record.status if error is None else cut(error.code, _MAX_TEXT)
            held.span.set_attribute("error.type", kind)
        elif code is not None:
            held.span.set_status(Status(code))
        end = None if stamp is None else _ns(getattr(record, stamp))
        # A stamp before creation breaks a rule (reported as a finding); the span
        # cannot end before it starts.
        held.end = max(time.time_ns() if end is None else end, held.start)
        self._parked.append(held)

    def _end(self, held: _Held) -> None:
        held.span.end(end_time=held.end)
        if held.book.get(held.key) is held:  # not replaced by a new life of the id
            del held.book[held.key]
        for step_id in held.steps:
            if self._step_runs.get(step_id) == held.key:
                del self._step_runs[step_id]

    def _held_for(self, finding: Finding) -> _Held | None:
        step_id = finding.step_id
        if step_id is not None:
            held = self._steps.get(step_id)
            if held is not None:
                return held
        run_id = finding.run_id
        if run_id is None and step_id is not None:
            run_id = self._step_runs.get(step_id)
        return None if run_id is None else self._runs.get(run_id)


def instrument(tracker: Tracker, *, tracer: Tracer | None = None) -> Telemetry:
    """Export what `tracker` follows as OpenTelemetry spans; return the `Telemetry`.

    Sets the tracker's ``on_transition`` and ``on_finding``. An observer already set
    is kept: it is called first, then the Telemetry's (even when the first raises;
    its exception still propagates). Call it before feeding the tracker, and
    `Telemetry.close` once the tracker is done.
    """
    telemetry = Telemetry(tracer=tracer)
    tracker.on_transition = _chain(tracker.on_transition, telemetry.on_transition)
    tracker.on_finding = _chain(tracker.on_finding, telemetry.on_finding)
    return telemetry


def _chain(
    first: Callable[[_Item], object] | None, then: Callable[[_Item], object]
) -> Callable[[_Item], object]:
    if first is None:
        return then

    def both(item: _Item) -> None:
        try:
            first(item)
        finally:
            then(item)

    return both


def _attributes(record: RunStep | Run) -> _Attributes:
    """The attributes a step's and a run's spans share."""
    attributes: _Attributes = {
        "steplife.run.id": cut(
            record.run_id if isinstance(record, RunStep) else record.id, _MAX_TEXT
        ),
        "steplife.thread.id": cut(record.thread_id, _MAX_TEXT),
        "steplife.assistant.id": cut(record.assistant_id, _MAX_TEXT),
        "steplife.status": record.status,
    }
    usage = record.usage
    if usage is not None:
        for name, count in (
            ("prompt_tokens", usage.prompt_tokens),
            ("completion_tokens", usage.completion_tokens),
            ("total_tokens", usage.total_tokens),
        ):
            # OTLP carries integers in 64 bits: one beyond would fail a whole batch.
            if _MIN_INT <= count <= _MAX_INT:
                attributes["steplife.usage." + name] = count
    if record.last_error is not None:
        attributes["steplife.last_error.code"] = cut(record.last_error.code, _MAX_TEXT)
    return attributes


def _finding_attributes(finding: Finding) -> _Attributes:
    attributes: _Attributes = {
        "steplife.finding.severity": finding.severity.value,
        "steplife.finding.message": cut(finding.message, _MAX_TEXT),
    }
    if finding.file is not None:
        attributes["steplife.finding.file"] = cut(finding.file, _MAX_TEXT)
    if finding.line is not None:
        attributes["steplife.finding.line"] = finding.line
    if finding.event_index is not None:
        attributes["steplife.finding.event_index"] = finding.event_index
    if finding.path is not None:
        attributes["steplife.finding.path"] = cut(finding.path, _MAX_TEXT)
    if finding.step_id is not None:
        attributes["steplife.step.id"] = cut(finding.step_id, _MAX_TEXT)
    if finding.run_id is not None:
        attributes["steplife.run.id"] = cut(finding.run_id, _MAX_TEXT)
    return attributes


def _ns(seconds: int) -> int | None:
    """Unix `seconds` in nanoseconds, or None when no span could carry them."""
    if type(seconds) is int and 0 <= seconds <= _MAX_SECONDS:
        return seconds * _NS
    return None
