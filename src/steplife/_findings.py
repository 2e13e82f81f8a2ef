"""The vocabulary every module shares: how much a broken rule matters, and a finding.

At the bottom of the package: the rule catalogue, the exceptions, the Tracker and the
command all speak of `Finding` and `Severity`, and this module imports nothing of
steplife's.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

__all__ = ["SHOWN_LIMIT", "Finding", "Severity", "cut", "shown"]

SHOWN_LIMIT: Final = 48
"""How many characters of a value from the input a message shows, at most."""


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`value` as a message shows it: its ``repr``, cut to `limit` characters with ``…``.

    Ids and names come from the input and may be of any length (a 200 MB id repeated
    in every finding would write gigabytes); a string is cut before it is quoted, so
    the cost does not grow with it either.
    """
    if type(value) is str:
        return repr(cut(value, limit))
    return cut(repr(value), limit)


def cut(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` itself when it has at most `limit` characters, else its start and ``…``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Severity(enum.StrEnum):
    """How much a broken rule matters: errors fail validation, warnings inform."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen(kw_only=True)
class Finding:
    """A broken rule: what (``rule``), how bad, why, and where when known.

    ``path`` is a JSON path inside the step (``step_details.tool_calls[2].id``);
    ``file``, ``line`` (JSONL) and ``event_index`` (1-based, any format) locate the
    event in a stream; ``run_id`` names the run a run-level finding is about.
    """

    rule: str
    severity: Severity
    message: str
    step_id: str | None = None
    path: str | None = None
    file: str | None = None
    line: int | None = None
    event_index: int | None = None
    run_id: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether this finding fails validation."""
        return self.severity is Severity.ERROR
