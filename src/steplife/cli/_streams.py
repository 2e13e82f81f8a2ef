"""The commands that read captures and the catalogue.

`register` adds ``validate``, ``replay``, ``diagram`` and ``rules`` to the ``steplife``
command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import IO, Any, BinaryIO, Final, cast

import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from steplife._diagram import DIAGRAMS
from steplife._documents import INPUT_FORMATS
from steplife._events import open_input, read_events
from steplife._findings import Severity
from steplife._rules import CATALOGUE
from steplife._tracker import Tracker
from steplife._validate import Report, validate_paths
from steplife._wire import to_json
from steplife.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    add_config_options,
    add_rule_options,
    finding_json,
    finding_text,
    positive,
    print_rows,
    rules_from,
    writable,
)
from steplife.cli._reports import RENDERERS
from steplife.errors import InputError, SteplifeError

__all__ = ["register", "report_json", "report_severity"]

_PROGRESS_MIN_BYTES: Final = 8 * 1024 * 1024
REPORT_SCHEMA_VERSION: Final = 1
_BAR_WIDTH: Final = 20


def _add_stream_options(
    parser: argparse.ArgumentParser,
    formats: tuple[str, ...] = ("auto", "jsonl", "sse"),
    default: str | None = "auto",
) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="captures to read; - for stdin")
    parser.add_argument(
        "--format",
        choices=formats,
        default=default,
        help="input format (default auto: told by the first line)",
    )


OUTPUTS: Final = ("text", "json", *RENDERERS)
"""validate's report formats: its own two, and those CI systems read (`_reports`)."""

EXIT_CODES: Final = """exit status:
  0  no error-level finding (warnings allowed), or --exit-zero
  1  an error-level finding
  2  an input could not be read, or the arguments or settings are wrong"""


def register(commands: Any) -> None:
    """Add ``validate``, ``replay``, ``diagram`` and ``rules`` to the command's `commands`."""
    validate = commands.add_parser(
        "validate",
        help="validate recorded event streams",
        description="Check recorded event streams (JSONL, SSE) and JSON documents against "
        "the lifecycle rules.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_stream_options(validate, INPUT_FORMATS, default=None)
    add_rule_options(validate)
    add_config_options(validate)
    validate.add_argument(
        "--strict", action="store_true", help="stop each input at its first error"
    )
    validate.add_argument(
        "--require-terminal",
        action="store_true",
        default=None,
        help="a step left in progress is an error",
    )
    validate.add_argument(
        "--output",
        choices=OUTPUTS,
        help="report format (default text; json, or one a CI system reads: jsonl, github "
        "annotations, gitlab code quality, junit XML, sarif)",
    )
    validate.add_argument(
        "--jobs", type=positive, metavar="N", help="files in parallel (default 1)"
    )
    validate.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when errors are found"
    )
    quiet = validate.add_mutually_exclusive_group()
    quiet.add_argument(
        "-q", "--quiet", action="store_true", help="print the findings only, no summary"
    )
    quiet.add_argument(
        "--statistics", action="store_true", help="print how many findings each rule has, only"
    )
    validate.set_defaults(run=_validate, choices={"format": INPUT_FORMATS, "output": OUTPUTS})

    replay = commands.add_parser("replay", help="write every step's final snapshot as JSONL")
    _add_stream_options(replay)
    replay.add_argument(
        "-o", "--out", default="-", metavar="PATH", help="output file (default stdout)"
    )
    replay.set_defaults(run=_replay)

    diagram = commands.add_parser("diagram", help="print a lifecycle as a Mermaid diagram")
    diagram.add_argument(
        "name",
        nargs="?",
        choices=tuple(DIAGRAMS),
        default="step",
        help="; ".join(f"{d.name}: {d.summary}" for d in DIAGRAMS.values()) + " (default: step)",
    )
    diagram.set_defaults(run=_diagram)

    rules = commands.add_parser("rules", help="list every rule code with its scope and severity")
    rules.set_defaults(run=_list_rules)


# -- validate ----------------------------------------------------------------------


def _progress_wrap(console: Console) -> Callable[[IO[bytes], str], IO[bytes]] | None:
    if not console.is_terminal:
        return None

    def wrap(stream: IO[bytes], name: str) -> IO[bytes]:
        try:
            size = os.fstat(stream.fileno()).st_size
        except (OSError, ValueError, AttributeError):
            return stream
        if size < _PROGRESS_MIN_BYTES:
            return stream
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
        wrapped: IO[bytes] = progress.wrap_file(
            cast(BinaryIO, stream), total=size, description=name
        )
        _close = wrapped.close

        def close() -> None:
            progress.stop()
            _close()

        wrapped.close = close  # type: ignore[method-assign]
        return wrapped

    return wrap


def _validate(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    stderr = Console(stderr=True)
    report = validate_paths(
        args.files,
        jobs=args.jobs,
        wrap=_progress_wrap(stderr) if args.output == "text" else None,
        fmt=args.format,
        rules=rules,
        strict=args.strict,
        require_terminal=args.require_terminal,
    )
    if args.statistics:
        _print_statistics(report, args.output)
    elif args.output == "json":
        sys.stdout.buffer.write(orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2))
        sys.stdout.buffer.write(b"\n")
    elif args.output in RENDERERS:
        sys.stdout.buffer.write(RENDERERS[args.output](report))
    else:
        _print_text(report, Console(soft_wrap=True), totals=not args.quiet)
    for error in report.input_errors:
        print(f"steplife: {error}", file=sys.stderr)  # one line, never wrapped
    if report.input_errors:
        return EXIT_USAGE
    return EXIT_OK if report.valid or args.exit_zero else EXIT_INVALID


def _print_statistics(report: Report, output: str) -> None:
    """How many findings each rule has, most first: as ruff's ``--statistics``."""
    counts = sorted(report.by_rule().items(), key=lambda item: (-item[1], item[0]))
    rows = [(rule, report_severity(report, rule).value, count) for rule, count in counts]
    if output == "json":
        listed = [{"rule": r, "severity": s, "count": n} for r, s, n in rows]
        sys.stdout.buffer.write(orjson.dumps(listed, option=orjson.OPT_INDENT_2) + b"\n")
        return
    width = max((len(str(n)) for _, _, n in rows), default=1)
    for rule, severity, count in rows:
        print(f"{count:>{width}}  {severity:<7}  {rule}")


def report_json(report: Report) -> dict[str, Any]:
    """The report as the documented, stable JSON object (see docs/cli.md)."""
    by_status = report.by_status
    runs = report.runs_by_status
    return {
        "schema": REPORT_SCHEMA_VERSION,
        "valid": report.valid,
        "events": report.events,
        "steps": {"total": sum(by_status.values()), "by_status": by_status},
        "runs": {
            "total": sum(runs.values()),
            "by_status": runs,
            # JSON keys are strings: the number of steps, written in decimal.
            "steps_per_run": {str(steps): n for steps, n in report.steps_per_run.items()},
        },
        "findings_by_rule": report.by_rule(),
        "findings": [finding_json(f) for f in report.findings],
        "files": [
            {
                "file": writable(f.file),
                "events": f.events,
                "error": f.error,
                "valid": f.error is None
                and not any(x.severity is Severity.ERROR for x in f.findings),
            }
            for f in report.files
        ],
    }


def _print_text(report: Report, console: Console, *, totals: bool = True) -> None:
    for finding in report.findings:
        console.print(finding_text(finding))
    if not totals:
        return
    if report.findings:
        console.print()
    summary = Table(title="steplife validate", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("inputs", str(len(report.files)))
    summary.add_row("events read", str(report.events))
    by_status = report.by_status
    summary.add_row("steps", str(sum(by_status.values())))
    summary.add_section()
    for status, count in sorted(by_status.items()):
        summary.add_row(f"status {status}", str(count))
    runs = report.runs_by_status
    if runs:  # an input with no run event shows no runs at all
        summary.add_section()
        summary.add_row("runs", str(sum(runs.values())))
        for status, count in sorted(runs.items()):
            summary.add_row(f"run status {status}", str(count))
    summary.add_section()
    for rule, count in sorted(report.by_rule().items()):
        severity = report_severity(report, rule)
        style = "red" if severity is Severity.ERROR else "yellow"
        summary.add_row(Text(f"{severity.value} {rule}", style=style), str(count))
    console.print(summary)
    if runs:
        console.print(_steps_per_run_table(report.steps_per_run))
    errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
    warnings = len(report.findings) - errors
    if report.valid:
        console.print(Text(f"valid: 0 errors, {warnings} warnings", style="bold green"))
    else:
        bad = len(report.input_errors)
        extra = f", {bad} unreadable input{'s' if bad > 1 else ''}" if bad else ""
        console.print(
            Text(f"invalid: {errors} errors, {warnings} warnings{extra}", style="bold red")
        )


def _steps_per_run_table(histogram: dict[int, int]) -> Table:
    table = Table(title="steps per run", title_justify="left")
    table.add_column("steps", justify="right")
    table.add_column("runs", justify="right")
    table.add_column("", no_wrap=True)
    most = max(histogram.values(), default=0)
    for steps, runs in sorted(histogram.items()):
        # At least one block, so a rare count still shows against a common one.
        bar = "█" * max(1, round(_BAR_WIDTH * runs / most))
        table.add_row(str(steps), str(runs), bar)
    return table


def report_severity(report: Report, rule: str) -> Severity:
    """The severity `rule`'s findings had in `report` (error if any was one)."""
    levels = {f.severity for f in report.findings if f.rule == rule}
    return Severity.ERROR if Severity.ERROR in levels else Severity.WARNING


# -- replay, diagram, rules ----------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    try:
        out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")  # noqa: SIM115
    except OSError as exc:
        raise SteplifeError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    status = EXIT_OK
    unwritten: list[str] = []
    try:
        for path in args.files:
            name = "<stdin>" if path == "-" else path

            def write(step: Any, name: str = name) -> None:
                try:
                    out.write(to_json(step) + b"\n")
                except SteplifeError as exc:  # a value JSON cannot carry: said, not written
                    print(f"steplife: {name}: {exc}", file=sys.stderr)
                    unwritten.append(step.id)

            tracker = Tracker(keep_finished=False, on_finished=write)
            try:
                with open_input(path) as raw:
                    tracker.consume(read_events(raw, name, args.format))
            except InputError as exc:
                print(f"steplife: {exc}", file=sys.stderr)
                status = EXIT_USAGE
                continue
            for step_id in tracker.live_ids:
                try:
                    snapshot = tracker.snapshot(step_id)
                except SteplifeError as exc:
                    print(f"steplife: {name}: {exc}", file=sys.stderr)
                    unwritten.append(step_id)
                else:
                    write(snapshot)
            if unwritten and status == EXIT_OK:
                status = EXIT_INVALID  # the output lacks a step: the caller must know
            if not tracker.valid:
                errors = sum(1 for f in tracker.findings if f.severity is Severity.ERROR)
                noun = "error" if errors == 1 else "errors"
                print(
                    f"steplife: {name}: {errors} {noun} found (`steplife validate` lists them);"
                    " its steps are written all the same",
                    file=sys.stderr,
                )
                if status == EXIT_OK:
                    status = EXIT_INVALID
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return status


def _diagram(args: argparse.Namespace) -> int:
    sys.stdout.write(DIAGRAMS[args.name].draw())
    return EXIT_OK


def _list_rules(args: argparse.Namespace) -> int:
    rows = [(r.code, r.scope, r.severity.value, r.summary) for r in CATALOGUE.values()]
    print_rows(Console(), "steplife rules", ("code", "scope", "severity", "meaning"), rows)
    return EXIT_OK
