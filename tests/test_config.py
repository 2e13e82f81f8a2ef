"""Settings files, and the flags a CI job reaches for: select, exit-zero, quiet, statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from steplife.cli import main
from streams import STEP_ID, completed, created, failed, jsonl, lifecycle

# A step completed twice (after-terminal, an error) and one left open (dangling-step).
CAPTURE = jsonl([*lifecycle(), completed(), created("step_open")])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a capture, the working directory of the test."""
    (tmp_path / "capture.jsonl").write_bytes(CAPTURE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["validate", "capture.jsonl", *argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


def _rules(report: dict[str, Any]) -> dict[str, str]:
    return {f["rule"]: f["severity"] for f in report["findings"]}


def test_no_settings_file_gives_the_defaults(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = _validate(capsys, "--output", "json")
    assert code == 1
    assert _rules(report) == {"after-terminal": "error", "dangling-step": "warning"}


def test_pyproject_settings_apply_from_a_subfolder(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[tool.steplife]`` in a parent folder's pyproject.toml, found upward."""
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.steplife]\nignore = ["dangling-step"]\n'
        'severity = {after-terminal = "warning"}\noutput = "json"\n'
    )
    sub = project / "captures"
    sub.mkdir()
    (sub / "capture.jsonl").write_bytes(CAPTURE)
    monkeypatch.chdir(sub)
    code, report, _ = _validate(capsys)
    assert code == 0
    assert _rules(report) == {"after-terminal": "warning"}


def test_a_pyproject_without_the_table_is_passed_over(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ruff does: the first pyproject.toml *with* a [tool.steplife] table counts."""
    (project / "pyproject.toml").write_text("[tool.steplife]\nrequire-terminal = true\n")
    sub = project / "pkg"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    (sub / "capture.jsonl").write_bytes(CAPTURE)
    monkeypatch.chdir(sub)
    _, report, _ = _validate(capsys, "--output", "json")
    assert _rules(report)["dangling-step"] == "error"


def test_steplife_toml_wins_over_pyproject_in_the_same_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text('[tool.steplife]\nignore = ["after-terminal"]\n')
    (project / "steplife.toml").write_text('ignore = ["dangling-step"]\n')
    _, report, _ = _validate(capsys, "--output", "json")
    assert _rules(report) == {"after-terminal": "error"}


def test_the_command_line_wins_option_by_option_and_severity_code_by_code(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "steplife.toml").write_text(
        'output = "text"\nseverity = {after-terminal = "warning", dangling-step = "error"}\n'
    )
    code, report, _ = _validate(capsys, "--output", "json", "--severity", "dangling-step=warning")
    assert code == 0
    assert _rules(report) == {"after-terminal": "warning", "dangling-step": "warning"}


def test_config_names_a_file_and_isolated_reads_none(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "steplife.toml").write_text('ignore = ["after-terminal"]\n')
    other = project / "ci.toml"
    other.write_text('ignore = ["dangling-step"]\n')
    _, report, _ = _validate(capsys, "--output", "json", "--config", str(other))
    assert _rules(report) == {"after-terminal": "error"}
    _, report, _ = _validate(capsys, "--output", "json", "--isolated")
    assert set(_rules(report)) == {"after-terminal", "dangling-step"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('ignores = ["x"]\n', "steplife.toml: unknown key 'ignores' (known: ignore, select,"),
        ("jobs = true\n", "steplife.toml: jobs must be a number, not True"),
        ("ignore = [1]\n", "steplife.toml: ignore must be a list of rule codes"),
        ("ignore = [\n", "steplife.toml: not valid TOML"),
        ('output = "xml"\n', "steplife.toml: output = 'xml': expected one of text, json"),
        ("jobs = 0\n", "jobs = 0: expected a whole number of 1 or more"),
        ('ignore = ["no-such-rule"]\n', "no-such-rule"),
        ('severity = {after-terminal = "fatal"}\n', "expected error or warning"),
    ],
    ids=[
        "unknown key",
        "bool for int",
        "list of ints",
        "bad toml",
        "bad output",
        "zero jobs",
        "unknown rule",
        "bad severity",
    ],
)
def test_a_wrong_setting_is_a_usage_error_naming_the_file(
    project: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (project / "steplife.toml").write_text(content)
    code, _, err = _validate(capsys)
    assert code == 2
    assert err.startswith("steplife: ")
    assert message in err
    assert "Traceback" not in err


def test_select_runs_only_the_rules_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report, _ = _validate(capsys, "--output", "json", "--select", "dangling-step")
    assert _rules(report) == {"dangling-step": "warning"}
    (project / "steplife.toml").write_text('select = ["dangling-step", "after-terminal"]\n')
    _, report, _ = _validate(capsys, "--output", "json", "--ignore", "after-terminal")
    assert _rules(report) == {"dangling-step": "warning"}
    code, _, err = _validate(capsys, "--select", "no-such-rule")
    assert code == 2
    assert "no-such-rule" in err


def test_exit_zero_keeps_the_findings_but_not_the_failure(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = _validate(capsys, "--output", "json", "--exit-zero")
    assert code == 0
    assert report["valid"] is False
    code = main(["validate", "--exit-zero", "missing.jsonl"])
    capsys.readouterr()
    assert code == 2  # an unreadable input is no finding: still a usage error


def test_quiet_prints_the_findings_only(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _validate(capsys, "--quiet")
    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 2
    assert all(line.startswith("capture.jsonl:") for line in lines)


def test_statistics_counts_findings_by_rule(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _validate(capsys, "--statistics")
    assert code == 1
    assert out.splitlines() == ["1  error    after-terminal", "1  warning  dangling-step"]
    _, listed, _ = _validate(capsys, "--statistics", "--output", "json")
    assert listed == [
        {"rule": "after-terminal", "severity": "error", "count": 1},
        {"rule": "dangling-step", "severity": "warning", "count": 1},
    ]


def test_help_gives_exit_codes_and_every_option_a_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in (["validate"], ["ingest"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        out = capsys.readouterr().out
        for option in ("--format", "--output", "--select", "--config"):
            assert option in out
        if command == ["validate"]:
            assert "exit status:" in out
            assert "2  an input could not be read" in out
            assert "report format (default text;" in out
        else:
            assert "events written in one transaction" in out


def test_python_dash_m_steplife_is_the_command(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "steplife", "validate", "--quiet", "capture.jsonl"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"[{STEP_ID}]" in done.stdout


def test_settings_apply_to_the_store_commands_rules(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ingest`` reads the same rules: an ignored rule rejects nothing there either."""
    (project / "steplife.toml").write_text('ignore = ["after-terminal"]\n')
    (project / "capture.jsonl").write_bytes(jsonl([*lifecycle(), failed()]))  # no re-delivery
    code = main(["ingest", "capture.jsonl", "--db", str(project / "s.db"), "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["rejected"]) == (0, 0)
    code = main(["ingest", "capture.jsonl", "--db", str(project / "t.db"), "--isolated"])
    capsys.readouterr()
    assert code == 1
