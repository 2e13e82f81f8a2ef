"""Validating whole inputs: one Tracker per file, results gathered into a `Report`.

Each input is independent (a Tracker of its own), which is what lets the command
spread files over processes with ``--jobs`` and still give the same answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from steplife._documents import Document, InputFormat, check_document, split_document
from steplife._events import (
    READ_FAILURES,
    detected_format,
    feed_jsonl,
    open_input,
    read_failed,
    read_sse,
    without_bom,
)
from steplife._report import FileReport, Report
from steplife._rules import DEFAULT_RULES, Rules
from steplife._tracker import Tracker
from steplife.errors import InputError, StreamError
from steplife.responses._events import detect_api

__all__ = ["FileReport", "Report", "validate_file", "validate_paths"]

Wrap = Callable[[IO[bytes], str], IO[bytes]]


def validate_file(
    path: str,
    *,
    fmt: InputFormat = "auto",
    rules: Rules = DEFAULT_RULES,
    strict: bool = False,
    require_terminal: bool = False,
    wrap: Wrap | None = None,
) -> FileReport:
    """Validate one input (a path, or ``-`` for stdin) and report what it found.

    An event stream (JSONL or SSE) is replayed; a JSON document (a step, a run, a
    list page of them; ``auto`` tells it by its first line, ``json`` insists) has
    each object checked with its record's rules. Never raises for bad input: an
    unreadable input comes back with `error` set. In `strict` mode validation of the
    input stops at its first error.
    """
    name = "<stdin>" if path == "-" else path
    tracker = Tracker(
        rules=rules, strict=strict, require_terminal=require_terminal, keep_finished=False
    )
    read = 0
    try:
        with open_input(path) as raw:
            stream = wrap(raw, name) if wrap is not None else raw
            try:
                if fmt == "auto" or fmt == "json":
                    document, lines = split_document(stream, forced=fmt == "json")
                    if document is not None:
                        if document.error is None and speaks_responses(document.value):
                            from steplife.responses._validate import document_report

                            return document_report(
                                document.value,
                                document.line,
                                name,
                                rules=rules,
                                strict=strict,
                                require_terminal=require_terminal,
                            )
                        return _document_report(document, name, rules, strict)
                    fmt = "auto"
                else:
                    lines = without_bom(iter(stream))
                # Read errors are caught here, once, rather than by a wrapper per line.
                lines, detected = detected_format(lines, name, fmt)
                if detected is not None:
                    # Which API the stream speaks, from its first event: a Responses
                    # stream (response.*) has a tracker of its own.
                    lines, api = detect_api(lines)
                    if api == "responses":
                        # Imported here: only an input that speaks the Responses API pays.
                        from steplife.responses._validate import stream_report

                        return stream_report(
                            lines,
                            detected,
                            name,
                            rules=rules,
                            strict=strict,
                            require_terminal=require_terminal,
                        )
                if detected == "jsonl":
                    feed_jsonl(lines, name, tracker.feed_at, tracker.feed_event)
                elif detected == "sse":
                    tracker.consume(read_sse(lines, name))
            except READ_FAILURES as exc:
                raise read_failed(name, exc) from None
    except InputError as exc:
        return FileReport(
            file=name,
            events=tracker.events,
            findings=tuple(tracker.findings),
            error=str(exc),
            run_statuses=dict(tracker.run_statuses),
            steps_per_run=dict(sorted(tracker.steps_per_run.items())),
        )
    except StreamError as exc:
        # The refused event left the tracker untouched, but it was read all the same.
        read = 1
        tracker.findings.append(exc.finding)
    else:
        try:
            tracker.finish(file=name)
        except StreamError as exc:  # strict, and a step left dangling is an error
            tracker.findings.append(exc.finding)
    return FileReport(
        file=name,
        events=tracker.events + read,
        statuses=dict(tracker.statuses),
        dangling=len(tracker.live_ids),
        findings=tuple(tracker.findings),
        run_statuses=dict(tracker.run_statuses),
        steps_per_run=dict(sorted(tracker.steps_per_run.items())),
    )


def speaks_responses(value: Any) -> bool:
    """Whether a JSON document holds Responses API objects or events (a cheap look)."""
    first = value
    if type(first) is dict and first.get("object") == "list":
        first = first.get("data")
    if type(first) is list:
        first = first[0] if first else None
    if type(first) is not dict:
        return False
    if first.get("object") == "response":
        return True
    name = first.get("type", first.get("event"))
    return type(name) is str and (name.startswith("response.") or name == "error")


def _document_report(document: Document, name: str, rules: Rules, strict: bool) -> FileReport:
    checked = check_document(document, name, rules, strict=strict)
    return FileReport(
        file=name,
        events=checked.objects,
        statuses=checked.step_statuses,
        findings=checked.findings,
        run_statuses=checked.run_statuses,
    )


def validate_paths(
    paths: Sequence[str],
    *,
    jobs: int = 1,
    wrap: Wrap | None = None,
    **options: Any,
) -> Report:
    """Validate every input of `paths`, `jobs` of them at a time in worker processes."""
    if jobs <= 1 or len(paths) <= 1 or "-" in paths:
        reports: Iterable[FileReport] = [validate_file(p, wrap=wrap, **options) for p in paths]
    else:
        workers = min(jobs, len(paths), os.cpu_count() or 1)
        # The process pool costs a command tens of milliseconds to import: only here.
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(validate_file, p, **options) for p in paths]
            reports = [future.result() for future in futures]
    return Report(files=tuple(reports))
