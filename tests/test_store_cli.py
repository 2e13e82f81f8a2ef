"""The store's commands, on both backends: ingest, show, steps, expire-stale."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import storeevents as sf
from steplife.cli import main
from steplife.cli._store import parse_age
from steplife.store import _sqlite, open_store
from storeevents import T0, delta, event, started

pytest_plugins = ["storefixtures"]


def _jsonl(path: Path, events: list[Any]) -> Path:
    lines = []
    for e in events:
        name, data = (e["event"], e["data"]) if isinstance(e, dict) else e
        lines.append(orjson.dumps({"event": name, "data": data}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        parsed: Any = json.loads(out)
    except json.JSONDecodeError:
        parsed = out
    return code, parsed, err


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Two steps: step_a ends, step_b stays in progress (created at T0)."""
    return _jsonl(
        tmp_path / "capture.jsonl",
        [
            ("thread.run.created", {"id": "run_1"}),
            *started("step_a", created_at=T0 + 100),
            event("completed", "step_a", created_at=T0 + 100),
            *started("step_b", details=sf.function_details()),
            delta("step_b", '{"q": 1}'),
        ],
    )


def test_ingest_reports_in_json_and_a_second_run_finds_duplicates(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0; the JSON report counts events; ingesting again writes nothing."""
    code, report, _ = _run(capsys, "ingest", str(capture), "--db", db, "--output", "json")
    assert code == 0
    assert {k: report[k] for k in ("events", "applied", "duplicates", "skipped", "rejected")} == {
        "events": 7,
        "applied": 6,
        "duplicates": 0,
        "skipped": 1,
        "rejected": 0,
    }
    assert report["schema"] == 1
    assert report["ok"] is True
    code, again, _ = _run(capsys, "ingest", str(capture), "--db", db, "--output", "json")
    assert (code, again["applied"], again["duplicates"]) == (0, 0, 6)


def test_ingest_text_output_lists_findings_and_totals(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejected event: exit 1, the finding with its line, the totals."""
    path = _jsonl(tmp_path / "bad.jsonl", [delta("step_ghost", "x"), event("created", "step_a")])
    code, out, _ = _run(capsys, "ingest", str(path), "--db", db)
    assert code == 1
    assert f"{path}:1: error unknown-step [step_ghost]" in out
    assert "rejected" in out
    with open_store(db) as store:
        assert [s.id for s in store.steps()] == ["step_a"]


def test_ingest_honours_rule_options(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--severity makes a warning an error, so the event is refused."""
    name, data = event("completed", "step_a")
    data["usage"] = None
    path = _jsonl(tmp_path / "nousage.jsonl", [(name, data)])
    argv = ["ingest", str(path), "--db", db, "--output", "json"]
    code, report, _ = _run(capsys, *argv, "--severity", "usage-missing=error")
    assert (code, report["rejected"]) == (1, 1)
    code, report, _ = _run(capsys, *argv)
    assert (code, report["applied"]) == (0, 1)


def test_an_unreadable_input_exits_2_after_ingesting_the_rest(
    db: str, capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file is reported; the readable one is still ingested."""
    missing = tmp_path / "missing.jsonl"
    code, report, err = _run(
        capsys, "ingest", str(missing), str(capture), "--db", db, "--output", "json"
    )
    assert code == 2
    assert "missing.jsonl: cannot open" in err
    assert report["applied"] == 6


def test_show_prints_the_wire_step_and_its_history(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON: the step exactly as the API writes it, its version and every event."""
    _run(capsys, "ingest", str(capture), "--db", db)
    code, shown, _ = _run(capsys, "show", "step_a", "--db", db, "--output", "json")
    assert code == 0
    assert shown["step"] == sf.snapshot("step_a", "completed", created_at=T0 + 100)
    assert shown["version"] == 3
    assert [h["version"] for h in shown["history"]] == [1, 2, 3]
    assert shown["history"][2]["event"] == "thread.run.step.completed"
    code, text, _ = _run(capsys, "show", "step_b", "--db", db)
    assert code == 0
    assert '"arguments": "{\\"q\\": 1}"' in text  # the merged delta
    assert "thread.run.step.delta" in text


def test_show_of_an_unknown_step_exits_1(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not found is a clear message and status 1."""
    assert _run(capsys, "ingest", str(capture), "--db", db)[0] == 0
    code, _, err = _run(capsys, "show", "step_nope", "--db", db)
    assert code == 1
    assert "no step 'step_nope'" in err


@pytest.mark.parametrize(
    "argv", [["show", "step_1"], ["steps"], ["expire-stale", "--older-than", "5m"]]
)
def test_reading_a_store_that_does_not_exist_creates_none(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --db is an error (exit 2), not a new empty store left behind."""
    missing = tmp_path / "typo.db"
    code, _, err = _run(capsys, *argv, "--db", str(missing))
    assert code == 2
    assert err == f"steplife: no store at {missing} (check --db, or ingest into it first)\n"
    assert not missing.exists()


def test_a_value_starting_with_a_dash_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse takes '-5m' for an option: the message says how to give such a value."""
    with pytest.raises(SystemExit):
        main(["expire-stale", "--older-than", "-5m"])
    assert "needs the form --option=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["expire-stale", "--older-than=-5m"])
    assert "an age is how long ago, never negative: '-5m' (did you mean 5m?)" in (
        capsys.readouterr().err
    )


def test_steps_filters_by_status_and_run(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--status and --run narrow the list; text output shows whole ids."""
    _run(capsys, "ingest", str(capture), "--db", db)
    code, listed, _ = _run(
        capsys, "steps", "--db", db, "--status", "in_progress", "--output", "json"
    )
    assert code == 0
    assert [s["step"]["id"] for s in listed["steps"]] == ["step_b"]
    _, listed, _ = _run(capsys, "steps", "--db", db, "--run", "run_1", "--output", "json")
    assert [s["step"]["id"] for s in listed["steps"]] == ["step_b", "step_a"]
    _, listed, _ = _run(capsys, "steps", "--db", db, "--run", "run_2", "--output", "json")
    assert listed == {"steps": []}
    code, text, _ = _run(capsys, "steps", "--db", db, "--limit", "1")
    assert code == 0
    assert "step_b" in text
    assert "step_a" not in text


def test_expire_stale_expires_old_live_steps(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Steps created long ago (T0 is 2023) are expired; the finished one is left alone."""
    _run(capsys, "ingest", str(capture), "--db", db)
    code, result, _ = _run(
        capsys, "expire-stale", "--db", db, "--older-than", "10m", "--output", "json"
    )
    assert code == 0
    assert [(r["step"]["id"], r["step"]["status"], r["version"]) for r in result["expired"]] == [
        ("step_b", "expired", 4)
    ]
    code, text, _ = _run(capsys, "expire-stale", "--db", db, "--older-than", "10m")
    assert code == 0
    assert "expired 0 steps" in text


def test_a_bad_age_is_a_usage_error(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refuses the age before anything is opened."""
    with pytest.raises(SystemExit) as caught:
        main(["expire-stale", "--db", db, "--older-than", "soon"])
    assert caught.value.code == 2
    assert "not an age: 'soon'" in capsys.readouterr().err


def test_db_defaults_to_a_sqlite_file_in_the_working_directory(
    tmp_path: Path,
    capture: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --db or STEPLIFE_DB the store is ./steplife.db: no server needed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPLIFE_DB", raising=False)
    code, _, _ = _run(capsys, "ingest", str(capture))
    assert code == 0
    assert (tmp_path / "steplife.db").is_file()


def test_db_can_come_from_the_environment(
    tmp_path: Path,
    capture: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """STEPLIFE_DB names the default store."""
    monkeypatch.setenv("STEPLIFE_DB", str(tmp_path / "env.db"))
    code, _, _ = _run(capsys, "ingest", str(capture))
    assert code == 0
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize(
    "db", ["postgresql://postgres@127.0.0.1:1/test", "/nonexistent-dir/steps.db"]
)
def test_an_unusable_database_exits_2_with_a_message(
    db: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreachable server or impossible path: one line on stderr, status 2."""
    code, _, err = _run(capsys, "ingest", str(capture), "--db", db)
    assert code == 2
    assert err.startswith("steplife: ")
    assert "cannot" in err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("0.5m", 30),
    ],
)
def test_parse_age_reads_units(text: str, seconds: float) -> None:
    """Ages are numbers with an optional unit, possibly several."""
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "10 minutes", "1h 30"])
def test_parse_age_refuses_anything_else(text: str) -> None:
    """Anything that is not an age is a ValueError."""
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)


def test_a_negative_age_says_it_is_negative_and_what_was_meant() -> None:
    """A minus sign is the likely slip: the message says so instead of "not an age"."""
    with pytest.raises(ValueError, match=r"never negative: '-5m' \(did you mean 5m\?\)"):
        parse_age("-5m")


def test_timeout_bounds_the_wait_for_a_locked_file(
    tmp_path: Path, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another writer holds the file: --timeout 0.2 gives up after it, with exit 2."""
    db = str(tmp_path / "locked.db")
    assert 0 == main(["ingest", "--db", db, str(capture)])
    capsys.readouterr()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        code, _, err = _run(capsys, "ingest", "--db", db, "--timeout", "0.2", str(capture))
        waited = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert 2 == code
    assert "the database stayed locked for 0.2s" in err
    assert waited < 10  # the default would wait 30 s


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_timeout_must_be_a_positive_number_of_seconds(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["show", "--timeout=" + value, "step_1"])
    assert f"expected a number of seconds above 0, got {value!r}" in capsys.readouterr().err


def test_a_read_only_database_says_the_file_or_its_folder_is_read_only() -> None:
    """SQLite's "attempt to write a readonly database" names what to fix."""
    error = _sqlite._error(
        "s.db", sqlite3.OperationalError("attempt to write a readonly database"), 30
    )
    assert str(error).startswith(
        "s.db: cannot write: the file, or the folder it is in, is read-only"
    )


def test_ingest_warns_of_sse_framing_and_of_unknown_event_names(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ``validate`` does: the framing repair and an unknown name are warnings, exit 0."""
    created, completed = event("created"), event("completed")
    path = tmp_path / "capture.sse"
    path.write_bytes(
        b"event: " + created[0].encode() + b"\ndata: " + orjson.dumps(created[1]) + b"\n"
        b"event: thread.run.step.complete\ndata: " + orjson.dumps(completed[1]) + b"\n\n"
        b"event: " + completed[0].encode() + b"\ndata: " + orjson.dumps(completed[1]) + b"\n\n"
    )
    code, report, _ = _run(capsys, "ingest", str(path), "--db", db, "--output", "json")
    assert code == 0
    assert (report["applied"], report["skipped"], report["rejected"]) == (2, 1, 0)
    assert [(f["rule"], f["line"], f["severity"]) for f in report["findings"]] == [
        ("sse-missing-blank-line", 1, "warning"),
        ("unknown-event", 3, "warning"),
    ]
    assert "did you mean 'thread.run.step.completed'?" in report["findings"][1]["message"]
    code, _, _ = _run(
        capsys, "ingest", str(path), "--db", db, "--ignore", "unknown-event", "--output", "json"
    )
    assert code == 0


def test_ingest_from_python_warns_of_unknown_event_names_in_decoded_lines(db: str) -> None:
    """Decoded JSONL objects take the same path: the warning, and the event passed by."""
    with open_store(db) as store:
        report = store.ingest(
            [
                {"event": "thread.run.step.created", "data": event("created")[1]},
                {"event": "thread.run.stepped", "data": {"id": "run_1"}},
                {"event": "thread.message.created", "data": {"id": "msg_1"}},
            ]
        )
    assert (report.applied, report.skipped) == (1, 2)
    assert [(f.rule, f.event_index) for f in report.findings] == [("unknown-event", 2)]
