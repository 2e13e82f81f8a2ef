"""``steplife conformance BASE_URL``: drive a live server through the scenarios, report.

The command builds its parser without importing ``openai`` (nor the scenarios): only
running it does, and says which extra to install when it is missing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import orjson
from rich.console import Console
from rich.text import Text

from steplife._findings import Severity
from steplife.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    add_config_options,
    add_rule_options,
    finding_json,
    finding_text,
    rules_from,
    seconds,
)
from steplife.cli._reports import RENDERERS
from steplife.errors import SteplifeError

__all__ = ["register"]

SCHEMA_VERSION: Final = 1
OUTPUTS: Final = ("text", "json", *RENDERERS)
SCENARIO_NAMES: Final = (
    "message-run",
    "function-run",
    "cancelled-run",
    "polled-run",
    "polled-function-run",
)
"""The scenarios, by name (steplife.conformance.SCENARIOS, without importing it)."""

EXIT_CODES: Final = """exit status:
  0  every scenario passed (warnings allowed) or was skipped, or --exit-zero
  1  a scenario found an error-level finding
  2  the server could not be reached, openai is not installed, or the arguments are wrong"""


def register(commands: Any) -> None:
    """Add ``conformance`` to the command's `commands`."""
    parser = commands.add_parser(
        "conformance",
        help="drive an Assistants-compatible server through the scenarios and check it",
        description="Drive an Assistants-compatible server through named scenarios with the "
        "official openai client, record every response, and check the runs' lifecycles.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base_url", metavar="BASE_URL", help="the API's base URL (…/v1)")
    parser.add_argument(
        "--assistant", required=True, metavar="ID", help="the assistant for the plain runs"
    )
    parser.add_argument(
        "--tool-assistant",
        metavar="ID",
        help="an assistant with a function tool it always calls (the function-tool scenarios "
        "are skipped without it)",
    )
    parser.add_argument(
        "--slow-assistant",
        metavar="ID",
        help="an assistant that takes a few seconds, to cancel (default: --assistant)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIO_NAMES,
        metavar="NAME",
        help=f"run only this scenario (repeat for several): {', '.join(SCENARIO_NAMES)}",
    )
    parser.add_argument(
        "--record", metavar="DIR", help="write every response, byte for byte, under DIR"
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help="the API key (default: $OPENAI_API_KEY, else a dummy)"
    )
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query parameter for every request (Azure: api-version=...)",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a header for every request",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long a scenario waits for its run to end (default 60)",
    )
    parser.add_argument("--output", choices=OUTPUTS, help="report format (default text)")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when errors are found"
    )
    add_rule_options(parser)
    add_config_options(parser)
    parser.set_defaults(run=_conformance, choices={"output": OUTPUTS})


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SteplifeError(f"{option} {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _conformance(args: argparse.Namespace) -> int:
    rules = rules_from(args)
    try:
        from steplife.conformance import run
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        print(f"steplife: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run(
            args.base_url,
            assistant=args.assistant,
            tool_assistant=args.tool_assistant,
            slow_assistant=args.slow_assistant,
            api_key=args.api_key,
            record=args.record,
            scenarios=args.scenario,
            rules=rules,
            timeout=args.timeout,
            default_query=_pairs(args.query, "--query"),
            default_headers=_pairs(args.header, "--header"),
        )
    except ImportError as exc:
        print(f"steplife: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2))
        sys.stdout.buffer.write(b"\n")
    elif args.output in RENDERERS:
        sys.stdout.buffer.write(RENDERERS[args.output](report.as_report()))
    else:
        print_text(report, Console(soft_wrap=True))
    errors = [s for s in report.scenarios if s.error is not None]
    for scenario in errors:
        print(f"steplife: {scenario.name}: {scenario.error}", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_OK if report.valid or args.exit_zero else EXIT_INVALID


def report_json(report: Any) -> dict[str, Any]:
    """The conformance report as one JSON object (see docs/conformance.md)."""
    return {
        "schema": SCHEMA_VERSION,
        "base_url": report.base_url,
        "valid": report.valid,
        "record": report.record,
        "scenarios": [
            {
                "name": s.name,
                "summary": s.summary,
                "outcome": s.outcome,
                "skipped": s.skipped,
                "error": s.error,
                "run_id": s.run_id,
                "events": s.events,
                "responses": list(s.files),
                "findings": [{**finding_json(f), "event": s.event_of(f)} for f in s.findings],
            }
            for s in report.scenarios
        ],
    }


_STYLE: Final = {"passed": "bold green", "skipped": "yellow", "failed": "bold red", "error": "red"}


def print_text(report: Any, console: Console) -> None:
    """Each scenario's outcome, then its findings; a summary line last."""
    for scenario in report.scenarios:
        line = Text(f"{scenario.outcome.upper():7} ", style=_STYLE[scenario.outcome])
        line.append(f"{scenario.name}: {scenario.summary}")
        why = scenario.skipped or scenario.error
        if why:
            line.append(f" ({why})", style="dim")
        console.print(line)
        for finding in scenario.findings:
            console.print(Text("  ").append_text(finding_text(finding)))
    passed = sum(1 for s in report.scenarios if s.outcome == "passed")
    findings = report.findings
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    style = "bold green" if report.valid else "bold red"
    summary = (
        f"{report.base_url}: {passed} of {len(report.scenarios)} scenarios passed; "
        f"{errors} errors, {len(findings) - errors} warnings"
    )
    if report.record:
        summary += f"; responses in {report.record}"
    console.print(Text(summary, style=style))
