"""The command that draws a capture: ``steplife timeline``.

`register` adds ``timeline`` to the ``steplife`` command. It is a picture, not a check:
it exits 0 once drawn, whatever the findings, and 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

from steplife.cli._common import EXIT_OK
from steplife.errors import SteplifeError

__all__ = ["register"]

DRAWINGS: Final = ("mermaid", "html")
"""Each ``--as`` choice, named as the `steplife._timeline` function that draws it; the
first is the default. That module is imported when a timeline is drawn, not when any
command builds its parser."""


def register(commands: Any) -> None:
    """Add ``timeline`` to the command's `commands`."""
    timeline = commands.add_parser(
        "timeline", help="draw a capture's runs and steps on a time axis, with their findings"
    )
    timeline.add_argument("file", metavar="FILE", help="the capture to draw; - for stdin")
    timeline.add_argument("--format", choices=("auto", "jsonl", "sse"), default="auto")
    timeline.add_argument(
        "--as",
        dest="drawing",
        choices=DRAWINGS,
        default=DRAWINGS[0],
        help="a Mermaid gantt chart (default) or a self-contained HTML page",
    )
    timeline.add_argument(
        "-o", "--out", default="-", metavar="PATH", help="output file (default stdout)"
    )
    timeline.set_defaults(run=_timeline)


def _timeline(args: argparse.Namespace) -> int:
    from steplife import _timeline as timelines

    draw = getattr(timelines, args.drawing)
    # Read before opening the output: an unreadable input leaves no file behind.
    drawn = draw(timelines.replay_timeline(args.file, fmt=args.format)).encode()
    if args.out == "-":
        sys.stdout.buffer.write(drawn)
        sys.stdout.buffer.flush()
        return EXIT_OK
    try:
        with open(args.out, "wb") as out:
            out.write(drawn)
    except OSError as exc:
        raise SteplifeError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    return EXIT_OK
