"""steplife conformance: against llamphouse 1.3.0 (its known bugs) and a replay of a correct run.

llamphouse runs in a process of its own (tests/llamphouse_app.py): importing it installs
a global OpenTelemetry tracer provider and logging handlers. The replay server is
tests/sdkserver.py, serving recorded responses of a run that keeps the lifecycle; the
routes it lacks (cancel) are added for these tests only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import sdkserver
from sdkserver import FIXTURES, Reply, SDKServer, serving
from steplife import validate_file
from steplife._findings import Severity
from steplife.cli import main
from steplife.conformance import SCENARIOS, ConformanceReport, ScenarioResult, run
from steplife.conformance._recording import Exchange
from steplife.errors import SteplifeError

HERE = Path(__file__).parent
ASSISTANT = "asst_q3GkVw8TzR1mJb6LcXy2Nd0P"
"""The assistant of the replayed runs."""
E = Severity.ERROR

needs_llamphouse = pytest.mark.skipif(
    importlib.util.find_spec("llamphouse") is None, reason="llamphouse (a test extra) is absent"
)


# -- llamphouse ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llamphouse() -> Iterator[str]:
    """llamphouse 1.3.0 with the test agents, on 127.0.0.1: its base URL."""
    env = {**os.environ, "LLAMPHOUSE_TELEMETRY": "0", "LLAMPHOUSE_TRACING_ENABLED": "0"}
    process = subprocess.Popen(
        [sys.executable, str(HERE / "llamphouse_app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"llamphouse did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def llamphouse_report(
    llamphouse: str, tmp_path_factory: pytest.TempPathFactory
) -> ConformanceReport:
    """Every scenario against llamphouse, once, recorded."""
    record = tmp_path_factory.mktemp("llamphouse")
    return run(
        llamphouse,
        assistant="echo",
        tool_assistant="weather",
        slow_assistant="slow",
        record=record,
        timeout=15,
    )


def scenario(report: ConformanceReport, name: str) -> ScenarioResult:
    return next(s for s in report.scenarios if s.name == name)


def rules(result: ScenarioResult, severity: Severity | None = None) -> set[str]:
    return {f.rule for f in result.findings if severity is None or f.severity is severity}


@needs_llamphouse
def test_llamphouse_fails_every_scenario(llamphouse_report: ConformanceReport) -> None:
    """None of its runs keeps the lifecycle."""
    assert [s.outcome for s in llamphouse_report.scenarios] == ["failed"] * len(SCENARIOS)
    assert not llamphouse_report.valid


@needs_llamphouse
def test_its_iso_timestamps_are_read_and_the_lifecycle_is_still_checked(
    llamphouse_report: ConformanceReport,
) -> None:
    """Every stamp a date-time: warned about, read, and the steps' bugs found behind them."""
    message = scenario(llamphouse_report, "message-run")
    assert "timestamp-not-unix" in rules(message, Severity.WARNING)
    assert "malformed-event" not in rules(message)
    # Steps are created completed, and completed without completed_at.
    assert {"status-mismatch", "stamp-mismatch"} <= rules(message, E)
    created = [f for f in message.findings if f.rule == "status-mismatch"]
    assert "thread.run.step.created carries status 'completed'" in created[0].message


@needs_llamphouse
def test_its_function_run_never_asks_for_the_tool_output(
    llamphouse_report: ConformanceReport,
) -> None:
    """No requires_action event, a stream that stops mid-run, a submit answered as JSON."""
    function = scenario(llamphouse_report, "function-run")
    found = rules(function, E)
    assert {
        "stream-without-end",  # the first stream stops at `done`, the run in progress
        "tool-call-not-requested",  # the run waits, but no requires_action reached the client
        "stream-not-sse",  # submit_tool_outputs(stream=True) answers plain JSON
        "function-call-without-action",  # the streamed tool step completes by itself
        "run-required-action",  # polled, it requires action with required_action null
        "identity-changed",  # the tool step's created_at moves within its second
    } <= found
    not_sse = next(f for f in function.findings if f.rule == "stream-not-sse")
    assert "application/json" in not_sse.message
    assert "the client read 0 events from it" in not_sse.message
    moved = next(f for f in function.findings if f.rule == "identity-changed")
    assert "(the same Unix second, another instant)" in moved.message
    # Its tool-call deltas repeat the call's id and name: the deltas build another name.
    assert "snapshot-diverged" in rules(function, Severity.WARNING)


@needs_llamphouse
def test_its_cancel_is_acknowledged_and_the_run_completes_anyway(
    llamphouse_report: ConformanceReport,
) -> None:
    """Cancelled while queued, it keeps cancelled_at in progress, then completes."""
    cancelled = scenario(llamphouse_report, "cancelled-run")
    assert {"cancel-ignored", "run-stamp-mismatch"} <= rules(cancelled, E)
    stamps = [f.message for f in cancelled.findings if f.rule == "run-stamp-mismatch"]
    assert "run status 'in_progress' needs none of" in stamps[0]
    assert "cancelled_at is set" in stamps[0]


@needs_llamphouse
def test_its_polled_runs_show_the_same_step_bugs(llamphouse_report: ConformanceReport) -> None:
    """Steps completed without completed_at; a waiting run without required_action."""
    assert "stamp-mismatch" in rules(scenario(llamphouse_report, "polled-run"), E)
    polled = scenario(llamphouse_report, "polled-function-run")
    assert {"run-required-action", "tool-call-not-requested"} <= rules(polled, E)


@needs_llamphouse
def test_its_expired_run_leaves_its_tool_step_open(llamphouse: str) -> None:
    """The worker's timeout expires the run; its tool step never ends."""
    report = run(llamphouse, assistant="stuck", scenarios=["polled-run"], timeout=15)
    polled = report.scenarios[0]
    assert "expiry-not-propagated" in rules(polled)
    assert polled.run_statuses == {"expired": 1}


@needs_llamphouse
def test_its_first_stream_alone_leaves_the_run_dangling(
    llamphouse_report: ConformanceReport,
) -> None:
    """Validated as a capture, the function run's first stream ends with its run open."""
    assert llamphouse_report.record is not None
    first = Path(llamphouse_report.record) / "function-run" / "01-create_and_run.sse"
    report = validate_file(str(first))
    assert "dangling-run" in {f.rule for f in report.findings}


@needs_llamphouse
def test_every_response_is_recorded_byte_for_byte(llamphouse_report: ConformanceReport) -> None:
    """One file per response, as it came, and an index of the exchanges."""
    assert llamphouse_report.record is not None
    folder = Path(llamphouse_report.record) / "function-run"
    index = json.loads((folder / "exchanges.json").read_text())
    files = [entry["file"] for entry in index]
    assert [Path(f).name for f in files] == sorted(p.name for p in folder.glob("0*"))
    first = (folder / "01-create_and_run.sse").read_bytes()
    assert first.startswith(b"event: thread.run.created\ndata: {")
    submit = next(entry for entry in index if entry["label"] == "submit_tool_outputs")
    assert submit["content_type"] == "application/json"
    assert json.loads((folder / Path(submit["file"]).name).read_bytes())["object"] == "thread.run"
    findings = scenario(llamphouse_report, "function-run").findings
    located = [f for f in findings if f.file and f.file.endswith("01-create_and_run.sse")]
    assert located
    assert all(f.line for f in located if f.rule != "stream-without-end")


@needs_llamphouse
def test_the_command_reports_llamphouse_as_not_conformant(
    llamphouse: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Exit 1; the JSON report lists each scenario's outcome and findings."""
    code = main(
        [
            "conformance",
            llamphouse,
            "--assistant",
            "echo",
            "--scenario",
            "message-run",
            "--output",
            "json",
            "--record",
            str(tmp_path),
            "--isolated",
        ]
    )
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    [message] = report["scenarios"]
    assert (message["name"], message["outcome"]) == ("message-run", "failed")
    assert message["responses"] == [str(tmp_path / "message-run" / "01-create_and_run.sse")]
    assert "status-mismatch" in {f["rule"] for f in message["findings"]}
    created = next(f for f in message["findings"] if f["rule"] == "status-mismatch")
    assert created["event"]["event"] == "thread.run.step.created"
    assert created["event"]["data"]["status"] == "completed"  # the event, as it came


# -- a correct run, replayed -----------------------------------------------------------


def _sse_events(name: str) -> list[tuple[str, str]]:
    events = []
    for block in (FIXTURES / name).read_text().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], lines.get("data", "")))
    return events


def _write_sse(path: Path, events: list[tuple[str, str]]) -> None:
    path.write_text("".join(f"event: {name}\ndata: {data}\n\n" for name, data in events))


def _json(path: Path, value: Any) -> str:
    path.write_bytes(orjson.dumps(value))
    return str(path)  # an absolute path: Reply reads FIXTURES / it, which is this path


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SDKServer]:
    """The replay server, serving a correct run for every scenario."""
    cancel_route = ("POST", r"/threads/[^/]+/runs/[^/]+/cancel", "cancel_run")
    monkeypatch.setattr(sdkserver, "_ROUTES", [cancel_route, *sdkserver._ROUTES])
    with serving() as server:
        yield server


def _cancelled(tmp_path: Path) -> dict[str, Reply | list[Reply]]:
    """A message run's opening, then cancelling and cancelled: what a cancel leads to."""
    opening = _sse_events("message_run.sse")[:4]
    in_progress = json.loads(opening[-1][1])
    cancelling = {**in_progress, "status": "cancelling"}
    cancelled = {
        **in_progress,
        "status": "cancelled",
        "cancelled_at": in_progress["started_at"] + 1,
        "expires_at": None,
    }
    stream = tmp_path / "cancelled.sse"
    _write_sse(
        stream,
        [
            *opening,
            ("thread.run.cancelling", json.dumps(cancelling)),
            ("thread.run.cancelled", json.dumps(cancelled)),
            ("done", "[DONE]"),
        ],
    )
    return {
        "create_thread_and_run": Reply(str(stream)),
        "cancel_run": Reply(_json(tmp_path / "cancel.json", cancelling)),
    }


def _queued_run() -> dict[str, Any]:
    """The recorded function run as its creation returns it: queued."""
    done = json.loads((FIXTURES / "function_run.run.json").read_text())
    cleared = ("started_at", "completed_at", "usage", "required_action", "last_error")
    return {**done, "status": "queued", **dict.fromkeys(cleared)}


def _polled_function(tmp_path: Path) -> dict[str, Reply | list[Reply]]:
    """The recorded function run as polls see it: queued, waiting, then completed."""
    waiting = json.loads(_sse_events("function_run.1.sse")[-2][1])
    assert waiting["status"] == "requires_action"
    queued = {
        **waiting,
        "status": "queued",
        "started_at": None,
        "required_action": None,
    }
    steps = json.loads((FIXTURES / "function_run.steps.json").read_text())
    tool = next(step for step in steps["data"] if step["type"] == "tool_calls")
    open_tool = {**tool, "status": "in_progress", "completed_at": None, "usage": None}
    open_tool["step_details"] = json.loads(json.dumps(tool["step_details"]))
    for call in open_tool["step_details"]["tool_calls"]:
        call["function"]["output"] = None
    waiting_page = {**steps, "data": [open_tool], "first_id": tool["id"], "last_id": tool["id"]}
    resumed = {**waiting, "status": "queued", "required_action": None}
    return {
        "create_thread_and_run": Reply(_json(tmp_path / "queued.json", queued)),
        "get_run": [
            Reply(_json(tmp_path / "waiting.json", waiting)),
            Reply("function_run.run.json"),
        ],
        "list_steps": [
            Reply(_json(tmp_path / "waiting_steps.json", waiting_page)),
            Reply("function_run.steps.json"),
        ],
        "submit_tool_outputs": Reply(_json(tmp_path / "resumed.json", resumed)),
    }


REPLAYS: dict[str, Any] = {
    "message-run": lambda tmp: {"create_thread_and_run": Reply("message_run.sse")},
    "function-run": lambda tmp: {
        "create_thread_and_run": Reply("function_run.1.sse"),
        "submit_tool_outputs": Reply("function_run.2.sse"),
    },
    "cancelled-run": _cancelled,
    "polled-run": lambda tmp: {
        "create_thread_and_run": Reply(_json(tmp / "queued.json", _queued_run())),
        "get_run": Reply("function_run.run.json"),
        "list_steps": Reply("function_run.steps.json"),
    },
    "polled-function-run": _polled_function,
}


def test_every_scenario_has_a_replay() -> None:
    assert list(REPLAYS) == list(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_correct_run_passes_each_scenario(name: str, replay: SDKServer, tmp_path: Path) -> None:
    """The replayed run keeps the lifecycle: no finding at all."""
    replay.play(REPLAYS[name](tmp_path))
    report = run(
        replay.openai_url,
        assistant=ASSISTANT,
        tool_assistant=ASSISTANT,
        scenarios=[name],
        timeout=5,
        poll_interval=0.01,
    )
    [result] = report.scenarios
    assert (result.outcome, result.findings) == ("passed", ())
    assert result.events > 0
    report.assert_passed()


def test_the_function_run_submits_the_call_the_run_asked_for(
    replay: SDKServer, tmp_path: Path
) -> None:
    """One output, for the call in required_action, in a second stream."""
    replay.play(REPLAYS["function-run"](tmp_path))
    run(
        replay.openai_url, assistant=ASSISTANT, tool_assistant=ASSISTANT, scenarios=["function-run"]
    )
    submitted = [r for r in replay.requests if r.endpoint == "submit_tool_outputs"]
    assert [r.body["stream"] for r in submitted] == [True]
    assert [o["tool_call_id"] for o in submitted[0].body["tool_outputs"]] == [
        "call_Nb4Vx9Rk2Lq7Hw1Tz5Cm8Pd3"
    ]


def test_a_refused_request_is_a_finding(replay: SDKServer) -> None:
    """The cancel route answered 404: request-failed, with what the server said."""
    replay.play({"create_thread_and_run": Reply("message_run.sse")})
    report = run(replay.openai_url, assistant=ASSISTANT, scenarios=["cancelled-run"])
    [result] = report.scenarios
    failed = [f for f in result.findings if f.rule == "request-failed"]
    assert failed
    assert failed[0].message.startswith("cancel was answered 404: no reply for POST")


def test_without_a_tool_assistant_the_function_scenarios_are_skipped(replay: SDKServer) -> None:
    """Skipped, not failed: the report stays valid."""
    report = run(
        replay.openai_url,
        assistant=ASSISTANT,
        scenarios=["function-run", "polled-function-run"],
    )
    assert [s.outcome for s in report.scenarios] == ["skipped", "skipped"]
    assert report.valid
    assert replay.requests == []


def test_an_unreachable_server_is_an_error_not_a_finding(unused_port: int) -> None:
    """Exit 2 from the command; `error` set on each scenario."""
    report = run(f"http://127.0.0.1:{unused_port}/v1", assistant="a", scenarios=["message-run"])
    [result] = report.scenarios
    assert result.outcome == "error"
    assert result.error is not None
    assert "could not be reached" in result.error
    code = main(
        ["conformance", f"http://127.0.0.1:{unused_port}/v1", "--assistant", "a", "--isolated"]
    )
    assert code == 2


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unknown_scenario_is_refused() -> None:
    with pytest.raises(SteplifeError, match="unknown scenario 'nope'"):
        run("http://127.0.0.1:1", assistant="a", scenarios=["nope"])


def test_the_command_exits_0_on_a_conformant_server(
    replay: SDKServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text output: one line per scenario; the responses recorded under --record."""
    replay.play(REPLAYS["message-run"](tmp_path))
    code = main(
        [
            "conformance",
            replay.openai_url,
            "--assistant",
            ASSISTANT,
            "--scenario",
            "message-run",
            "--record",
            str(tmp_path / "rec"),
            "--isolated",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("PASSED  message-run: a plain message run, streamed")
    assert "1 of 1 scenarios passed; 0 errors, 0 warnings" in out
    recorded = (tmp_path / "rec" / "message-run" / "01-create_and_run.sse").read_bytes()
    assert recorded == (FIXTURES / "message_run.sse").read_bytes()


@pytest.mark.parametrize("output", ["junit", "sarif", "github", "gitlab", "jsonl"])
def test_the_ci_formats_render_a_scenario_as_an_input(
    output: str, replay: SDKServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each scenario is one input of the validate formats."""
    replay.play({"create_thread_and_run": Reply("message_run.sse")})
    code = main(
        [
            "conformance",
            replay.openai_url,
            "--assistant",
            ASSISTANT,
            "--scenario",
            "cancelled-run",
            "--output",
            output,
            "--isolated",
        ]
    )
    assert code == 1
    assert "request-failed" in capsys.readouterr().out


def test_the_pytest_fixture_runs_the_scenarios(
    steplife_conformance: Any, replay: SDKServer, tmp_path: Path
) -> None:
    """``steplife_conformance(url, ...)`` records under the test's tmp_path."""
    replay.play(REPLAYS["message-run"](tmp_path))
    report = steplife_conformance(replay.openai_url, assistant=ASSISTANT, scenarios=["message-run"])
    report.assert_passed()
    assert report.record == str(tmp_path / "conformance")


def test_assert_passed_lists_the_findings(replay: SDKServer) -> None:
    replay.play({"create_thread_and_run": Reply("fault_step_completed_twice.sse")})
    report = run(replay.openai_url, assistant=ASSISTANT, scenarios=["message-run"])
    with pytest.raises(AssertionError, match=r"message-run: failed\n.*after-terminal"):
        report.assert_passed()


def test_importing_steplife_and_building_the_command_import_no_openai() -> None:
    code = (
        "import sys, steplife, steplife.cli; steplife.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'httpx', 'httpx2')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_gzipped_body_is_read_decoded() -> None:
    import gzip

    exchange = Exchange(method="GET", url="http://x/v1/threads/t/runs/r", request_body=b"")
    exchange.headers = {"content-encoding": "gzip", "content-type": "application/json"}
    exchange.body += gzip.compress(b'{"id": "run_1"}')
    assert exchange.json() == {"id": "run_1"}
    assert exchange.summary()["path"] == "/v1/threads/t/runs/r"


# -- docs/conformance.md ---------------------------------------------------------------

DOCS = HERE.parent / "docs" / "conformance.md"
TABLE_START = "<!-- generated: the llamphouse run, by tests/test_conformance.py -->"
TABLE_END = "<!-- end generated -->"


TIMING = frozenset(("step-outside-run",))
"""Rules a run finds or not by the timing of its polls (docs/conformance.md says why)."""


def llamphouse_table(report: ConformanceReport) -> str:
    """The llamphouse run as docs/conformance.md shows it: each scenario's rules."""
    lines = [
        "| scenario | outcome | errors | warnings |",
        "|---|---|---|---|",
    ]
    for result in report.scenarios:
        errors = ", ".join(f"`{code}`" for code in sorted(rules(result, E) - TIMING))
        warnings = ", ".join(f"`{code}`" for code in sorted(rules(result, Severity.WARNING)))
        lines.append(f"| `{result.name}` | {result.outcome} | {errors} | {warnings} |")
    return "\n".join(lines) + "\n"


@needs_llamphouse
def test_the_report_in_the_docs_is_current(llamphouse_report: ConformanceReport) -> None:
    """docs/conformance.md shows what the scenarios find in llamphouse today."""
    text = DOCS.read_text(encoding="utf-8")
    shown = text.split(TABLE_START + "\n", 1)[1].split(TABLE_END, 1)[0]
    assert shown == llamphouse_table(llamphouse_report), (
        "stale: paste the table this test renders into docs/conformance.md"
    )
