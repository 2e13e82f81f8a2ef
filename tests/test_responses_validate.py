"""`steplife validate` on Responses inputs: told apart from Assistants ones, read in every shape."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from responses_streams import (
    RESPONSE_ID,
    drop_event,
    message,
    reasoning,
    response,
    stream,
    to_jsonl,
    to_sse,
)
from steplife import validate_file
from steplife.responses._events import EVENTS, detect_api
from steplife.responses._validate import speaks_responses


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


SHAPES = {
    "sse": lambda events: to_sse(events),
    "sse-without-event-lines": lambda events: (
        b": OPENROUTER PROCESSING\n\n" + to_sse(events, event_lines=False) + b"data: [DONE]\n\n"
    ),
    "jsonl": lambda events: to_jsonl(events),
    "jsonl-bare": lambda events: to_jsonl(events, bare=True),
    "json-array": lambda events: orjson.dumps(
        [data for _, data in events], option=orjson.OPT_INDENT_2
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_of_a_clean_stream_validates_clean(tmp_path: Path, shape: str) -> None:
    events = stream([reasoning(0), message(1)])
    report = validate_file(write(tmp_path, "capture", SHAPES[shape](events)))
    assert (None, ()) == (report.error, report.findings)
    assert len(events) + (shape == "sse-without-event-lines") == report.events  # and [DONE]
    assert {"completed": 1} == report.run_statuses
    assert {"done": 1, "completed": 1} == report.statuses
    assert {2: 1} == report.steps_per_run


@pytest.mark.parametrize("shape", ["sse", "sse-without-event-lines", "jsonl", "jsonl-bare"])
def test_a_broken_stream_is_reported_with_its_line(tmp_path: Path, shape: str) -> None:
    events = drop_event(stream(), "response.output_item.done")
    report = validate_file(write(tmp_path, "capture", SHAPES[shape](events)))
    [finding] = report.findings
    assert "response-finished-with-open-items" == finding.rule
    assert finding.line is not None
    assert finding.event_index == len(events)


def test_a_gzipped_stream(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path, "capture.sse.gz", gzip.compress(to_sse(stream()))))
    assert () == report.findings


def test_strict_stops_at_the_first_error(tmp_path: Path) -> None:
    events = stream()
    broken = events[:4] + events[5:]  # a lost delta: a gap, and it goes on
    report = validate_file(write(tmp_path, "c.sse", to_sse(broken + broken[-1:])), strict=True)
    assert ["sequence-gap"] == [f.rule for f in report.findings]


def test_require_terminal(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path, "c.sse", to_sse(stream()[:-2])), require_terminal=True)
    assert [("dangling-response", "error")] == [(f.rule, f.severity.value) for f in report.findings]
    assert 1 == report.dangling


def test_an_sse_event_without_blank_line_is_noted(tmp_path: Path) -> None:
    text = to_sse(stream()).replace(
        b"\n\nevent: response.in_progress", b"\nevent: response.in_progress"
    )
    report = validate_file(write(tmp_path, "c.sse", text))
    assert ["sse-missing-blank-line"] == [f.rule for f in report.findings]


def test_unreadable_lines_are_malformed(tmp_path: Path) -> None:
    sse = to_sse(stream()).replace(b'data: {"type":"response.output_text.delta"', b"data: {oops", 1)
    jsonl = to_jsonl(stream()) + b"[1, 2]\n{oops\n"
    assert ["malformed-event", "sequence-gap"] == [
        f.rule for f in validate_file(write(tmp_path, "c.sse", sse)).findings
    ]
    assert ["malformed-event", "malformed-event"] == [
        f.rule for f in validate_file(write(tmp_path, "c.jsonl", jsonl)).findings
    ]


def test_a_response_document_and_a_list_page(tmp_path: Path) -> None:
    done = response("completed", output=[message(0, "completed")])
    broken = response(
        "in_progress", usage={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    )
    one = validate_file(write(tmp_path, "one.json", orjson.dumps(done, option=orjson.OPT_INDENT_2)))
    assert ((), {"completed": 1}, {"completed": 1}) == (
        one.findings,
        one.run_statuses,
        one.statuses,
    )
    page = {"object": "list", "data": [done, broken]}
    listed = validate_file(write(tmp_path, "page.json", orjson.dumps(page)))
    assert [
        "data[1]: usage is set while the response is in_progress; it stays null until it ends"
    ] == [f.message for f in listed.findings]


def test_detect_api_reads_the_first_event() -> None:
    def api(text: bytes) -> str:
        return detect_api(iter(text.splitlines(keepends=True)))[1]

    assert "responses" == api(b"event: response.created\ndata: {}\n")
    assert "responses" == api(b': comment\n\ndata: {"type":"response.created"}\n')
    assert "responses" == api(b'{"type":"response.created"}\n')
    assert "responses" == api(b'{"event":"error","data":{}}\n')
    assert "assistants" == api(b"event: thread.run.step.created\n")
    assert "assistants" == api(b'{"event":"thread.run.created","data":{}}\n')
    assert "assistants" == api(b"data: [1]\n")
    assert "assistants" == api(b"data: {oops\n")
    assert "assistants" == api(b"garbage\n")
    assert "assistants" == api(b"")
    lines, _ = detect_api(iter([b"id: 1\n", b"event: response.created\n"]))
    assert [b"id: 1\n", b"event: response.created\n"] == list(lines)


def test_speaks_responses_tells_objects_from_events() -> None:
    assert "objects" == speaks_responses(response())
    assert "objects" == speaks_responses({"object": "list", "data": [response()]})
    assert "events" == speaks_responses([{"type": "response.created"}])
    assert speaks_responses([]) is None
    assert speaks_responses({"object": "thread.run"}) is None


def test_assistants_inputs_are_untouched(tmp_path: Path) -> None:
    """A step stream still goes to the Assistants Tracker."""
    from streams import created, jsonl

    report = validate_file(write(tmp_path, "steps.jsonl", jsonl([created()])))
    assert ["dangling-step"] == [f.rule for f in report.findings]


def test_the_command_validates_a_responses_stream(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.sse", to_sse(stream()))
    broken = write(
        tmp_path, "broken.sse", to_sse(drop_event(stream(), "response.output_item.done"))
    )
    run = subprocess.run(
        [sys.executable, "-m", "steplife", "validate", "--output", "json", clean, broken],
        capture_output=True,
        check=False,
    )
    assert 1 == run.returncode, run.stderr
    report = json.loads(run.stdout)
    rules = [f["rule"] for f in report["findings"]]
    assert ["response-finished-with-open-items"] == rules
    assert RESPONSE_ID == report["findings"][0]["run_id"]


def test_the_event_table_is_the_sdk_s() -> None:
    """Every event of openai's ResponseStreamEvent is known, and nothing else but one."""
    import typing

    from openai.types.responses import ResponseStreamEvent

    union = typing.get_args(ResponseStreamEvent)[0]
    names = {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}
    assert set(EVENTS) - names == {"response.cancelled"}
    assert names <= set(EVENTS)


def test_item_events_name_their_item(tmp_path: Path) -> None:
    """Each item event of the SDK carries output_index, and an item_id where the table says."""
    import typing

    from openai.types.responses import ResponseStreamEvent

    union = typing.get_args(ResponseStreamEvent)[0]
    for model in typing.get_args(union):
        name = typing.get_args(model.model_fields["type"].annotation)[0]
        spec: Any = EVENTS[name]
        if spec.kind in ("item", "status"):
            assert "output_index" in model.model_fields, name
