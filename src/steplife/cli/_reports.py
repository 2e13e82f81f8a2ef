"""The report formats CI systems read: ``validate --output jsonl|github|gitlab|junit|sarif``.

Each renderer takes the whole `Report` and returns the bytes of one document, UTF-8
encoded, to be written as they are (``sys.stdout.buffer.write``): the XML declares
UTF-8, JSON must be UTF-8, and bytes spare the caller the terminal's encoding. The
output depends on the report alone (no clock, no absolute path added, no set order):
inputs in the order given, each input's findings in stream order, then its read
failure, if any. docs/cli.md, "Report formats for CI", describes every format.

Shared conventions:

- A finding is placed in its own ``file``, else in the input it was found in; ``<stdin>``
  (the input ``-``) is no file in the repository, so the formats that point into one
  (``github``'s ``file=``, SARIF's artifact location) leave it out.
- An input that could not be read at all (`FileReport.error`) is reported under the
  pseudo-rule ``unreadable-input`` (not a catalogue code: ``--ignore`` cannot drop it),
  as an error.
- Ids (step, run) are cut as every other output cuts them (`steplife._findings.cut`);
  messages were cut where they were made. A name that is not valid Unicode (a file name
  given in a foreign encoding) is written with backslash escapes rather than refused.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any, Final, TypeAlias
from urllib.parse import quote

import orjson

from steplife._findings import Finding, Severity, cut
from steplife._report import FileReport, Report
from steplife._rules import CATALOGUE
from steplife._version import __version__
from steplife.cli._common import finding_json, finding_text, writable

__all__ = ["RENDERERS", "UNREADABLE", "Renderer"]

Renderer: TypeAlias = Callable[[Report], bytes]
"""A report format: the whole report in, the document's UTF-8 bytes out."""

UNREADABLE: Final = "unreadable-input"
"""The rule code every format gives an input that could not be read at all."""
_STDIN: Final = "<stdin>"
_FINGERPRINT_VERSION: Final = "steplife/v1"


# -- shared ------------------------------------------------------------------------


def _file_of(finding: Finding, input_report: FileReport) -> str:
    return writable(finding.file or input_report.file)


def _repo_path(name: str) -> str | None:
    """`name` when it names a file, None for stdin."""
    return None if name == _STDIN else name


def _id(value: str | None) -> str | None:
    return None if value is None else writable(cut(value))


def _fingerprints(report: Report) -> Iterator[tuple[FileReport, Finding | None, str]]:
    """Every finding, then each input's read failure (finding None), with a stable id.

    The id hashes what the finding is about (file, rule, step, run, message) and how
    many identical ones came before it: not its line, which moves whenever a capture
    is re-recorded or an event is added above it, so the same problem would look
    fixed and new again. The count keeps two identical findings apart (GitLab shows
    one issue per fingerprint).
    """
    seen: Counter[tuple[Any, ...]] = Counter()

    def fingerprint(*key: Any) -> str:
        seen[key] += 1
        data = orjson.dumps([_FINGERPRINT_VERSION, *key, seen[key]])
        return hashlib.sha256(data).hexdigest()

    for input_report in report.files:
        for finding in input_report.findings:
            key = (
                _file_of(finding, input_report),
                finding.rule,
                _id(finding.step_id),
                _id(finding.run_id),
                writable(finding.message),
            )
            yield input_report, finding, fingerprint(*key)
        if input_report.error is not None:
            key = (
                writable(input_report.file),
                UNREADABLE,
                None,
                None,
                writable(input_report.error),
            )
            yield input_report, None, fingerprint(*key)


def _json_document(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


# -- jsonl -------------------------------------------------------------------------


def render_jsonl(report: Report) -> bytes:
    """One JSON object per line: each finding as ``--output json`` writes it, no summary.

    After an input's findings, an input that could not be read adds one line of the
    same shape, rule ``unreadable-input``, severity ``error``, the reason as message.
    A clean report is empty output.
    """
    lines = []
    for input_report in report.files:
        for finding in input_report.findings:
            lines.append(_jsonl_line(finding_json(finding)))
        if input_report.error is not None:
            unreadable = {
                "rule": UNREADABLE,
                "severity": Severity.ERROR.value,
                "message": input_report.error,
                "file": input_report.file,
                "line": None,
                "event_index": None,
                "step_id": None,
            }
            lines.append(_jsonl_line(unreadable))
    return b"".join(lines)


def _jsonl_line(fields: dict[str, Any]) -> bytes:
    cleaned = {key: writable(v) if isinstance(v, str) else v for key, v in fields.items()}
    return orjson.dumps(cleaned) + b"\n"


# -- github ------------------------------------------------------------------------

_GITHUB_COMMAND: Final = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def _github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_line(command: str, file: str | None, line: int | None, title: str, text: str) -> str:
    properties = []
    if file is not None:
        properties.append(f"file={_github_property(file)}")
    if line is not None:
        properties.append(f"line={line}")
    properties.append(f"title={_github_property(title)}")
    return f"::{command} {','.join(properties)}::{_github_data(text)}\n"


def render_github(report: Report) -> bytes:
    """One GitHub Actions workflow command per finding, which the run shows as an annotation.

    ``::error file=F,line=N,title=RULE::MESSAGE`` (``::warning`` for a warning); no
    ``line=`` without a line, no ``file=`` for stdin. An unreadable input is
    ``::error file=F,title=unreadable-input::REASON``.
    """
    out = []
    for input_report in report.files:
        for finding in input_report.findings:
            out.append(
                _github_line(
                    _GITHUB_COMMAND[finding.severity],
                    _repo_path(_file_of(finding, input_report)),
                    finding.line,
                    finding.rule,
                    writable(finding.message),
                )
            )
        if input_report.error is not None:
            file = _repo_path(writable(input_report.file))
            out.append(_github_line("error", file, None, UNREADABLE, writable(input_report.error)))
    return "".join(out).encode()


# -- gitlab ------------------------------------------------------------------------

_GITLAB_SEVERITY: Final = {Severity.ERROR: "major", Severity.WARNING: "minor"}
_GITLAB_UNREADABLE: Final = "critical"


def render_gitlab(report: Report) -> bytes:
    """A GitLab Code Quality report: a JSON array of issues, ``[]`` when clean.

    Severity: an error is ``major``, a warning ``minor``, an unreadable input
    ``critical`` (nothing in it was checked). ``location.lines.begin`` is the
    finding's line, or 1 when it has none (GitLab requires one); ``location.path``
    is ``<stdin>`` for stdin (GitLab requires one too).
    """
    issues = []
    for input_report, finding, fingerprint in _fingerprints(report):
        if finding is None:
            description, check, severity = input_report.error or "", UNREADABLE, _GITLAB_UNREADABLE
            path, line = input_report.file, None
        else:
            description, check = finding.message, finding.rule
            severity = _GITLAB_SEVERITY[finding.severity]
            path, line = _file_of(finding, input_report), finding.line
        issues.append(
            {
                "description": writable(description),
                "check_name": check,
                "fingerprint": fingerprint,
                "severity": severity,
                "location": {"path": writable(path), "lines": {"begin": line or 1}},
            }
        )
    return _json_document(issues)


# -- junit -------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, even escaped: they are written as Python would.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def _case_key(finding: Finding) -> tuple[str, str]:
    if finding.step_id is not None:
        return "step", finding.step_id
    if finding.run_id is not None:
        return "run", finding.run_id
    return "stream", ""


def _plain(finding: Finding) -> str:
    return _xml(finding_text(finding).plain)


def _junit_suite(input_report: FileReport, parent: ET.Element) -> Counter[str]:
    """Add `input_report`'s testsuite to `parent`; return its tests, failures, errors."""
    name = _xml(input_report.file)
    suite = ET.SubElement(parent, "testsuite", name=name)
    # The stream's case first, always there: a clean input still shows one passing test.
    cases: dict[tuple[str, str], list[Finding]] = {("stream", ""): []}
    for finding in input_report.findings:
        cases.setdefault(_case_key(finding), []).append(finding)
    counts: Counter[str] = Counter()
    for (kind, entity), findings in cases.items():
        title = kind if kind == "stream" else f"{kind} {_xml(_id(entity) or '')}"
        case = ET.SubElement(suite, "testcase", classname=name, name=title)
        unreadable = kind == "stream" and input_report.error is not None
        if unreadable:
            reason = _xml(input_report.error or "")
            ET.SubElement(case, "error", message=reason, type=UNREADABLE).text = reason
        failed = False
        for finding in findings:
            if finding.is_error:
                failed = True
                failure = ET.SubElement(
                    case, "failure", message=_xml(finding.message), type=finding.rule
                )
                failure.text = _plain(finding)
        warnings = [_plain(f) for f in findings if not f.is_error]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(warnings)
        counts["tests"] += 1
        # A case counts once, as an error when it could not run, else as a failure.
        if unreadable:
            counts["errors"] += 1
        elif failed:
            counts["failures"] += 1
    _set_counts(suite, counts)
    return counts


def _set_counts(element: ET.Element, counts: Counter[str]) -> None:
    for key in ("tests", "failures", "errors"):
        element.set(key, str(counts[key]))


def render_junit(report: Report) -> bytes:
    """JUnit XML: a ``<testsuite>`` per input, a ``<testcase>`` per entity with findings.

    The report keeps no list of clean steps, so an input's cases are its ``stream``
    case (always there: the findings tied to no step or run, and the input's read
    failure as ``<error type="unreadable-input">``), then ``step ID`` or ``run ID`` for
    each step or run with a finding, in the order of their first one. Every error
    finding is a ``<failure type=RULE>`` of its case, warnings are lines of its
    ``<system-out>``. ``failures`` and ``errors`` count cases (a case with three
    failures is one failed test), so passed = tests - failures - errors.
    """
    root = ET.Element("testsuites", name="steplife")
    total: Counter[str] = Counter()
    for input_report in report.files:
        total.update(_junit_suite(input_report, root))
    _set_counts(root, total)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


# -- sarif -------------------------------------------------------------------------

_SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL: Final = {Severity.ERROR: "error", Severity.WARNING: "warning"}
_RULE_INDEX: Final = {code: index for index, code in enumerate(CATALOGUE)}


def _sarif_uri(path: str) -> str:
    """`path` as a URI reference: relative as given (``/`` separated), absolute as file:."""
    pure = PurePath(path)
    if pure.is_absolute():
        return pure.as_uri()
    return quote(pure.as_posix(), safe="/")


def _sarif_locations(path: str | None, line: int | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    physical: dict[str, Any] = {"artifactLocation": {"uri": _sarif_uri(path)}}
    if line is not None:
        physical["region"] = {"startLine": line}
    return [{"physicalLocation": physical}]


def _sarif_rules() -> list[dict[str, Any]]:
    return [
        {
            "id": rule.code,
            "shortDescription": {"text": rule.summary},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
            "properties": {"scope": rule.scope},
        }
        for rule in CATALOGUE.values()
    ]


def _sarif_result(finding: Finding, input_report: FileReport, fingerprint: str) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": finding.rule}
    if finding.rule in _RULE_INDEX:
        result["ruleIndex"] = _RULE_INDEX[finding.rule]
    result["level"] = _SARIF_LEVEL[finding.severity]
    result["message"] = {"text": writable(finding.message)}
    locations = _sarif_locations(_repo_path(_file_of(finding, input_report)), finding.line)
    if locations:
        result["locations"] = locations
    result["partialFingerprints"] = {_FINGERPRINT_VERSION: fingerprint}
    properties = {
        key: value
        for key, value in (
            ("stepId", _id(finding.step_id)),
            ("runId", _id(finding.run_id)),
            ("eventIndex", finding.event_index),
            ("jsonPath", _id(finding.path)),
        )
        if value is not None
    }
    if properties:
        result["properties"] = properties
    return result


def render_sarif(report: Report) -> bytes:
    """SARIF 2.1.0: one run of the ``steplife`` tool, every catalogue rule, a result per finding.

    A result's level is the finding's severity (``error`` or ``warning``), its location
    the file as given (a relative path stays relative) and its line, when known; the
    step, run, event number and JSON path go in its ``properties``. An unreadable input
    is no result but a tool execution notification (``unreadable-input``), and makes the
    invocation's ``executionSuccessful`` false.
    """
    results = []
    notifications = []
    for input_report, finding, fingerprint in _fingerprints(report):
        if finding is not None:
            results.append(_sarif_result(finding, input_report, fingerprint))
            continue
        notification: dict[str, Any] = {
            "level": "error",
            "message": {"text": writable(input_report.error or "")},
            "descriptor": {"id": UNREADABLE, "index": 0},
        }
        locations = _sarif_locations(_repo_path(writable(input_report.file)), None)
        if locations:
            notification["locations"] = locations
        notifications.append(notification)
    invocation: dict[str, Any] = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    driver = {
        "name": "steplife",
        "version": __version__,
        "rules": _sarif_rules(),
        "notifications": [
            {
                "id": UNREADABLE,
                "shortDescription": {"text": "an input could not be read at all"},
                "defaultConfiguration": {"level": "error"},
            }
        ],
    }
    log = {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "invocations": [invocation], "results": results}],
    }
    return _json_document(log)


RENDERERS: Final[dict[str, Renderer]] = {
    "jsonl": render_jsonl,
    "github": render_github,
    "gitlab": render_gitlab,
    "junit": render_junit,
    "sarif": render_sarif,
}
"""The CI report formats by ``--output`` name; each renders a whole `Report` to bytes."""
