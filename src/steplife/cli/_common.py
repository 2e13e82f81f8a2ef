"""What every ``steplife`` subcommand shares: exit codes, the parser, rule options, findings."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

from rich.console import Console
from rich.table import Table
from rich.text import Text

from steplife._findings import Finding, Severity, cut
from steplife._rules import CATALOGUE, Rules
from steplife.cli._config import find_config, load_config
from steplife.errors import SteplifeError

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "add_config_options",
    "add_rule_options",
    "configure",
    "finding_json",
    "finding_text",
    "print_rows",
    "positive",
    "rules_from",
    "writable",
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
    """The `Rules` that ``--select``, ``--ignore`` and ``--severity`` ask for (once configured)."""
    ignore = set(args.ignore)
    if args.select is not None:
        unknown = [code for code in args.select if code not in CATALOGUE]
        if unknown:
            Rules(ignore=unknown)  # raises UnknownRuleError, listing the known codes
        ignore |= set(CATALOGUE) - set(args.select)
    return Rules(ignore=ignore, severity=args.severity)


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--select``, ``--ignore`` and ``--severity`` to `parser`."""
    parser.add_argument(
        "--select",
        action="append",
        metavar="CODE",
        help="run only this rule (repeat for several; `steplife rules` lists them)",
    )
    parser.add_argument("--ignore", action="append", metavar="CODE", help="skip a rule")
    parser.add_argument(
        "--severity",
        action="append",
        metavar="CODE=LEVEL",
        help="make a rule an error or a warning",
    )


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and ``--isolated`` to `parser`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="settings file (default: steplife.toml or [tool.steplife] in pyproject.toml, "
        "found from the working directory upward)",
    )
    group.add_argument("--isolated", action="store_true", help="read no settings file")


DEFAULTS: Final[Mapping[str, Any]] = {
    "ignore": [],
    "select": None,
    "require_terminal": False,
    "format": "auto",
    "output": "text",
    "jobs": 1,
}
"""What an option is when neither the command line nor a settings file sets it."""


def configure(args: argparse.Namespace) -> None:
    """Fill every option the command line left unset from the settings file, else its default.

    The command line wins option by option; ``--severity`` code by code. A value
    the file gives is checked as the option's own would be.
    """
    path: Path | None = getattr(args, "config", None)
    if getattr(args, "isolated", False) or not hasattr(args, "config"):
        config: Mapping[str, Any] = {}
    else:
        found = path if path is not None else find_config(Path.cwd())
        config = {} if found is None else load_config(found)
        path = found
    choices: Mapping[str, tuple[str, ...]] = getattr(args, "choices", {})
    for key, default in DEFAULTS.items():
        if not hasattr(args, key) or getattr(args, key) is not None:
            continue
        value = config.get(key, default)
        allowed = choices.get(key)
        if allowed is not None and value not in allowed:
            raise SteplifeError(f"{path}: {key} = {value!r}: expected one of {', '.join(allowed)}")
        if key == "jobs" and value < 1:
            raise SteplifeError(f"{path}: jobs = {value!r}: expected a whole number of 1 or more")
        setattr(args, key, value)
    if hasattr(args, "severity"):
        severity = {str(k): str(v) for k, v in config.get("severity", {}).items()}
        severity.update(_severities(args.severity or []))
        for code, level in severity.items():
            if level not in ("error", "warning"):
                raise SteplifeError(f"severity {code}={level!r}: expected error or warning")
        args.severity = severity


def _severities(items: list[str]) -> dict[str, str]:
    severity: dict[str, str] = {}
    for item in items:
        code, sep, level = item.partition("=")
        if not sep or level not in ("error", "warning"):
            raise SteplifeError(f"--severity {item!r}: expected CODE=error or CODE=warning")
        severity[code] = level
    return severity


def print_rows(
    console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    """A table on a terminal, sized to it; piped, one plain line per row.

    A table squeezed into 80 piped columns breaks its cells into fragments that no
    grep or reader can use; a row per line, columns aligned and the last one whole,
    reads in a CI log and greps cleanly.
    """
    if console.is_terminal:
        table = Table(title=title, title_justify="left")
        for index, header in enumerate(headers):
            last = index == len(headers) - 1
            table.add_column(header, no_wrap=not last)  # ids and codes are never cut
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(title, markup=False, highlight=False, soft_wrap=True)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers[:-1])]
    for row in (headers, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        line = "  ".join([*cells, row[-1]]).rstrip()
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def writable(text: str) -> str:
    """`text`, its lone surrogates (an undecodable file name's bytes) backslash-escaped.

    A file name given in a foreign encoding reaches Python with its bytes as lone
    surrogates, which no UTF-8 output (JSON, XML) can carry.
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding as the documented JSON object."""
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "message": finding.message,
        "file": None if finding.file is None else writable(finding.file),
        "line": finding.line,
        "event_index": finding.event_index,
        "step_id": None if finding.step_id is None else cut(finding.step_id),
        "run_id": None if finding.run_id is None else cut(finding.run_id),
        "path": finding.path,
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
