"""The ``steplife`` command: parse arguments, call the library, print the result.

Exit status: 0 when no error was found (warnings allowed), 1 when any error-level
finding was, 2 when an input could not be read at all or the arguments are wrong.

The subcommands live by concept: `_streams` reads captures and the catalogue
(``validate``, ``replay``, ``diagram``, ``rules``), `_store` keeps steps in a store
(``ingest``, ``show``, ``steps``, ``expire-stale``, ``check-store``), `_timeline` draws a capture
(``timeline``), `_conformance` drives a live server (``conformance``); `_common` is
what they share. The library never imports this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from steplife._version import __version__
from steplife.cli import _conformance, _store, _streams, _timeline
from steplife.cli._common import EXIT_OK, EXIT_USAGE, Parser, configure
from steplife.errors import SteplifeError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``steplife`` parser with every subcommand."""
    parser = Parser(prog="steplife", description="Check OpenAI Assistants run-step lifecycles.")
    parser.add_argument("--version", action="version", version=f"steplife {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _streams.register(commands)
    _store.register(commands)
    _timeline.register(commands)
    _conformance.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with `argv` (default: the process's arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        configure(args)
        code: int = args.run(args)
    except SteplifeError as exc:
        print(f"steplife: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `steplife ... | head`
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return code
