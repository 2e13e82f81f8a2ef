"""The ``steplife`` command end to end: through `steplife.cli.main` and the installed script."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers import WIRE_ORDER
from steplife import CATALOGUE, RunStep, __version__, from_json
from steplife._diagram import DIAGRAMS
from steplife._findings import SHOWN_LIMIT, shown
from steplife.cli import main
from steplife.model import FunctionToolCall
from streams import (
    BROKEN_EXAMPLE,
    CREATED,
    DONE,
    REPO,
    RUN_ID,
    STEP_ID,
    VALID_EXAMPLES,
    completed,
    created,
    function_fragment,
    in_progress,
    jsonl,
    lifecycle,
    run_event,
    run_start,
    sse,
    tool_calls_delta,
    tool_details,
)

BROKEN = str(BROKEN_EXAMPLE)
VALID = [str(path) for path in VALID_EXAMPLES]
BROKEN_LINES = [
    (6, "error unknown-step [step_Yt6nM2xQw9KbR4vLz8CdH3pF]"),
    (8, "error after-terminal [step_Lw3xN8kQz2VbR7mTc9PdH4sJ]"),
    (11, "error stamp-before-created [step_Zr8vK3nQx7WbL2mTp9CdH4yJ]"),
    (13, "error usage-before-completion [step_Fm4xQ9vKb2NzW7rLt3CdH8pJ]"),
    (15, "error malformed-event"),
]
DANGLING = [
    *run_start(),
    created(details=tool_details()),
    in_progress(details=tool_details()),
    tool_calls_delta(STEP_ID, function_fragment(0, call_id="call_1", name="f")),
    run_event("requires_action"),
    DONE,
]


class Run:
    """What one run of the command did: its exit status and its two outputs."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.out
        assert "Traceback" not in self.err


@pytest.fixture
def steplife(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `steplife.cli.main` with the given arguments and capture what it printed."""

    def run(*argv: str) -> Run:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- validate: exit status and output ---------------------------------------------------


def test_valid_inputs_exit_0_and_say_so(steplife: Any) -> None:
    run = steplife("validate", *VALID)
    assert run.code == 0
    assert "valid: 0 errors, 1 warnings" in run.out  # the failed step's usage
    assert run.err == ""


def test_an_error_finding_exits_1_and_lists_each_finding_as_file_line_rule(steplife: Any) -> None:
    run = steplife("validate", BROKEN)
    assert run.code == 1
    for line, text in BROKEN_LINES:
        assert f"{BROKEN}:{line}: {text}" in run.out
    assert "invalid: 5 errors, 0 warnings" in run.out


def unwrapped(text: str) -> str:
    return " ".join(text.split())


def test_an_unreadable_input_exits_2_and_says_why_on_stderr(steplife: Any) -> None:
    run = steplife("validate", VALID[0], "missing.sse")
    assert run.code == 2
    assert run.err.splitlines() == ["steplife: missing.sse: cannot open: No such file or directory"]
    assert "invalid: 0 errors, 0 warnings, 1 unreadable input\n" in run.out
    run.assert_no_traceback()


def test_two_unreadable_inputs_are_counted_in_the_plural(steplife: Any) -> None:
    run = steplife("validate", "missing.sse", "lost.jsonl")
    assert run.code == 2
    assert "invalid: 0 errors, 0 warnings, 2 unreadable inputs" in run.out


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["validate", "--jobs", "0"], "--jobs"),
        (["validate", "--jobs", "-3"], "--jobs"),
        (["validate", "--jobs", "two"], "--jobs"),
        (["ingest", "--batch-size", "0"], "--batch-size"),
        (["ingest", "--batch-size", "-1"], "--batch-size"),
    ],
)
def test_a_count_below_one_is_refused_with_the_option_named(
    steplife: Any, argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts are whole numbers of 1 or more; anything else exits 2 before reading input."""
    with pytest.raises(SystemExit) as exited:
        steplife(*argv, VALID[0])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected a whole number of 1 or more, got {argv[-1]!r}" in err


def test_an_input_error_is_one_line_however_long_its_path(steplife: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / ("a-rather-long-capture-name-" * 3 + ".sse"))
    run = steplife("validate", missing)
    assert unwrapped(run.err) == f"steplife: {missing}: cannot open: No such file or directory"


def test_an_input_error_while_sniffing_names_the_input(steplife: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "cut.gz", gzip.compress(jsonl(lifecycle() * 40))[:200])
    run = steplife("validate", path)
    assert run.code == 2
    assert path in run.err


def test_json_output_follows_the_documented_schema(steplife: Any) -> None:
    run = steplife("validate", "--output", "json", BROKEN, *VALID)
    report = run.json()
    assert run.code == 1
    assert report["schema"] == 1
    assert report["valid"] is False
    # 15 events in broken.jsonl (its unreadable last line counts too), 170 in the rest
    assert report["events"] == 185
    assert report["steps"] == {
        "total": 8,
        "by_status": {"completed": 6, "failed": 1, "expired": 1},
    }
    assert report["findings_by_rule"]["unknown-step"] == 1
    assert len(report["findings"]) == 6
    first = report["findings"][0]
    assert first == {
        "rule": "unknown-step",
        "severity": "error",
        "message": (
            "thread.run.step.delta for step 'step_Yt6nM2xQw9KbR4vLz8CdH3pF', never seen before"
        ),
        "file": BROKEN,
        "line": 6,
        "event_index": 6,
        "step_id": "step_Yt6nM2xQw9KbR4vLz8CdH3pF",
        "run_id": None,
        "path": None,
    }
    for finding in report["findings"]:
        assert set(finding) == {
            "rule",
            "severity",
            "message",
            "file",
            "line",
            "event_index",
            "step_id",
            "run_id",
            "path",
        }
        assert finding["rule"] in CATALOGUE
        assert finding["severity"] in ("error", "warning")
    assert [(f["file"], f["valid"], f["error"]) for f in report["files"]] == [
        (BROKEN, False, None),
        *((path, True, None) for path in VALID),
    ]


def test_json_output_of_clean_input_is_valid_with_no_finding(steplife: Any) -> None:
    report = steplife("validate", "--output", "json", VALID[0]).json()
    assert report["valid"] is True
    assert report["findings"] == []
    assert report["steps"] == {"total": 1, "by_status": {"completed": 1}}


def test_dash_validates_stdin(steplife: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(BROKEN_EXAMPLE.read_bytes())))
    monkeypatch.setattr(sys, "stdin", stdin)
    run = steplife("validate", "--output", "json", "-")
    assert run.code == 1
    assert [(f["file"], f["line"]) for f in run.json()["findings"]] == [
        ("<stdin>", line) for line, _ in BROKEN_LINES
    ]


def test_several_files_are_each_checked_and_reported_in_order(
    steplife: Any, tmp_path: Path
) -> None:
    dangling = write(tmp_path, "dangling.sse", sse(DANGLING))
    run = steplife("validate", "--output", "json", dangling, BROKEN, VALID[1])
    report = run.json()
    assert [f["file"] for f in report["files"]] == [dangling, BROKEN, VALID[1]]
    assert [(f["file"], f["rule"]) for f in report["findings"]][:2] == [
        (dangling, "dangling-step"),
        (BROKEN, "unknown-step"),
    ]


def test_two_jobs_give_the_same_report_as_one(steplife: Any, tmp_path: Path) -> None:
    inputs = [*VALID, BROKEN, write(tmp_path, "dangling.sse", sse(DANGLING))]
    one = steplife("validate", "--output", "json", "--jobs", "1", *inputs)
    two = steplife("validate", "--output", "json", "--jobs", "2", *inputs)
    assert (one.code, one.json()) == (two.code, two.json())


# -- rule options --------------------------------------------------------------------


def test_ignore_drops_a_rule(steplife: Any) -> None:
    failed_step = VALID[2]
    assert steplife("validate", "--output", "json", failed_step).json()["findings"]
    run = steplife(
        "validate", "--output", "json", "--ignore", "usage-without-completion", failed_step
    )
    assert run.json()["findings"] == []


def test_ignoring_every_broken_rule_makes_the_broken_example_pass(steplife: Any) -> None:
    codes = ["unknown-step", "after-terminal", "stamp-before-created", "usage-before-completion"]
    ignores = [arg for code in [*codes, "malformed-event"] for arg in ("--ignore", code)]
    run = steplife("validate", *ignores, BROKEN)
    assert run.code == 0


def test_severity_makes_a_warning_an_error(steplife: Any) -> None:
    run = steplife("validate", "--severity", "usage-without-completion=error", VALID[2])
    assert run.code == 1
    assert ": error usage-without-completion [" in run.out


def test_severity_makes_an_error_a_warning(steplife: Any) -> None:
    run = steplife(
        "validate",
        "--output",
        "json",
        "--severity",
        "unknown-step=warning",
        "--ignore",
        "after-terminal",
        "--ignore",
        "stamp-before-created",
        "--ignore",
        "usage-before-completion",
        "--ignore",
        "malformed-event",
        BROKEN,
    )
    assert run.code == 0
    assert [(f["rule"], f["severity"]) for f in run.json()["findings"]] == [
        ("unknown-step", "warning")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--severity", "unknown-step=fatal"],
            "steplife: --severity 'unknown-step=fatal': expected CODE=error or CODE=warning",
        ),
        (
            ["--severity", "unknown-step"],
            "steplife: --severity 'unknown-step': expected CODE=error or CODE=warning",
        ),
        (["--severity", "no-such-rule=error"], "steplife: unknown rule code 'no-such-rule'; "),
        (["--ignore", "no-such-rule"], "steplife: unknown rule code 'no-such-rule'; "),
    ],
)
def test_a_bad_rule_option_exits_2_with_one_line_and_no_traceback(
    steplife: Any, argv: list[str], message: str
) -> None:
    run = steplife("validate", *argv, VALID[0])
    assert run.code == 2
    assert len(run.err.splitlines()) == 1
    assert run.err.startswith(message)
    assert run.out == ""
    run.assert_no_traceback()


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--format", "xml", "x.sse"],
        ["validate", "--jobs", "many", "x.sse"],
        ["validate"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_exit_2_with_a_usage_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "steplife" in err
    assert "Traceback" not in err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.strip() == f"steplife {__version__}"


# -- modes ---------------------------------------------------------------------------


def test_strict_stops_each_input_at_its_first_error(steplife: Any) -> None:
    run = steplife("validate", "--output", "json", "--strict", BROKEN, VALID[0])
    assert run.code == 1
    assert [(f["file"], f["rule"], f["line"]) for f in run.json()["findings"]] == [
        (BROKEN, "unknown-step", 6)
    ]
    assert [f["valid"] for f in run.json()["files"]] == [False, True]


def test_require_terminal_makes_a_dangling_step_fail(steplife: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "dangling.jsonl", jsonl(DANGLING))
    assert steplife("validate", path).code == 0
    run = steplife("validate", "--require-terminal", path)
    assert run.code == 1
    assert f"{path}:6: error dangling-step [{STEP_ID}]" in run.out


def test_format_forces_a_reader_where_detection_fails(steplife: Any, tmp_path: Path) -> None:
    # A capture saved with its HTTP header line: not recognisable, but SSE all the same.
    path = write(tmp_path, "capture.txt", b"content-type: text/event-stream\n\n" + sse(DANGLING))
    assert steplife("validate", path).code == 2
    run = steplife("validate", "--output", "json", "--format", "sse", path)
    assert run.code == 0
    assert run.json()["events"] == len(DANGLING)


def test_forcing_jsonl_on_sse_reports_its_lines_as_malformed(steplife: Any) -> None:
    run = steplife("validate", "--output", "json", "--format", "jsonl", VALID[0])
    assert run.code == 1
    assert {f["rule"] for f in run.json()["findings"]} >= {"malformed-event"}


# -- bad inputs: never a traceback, never the end of the run --------------------------


def deeply_nested(levels: int = 1000) -> str:
    """JSON nested `levels` objects deep: orjson reads up to 1024 levels."""
    nested = '"x"'
    for _ in range(levels):
        nested = '{"a":' + nested + "}"
    return nested


def deep_snapshot_capture() -> bytes:
    """A created event and the identical in_progress, each with a deeply nested extra key."""
    line = jsonl([created(extra=0)]).replace(b'"extra":0', b'"extra":' + deeply_nested().encode())
    return line + line.replace(b"thread.run.step.created", b"thread.run.step.in_progress")


def deep_delta_capture() -> bytes:
    nested = deeply_nested()
    fragment = '{"index":0,"type":"function","function":{"arguments":"x"},"extra":' + nested
    line = (
        '{"event":"thread.run.step.delta","data":{"id":"step_1","delta":{"step_details":'
        '{"type":"tool_calls","tool_calls":[' + fragment + "}]}}}}\n"
    )
    return jsonl([created(details=tool_details())]) + line.encode() * 2


def corrupt_gzip(data: bytes) -> bytes:
    """A gzip member with an intact header whose deflate stream is garbage."""
    packed = gzip.compress(data)
    return packed[:20] + bytes(b ^ 0xFF for b in packed[20:40]) + packed[40:]


BAD_INPUTS: list[Any] = [
    pytest.param("garbage.bin", b"\x00\x01\x02\x03binary\xff\xfe", 2, id="binary garbage"),
    pytest.param("empty.jsonl", b"", 0, id="empty file"),
    pytest.param("blank.sse", b"\n\n\r\n", 0, id="blank lines only"),
    pytest.param("utf8.jsonl", b'{"event":"thread.created","data":"\xff"}\n', 1, id="bad utf-8"),
    pytest.param("utf8.sse", b'event: thread.created\ndata: "\xc3\x28"\n\n', 1, id="bad utf-8 sse"),
    pytest.param("array.jsonl", jsonl(lifecycle()) + b"[1, 2, 3]\n", 1, id="not an object"),
    # A first line of JSON that is no object: read as JSONL, the line flagged (exit 1).
    pytest.param("array-first.jsonl", b"[1, 2, 3]\n", 1, id="starts with no object"),
    pytest.param("nodata.jsonl", b'{"event":"thread.run.step.created"}\n', 1, id="data missing"),
    pytest.param("nodata.sse", b"event: thread.run.step.created\n\n", 1, id="sse data missing"),
    pytest.param("cut.jsonl", jsonl(lifecycle())[:-40], 1, id="truncated last line"),
    pytest.param("crlf.sse", sse(lifecycle()).replace(b"\n", b"\r\n"), 0, id="crlf"),
    pytest.param("bom.jsonl", b"\xef\xbb\xbf" + jsonl(lifecycle()), 0, id="byte order mark"),
    pytest.param("lone.sse", sse([tool_calls_delta()]), 1, id="a lone delta"),
    pytest.param("cut.gz", gzip.compress(jsonl(lifecycle() * 40))[:200], 2, id="truncated gzip"),
    pytest.param("null.jsonl", jsonl([("thread.run.step.completed", None)]), 1, id="null step"),
    pytest.param(
        "bad-gzip.gz",
        corrupt_gzip(jsonl(lifecycle() * 40)),
        2,
        id="corrupt gzip",
    ),
    pytest.param(
        "deep.jsonl",
        deep_delta_capture(),
        1,
        id="deeply nested delta",
    ),
    pytest.param(
        "deep-snapshot.jsonl",
        deep_snapshot_capture(),
        1,
        id="deeply nested snapshot",
    ),
    pytest.param(
        "huge-index.jsonl",
        jsonl(
            [
                created(details=tool_details()),
                tool_calls_delta(STEP_ID, function_fragment(2**63, call_id="c", name="f")),
            ]
        ),
        1,
        id="huge tool-call index",
    ),
    pytest.param(
        "status.jsonl",
        jsonl([created(), ("thread.run.step.in_progress", completed()[1]), completed()]),
        1,
        id="terminal status in a live event",
    ),
]


@pytest.mark.parametrize(("name", "data", "exit_status"), BAD_INPUTS)
def test_a_bad_input_never_tracebacks_nor_stops_the_other_files(
    steplife: Any, tmp_path: Path, name: str, data: bytes, exit_status: int
) -> None:
    bad = write(tmp_path, name, data)
    after = write(tmp_path, "after.jsonl", jsonl(DANGLING))
    run = steplife("validate", "--output", "json", VALID[0], bad, after)
    run.assert_no_traceback()
    assert run.code == exit_status
    report = run.json()
    assert [f["file"] for f in report["files"]] == [VALID[0], bad, after]
    assert (after, "dangling-step") in [(f["file"], f["rule"]) for f in report["findings"]]
    for error in [f["error"] for f in report["files"] if f["error"]]:
        assert unwrapped(f"steplife: {error}") in unwrapped(run.err)


@pytest.mark.parametrize("valid", [True, False], ids=["parsed", "malformed"])
def test_a_50_mb_line_is_parsed_or_reported_without_a_traceback(
    steplife: Any, tmp_path: Path, valid: bool
) -> None:
    arguments = "x" * 50_000_000
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(jsonl([created(details=tool_details())]))
        line = jsonl([tool_calls_delta(STEP_ID, function_fragment(0, call_id="c", name="f"))])
        out.write(line[: line.rindex(b'"arguments":""') + len(b'"arguments":"')])
        out.write(arguments.encode())
        out.write(b'"}}]}}}}\n' if valid else b"\n")
    try:
        run = steplife("validate", "--output", "json", str(path))
    finally:
        path.unlink()
    run.assert_no_traceback()
    findings = run.json()["findings"]
    assert len(run.out) < 10_000  # the line is never echoed back
    if valid:
        assert [f["rule"] for f in findings] == ["dangling-step"]
    else:
        assert (findings[0]["rule"], findings[0]["line"]) == ("malformed-event", 2)


# -- replay, diagram, rules ------------------------------------------------------------


def test_replay_writes_one_wire_json_step_per_line(steplife: Any, tmp_path: Path) -> None:
    out = tmp_path / "steps.jsonl"
    run = steplife("replay", "-o", str(out), VALID[1], VALID[0])
    assert run.code == 0
    lines = out.read_bytes().splitlines()
    steps = [from_json(line, RunStep) for line in lines]
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
        ("message_creation", "completed"),
    ]
    assert all(json.loads(line)["expired_at"] is None for line in lines)  # spec form
    # The only key beyond the 16 is the one the captures carry: written back as read.
    assert {"expires_at"} == {k for line in lines for k in json.loads(line)} - set(WIRE_ORDER)
    tool = steps[0].step_details
    assert tool.type == "tool_calls"
    call = tool.tool_calls[0]
    assert isinstance(call, FunctionToolCall)
    assert call.function.output is not None


def test_replay_to_stdout_writes_steps_still_in_progress_last(
    capsysbinary: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    events = [created("step_live"), *lifecycle("step_done")]
    path = write(tmp_path, "c.jsonl", jsonl(events))
    assert main(["replay", path]) == 0
    steps = [from_json(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [(s.id, s.status) for s in steps] == [
        ("step_done", "completed"),
        ("step_live", "in_progress"),
    ]


def test_replay_reports_an_unreadable_input_and_goes_on(steplife: Any, tmp_path: Path) -> None:
    out = tmp_path / "steps.jsonl"
    missing = str(tmp_path / "missing.sse")
    run = steplife("replay", "-o", str(out), missing, VALID[0])
    assert run.code == 2
    assert run.err.splitlines() == [f"steplife: {missing}: cannot open: No such file or directory"]
    assert len(out.read_bytes().splitlines()) == 1


def test_replay_of_an_invalid_stream_exits_1(steplife: Any, tmp_path: Path) -> None:
    run = steplife("replay", "-o", str(tmp_path / "steps.jsonl"), BROKEN)
    assert run.code == 1


def test_replay_to_an_unwritable_path_exits_2_with_one_line(steplife: Any, tmp_path: Path) -> None:
    run = steplife("replay", "-o", str(tmp_path / "no" / "such" / "dir.jsonl"), VALID[0])
    assert run.code == 2
    assert len(run.err.splitlines()) == 1


def test_diagram_prints_the_committed_diagram(steplife: Any) -> None:
    run = steplife("diagram")
    assert run.code == 0
    assert (REPO / "docs" / "diagrams" / "run-step.mmd").read_text() == run.out


def test_rules_lists_every_code_with_its_severity(steplife: Any) -> None:
    run = steplife("rules")
    assert run.code == 0
    for rule in CATALOGUE.values():
        row = re.search(rf"(?m)^.*\b{re.escape(rule.code)}\b.*$", run.out)
        assert row is not None, rule.code
        assert re.search(rf"\s{rule.severity.value}\s", row.group())


# -- the installed command -------------------------------------------------------------


def installed_steplife() -> str:
    """The console script next to this interpreter, else the one on PATH."""
    found = shutil.which("steplife", path=str(Path(sys.executable).parent)) or shutil.which(
        "steplife"
    )
    if found is None:
        pytest.skip("the steplife command is not installed")
    return found


def run_installed(*argv: str, stdin: bytes = b"") -> Run:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [installed_steplife(), *argv],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def test_the_installed_command_validates_the_examples() -> None:
    run = run_installed("validate", "examples/broken.jsonl", "examples/message-step.sse")
    assert run.code == 1
    assert "examples/broken.jsonl:6: error unknown-step" in run.out
    run.assert_no_traceback()


def test_the_installed_command_reads_stdin() -> None:
    run = run_installed("validate", "--output", "json", "-", stdin=BROKEN_EXAMPLE.read_bytes())
    assert run.code == 1
    assert {f["file"] for f in run.json()["findings"]} == {"<stdin>"}
    assert len(run.json()["findings"]) == len(BROKEN_LINES)


def test_the_installed_command_gives_the_same_report_with_two_jobs() -> None:
    inputs = ["examples/broken.jsonl", *(str(p.relative_to(REPO)) for p in VALID_EXAMPLES)]
    one = run_installed("validate", "--output", "json", "--jobs", "1", *inputs)
    two = run_installed("validate", "--output", "json", "--jobs", "2", *inputs)
    assert one.code == two.code == 1
    assert one.json() == two.json()


def test_the_installed_command_rejects_a_bad_severity_in_one_line() -> None:
    run = run_installed("validate", "--severity", "unknown-step=loud", "examples/broken.jsonl")
    assert run.code == 2
    assert run.err.splitlines() == [
        "steplife: --severity 'unknown-step=loud': expected CODE=error or CODE=warning"
    ]
    run.assert_no_traceback()


def test_the_installed_command_survives_every_readable_bad_input(tmp_path: Path) -> None:
    paths = []
    for param in BAD_INPUTS:
        name, data, _ = param.values
        if not param.marks:
            paths.append(write(tmp_path, name, data))
    run = run_installed("validate", "--output", "json", *paths, "examples/broken.jsonl")
    run.assert_no_traceback()
    assert run.code == 2
    report = run.json()
    assert [f["file"] for f in report["files"]] == [*paths, "examples/broken.jsonl"]
    assert [f["line"] for f in report["findings"] if f["file"] == "examples/broken.jsonl"] == [
        line for line, _ in BROKEN_LINES
    ]


def test_the_installed_command_lists_the_rules() -> None:
    run = run_installed("rules")
    assert run.code == 0
    assert all(code in run.out for code in CATALOGUE)


def test_usage_errors_never_mix_with_findings_on_stdout(steplife: Any) -> None:
    run = steplife("validate", "--output", "json", "--ignore", "nope", BROKEN)
    assert run.out == ""
    assert run.code == 2


def test_forcing_sse_on_a_jsonl_file_is_an_input_error(steplife: Any, tmp_path: Path) -> None:
    """A JSONL capture read as SSE has no SSE event at all: exit 2, not a silent pass."""
    path = write(tmp_path, "capture.jsonl", jsonl(lifecycle()))
    run = steplife("validate", "--format", "sse", path)
    assert 2 == run.code
    assert "no SSE event" in run.err
    assert 1 == len(run.err.strip().splitlines())


# -- runs in the reports -----------------------------------------------------------------


RUN_ENDS_WITH_STEP_OPEN = [*run_start(), created(), in_progress(), run_event("completed"), DONE]
RUN_EXPIRES_WITH_STEP_OPEN = [*run_start(), created(), in_progress(), run_event("expired"), DONE]
STEPS_ALONE = [*lifecycle(), DONE]
NO_RUNS = {"total": 0, "by_status": {}, "steps_per_run": {}}


def test_json_output_counts_runs_by_status_and_steps_per_run(steplife: Any) -> None:
    """The examples' five runs: one per input, broken.jsonl's cut short while in progress."""
    report = steplife("validate", "--output", "json", BROKEN, *VALID).json()
    assert report["runs"] == {
        "total": 5,
        "by_status": {"in_progress": 1, "completed": 2, "failed": 1, "expired": 1},
        "steps_per_run": {"1": 3, "2": 1, "3": 1},
    }
    assert list(report["runs"]["steps_per_run"]) == ["1", "2", "3"]


def test_json_output_without_run_events_has_empty_runs(steplife: Any, tmp_path: Path) -> None:
    report = steplife(
        "validate", "--output", "json", write(tmp_path, "s.jsonl", jsonl(STEPS_ALONE))
    )
    assert report.json()["runs"] == NO_RUNS
    assert report.json()["steps"] == {"total": 1, "by_status": {"completed": 1}}


def documented_fields() -> list[str]:
    """The field paths the JSON table of docs/cli.md documents (``files[]``, ``runs.total``)."""
    section = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## JSON output")[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"(?m)^\| `([a-z_\[\].]+)` \|", section)


def resolve(report: Any, path: str) -> bool:
    """Whether the documented `path` (``a.b``, ``a[].b``) exists in `report`."""
    values = [report]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part.removesuffix("[]")
        if not all(isinstance(v, dict) and key in v for v in values):
            return False
        values = [v[key] for v in values]
        if many:
            values = [item for v in values for item in v]
    return True


def test_every_documented_json_field_is_in_the_output_and_every_key_documented(
    steplife: Any,
) -> None:
    """docs/cli.md's field table and the real output agree, the runs fields included."""
    report = steplife("validate", "--output", "json", BROKEN, *VALID).json()
    fields = documented_fields()

    assert {"runs.total", "runs.by_status", "runs.steps_per_run"} <= set(fields)
    assert [field for field in fields if not resolve(report, field)] == []
    assert {field.split(".")[0].removesuffix("[]") for field in fields} == set(report)
    assert {f.split(".")[1] for f in fields if f.startswith("runs.")} == set(report["runs"])


def test_text_output_shows_runs_by_status_and_a_steps_per_run_histogram(steplife: Any) -> None:
    run = steplife("validate", BROKEN, *VALID)
    rows = {
        tuple(cell.strip() for cell in line.strip("│ ").split("│"))
        for line in run.out.splitlines()
        if line.startswith("│")
    }
    assert ("runs", "5") in rows
    assert ("run status completed", "2") in rows
    assert ("run status in_progress", "1") in rows
    assert "steps per run" in run.out
    # 3 runs with one step get the full bar; one run with 2 (or 3) steps a third of it.
    assert ("1", "3", "█" * 20) in rows
    assert ("2", "1", "█" * 7) in rows
    assert ("3", "1", "█" * 7) in rows


def test_text_output_without_run_events_shows_no_runs(steplife: Any, tmp_path: Path) -> None:
    run = steplife("validate", write(tmp_path, "steps.sse", sse(STEPS_ALONE)))
    assert run.code == 0
    assert "status completed" in run.out
    assert "run status" not in run.out
    assert "│ runs " not in run.out
    assert "steps per run" not in run.out


def test_run_rules_can_be_ignored(steplife: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "open.jsonl", jsonl(RUN_ENDS_WITH_STEP_OPEN))
    run = steplife("validate", path)
    assert run.code == 1
    assert f"{path}:6: error run-finished-with-open-steps [{STEP_ID}]" in run.out

    ignored = steplife(
        "validate", "--output", "json", "--ignore", "run-finished-with-open-steps", path
    )
    assert ignored.code == 0
    assert "run-finished-with-open-steps" not in ignored.json()["findings_by_rule"]


def test_run_rules_take_a_severity(steplife: Any, tmp_path: Path) -> None:
    open_at_end = write(tmp_path, "open.jsonl", jsonl(RUN_ENDS_WITH_STEP_OPEN))
    expired = write(tmp_path, "expired.jsonl", jsonl(RUN_EXPIRES_WITH_STEP_OPEN))

    softened = steplife(
        "validate", "--severity", "run-finished-with-open-steps=warning", open_at_end
    )
    assert softened.code == 0
    assert ": warning run-finished-with-open-steps [" in softened.out

    assert steplife("validate", expired).code == 0  # expiry-not-propagated is a warning
    hardened = steplife("validate", "--severity", "expiry-not-propagated=error", expired)
    assert hardened.code == 1
    assert f": error expiry-not-propagated [{STEP_ID}]" in hardened.out


def test_strict_stops_at_a_run_rule(steplife: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "open.jsonl", jsonl(RUN_ENDS_WITH_STEP_OPEN))
    run = steplife("validate", "--output", "json", "--strict", path)
    assert run.code == 1
    assert [(f["rule"], f["line"]) for f in run.json()["findings"]] == [
        ("run-finished-with-open-steps", 6)
    ]


# -- diagram and rules: the choices ------------------------------------------------------


@pytest.mark.parametrize("name", list(DIAGRAMS))
def test_diagram_name_prints_that_committed_diagram(steplife: Any, name: str) -> None:
    run = steplife("diagram", name)
    assert run.code == 0
    assert (REPO / DIAGRAMS[name].path).read_text(encoding="utf-8") == run.out


def test_diagram_without_a_name_is_the_step_diagram(steplife: Any) -> None:
    assert steplife("diagram").out == steplife("diagram", "step").out
    assert "  in_progress --> completed: complete" in steplife("diagram").out.splitlines()


def test_an_unknown_diagram_exits_2_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["diagram", "flowchart"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'flowchart'" in err
    assert all(f"'{name}'" in err for name in DIAGRAMS)


def test_rules_shows_each_rule_s_scope_and_never_cuts_a_code(steplife: Any) -> None:
    """Piped, one whole line per rule: no cell broken into fragments at 80 columns."""
    run = steplife("rules")
    scopes = {}
    for rule in CATALOGUE.values():
        row = re.search(rf"(?m)^{re.escape(rule.code)} +(\w+) +(\w+) +(.*)$", run.out)
        assert row is not None, rule.code
        scopes[rule.code] = row.group(1)
        assert row.group(2) == rule.severity.value
        assert row.group(3) == rule.summary
    assert scopes == {code: rule.scope for code, rule in CATALOGUE.items()}
    assert {
        "step",
        "run",
        "load",
        "stream",
        "conformance",
        "response",
        "item",
        "response_stream",
    } == set(scopes.values())
    assert scopes["schema"] == "load"
    assert scopes["run-object-type"] == "run"
    assert scopes["step-outside-run"] == "stream"


def test_the_library_never_imports_the_command() -> None:
    """The command depends on the library, never the other way: no cycle, and no rich."""
    code = (
        "import sys, steplife, steplife.store\n"
        "print(sorted(m for m in sys.modules if m.startswith(('steplife.cli', 'rich'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["validate", "replay"])
def test_an_id_that_is_no_string_is_reported_at_its_line(
    steplife: Any, tmp_path: Path, command: str
) -> None:
    """``{"id": []}`` is a malformed event with its file and line, and the next line is read."""
    lines = [
        b'{"event": "thread.run.step.in_progress", "data": {"id": []}}',
        b'{"event": "thread.run.step.created", "data": {"id": {"a": 1}}}',
    ]
    path = write(tmp_path, "bad-ids.jsonl", b"\n".join(lines) + b"\n")
    run = steplife(command, path, *(["-o", str(tmp_path / "out.jsonl")] * (command == "replay")))
    run.assert_no_traceback()
    assert run.code == 1
    if command == "validate":
        assert f"{path}:1: error malformed-event" in run.out
        assert f"{path}:2: error malformed-event" in run.out


def test_replay_says_why_it_exits_1_on_stderr_and_still_writes_the_steps(
    steplife: Any, tmp_path: Path
) -> None:
    """One line per input with errors, naming the count and where to see them."""
    broken = str(BROKEN)
    out = tmp_path / "steps.jsonl"
    run = steplife("replay", broken, "-o", str(out))
    assert run.code == 1
    assert run.err.endswith(
        f"steplife: {broken}: 5 errors found (`steplife validate` lists them); "
        "its steps are written all the same\n"
    )
    assert out.read_bytes().count(b"\n") >= 1
    clean = steplife("replay", VALID[0], "-o", str(out))
    assert (clean.code, clean.err) == (0, "")


def test_the_command_runs_as_a_module() -> None:
    """``python -m steplife.cli`` is the command, as it was when the command was one module."""
    result = subprocess.run(
        [sys.executable, "-m", "steplife.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.startswith("steplife ")) == (0, True)


def test_a_huge_id_is_shortened_in_every_message(steplife: Any, tmp_path: Path) -> None:
    """A 1 MB step id prints as a few dozen characters: the output does not grow with it."""
    huge = "step_" + "x" * 1_000_000
    details = {"step_details": {"type": "tool_calls", "tool_calls": []}}
    events = [
        {"event": "thread.run.step.delta", "data": {"id": huge, "delta": details}},
        {"event": "thread.run.step.completed", "data": {"id": huge}},
    ]
    path = write(tmp_path, "huge.jsonl", b"".join(orjson.dumps(e) + b"\n" for e in events))

    run = steplife("validate", path)

    assert run.code == 1
    assert len(run.out) < 20_000
    assert "step_xxxx" in run.out
    assert "…" in run.out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("step_1", "'step_1'"),
        ("x" * 48, repr("x" * 48)),
        ("x" * 49, repr("x" * 47 + "…")),
        (list(range(100)), repr(list(range(100)))[:47] + "…"),
    ],
    ids=["short", "at-the-limit", "over-the-limit", "not-a-string"],
)
def test_shown_cuts_a_value_to_the_limit(value: object, expected: str) -> None:
    """`shown` keeps a short value whole and cuts a long one, marking the cut with ``…``."""
    assert expected == shown(value)
    assert len(shown(value)) <= SHOWN_LIMIT + 2  # the quotes around a cut string


def test_replay_of_a_step_too_deep_to_write_says_so_and_exits_1(
    steplife: Any, tmp_path: Path
) -> None:
    """An unknown key nested 300 levels deep reads (JSON allows it) but cannot be written:
    the step is named on stderr, the others are written, and the exit status is 1."""
    name, data = completed()
    deep = b"[" * 300 + b'"x"' + b"]" * 300
    terminal = orjson.dumps({"event": name, "data": data})[:-2] + b',"deep":' + deep + b"}}"
    first = orjson.dumps({"event": created()[0], "data": created()[1]})
    path = write(tmp_path, "deep.jsonl", first + b"\n" + terminal + b"\n")

    run = steplife("replay", path)

    assert (1, "") == (run.code, run.out)
    assert f"{STEP_ID!r} cannot be written as JSON" in run.err


def test_the_steps_and_rules_tables_are_whole_lines_when_piped_at_80_columns(
    tmp_path: Path,
) -> None:
    """A pipe at 80 columns: every rule and every step on one line of its own, none cut."""
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    rules = subprocess.run(
        [sys.executable, "-m", "steplife", "rules"], capture_output=True, text=True, env=env
    )
    lines = rules.stdout.splitlines()
    assert lines[:2] == ["steplife rules", lines[1]]
    assert len(lines) == 2 + len(CATALOGUE)
    db = tmp_path / "s.db"
    long_id = "step_" + "x" * 70
    capture = write(tmp_path, "c.jsonl", jsonl([created(long_id)]))
    subprocess.run(
        [sys.executable, "-m", "steplife", "ingest", capture, "--db", str(db)],
        capture_output=True,
        env=env,
        check=True,
    )
    steps = subprocess.run(
        [sys.executable, "-m", "steplife", "steps", "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert steps.stdout.splitlines()[0] == "1 steps"
    assert steps.stdout.splitlines()[2].split() == [
        long_id,
        "in_progress",
        "message_creation",
        RUN_ID,
        str(CREATED),
        "1",
    ]


@pytest.mark.parametrize("output", ["jsonl", "github", "gitlab", "junit", "sarif"])
def test_validate_writes_each_ci_format(steplife: Any, output: str) -> None:
    """``--output FORMAT`` writes what the renderer of that name makes of the report."""
    from steplife import validate_paths
    from steplife.cli._reports import RENDERERS

    run = steplife("validate", "--output", output, str(BROKEN_EXAMPLE))
    assert run.code == 1
    expected = RENDERERS[output](validate_paths([str(BROKEN_EXAMPLE)]))
    assert run.out == expected.decode()


def test_an_undecodable_file_name_is_written_escaped_in_json(steplife: Any, tmp_path: Path) -> None:
    """A name in a foreign encoding reaches Python as lone surrogates: JSON gets escapes."""
    name = os.fsdecode(b"capture-\xff.jsonl")
    path = tmp_path / name
    path.write_bytes(jsonl(lifecycle()))
    run = steplife("validate", "--output", "json", str(path))
    assert run.code == 0
    assert run.json()["files"][0]["file"].endswith("capture-\\udcff.jsonl")
