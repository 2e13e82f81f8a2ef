"""The report formats CI systems read: jsonl, github, gitlab, junit, sarif.

Reports come from `validate_paths` over small captures written in a temporary folder
(entered, so the paths are relative as a CI job gives them): a clean input, one with
warnings and errors about steps, a run and the stream, one whose name needs escaping,
an empty one (a finding with no line) and a missing one (an unreadable input).
"""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Final

import jsonschema
import orjson
import pytest
from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from steplife import Finding, Severity, validate_paths
from steplife._rules import CATALOGUE
from steplife._validate import FileReport, Report
from steplife._version import __version__
from steplife.cli._common import finding_json
from steplife.cli._reports import RENDERERS, UNREADABLE
from streams import completed, created, jsonl, lifecycle, run_event, run_start

SCHEMA: Final = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ODD: Final = "odd, name: 100%.jsonl"
FILES: Final = ("clean.jsonl", "broken.jsonl", ODD, "empty.jsonl", "missing.jsonl")
BROKEN: Final = [
    *run_start(),  # lines 1-3
    *lifecycle("step_1"),  # 4-6
    created("step_2"),  # 7
    completed("step_2", usage=None),  # 8: usage-missing, a warning
    run_event("failed", last_error=None),  # 9: run-failure-without-error, a run's warning
    completed("step_1"),  # 10: after-terminal, an error
    completed("step_1"),  # 11: the same error again, word for word
]
# 12: malformed-event, an error about no step or run


def write_inputs(folder: Path) -> None:
    (folder / "clean.jsonl").write_bytes(jsonl([*run_start(), *lifecycle(), run_event()]))
    (folder / "broken.jsonl").write_bytes(jsonl(BROKEN) + b"{oops\n")
    (folder / ODD).write_bytes(jsonl(lifecycle("s", status="failed", last_error=None)))
    (folder / "empty.jsonl").write_bytes(b"")


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    return validate_paths(list(FILES))


def render(name: str, report: Report) -> str:
    return RENDERERS[name](report).decode()


def one_finding(finding: Finding, file: str = "x.jsonl") -> Report:
    return Report(files=(FileReport(file=file, events=1, findings=(finding,)),))


def stdin_report(monkeypatch: pytest.MonkeyPatch, data: bytes) -> Report:
    stream = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdin", stream)
    return validate_paths(["-"])


def test_the_fixture_holds_what_the_tests_below_rely_on(report: Report) -> None:
    """Each kind of finding the formats treat apart is in the report, where expected."""
    assert [
        (f.file, f.line, f.rule, f.severity.value, f.step_id, f.run_id) for f in report.findings
    ] == [
        ("broken.jsonl", 8, "usage-missing", "warning", "step_2", None),
        ("broken.jsonl", 9, "run-failure-without-error", "warning", None, "run_1"),
        ("broken.jsonl", 10, "after-terminal", "error", "step_1", None),
        ("broken.jsonl", 11, "after-terminal", "error", "step_1", None),
        ("broken.jsonl", 12, "malformed-event", "error", None, None),
        (ODD, 3, "failure-without-error", "warning", "s", None),
        ("empty.jsonl", None, "empty-stream", "warning", None, None),
    ]
    assert report.files[1].findings[2].message == report.files[1].findings[3].message
    assert [f.file for f in report.files if f.error is not None] == ["missing.jsonl"]


def test_the_renderers_are_the_five_output_names() -> None:
    assert ["jsonl", "github", "gitlab", "junit", "sarif"] == list(RENDERERS)


@pytest.mark.parametrize("name", list(RENDERERS))
def test_every_format_gives_the_same_bytes_for_the_same_report(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing depends on time, set order or the process: two runs write the same bytes."""
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    first = RENDERERS[name](validate_paths(list(FILES)))
    assert first == RENDERERS[name](validate_paths(list(FILES), jobs=2))


@pytest.mark.parametrize("name", list(RENDERERS))
@pytest.mark.parametrize("severity", list(Severity))
def test_every_format_renders_every_severity(name: str, severity: Severity) -> None:
    finding = Finding(rule="usage-missing", severity=severity, message="m", file="x.jsonl")
    assert RENDERERS[name](one_finding(finding))


@pytest.mark.parametrize("name", list(RENDERERS))
def test_a_huge_id_does_not_grow_any_output(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are cut as in every other output: a 1 MB step id costs a few dozen bytes."""
    monkeypatch.chdir(tmp_path)
    sizes = []
    for step_id in ("s", "s" * 1_000_000):
        Path("x.jsonl").write_bytes(jsonl(lifecycle(step_id, status="failed", last_error=None)))
        sizes.append(len(RENDERERS[name](validate_paths(["x.jsonl"]))))
    assert sizes[1] - sizes[0] < 500


@pytest.mark.parametrize("name", list(RENDERERS))
def test_a_file_name_that_is_not_unicode_is_written_escaped(name: str) -> None:
    """A name given in a foreign encoding reaches Python as lone surrogates: never a crash."""
    bad = "caf\udce9.jsonl"
    report = Report(files=(FileReport(file=bad, error=f"{bad}: cannot open: gone"),))
    text = RENDERERS[name](report).decode()  # strict UTF-8
    assert "udce9.jsonl" in text


# -- jsonl -------------------------------------------------------------------------


def test_jsonl_writes_each_finding_as_the_json_output_does_then_unreadable_inputs(
    report: Report,
) -> None:
    lines = render("jsonl", report).splitlines()
    assert [orjson.loads(line) for line in lines] == [
        *(finding_json(f) for f in report.findings),
        {
            "rule": "unreadable-input",
            "severity": "error",
            "message": report.files[4].error,
            "file": "missing.jsonl",
            "line": None,
            "event_index": None,
            "step_id": None,
        },
    ]


def test_jsonl_writes_an_unreadable_input_after_that_inputs_own_findings() -> None:
    finding = Finding(rule="malformed-event", severity=Severity.ERROR, message="m", file="a")
    report = Report(
        files=(
            FileReport(file="a", findings=(finding,), error="a: read failed: boom"),
            FileReport(file="b", findings=(finding,)),
        )
    )
    rules = [orjson.loads(line)["rule"] for line in render("jsonl", report).splitlines()]
    assert ["malformed-event", "unreadable-input", "malformed-event"] == rules


def test_jsonl_of_a_clean_report_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    assert render("jsonl", validate_paths(["clean.jsonl"])) == ""


# -- github ------------------------------------------------------------------------


def test_github_writes_one_workflow_command_per_finding_and_unreadable_input(
    report: Report,
) -> None:
    error = report.files[4].error
    assert error is not None
    assert render("github", report).splitlines() == [
        "::warning file=broken.jsonl,line=8,title=usage-missing::the step completed without usage",
        "::warning file=broken.jsonl,line=9,title=run-failure-without-error::"
        "the run failed without last_error",
        "::error file=broken.jsonl,line=10,title=after-terminal::"
        "thread.run.step.completed for step 'step_1', which already ended completed",
        "::error file=broken.jsonl,line=11,title=after-terminal::"
        "thread.run.step.completed for step 'step_1', which already ended completed",
        f"::error file=broken.jsonl,line=12,title=malformed-event::{report.findings[4].message}",
        "::warning file=odd%2C name%3A 100%25.jsonl,line=3,title=failure-without-error::"
        "the step failed without last_error",
        "::warning file=empty.jsonl,title=empty-stream::no event in this input",
        f"::error file=missing.jsonl,title=unreadable-input::{error}",
    ]


def test_github_escapes_the_message_as_data_and_the_properties_further() -> None:
    finding = Finding(
        rule="a,b:c",  # no code looks like this; the escaping must hold all the same
        severity=Severity.ERROR,
        message="50% done,\r\nnext: line",
        file="x.jsonl",
        line=4,
    )
    assert render("github", one_finding(finding)) == (
        "::error file=x.jsonl,line=4,title=a%2Cb%3Ac::50%25 done,%0D%0Anext: line\n"
    )


def test_github_names_no_file_for_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    report = stdin_report(monkeypatch, jsonl(lifecycle(status="failed", last_error=None)))
    assert render("github", report) == (
        "::warning line=3,title=failure-without-error::the step failed without last_error\n"
    )


def test_github_places_a_finding_without_a_file_in_its_input() -> None:
    finding = Finding(rule="empty-stream", severity=Severity.WARNING, message="m")
    assert render("github", one_finding(finding, "in.jsonl")) == (
        "::warning file=in.jsonl,title=empty-stream::m\n"
    )


def test_github_of_a_clean_report_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    assert render("github", validate_paths(["clean.jsonl"])) == ""


# -- gitlab ------------------------------------------------------------------------


def gitlab(report: Report) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = orjson.loads(RENDERERS["gitlab"](report))
    return issues


def test_gitlab_writes_a_code_quality_issue_per_finding_and_unreadable_input(
    report: Report,
) -> None:
    issues = gitlab(report)
    assert [
        (i["check_name"], i["severity"], i["location"]["path"], i["location"]["lines"]["begin"])
        for i in issues
    ] == [
        ("usage-missing", "minor", "broken.jsonl", 8),
        ("run-failure-without-error", "minor", "broken.jsonl", 9),
        ("after-terminal", "major", "broken.jsonl", 10),
        ("after-terminal", "major", "broken.jsonl", 11),
        ("malformed-event", "major", "broken.jsonl", 12),
        ("failure-without-error", "minor", ODD, 3),
        ("empty-stream", "minor", "empty.jsonl", 1),  # no line: GitLab needs one, the first
        ("unreadable-input", "critical", "missing.jsonl", 1),
    ]
    assert [i["description"] for i in issues] == [
        *(f.message for f in report.findings),
        report.files[4].error,
    ]
    assert all(
        set(i) == {"description", "check_name", "fingerprint", "severity", "location"}
        for i in issues
    )


def test_gitlab_fingerprints_are_sha256_and_tell_identical_findings_apart(report: Report) -> None:
    fingerprints = [i["fingerprint"] for i in gitlab(report)]
    assert len(set(fingerprints)) == len(fingerprints)
    assert all(len(f) == 64 and int(f, 16) >= 0 for f in fingerprints)


def test_gitlab_fingerprints_do_not_move_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event added above a finding changes its line, not its identity in the MR widget."""
    monkeypatch.chdir(tmp_path)
    Path("x.jsonl").write_bytes(jsonl(BROKEN))
    before = gitlab(validate_paths(["x.jsonl"]))
    Path("x.jsonl").write_bytes(jsonl([("thread.message.created", {"id": "msg_0"}), *BROKEN]))
    after = gitlab(validate_paths(["x.jsonl"]))
    assert [i["location"]["lines"]["begin"] + 1 for i in before] == [
        i["location"]["lines"]["begin"] for i in after
    ]
    assert [i["fingerprint"] for i in before] == [i["fingerprint"] for i in after]


def test_gitlab_fingerprints_differ_by_file_rule_entity_and_message() -> None:
    base = Finding(rule="usage-missing", severity=Severity.WARNING, message="m", file="a")
    variants = [
        base,
        Finding(rule="usage-missing", severity=Severity.WARNING, message="m", file="b"),
        Finding(rule="dangling-step", severity=Severity.WARNING, message="m", file="a"),
        Finding(rule="usage-missing", severity=Severity.WARNING, message="n", file="a"),
        Finding(
            rule="usage-missing", severity=Severity.WARNING, message="m", file="a", step_id="s"
        ),
        Finding(rule="usage-missing", severity=Severity.WARNING, message="m", file="a", run_id="s"),
    ]
    fingerprints = {gitlab(one_finding(f))[0]["fingerprint"] for f in variants}
    assert len(variants) == len(fingerprints)


def test_gitlab_of_a_clean_report_is_an_empty_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    assert render("gitlab", validate_paths(["clean.jsonl"])) == "[]\n"


# -- junit -------------------------------------------------------------------------


def junit_cases(suite: TestSuite) -> list[TestCase]:
    return list(suite)


def test_junit_parses_as_one_suite_per_input_with_a_case_per_entity(report: Report) -> None:
    xml = JUnitXml.fromstring(RENDERERS["junit"](report))
    suites: list[TestSuite] = list(xml)
    assert [s.name for s in suites] == list(FILES)
    assert [[(c.classname, c.name) for c in junit_cases(s)] for s in suites] == [
        [("clean.jsonl", "stream")],
        [
            ("broken.jsonl", "stream"),
            ("broken.jsonl", "step step_2"),
            ("broken.jsonl", "run run_1"),
            ("broken.jsonl", "step step_1"),
        ],
        [(ODD, "stream"), (ODD, "step s")],
        [("empty.jsonl", "stream")],
        [("missing.jsonl", "stream")],
    ]


def test_junit_fails_a_case_once_per_error_finding_with_the_rule_as_type(report: Report) -> None:
    broken = list(JUnitXml.fromstring(RENDERERS["junit"](report)))[1]
    results = {
        c.name: [(type(r), r.type, r.message) for r in c.result] for c in junit_cases(broken)
    }
    after = "thread.run.step.completed for step 'step_1', which already ended completed"
    assert results == {
        "stream": [(Failure, "malformed-event", report.findings[4].message)],
        "step step_2": [],
        "run run_1": [],
        "step step_1": [(Failure, "after-terminal", after), (Failure, "after-terminal", after)],
    }
    step_1 = junit_cases(broken)[3]
    assert [r.text for r in step_1.result] == [
        f"broken.jsonl:{line}: error after-terminal [step_1] {after}" for line in (10, 11)
    ]


def test_junit_writes_warnings_in_the_cases_system_out(report: Report) -> None:
    suites = list(JUnitXml.fromstring(RENDERERS["junit"](report)))
    outs = {(s.name, c.name): c.system_out for s in suites for c in junit_cases(s)}
    assert outs[("broken.jsonl", "step step_2")] == (
        "broken.jsonl:8: warning usage-missing [step_2] the step completed without usage"
    )
    assert outs[("broken.jsonl", "run run_1")] == (
        "broken.jsonl:9: warning run-failure-without-error the run failed without last_error"
    )
    assert (
        outs[("empty.jsonl", "stream")]
        == "empty.jsonl: warning empty-stream no event in this input"
    )
    assert outs[("broken.jsonl", "step step_1")] is None
    assert outs[("clean.jsonl", "stream")] is None


def test_junit_makes_an_unreadable_input_an_error_of_its_stream_case(report: Report) -> None:
    missing = list(JUnitXml.fromstring(RENDERERS["junit"](report)))[4]
    [case] = junit_cases(missing)
    [error] = case.result
    assert isinstance(error, Error)
    assert (UNREADABLE, report.files[4].error) == (error.type, error.message)


def test_junit_counts_cases_so_passed_is_tests_minus_failures_and_errors(report: Report) -> None:
    """A case with two failures is one failed test, as the JUnit schemas define the count."""
    root = ET.fromstring(RENDERERS["junit"](report))
    assert root.tag == "testsuites"
    counts = [
        (s.get("name"), s.get("tests"), s.get("failures"), s.get("errors"))
        for s in root.iter("testsuite")
    ]
    assert counts == [
        ("clean.jsonl", "1", "0", "0"),
        ("broken.jsonl", "4", "2", "0"),
        (ODD, "2", "0", "0"),
        ("empty.jsonl", "1", "0", "0"),
        ("missing.jsonl", "1", "0", "1"),
    ]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "2", "1")
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert len(cases) == int(suite.get("tests", ""))
        failed = [c for c in cases if c.find("failure") is not None and c.find("error") is None]
        assert len(failed) == int(suite.get("failures", ""))
        assert len([c for c in cases if c.find("error") is not None]) == int(
            suite.get("errors", "")
        )


def test_junit_is_utf8_xml_with_a_declaration(report: Report) -> None:
    output = RENDERERS["junit"](report)
    assert output.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites")
    assert output.endswith(b"</testsuites>\n")


def test_junit_writes_what_xml_cannot_carry_as_escapes() -> None:
    finding = Finding(
        rule="malformed-event", severity=Severity.ERROR, message="a\x00b\x1bc", file="x.jsonl"
    )
    root = ET.fromstring(RENDERERS["junit"](one_finding(finding)))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "a\\x00b\\x1bc" == failure.get("message")


# -- sarif -------------------------------------------------------------------------


def sarif(report: Report) -> dict[str, Any]:
    log: dict[str, Any] = orjson.loads(RENDERERS["sarif"](report))
    return log


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = orjson.loads(SCHEMA.read_bytes())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def test_sarif_is_valid_against_the_official_2_1_0_schema(
    report: Report, sarif_validator: jsonschema.Draft4Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = Report(files=(FileReport(file="clean.jsonl", events=3),))
    for each in (report, clean, stdin_report(monkeypatch, b"")):
        errors = [e.message for e in sarif_validator.iter_errors(sarif(each))]
        assert errors == []


def test_the_sarif_schema_check_does_catch_a_broken_log(
    report: Report, sarif_validator: jsonschema.Draft4Validator
) -> None:
    """The schema is no rubber stamp: a result with an unknown level is refused."""
    log = sarif(report)
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not sarif_validator.is_valid(log)


def test_sarif_names_the_tool_and_describes_every_catalogue_rule(report: Report) -> None:
    log = sarif(report)
    assert (log["$schema"], log["version"]) == (
        "https://json.schemastore.org/sarif-2.1.0.json",
        "2.1.0",
    )
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("steplife", __version__)
    assert driver["rules"] == [
        {
            "id": rule.code,
            "shortDescription": {"text": rule.summary},
            "defaultConfiguration": {"level": rule.severity.value},
            "properties": {"scope": rule.scope},
        }
        for rule in CATALOGUE.values()
    ]


def test_sarif_writes_a_located_result_per_finding(report: Report) -> None:
    [run] = sarif(report)["runs"]
    results = run["results"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["ruleId"] for r in results] == [f.rule for f in report.findings]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    assert [r["level"] for r in results] == [f.severity.value for f in report.findings]
    assert [r["message"]["text"] for r in results] == [f.message for f in report.findings]
    assert [r["locations"] for r in results] == [
        [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    **({} if line is None else {"region": {"startLine": line}}),
                }
            }
        ]
        for uri, line in [
            *(("broken.jsonl", line) for line in (8, 9, 10, 11, 12)),
            ("odd%2C%20name%3A%20100%25.jsonl", 3),  # a URI reference, relative as given
            ("empty.jsonl", None),
        ]
    ]


def test_sarif_keeps_the_step_run_event_and_path_in_the_results_properties(
    report: Report,
) -> None:
    results = sarif(report)["runs"][0]["results"]
    assert [r.get("properties") for r in results] == [
        {"stepId": "step_2", "eventIndex": 8},
        {"runId": "run_1", "eventIndex": 9},
        {"stepId": "step_1", "eventIndex": 10},
        {"stepId": "step_1", "eventIndex": 11},
        {"eventIndex": 12},
        {"stepId": "s", "eventIndex": 3},
        None,
    ]


def test_sarif_fingerprints_are_gitlabs(report: Report) -> None:
    results = sarif(report)["runs"][0]["results"]
    assert [r["partialFingerprints"]["steplife/v1"] for r in results] == [
        i["fingerprint"] for i in gitlab(report)[:-1]
    ]


def test_sarif_reports_an_unreadable_input_as_a_failed_execution(report: Report) -> None:
    [run] = sarif(report)["runs"]
    assert run["invocations"] == [
        {
            "executionSuccessful": False,
            "toolExecutionNotifications": [
                {
                    "level": "error",
                    "message": {"text": report.files[4].error},
                    "descriptor": {"id": "unreadable-input", "index": 0},
                    "locations": [
                        {"physicalLocation": {"artifactLocation": {"uri": "missing.jsonl"}}}
                    ],
                }
            ],
        }
    ]
    assert run["tool"]["driver"]["notifications"][0]["id"] == "unreadable-input"


def test_sarif_of_inputs_all_read_is_a_successful_execution() -> None:
    clean = Report(files=(FileReport(file="clean.jsonl", events=3),))
    [run] = sarif(clean)["runs"]
    assert (run["invocations"], run["results"]) == ([{"executionSuccessful": True}], [])


def test_sarif_gives_a_finding_from_stdin_no_location(monkeypatch: pytest.MonkeyPatch) -> None:
    report = stdin_report(monkeypatch, jsonl(lifecycle(status="failed", last_error=None)))
    [result] = sarif(report)["runs"][0]["results"]
    assert "locations" not in result
    assert result["properties"] == {"stepId": "step_1", "eventIndex": 3}


def test_sarif_writes_an_absolute_path_as_a_file_uri(tmp_path: Path) -> None:
    path = tmp_path / "a b.jsonl"
    path.write_bytes(b"")
    [result] = sarif(validate_paths([str(path)]))["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert path.as_uri() == uri
    assert uri.startswith("file:///")
    assert uri.endswith("/a%20b.jsonl")
