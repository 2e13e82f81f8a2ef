"""The real Responses recordings (../shared/fixtures/real-responses), validated where they are.

They are never copied into the project; every test here is skipped, with the reason, when
that folder is absent. Each recording container (openai-dotnet SessionRecords in JSON,
pydantic-ai VCR cassettes in YAML, one SSE literal) is opened and each body it recorded is
validated: a streamed body as a stream (detected as Responses by `validate_file`), a JSON
response object with the response and item rules. Bodies that are no response at all (an
HTTP error, a deletion receipt, a file upload) are counted and left aside.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from helpers import REPO
from steplife import Severity, validate_file
from steplife.responses import ResponseTracker, parse
from steplife.responses._events import feed_response_sse

REAL_RESPONSES: Final = REPO.parent / "shared" / "fixtures" / "real-responses"
MISSING: Final = "real fixtures folder ../shared/fixtures/real-responses is absent"

EXPECTED_WARNINGS: Final = {
    # Three MCP tool lists are added, each closed by its own `.completed` event; only the
    # last gets output_item.done (SOURCES.md finding 8).
    "test_openai_responses_model_mcp_list_tools_stream_backfills_missing_results": [
        "item-done-missing",
        "item-done-missing",
    ],
    # OpenRouter's final response names its reasoning item by another temporary id than
    # the one it streamed (`rs_tmp_...`): the place and type agree.
    "test_openai_responses_raw_cot_stream_openrouter": ["snapshot-diverged"],
}


def containers() -> list[Path]:
    if not REAL_RESPONSES.is_dir():
        return []
    return sorted(
        p
        for p in REAL_RESPONSES.rglob("*")
        if p.is_file() and "derived-sse" not in p.parts and p.name != "SOURCES.md"
    )


def derived() -> list[Path]:
    if not REAL_RESPONSES.is_dir():
        return []
    return sorted((REAL_RESPONSES / "derived-sse").glob("*.sse"))


def params(paths: list[Path]) -> list[Any]:
    found = [pytest.param(p, id=p.name) for p in paths]
    return found or [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]


def bodies(path: Path) -> Iterator[tuple[str, Any]]:
    """Each body a container recorded: ``("sse", bytes)`` or ``("json", value)``."""
    if path.suffix == ".sse":
        yield "sse", path.read_bytes()
    elif path.suffix == ".json":
        for entry in json.loads(path.read_text(encoding="utf-8"))["Entries"]:
            body = entry["ResponseBody"]
            if type(body) is list:
                yield "sse", "".join(body).encode()
            else:
                yield "json", body
    elif path.suffix == ".yaml":
        yaml = pytest.importorskip("yaml")
        for interaction in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
            recorded = interaction["response"]
            if "parsed_body" in recorded:
                yield "json", recorded["parsed_body"]
            else:
                yield "sse", recorded["body"]["string"].encode()


def expected_warnings(path: Path) -> list[str]:
    return next((w for key, w in EXPECTED_WARNINGS.items() if key in path.name), [])


@pytest.mark.parametrize("path", params(containers()))
def test_every_recorded_body_validates_without_an_error(path: Path, tmp_path: Path) -> None:
    """Streams replay clean, response objects check clean; the warnings are the known quirks."""
    warnings: list[str] = []
    validated = 0
    for number, (kind, body) in enumerate(bodies(path)):
        if kind == "sse":
            capture = tmp_path / f"body{number}.sse"
            capture.write_bytes(body)
            report = validate_file(str(capture))
            assert report.error is None
            assert report.run_statuses, "detected as a Responses stream"
            findings = list(report.findings)
        elif type(body) is dict and body.get("object") == "response":
            findings = list(parse(body).findings)
        else:
            continue  # an HTTP error body, a deletion receipt, an uploaded file
        validated += 1
        assert [] == [f.message for f in findings if f.severity is Severity.ERROR]
        warnings += [f.rule for f in findings]
    assert expected_warnings(path) == warnings
    if "http_error" not in path.name:
        assert validated, "each recording but the HTTP error carries a response"


@pytest.mark.parametrize("path", params(derived()))
def test_every_derived_stream_validates_without_an_error(path: Path) -> None:
    report = validate_file(str(path))
    assert [] == [f.message for f in report.findings if f.is_error]
    assert expected_warnings(path) == [f.rule for f in report.findings]
    assert 0 == report.dangling


def sse_events(path: Path, entry: int) -> list[tuple[str, Any, Any]]:
    body = "".join(json.loads(path.read_text(encoding="utf-8"))["Entries"][entry]["ResponseBody"])
    events: list[tuple[str, Any, Any]] = []
    feed_response_sse(
        body.encode().splitlines(keepends=True),
        None,
        lambda name, data, where: events.append((name, data, where)),
        lambda event: pytest.fail(f"unreadable: {event}"),
    )
    return events


def real(name: str) -> Path:
    path = REAL_RESPONSES / "openai__openai-dotnet" / name
    if not path.is_file():
        pytest.skip(MISSING)
    return path


@pytest.mark.parametrize(
    ("name", "after"),
    [("CanStreamBackgroundResponses.json", 1), ("CanUseStreamingBackgroundResponses.json", 2)],
)
def test_a_stream_cut_then_resumed_is_one_clean_lifecycle(name: str, after: int) -> None:
    """The first stream read up to `after`, then the recorded resumption (starting_after)."""
    path = real(name)
    first, resumed = sse_events(path, 0), sse_events(path, 2)
    assert after + 1 == resumed[0][1]["sequence_number"]
    tracker = ResponseTracker()
    for event in first[: after + 1]:
        tracker.feed_at(*event)
    tracker.resume(starting_after=after)
    for event in resumed:
        tracker.feed_at(*event)
    tracker.finish()
    assert [] == tracker.findings
    assert {"completed": 1} == dict(tracker.response_statuses)


def test_a_whole_stream_then_its_resumption_replays_nothing_twice() -> None:
    """Resuming after a number already read: the replayed events are checked for order only."""
    path = real("CanStreamBackgroundResponses.json")
    tracker = ResponseTracker()
    for event in sse_events(path, 0):
        tracker.feed_at(*event)
    tracker.resume(starting_after=1)
    for event in sse_events(path, 2):
        tracker.feed_at(*event)
    tracker.finish()
    assert [] == tracker.findings


def test_the_same_stream_fed_twice_without_resume_is_reported() -> None:
    path = real("StreamingResponses.json")
    tracker = ResponseTracker()
    for event in sse_events(path, 0) * 2:
        tracker.feed_at(*event)
    events = len(sse_events(path, 0))
    assert ["sequence-repeated"] * events == [f.rule for f in tracker.findings]


def polled(path: Path) -> list[dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    interactions = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    return [i["response"]["parsed_body"] for i in interactions]


@pytest.mark.parametrize(
    "name",
    [
        "test_background_mode_vcr.yaml",
        "test_background_mode_streaming_without_starting_after_vcr.yaml",
    ],
)
def test_polled_background_responses_are_one_clean_lifecycle(name: str) -> None:
    """POST then GETs of a background response: queued, in_progress, completed (or still queued)."""
    path = REAL_RESPONSES / "pydantic__pydantic-ai" / name
    if not path.is_file():
        pytest.skip(MISSING)
    tracker = ResponseTracker()
    for snapshot in polled(path):
        tracker.poll(snapshot)
    assert [] == tracker.findings


def test_a_cancelled_background_response_polled() -> None:
    path = real("CanCancelBackgroundResponses.json")
    tracker = ResponseTracker()
    for entry in json.loads(path.read_text(encoding="utf-8"))["Entries"]:
        tracker.poll(entry["ResponseBody"])
    tracker.finish()
    assert [] == tracker.findings
    assert {"cancelled": 1} == dict(tracker.response_statuses)
