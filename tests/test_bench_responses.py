"""The Responses replay benchmark measures what it claims: a clean stream, the same events counted.

Small sizes only, and no timing is asserted: the figures are `make bench`'s to report.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

import storeevents
from steplife import validate_file

ROOT = storeevents.BENCHMARKS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
responses: Any = importlib.import_module("benchmarks.responses")
run: Any = importlib.import_module("benchmarks.run")


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(responses, "DATA", tmp_path)
    return tmp_path


def test_the_stream_is_a_clean_responses_stream_the_floor_reads_whole(data: Path) -> None:
    path = responses.stream_file(3000)
    report = validate_file(str(path))
    assert () == report.findings
    assert report.run_statuses == {"completed": sum(report.run_statuses.values())}
    with path.open("rb") as lines:
        assert (report.events, 0) == responses.floor_validate(lines)


def test_the_floor_counts_what_it_cannot_follow() -> None:
    lines = [
        b'data: {"type":"response.output_text.delta","output_index":0}\n',
        b"data: {oops\n",
        b'data: {"type":"response.completed"}\n',
    ]
    assert (3, 3) == responses.floor_validate(lines)


def test_the_figures_and_their_target(data: Path) -> None:
    figures = responses.replay_rates(2000, repeat=1)
    assert 0 == figures["errors_found"]
    assert figures["share_of_floor"] == pytest.approx(
        figures["steplife_events_per_s"] / figures["floor_events_per_s"]
    )
    assert ("share_of_floor", ">= 0.25") == run.TARGETS["Responses stream replay"]


def test_the_stream_is_the_same_each_time(data: Path, tmp_path: Path) -> None:
    other = tmp_path / "again.sse"
    responses.write(other, 500)
    assert other.read_bytes() == responses.stream_file(500).read_bytes()
