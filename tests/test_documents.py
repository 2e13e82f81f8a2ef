"""Validating JSON documents: a step, a run, a list page; pretty-printed or on one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers import REAL_FIXTURES, make_step, require_real_fixtures
from steplife import Rules, to_dict, validate_file
from steplife._documents import Document, check_document, split_document
from steplife.cli import main
from steplife.model import Usage
from streams import run_object


def step_object(step_id: str = "step_1", **changes: Any) -> dict[str, Any]:
    """A completed step as a get response returns it: no ``metadata``, ``expires_at`` null."""
    step = make_step(id=step_id, status="completed", completed_at=1_700_000_005)
    step.usage = Usage.of(prompt_tokens=10, completion_tokens=5)
    data = to_dict(step)
    data.update(changes)
    del data["metadata"]
    data["expires_at"] = None
    return data


def list_page(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(items),
        "first_id": items[0].get("id") if items else None,
        "last_id": items[-1].get("id") if items else None,
        "has_more": False,
    }


def write(tmp_path: Path, name: str, value: Any, *, indent: int | None = 2) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value, indent=indent))
    return str(path)


def test_a_pretty_printed_list_page_is_checked_object_by_object(tmp_path: Path) -> None:
    """Each item of the page loads as its record; statuses are counted, nothing flagged."""
    path = write(tmp_path, "steps.json", list_page(step_object("a"), step_object("b")))

    report = validate_file(path)

    assert (2, {"completed": 2}, (), None) == (
        report.events,
        report.statuses,
        report.findings,
        report.error,
    )


def test_a_broken_item_is_named_by_its_place_in_the_page(tmp_path: Path) -> None:
    """The finding says which item, at the document's first line."""
    broken = step_object("b")
    del broken["step_details"]
    path = write(tmp_path, "steps.json", list_page(step_object("a"), broken))

    report = validate_file(path)

    expected = [("schema", 1, "data[1]: step_details: missing")]
    assert expected == [(f.rule, f.line, f.message) for f in report.findings]


def test_an_item_that_is_no_object_replaces_the_bare_dollar(tmp_path: Path) -> None:
    """``$`` in a message becomes the item's place, so it reads ``data[0]: expected ...``."""
    path = write(tmp_path, "page.json", {"object": "list", "data": [[1]]})

    report = validate_file(path)

    expected = ["data[0]: expected an object, got an array"]
    assert expected == [f.message for f in report.findings]


def test_a_single_run_object_counts_as_a_run(tmp_path: Path) -> None:
    """A get-run response is a run, checked with the run rules."""
    path = write(tmp_path, "run.json", run_object("completed"))

    report = validate_file(path)

    assert ({"completed": 1}, {}, ()) == (report.run_statuses, report.statuses, report.findings)


def test_a_one_line_step_object_is_a_document_too(tmp_path: Path) -> None:
    """A bare object on one line (no ``event`` key) is read whole, not as a JSONL line."""
    path = write(tmp_path, "step.json", step_object(), indent=None)

    report = validate_file(path)

    assert (1, {"completed": 1}, ()) == (report.events, report.statuses, report.findings)


def test_a_document_breaking_a_rule_reports_the_rule(tmp_path: Path) -> None:
    """Rules apply as they do to a loaded record (here usage-missing on a completed step)."""
    path = write(tmp_path, "step.json", step_object(usage=None))

    report = validate_file(path)

    assert ["usage-missing"] == [f.rule for f in report.findings]


def test_a_truncated_pretty_printed_document_is_one_finding(tmp_path: Path) -> None:
    """Not one finding per line: one that says it is a JSON document that does not parse."""
    text = json.dumps(list_page(step_object("a")), indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])

    report = validate_file(str(path))

    assert 1 == len(report.findings)
    finding = report.findings[0]
    assert ("malformed-event", 1) == (finding.rule, finding.line)
    assert finding.message.startswith("a JSON document that is not valid JSON (")


def test_jsonl_of_bare_objects_is_still_read_line_by_line(tmp_path: Path) -> None:
    """Two bare objects, one per line, are no single document: each line says what it is."""
    path = tmp_path / "bare.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(step_object(i)) for i in ("a", "b")) + b"\n")

    report = validate_file(str(path))

    assert [1, 2] == [f.line for f in report.findings]
    assert all("bare thread.run.step object" in f.message for f in report.findings)


def test_format_json_insists_on_one_document(tmp_path: Path) -> None:
    """``fmt="json"`` on a JSONL stream gives one finding, not a replay."""
    event = {"event": "thread.run.step.created", "data": step_object()}
    path = tmp_path / "two.jsonl"
    path.write_bytes(orjson.dumps(event) + b"\n" + orjson.dumps(event) + b"\n")

    report = validate_file(str(path), fmt="json")

    assert ["malformed-event"] == [f.rule for f in report.findings]
    assert 0 == report.events


def test_an_input_longer_than_the_limit_is_read_as_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document is held in memory whole; past the limit the lines stream as JSONL."""
    monkeypatch.setattr("steplife._documents.DOCUMENT_LIMIT", 10)
    path = write(tmp_path, "big.json", step_object())

    report = validate_file(path)

    assert report.findings
    assert {"malformed-event"} == {f.rule for f in report.findings}


def test_a_byte_order_mark_does_not_hide_a_document(tmp_path: Path) -> None:
    """Editors on Windows write a BOM before the JSON: it is no content."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(step_object(), indent=2).encode())

    report = validate_file(str(path))

    assert (1, ()) == (report.events, report.findings)


def test_strict_stops_at_the_first_object_with_an_error() -> None:
    """As a strict replay stops at its first error, so does a strict document check."""
    bad = step_object("a")
    del bad["id"]
    document = Document(list_page(bad, bad), 1)

    strict = check_document(document, "f.json", Rules(), strict=True)
    collect = check_document(document, "f.json", Rules())

    assert (1, 2) == (strict.objects, collect.objects)


def test_a_stream_is_given_back_unread_for_the_stream_readers() -> None:
    """An event line first: no document, and the lines come back whole and in order."""
    lines = [b"\n", b'{"event": "done", "data": "[DONE]"}\n', b"more\n"]

    document, rest = split_document(lines)

    assert (None, lines) == (document, list(rest))


def test_validate_reads_a_list_page_from_the_command(tmp_path: Path) -> None:
    """``steplife validate page.json`` exits 0 for a clean page and 1 for a broken one."""
    clean = write(tmp_path, "clean.json", list_page(step_object("a")))
    broken = write(tmp_path, "broken.json", list_page(step_object("a", status="done")))

    assert (0, 1) == (main(["validate", clean]), main(["validate", broken]))


@pytest.mark.skipif(not REAL_FIXTURES.exists(), reason="real fixtures folder is absent")
def test_every_real_get_and_list_response_is_read_as_a_document() -> None:
    """The real get and list responses give no error: each object is checked and loads.

    The hand-edited ``browser`` tool call loads as what it is, with a warning.
    """
    folder = require_real_fixtures()
    responses = [
        path
        for path in sorted(folder.rglob("*.json"))
        if not path.name.startswith("_") and "Delta" not in path.name
    ]
    assert len(responses) >= 10

    reports = [validate_file(str(path)) for path in responses]

    assert [] == [f for r in reports for f in r.findings if f.rule == "malformed-event"]
    assert [] == [f.message for r in reports for f in r.findings if f.is_error]
    assert sum(r.events for r in reports) >= 50
