"""Conformance of an Assistants-compatible server: drive it, record it, check it.

`run` drives a live server through the official ``openai`` client (the
``conformance`` extra) in named scenarios (`SCENARIOS`): a plain message run, a
function-tool run through ``requires_action`` and ``submit_tool_outputs``, a cancelled
run, polled runs. Every response is recorded byte for byte; the streams and polls of
each scenario's run are checked by one `Tracker`, and what only the exchanges show (a
stream that is not SSE, a stream with no end, a function call the run never asked the
client for, a cancel the run ignores, a refused request) by the catalogue's
``conformance`` rules. `import steplife` never imports this package, nor ``openai``.

```python
from steplife.conformance import run

report = run("http://127.0.0.1:8000", assistant="asst_1", tool_assistant="asst_2")
report.assert_passed()  # AssertionError listing each scenario's findings
```
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import orjson

from steplife._events import read_events
from steplife._findings import Finding, Severity
from steplife._report import FileReport, Report
from steplife._rules import DEFAULT_RULES, Rules
from steplife.conformance._recording import Exchange, recording_client
from steplife.conformance._scenarios import (
    SCENARIOS,
    Options,
    ScenarioRun,
    Unreachable,
)
from steplife.errors import SteplifeError

__all__ = ["SCENARIOS", "ConformanceReport", "ScenarioResult", "run"]

DEFAULT_API_KEY: Final = "steplife-conformance"
"""The key sent when none is given and ``OPENAI_API_KEY`` is unset (local servers)."""


@attrs.frozen(kw_only=True)
class ScenarioResult:
    """What one scenario found: its findings, its run, the responses it recorded.

    `skipped` says why a scenario did not run (no tool assistant given, say); `error`
    why it could not finish (the server could not be reached).
    """

    name: str
    summary: str
    findings: tuple[Finding, ...] = ()
    run_id: str | None = None
    files: tuple[str, ...] = ()
    """The name of each response, in order: its path under the recording folder."""
    events: int = 0
    skipped: str | None = None
    error: str | None = None
    statuses: Mapping[str, int] = attrs.Factory(dict)
    dangling: int = 0
    run_statuses: Mapping[str, int] = attrs.Factory(dict)
    steps_per_run: Mapping[int, int] = attrs.Factory(dict)
    seconds: float = 0.0
    bodies: Mapping[str, bytes] = attrs.field(factory=dict, repr=False, eq=False)
    """Each response's body as it came, by its name in `files`."""

    def event_of(self, finding: Finding) -> dict[str, Any] | None:
        """The streamed event `finding` is about, ``{"event", "data"}``, when it names one.

        None for a finding on a poll or an exchange (no line), or outside this scenario.
        """
        body = self.bodies.get(finding.file or "")
        if body is None or finding.line is None:
            return None
        for event in read_events(io.BytesIO(body), finding.file, "sse"):
            if event.line == finding.line:
                return {"event": event.name, "data": event.data}
        return None

    @property
    def outcome(self) -> str:
        """``passed``, ``failed`` (an error-level finding), ``skipped`` or ``error``."""
        if self.error is not None:
            return "error"
        if any(f.severity is Severity.ERROR for f in self.findings):
            return "failed"
        return "skipped" if self.skipped is not None else "passed"

    @property
    def passed(self) -> bool:
        """Whether it ran and found no error (warnings allowed)."""
        return self.outcome == "passed"


@attrs.frozen(kw_only=True)
class ConformanceReport:
    """Every scenario's result, and where the responses were recorded (if they were)."""

    base_url: str
    scenarios: tuple[ScenarioResult, ...]
    record: str | None = None

    @property
    def valid(self) -> bool:
        """Whether no scenario failed or could not finish (skipped ones aside)."""
        return all(s.outcome in ("passed", "skipped") for s in self.scenarios)

    @property
    def findings(self) -> list[Finding]:
        """Every finding, scenario by scenario."""
        return [f for s in self.scenarios for f in s.findings]

    def as_report(self) -> Report:
        """The results as a validate `Report`: one input per scenario (for the CI formats)."""
        return Report(
            files=tuple(
                FileReport(
                    file=_scenario_file(self.record, s.name),
                    events=s.events,
                    statuses=dict(s.statuses),
                    dangling=s.dangling,
                    findings=s.findings,
                    error=s.error,
                    run_statuses=dict(s.run_statuses),
                    steps_per_run=dict(s.steps_per_run),
                )
                for s in self.scenarios
            )
        )

    def assert_passed(self) -> None:
        """Raise `AssertionError` listing each failed scenario's findings, if any."""
        if self.valid:
            return
        lines = []
        for scenario in self.scenarios:
            if scenario.outcome in ("passed", "skipped"):
                continue
            lines.append(f"{scenario.name}: {scenario.outcome}" + _why(scenario))
            for finding in scenario.findings:
                where = f"{finding.file}:{finding.line}" if finding.line else finding.file or "-"
                lines.append(
                    f"  {where}: {finding.severity.value} {finding.rule} {finding.message}"
                )
        raise AssertionError(f"{self.base_url} is not conformant:\n" + "\n".join(lines))


def _why(scenario: ScenarioResult) -> str:
    return f" ({scenario.error})" if scenario.error else ""


def _scenario_file(record: str | None, name: str) -> str:
    return name if record is None else str(Path(record) / name)


def run(
    base_url: str | None = None,
    *,
    assistant: str,
    tool_assistant: str | None = None,
    slow_assistant: str | None = None,
    api_key: str | None = None,
    client: Any = None,
    record: str | os.PathLike[str] | None = None,
    scenarios: Collection[str] | None = None,
    rules: Rules = DEFAULT_RULES,
    timeout: float = 60.0,
    poll_interval: float = 0.2,
    default_query: Mapping[str, str] | None = None,
    default_headers: Mapping[str, str] | None = None,
) -> ConformanceReport:
    """Drive the server at `base_url` through each scenario and report what each found.

    `assistant` answers the plain runs; `tool_assistant` (one with a function tool it
    always calls) the function-tool scenarios, skipped without it; `slow_assistant`
    (one that takes a few seconds) the cancelled run, else `assistant`. `client` may
    be an ``openai`` client of your own (``AzureOpenAI``, say) instead of `base_url`:
    it is used through ``with_options`` with a recording HTTP client. `record` is a
    folder to write every response into (one folder per scenario, an
    ``exchanges.json`` index in each). `scenarios` picks some of `SCENARIOS` by name.

    Raises `SteplifeError` for an unknown scenario name or when neither `base_url`
    nor `client` is given, and `ImportError` when ``openai`` is not installed.
    """
    chosen = list(SCENARIOS) if scenarios is None else list(scenarios)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise SteplifeError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    if (base_url is None) == (client is None):
        raise SteplifeError("give the server's base_url, or an openai client, not both")
    import openai

    options = Options(
        assistant=assistant,
        tool_assistant=tool_assistant,
        slow_assistant=slow_assistant,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    folder = None if record is None else Path(record)
    results = []
    for name in chosen:
        exchanges: list[Exchange] = []
        http_client = recording_client(exchanges, timeout=max(timeout, 30.0))
        settings: dict[str, Any] = {"http_client": http_client, "max_retries": 0}
        if default_query:
            settings["default_query"] = dict(default_query)
        if default_headers:
            settings["default_headers"] = dict(default_headers)
        if client is not None:
            sdk = client.with_options(**settings)
        else:
            key = api_key or os.environ.get("OPENAI_API_KEY") or DEFAULT_API_KEY
            sdk = openai.OpenAI(base_url=base_url, api_key=key, **settings)
        try:
            results.append(_run_one(name, sdk, exchanges, rules, options, folder))
        finally:
            http_client.close()
    shown_url = base_url if base_url is not None else str(getattr(client, "base_url", ""))
    return ConformanceReport(
        base_url=shown_url,
        scenarios=tuple(results),
        record=None if folder is None else str(folder),
    )


def _run_one(
    name: str,
    sdk: Any,
    exchanges: list[Exchange],
    rules: Rules,
    options: Options,
    folder: Path | None,
) -> ScenarioResult:
    scenario, summary = SCENARIOS[name]
    prefix = f"{_scenario_file(None if folder is None else str(folder), name)}/"
    state = ScenarioRun(
        name=name, client=sdk, exchanges=exchanges, rules=rules, options=options, prefix=prefix
    )
    started = time.monotonic()
    error = None
    try:
        scenario(state)
    except Unreachable as exc:
        error = f"the server could not be reached: {exc}"
    tracker = state.tracker
    if (error is None and state.skipped is None) or (state.skipped is not None and tracker.events):
        tracker.finish(file=prefix.rstrip("/"))
    if folder is not None:
        _write(folder / name, exchanges)
    return ScenarioResult(
        name=name,
        summary=summary,
        findings=(*tracker.findings, *state.findings),
        run_id=state.run_id,
        files=tuple(e.file for e in exchanges if e.file),
        events=tracker.events,
        skipped=state.skipped,
        error=error,
        statuses=dict(tracker.statuses),
        dangling=len(tracker.live_ids),
        run_statuses=dict(tracker.run_statuses),
        steps_per_run=dict(tracker.steps_per_run),
        seconds=round(time.monotonic() - started, 3),
        bodies={e.file: e.decoded() for e in exchanges if e.file and e.is_sse},
    )


def _write(folder: Path, exchanges: list[Exchange]) -> None:
    """Write each response body as it came, and an index of the exchanges."""
    folder.mkdir(parents=True, exist_ok=True)
    for exchange in exchanges:
        if exchange.file:
            (folder / Path(exchange.file).name).write_bytes(bytes(exchange.body))
    index = [exchange.summary() for exchange in exchanges]
    (folder / "exchanges.json").write_bytes(orjson.dumps(index, option=orjson.OPT_INDENT_2))
