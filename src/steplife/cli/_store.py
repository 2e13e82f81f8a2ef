"""The store's commands: ``ingest``, ``show``, ``steps``, ``expire-stale``, ``check-store``.

`register` adds them to the ``steplife`` command. Each takes ``--db`` (a SQLite
path, or a ``postgresql://`` DSN; default ``$STEPLIFE_DB`` or ``steplife.db``) and
``--output text|json``. Exit status as for ``validate``: 0 when all is well, 1 when
an event was rejected (``ingest``), the step is unknown (``show``) or the database
is damaged (``check-store``), 2 when an input or the database cannot be used. The
commands that write (``ingest``, ``expire-stale``) first run the store's quick check
and refuse a damaged database before writing anything.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
from rich.console import Console
from rich.table import Table

from steplife._events import Event, open_input, read_events
from steplife._wire import to_dict
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
    seconds,
)
from steplife.errors import InputError, SteplifeError, StepNotFoundError
from steplife.model import STATUSES
from steplife.store import DEFAULT_DB, open_store

if TYPE_CHECKING:
    from steplife.store import ApplyResult, IngestReport, StoredStep

__all__ = ["parse_age", "register"]

INGEST_SCHEMA_VERSION: Final = 1
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_AGE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")


def _existing(db: str) -> str:
    """`db`, when it names a store that exists: reading must not create an empty one."""
    if "://" not in db and not os.path.exists(db):
        raise SteplifeError(f"no store at {db} (check --db, or ingest into it first)")
    return db


def parse_age(text: str) -> float:
    """Seconds in an age like ``90``, ``90s``, ``10m``, ``2h``, ``1d`` or ``1h30m``.

    Raises `ValueError` for anything else.
    """
    compact = text.strip().lower()
    if compact.startswith("-"):
        shown = compact.lstrip("-")
        raise ValueError(
            f"an age is how long ago, never negative: {text!r} (did you mean {shown}?)"
        )
    position, total = 0, 0.0
    for match in _AGE.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise ValueError(f"not an age: {text!r} (try 90s, 10m, 2h, 1d)")
    return total


def _age(text: str) -> float:
    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("STEPLIFE_DB", DEFAULT_DB),
        metavar="PATH_OR_DSN",
        help="SQLite file or postgresql:// DSN (default $STEPLIFE_DB or %(default)s)",
    )
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="report format (default text)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a locked SQLite file or a PostgreSQL connection "
        "(default %(default)g)",
    )


def register(subparsers: Any) -> None:
    """Add the store's commands to the ``steplife`` command's `subparsers`."""
    ingest = subparsers.add_parser("ingest", help="record event streams in a step store")
    ingest.add_argument("files", nargs="+", metavar="FILE", help="captures to read; - for stdin")
    ingest.add_argument(
        "--format",
        choices=("auto", "jsonl", "sse"),
        default="auto",
        help="input format (default auto: told by the first line)",
    )
    ingest.add_argument(
        "--batch-size",
        type=positive,
        default=1000,
        metavar="N",
        help="events written in one transaction (default 1000)",
    )
    add_rule_options(ingest)
    add_config_options(ingest)
    _add_common(ingest)
    ingest.set_defaults(run=_ingest)

    show = subparsers.add_parser("show", help="print a stored step and its history")
    show.add_argument("step_id", metavar="STEP_ID")
    _add_common(show)
    show.set_defaults(run=_show)

    steps = subparsers.add_parser("steps", help="list stored steps")
    steps.add_argument("--run", dest="run_id", metavar="ID", help="only this run's steps")
    steps.add_argument("--thread", dest="thread_id", metavar="ID", help="only this thread's steps")
    steps.add_argument(
        "--status",
        choices=STATUSES,
        help="only steps with this status",
    )
    steps.add_argument("--limit", type=int, metavar="N", help="at most N steps")
    _add_common(steps)
    steps.set_defaults(run=_steps)

    expire = subparsers.add_parser(
        "expire-stale", help="expire in-progress steps created longer ago than an age"
    )
    expire.add_argument(
        "--older-than", type=_age, required=True, metavar="AGE", help="e.g. 90s, 10m, 2h, 1d"
    )
    add_rule_options(expire)
    add_config_options(expire)
    _add_common(expire)
    expire.set_defaults(run=_expire)

    check = subparsers.add_parser(
        "check-store", help="check a step store's pages, log and snapshots for damage"
    )
    check.add_argument(
        "--quick",
        action="store_true",
        help="skip matching indexes to tables and loading every snapshot (faster)",
    )
    _add_common(check)
    check.set_defaults(run=_check)


def _write_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


# -- ingest ----------------------------------------------------------------------------


def _read_all(paths: Sequence[str], fmt: Any, errors: list[str]) -> Iterator[Event]:
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            with open_input(path) as raw:
                yield from read_events(raw, name, fmt)
        except InputError as exc:
            errors.append(str(exc))


def ingest_json(report: IngestReport, db: str) -> dict[str, Any]:
    """The ingest report as the documented JSON object (see docs/store.md)."""
    return {
        "schema": INGEST_SCHEMA_VERSION,
        "db": db,
        "ok": report.ok,
        "events": report.events,
        "applied": report.applied,
        "duplicates": report.duplicates,
        "skipped": report.skipped,
        "rejected": report.rejected,
        "batches": report.batches,
        "findings": [finding_json(f) for f in report.findings],
    }


def _ingest(args: argparse.Namespace) -> int:
    errors: list[str] = []
    with open_store(args.db, rules=rules_from(args), timeout=args.timeout, check=True) as store:
        report = store.ingest(
            _read_all(args.files, args.format, errors), batch_size=args.batch_size
        )
        location = store.location
    if args.output == "json":
        _write_json(ingest_json(report, location))
    else:
        console = Console(soft_wrap=True)
        for finding in report.findings:
            console.print(finding_text(finding))
        table = Table(
            title=f"steplife ingest → {location}", show_header=False, title_justify="left"
        )
        table.add_column(style="bold")
        table.add_column(justify="right")
        for label, value in (
            ("events read", report.events),
            ("applied", report.applied),
            ("duplicates", report.duplicates),
            ("skipped (not step events)", report.skipped),
            ("rejected", report.rejected),
            ("transactions", report.batches),
        ):
            table.add_row(label, str(value))
        console.print(table)
    for error in errors:
        print(f"steplife: {error}", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_INVALID


# -- show, steps -----------------------------------------------------------------------


def stored_json(stored: StoredStep) -> dict[str, Any]:
    """A stored step as JSON: its wire snapshot, version, and history when loaded."""
    value: dict[str, Any] = {
        "step": to_dict(stored.step),
        "version": stored.version,
        "updated_at": stored.updated_at,
    }
    if stored.history:
        value["history"] = [
            {"version": e.version, "event": e.event, "data": e.data, "recorded_at": e.recorded_at}
            for e in stored.history
        ]
    return value


def _show(args: argparse.Namespace) -> int:
    with open_store(_existing(args.db), timeout=args.timeout) as store:
        try:
            stored = store.get(args.step_id)
        except StepNotFoundError as exc:
            print(f"steplife: {exc} at {store.location}", file=sys.stderr)
            return EXIT_INVALID
    if args.output == "json":
        _write_json(stored_json(stored))
        return EXIT_OK
    console = Console(soft_wrap=True)
    step = stored.step
    console.print(
        f"[bold]{step.id}[/bold]  {step.status}  {step.type}  version {stored.version}",
        highlight=False,
    )
    console.print(f"run {step.run_id}  thread {step.thread_id}", highlight=False)
    console.print_json(orjson.dumps(to_dict(step)).decode())
    history = Table("version", "event", "recorded at", title="history", title_justify="left")
    for event in stored.history:
        when = datetime.fromtimestamp(event.recorded_at, UTC).isoformat(timespec="milliseconds")
        history.add_row(str(event.version), event.event, when)
    console.print(history)
    return EXIT_OK


def _print_steps(console: Console, title: str, stored: Sequence[StoredStep]) -> None:
    headers = ("step", "status", "type", "run", "created_at", "version")
    rows = [
        (
            s.step.id,
            s.step.status,
            s.step.type,
            s.step.run_id,
            str(s.step.created_at),
            str(s.version),
        )
        for s in stored
    ]
    print_rows(console, title, headers, rows)


def _steps(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise SteplifeError(f"--limit {args.limit}: expected a number >= 0")
    with open_store(_existing(args.db), timeout=args.timeout) as store:
        found = store.steps(
            run_id=args.run_id, thread_id=args.thread_id, status=args.status, limit=args.limit
        )
    if args.output == "json":
        _write_json({"steps": [stored_json(s) for s in found]})
    else:
        _print_steps(Console(soft_wrap=True), f"{len(found)} steps", found)
    return EXIT_OK


# -- expire-stale ----------------------------------------------------------------------


def _expire(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    with open_store(_existing(args.db), rules=rules, timeout=args.timeout, check=True) as store:
        results: list[ApplyResult] = store.expire_stale(args.older_than)
    if args.output == "json":
        _write_json(
            {
                "expired": [{"step": to_dict(r.step), "version": r.version} for r in results],
                "findings": [finding_json(f) for r in results for f in r.findings],
            }
        )
    else:
        console = Console(soft_wrap=True)
        for result in results:
            for finding in result.findings:
                console.print(finding_text(finding))
        from steplife.store import StoredStep

        stored = [StoredStep(step=r.step, version=r.version, updated_at=0.0) for r in results]
        _print_steps(console, f"expired {len(results)} steps", stored)
    return EXIT_OK


# -- check-store -----------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    with open_store(_existing(args.db), timeout=args.timeout) as store:
        problems = store.check(full=not args.quick)
        location = store.location
    if args.output == "json":
        _write_json({"db": location, "ok": not problems, "problems": problems})
    elif problems:
        for problem in problems:
            print(f"{location}: {problem}")
        noun = "problem" if len(problems) == 1 else "problems"
        print(
            f"{len(problems)} {noun} found; restore the file from a backup, or ingest the "
            "captures again into a new store"
        )
    else:
        print(f"{location}: no damage found ({'quick' if args.quick else 'full'} check)")
    return EXIT_INVALID if problems else EXIT_OK
