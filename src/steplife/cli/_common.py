"""What every ``steplife`` subcommand shares: exit codes, the parser, rule options, findings."""

from __future__ import annotations

import argparse
from typing import Any, Final, NoReturn

from rich.text import Text

from steplife._findings import Finding, Severity, cut
from steplife._rules import Rules
from steplife.errors import SteplifeError

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "add_rule_options",
    "finding_json",
    "finding_text",
    "positive",
    "rules_from",
]

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors exit with `EXIT_USAGE` and point at ``--help``."""

    def error(self, message: str) -> NoReturn:
        if message.endswith("expected one argument"):
            # argparse takes a value that starts with '-' (say '-5m') for an option.
            message += " (a value starting with '-' needs the form --option=VALUE)"
        self.exit(EXIT_USAGE, f"steplife: {message} (see `{self.prog} --help`)\n")


def seconds(text: str) -> float:
    """A duration in seconds given on the command line: a number above 0.

    Raises `argparse.ArgumentTypeError` (reported with the option's name) otherwise.
    """
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def positive(text: str) -> int:
    """A count given on the command line: a whole number of 1 or more.

    Raises `argparse.ArgumentTypeError` (which argparse reports with the option's name)
    for anything else, ``0`` and negative numbers included.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def rules_from(args: argparse.Namespace) -> Rules:
    """The `Rules` that ``--ignore`` and ``--severity`` ask for."""
    severity: dict[str, str] = {}
    for item in args.severity:
        code, sep, level = item.partition("=")
        if not sep or level not in ("error", "warning"):
            raise SteplifeError(f"--severity {item!r}: expected CODE=error or CODE=warning")
        severity[code] = level
    return Rules(ignore=set(args.ignore), severity=severity)


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--ignore`` and ``--severity`` to `parser`."""
    parser.add_argument("--ignore", action="append", default=[], metavar="CODE", help="skip a rule")
    parser.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="CODE=LEVEL",
        help="make a rule an error or a warning",
    )


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding as the documented JSON object."""
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "message": finding.message,
        "file": finding.file,
        "line": finding.line,
        "event_index": finding.event_index,
        "step_id": None if finding.step_id is None else cut(finding.step_id),
    }


def finding_text(finding: Finding) -> Text:
    """A finding as one coloured line: where, severity, rule, step, message."""
    where = finding.file or "-"
    if finding.line is not None:
        where += f":{finding.line}"
    elif finding.event_index is not None:
        where += f":#{finding.event_index}"
    style = "red" if finding.severity is Severity.ERROR else "yellow"
    text = Text(f"{where}: ")
    text.append(f"{finding.severity.value} {finding.rule}", style=style)
    if finding.step_id:
        text.append(f" [{cut(finding.step_id)}]", style="dim")
    text.append(f" {finding.message}")
    return text
