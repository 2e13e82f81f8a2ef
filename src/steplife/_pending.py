"""`FindingBuffer`: the findings of the event being fed, until the event is done with.

Both trackers (the Assistants one and the Responses one) collect an event's findings
here, then commit them at once: located at the event, heard by the ``on_finding``
observer, and in strict mode raised at the first error before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from steplife._findings import Finding, Severity
from steplife.errors import StreamError

__all__ = ["FindingBuffer"]


class FindingBuffer:
    """The pending findings of the current event, and how they are committed.

    A subclass sets `strict`, `findings`, `on_finding`, ``_where`` (file, line,
    index of the current event) and ``_pending`` (its findings so far).
    """

    strict: bool
    findings: list[Finding]
    on_finding: Callable[[Finding], object] | None
    _where: tuple[str | None, int, int]
    _pending: list[Finding]

    def _locate(self, finding: Finding) -> Finding:
        """`finding`, placed at the current event."""
        file, line, index = self._where
        return attrs.evolve(finding, file=file, line=line or None, event_index=index or None)

    def _failed(self) -> bool:
        """In strict mode, whether this event already has an error (so: change nothing)."""
        return self.strict and any(f.severity is Severity.ERROR for f in self._pending)

    def _commit(self) -> list[Finding]:
        """Record the event's findings (told to ``on_finding`` first); strict: raise an error."""
        pending = self._pending
        if not pending:
            return []
        self._pending = []
        if self.on_finding is not None:
            for finding in pending:
                self.on_finding(finding)
        if self.strict:
            for finding in pending:
                if finding.severity is Severity.ERROR:
                    raise StreamError(finding)
        self.findings.extend(pending)
        return pending
