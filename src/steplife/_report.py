"""What validating inputs found: a `FileReport` per input, a `Report` over them all.

Its own module so that every validator (the Assistants replay in `_validate`, the
Responses one in `steplife.responses`) builds the same records without importing
the other.
"""

from __future__ import annotations

from collections import Counter

import attrs

from steplife._findings import Finding, Severity

__all__ = ["FileReport", "Report"]


@attrs.frozen
class FileReport:
    """What validating one input found; `error` is set when it could not be read.

    `statuses` counts the finished steps by status (`dangling` the steps left in
    progress); `run_statuses` counts the runs followed by their last status, and
    `steps_per_run` how many runs had each number of steps. An input with no run
    event leaves both empty.
    """

    file: str
    events: int = 0
    statuses: dict[str, int] = attrs.Factory(dict)
    dangling: int = 0
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    run_statuses: dict[str, int] = attrs.Factory(dict)
    steps_per_run: dict[int, int] = attrs.Factory(dict)


@attrs.frozen
class Report:
    """The verdict over every input: valid when no error-level finding and no bad input."""

    files: tuple[FileReport, ...]

    @property
    def findings(self) -> list[Finding]:
        """Every finding, input by input, in stream order."""
        return [f for report in self.files for f in report.findings]

    @property
    def events(self) -> int:
        """Events read over all inputs."""
        return sum(report.events for report in self.files)

    @property
    def by_status(self) -> dict[str, int]:
        """Steps by final status; steps left in progress count as ``in_progress``."""
        total: Counter[str] = Counter()
        for report in self.files:
            total.update(report.statuses)
            if report.dangling:
                total["in_progress"] += report.dangling
        return dict(total)

    @property
    def runs_by_status(self) -> dict[str, int]:
        """Runs by last status: a run whose input ended before it did counts as it was left."""
        total: Counter[str] = Counter()
        for report in self.files:
            total.update(report.run_statuses)
        return dict(total)

    @property
    def steps_per_run(self) -> dict[int, int]:
        """How many runs had each number of steps, over all inputs, fewest steps first."""
        total: Counter[int] = Counter()
        for report in self.files:
            total.update(report.steps_per_run)
        return dict(sorted(total.items()))

    @property
    def input_errors(self) -> list[str]:
        """One line per input that could not be read at all."""
        return [report.error for report in self.files if report.error is not None]

    @property
    def valid(self) -> bool:
        """Whether every input was read and no finding is an error."""
        return not self.input_errors and not any(
            f.severity is Severity.ERROR for f in self.findings
        )

    def by_rule(self) -> dict[str, int]:
        """How many findings each rule produced."""
        return dict(Counter(f.rule for f in self.findings))
