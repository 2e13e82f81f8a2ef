"""Validating a Responses input: what `steplife.validate_file` runs once it sees one.

`validate_file` tells which API an input speaks from its first event (`detect_api`)
or, for a JSON document, from its objects (`speaks_responses`), and hands a Responses
input here. The report is the same `FileReport` as for Assistants inputs, with the
response in the place of the run and the output item in the place of the step:
``statuses`` counts the items by final status (``done`` for an item that carries no
status), ``dangling`` the items left open, ``run_statuses`` the responses by status
and ``steps_per_run`` how many responses had each number of items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

import attrs

from steplife._events import READ_FAILURES, read_failed
from steplife._findings import Finding, Severity
from steplife._report import FileReport
from steplife._rules import Rules
from steplife.errors import InputError, StreamError
from steplife.responses._events import EVENTS, feed_response_jsonl, feed_response_sse
from steplife.responses._tracker import ResponseTracker
from steplife.responses._wire import parse

__all__ = ["document_report", "speaks_responses", "stream_report"]


def stream_report(
    lines: Iterator[bytes],
    fmt: Literal["jsonl", "sse"],
    name: str,
    *,
    rules: Rules,
    strict: bool,
    require_terminal: bool,
) -> FileReport:
    """Replay a Responses stream of `lines` (read as `fmt`) and report what it found."""
    tracker = ResponseTracker(rules=rules, strict=strict, require_terminal=require_terminal)
    read = 0
    feed = feed_response_jsonl if fmt == "jsonl" else feed_response_sse
    try:
        try:
            feed(lines, name, tracker.feed_at, tracker.feed_event)
        except READ_FAILURES as exc:
            raise read_failed(name, exc) from None
    except InputError as exc:
        return _report(tracker, name, error=str(exc))
    except StreamError as exc:
        read = 1  # the refused event left the tracker untouched, but it was read
        tracker.findings.append(exc.finding)
    else:
        try:
            tracker.finish(file=name)
        except StreamError as exc:  # strict, and a response left open is an error
            tracker.findings.append(exc.finding)
    return _report(tracker, name, read=read)


def _report(
    tracker: ResponseTracker, name: str, *, read: int = 0, error: str | None = None
) -> FileReport:
    return FileReport(
        file=name,
        events=tracker.events + read,
        statuses=dict(tracker.item_statuses),
        dangling=len(tracker.open_items),
        findings=tuple(tracker.findings),
        error=error,
        run_statuses=dict(tracker.response_statuses),
        steps_per_run=dict(sorted(tracker.items_per_response.items())),
    )


def _is_event(value: Any) -> bool:
    if type(value) is not dict:
        return False
    name = value.get("type", value.get("event"))
    return type(name) is str and name in EVENTS


def speaks_responses(value: Any) -> Literal["objects", "events"] | None:
    """What a JSON document holds of the Responses API: response objects, events, or neither.

    Objects: a response (``"object": "response"``), a list of them, or a list page.
    Events: one typed event, or an array of them (a capture saved as one JSON array).
    """
    objects = value.get("data") if type(value) is dict and value.get("object") == "list" else value
    candidates = objects if type(objects) is list else [objects]
    if not candidates:
        return None
    first = candidates[0]
    if type(first) is dict and first.get("object") == "response":
        return "objects"
    if _is_event(first):
        return "events"
    return None


def document_report(
    value: Any, line: int, name: str, *, rules: Rules, strict: bool, require_terminal: bool
) -> FileReport:
    """Check a JSON document of the Responses API: each response alone, or its events replayed.

    Responses are judged one by one (a list of polled snapshots is not a lifecycle to
    replay: a document says nothing of time); an array of events is replayed as a
    stream.
    """
    if speaks_responses(value) == "events":
        events = value if type(value) is list else [value]
        tracker = ResponseTracker(rules=rules, strict=strict, require_terminal=require_terminal)
        try:
            for index, event in enumerate(events, 1):
                tracker.feed_at("", event, (name, line, index))
            tracker.finish(file=name)
        except StreamError as exc:
            tracker.findings.append(exc.finding)
        return _report(tracker, name)
    objects: Any = value
    if type(value) is dict and value.get("object") == "list":
        objects = value.get("data")
    listed = type(objects) is list
    findings: list[Finding] = []
    statuses: Counter[str] = Counter()
    items: Counter[str] = Counter()
    count = 0
    for index, item in enumerate(objects if listed else [objects]):
        count += 1
        where = f"data[{index}]" if listed and type(value) is dict else f"[{index}]"
        parsed = parse(item, rules=rules)
        for finding in parsed.findings:
            message = finding.message
            if listed:
                message = where + message[1:] if message.startswith("$") else f"{where}: {message}"
            findings.append(attrs.evolve(finding, message=message, file=name, line=line))
        if parsed.record is not None:
            statuses[parsed.record.status] += 1
            for output in parsed.record.output:
                items[output.status or "done"] += 1
        if strict and any(f.severity is Severity.ERROR for f in parsed.findings):
            break
    return FileReport(
        file=name,
        events=count,
        statuses=dict(items),
        findings=tuple(findings),
        run_statuses=dict(statuses),
    )
