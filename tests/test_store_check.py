"""A store keeps its word on damaged data: found, reported, and never written into.

`DatabaseStore.check`, ``open_store(check=True)`` and ``steplife check-store``, on both
backends (tables changed behind the store's back), and on SQLite with damaged pages.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import psycopg
import pytest

import storeevents as sf
from steplife.cli import main
from steplife.errors import StoreError
from steplife.store import is_postgres_dsn, open_store

pytest_plugins = ["storefixtures"]

PAGE = 4096


def _execute(db: str, sql: str) -> None:
    """Change the tables directly, as damage or a careless hand would."""
    if is_postgres_dsn(db):
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(sql.encode())
    else:
        with sqlite3.connect(db) as conn:
            conn.execute(sql)


def _count(db: str) -> int:
    with open_store(db) as store:
        return sum(s.version for s in store.steps())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A stream of 40 steps, as JSONL."""
    path = tmp_path / "capture.jsonl"
    lines = [orjson.dumps(e) for e in sf.generated(200, 40, seed=3)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def filled(db: str, capture: Path) -> str:
    """`db` with the capture ingested."""
    with open_store(db) as store:
        assert store.ingest(sf.generated(200, 40, seed=3)).ok
    return db


def _first_step(db: str) -> str:
    with open_store(db) as store:
        return max(store.steps(), key=lambda s: (s.version, s.id)).id


def test_a_healthy_store_checks_clean(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No problem in either mode; the command says so and exits 0."""
    with open_store(filled) as store:
        assert store.check() == []
        assert store.check(full=False) == []
    code, out, _ = _run(capsys, "check-store", "--db", filled)
    assert code == 0
    assert "no damage found (full check)" in out
    code, out, _ = _run(capsys, "check-store", "--db", filled, "--quick", "--output", "json")
    assert (code, json.loads(out)["ok"], json.loads(out)["problems"]) == (0, True, [])


def test_a_log_and_snapshots_that_disagree_are_reported(
    filled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing log row and an orphan one: each named with its step, exit 1."""
    step_id = _first_step(filled)
    _execute(filled, f"DELETE FROM steplife_events WHERE step_id = '{step_id}' AND version = 1")
    _execute(
        filled,
        "INSERT INTO steplife_events (step_id, version, event, payload, digest, recorded_at) "
        "VALUES ('step_orphan', 1, 'thread.run.step.created', '{}', 0, 0)",
    )
    with open_store(filled) as store:
        problems = store.check(full=False)
    assert problems[0].startswith(f"step {step_id!r}: the snapshot is at version ")
    assert "the log holds" in problems[0]
    assert problems[1] == "step 'step_orphan': the log holds events but there is no snapshot"
    code, out, _ = _run(capsys, "check-store", "--db", filled, "--output", "json")
    assert code == 1
    assert json.loads(out) == {"db": json.loads(out)["db"], "ok": False, "problems": problems}
    code, out, _ = _run(capsys, "check-store", "--db", filled)
    assert code == 1
    assert out.splitlines()[-1].startswith("2 problems found; restore the file from a backup")


def test_a_damaged_store_is_refused_before_anything_is_written(
    filled: str, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check=True`` and the writing commands refuse it; nothing is written."""
    step_id = _first_step(filled)
    _execute(filled, f"DELETE FROM steplife_events WHERE step_id = '{step_id}' AND version = 2")
    before = _count(filled)
    with pytest.raises(StoreError, match=r"the database is damaged, nothing was written: step "):
        open_store(filled, check=True)
    _execute(filled, "DELETE FROM steplife_steps")  # now a fresh ingest would write
    code, _, err = _run(capsys, "ingest", str(capture), "--db", filled)
    assert code == 2
    assert "the database is damaged, nothing was written" in err
    assert "`steplife check-store` lists every problem" in err
    code, _, err = _run(capsys, "expire-stale", "--older-than", "0s", "--db", filled)
    assert code == 2
    assert "damaged" in err
    assert _count(filled) == 0
    assert before > 0


def test_only_the_full_check_loads_every_snapshot(filled: str) -> None:
    """A snapshot that is JSON but no step passes the quick check, not the full one."""
    step_id = _first_step(filled)
    _execute(filled, f"UPDATE steplife_steps SET snapshot = '[1]' WHERE step_id = '{step_id}'")
    with open_store(filled) as store:
        assert store.check(full=False) == []
        (problem,) = store.check()
    assert problem.startswith(f"step {step_id!r}: the stored snapshot is not a step")


def test_checking_a_store_that_does_not_exist_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check-store`` reads: a missing file is a usage error, and stays missing."""
    missing = tmp_path / "missing.db"
    code, _, err = _run(capsys, "check-store", "--db", str(missing))
    assert code == 2
    assert "no store at" in err
    assert not missing.exists()


# -- SQLite: damaged pages -------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a SQLite store holding 1,200 steps (a few hundred pages)."""
    path = tmp_path_factory.mktemp("healthy") / "steps.db"
    with open_store(path) as store:
        store.ingest(sf.generated(6000, 1200, seed=2))
    return path.read_bytes()


@pytest.mark.parametrize("seed", range(8))
def test_a_page_of_garbage_anywhere_past_the_schema_is_found_and_the_file_left_alone(
    seed: int, healthy_file: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Random pages (page 1, the header and schema, was covered before): each is caught.

    Before the check at open, ``ingest`` wrote into such files when the damage lay
    in pages the write did not read.
    """
    rnd = random.Random(seed)
    page = rnd.randrange(1, len(healthy_file) // PAGE)
    data = bytearray(healthy_file)
    data[page * PAGE : (page + 1) * PAGE] = rnd.randbytes(PAGE)
    path = tmp_path / "steps.db"
    path.write_bytes(bytes(data))
    capture = tmp_path / "more.jsonl"
    more = sf.generated(50, 10, seed=99)
    capture.write_bytes(b"\n".join(orjson.dumps(e).replace(b"step_", b"other_") for e in more))

    with pytest.raises(StoreError, match="the database is damaged, nothing was written"):
        open_store(path, check=True)
    code, _, err = _run(capsys, "ingest", str(capture), "--db", str(path))
    assert (code, "damaged" in err) == (2, True)
    assert path.read_bytes() == bytes(data)
    code, out, _ = _run(capsys, "check-store", "--db", str(path), "--quick")
    assert code == 1
    assert "problem" in out


# -- SQLite: a folder that cannot be written -------------------------------------------

_AS_NOBODY = """
import json, os, sys
from steplife.errors import StoreError
from steplife.store import open_store
import steplife.store._core, steplife.store._sqlite  # loaded on first use: load them now
if os.geteuid() == 0:
    os.setuid(65534)  # nobody, once the interpreter (under /root) has loaded what it needs
name, data = json.loads(sys.argv[1])
for path in sys.argv[2:]:
    try:
        with open_store(path) as store:
            store.ingest([(name, data)])
    except StoreError as exc:
        print(exc)
"""


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users")
def test_a_folder_or_file_that_cannot_be_written_is_named_as_such() -> None:
    """A store in a folder, or a file, its user may not write: a message that says which.

    Run as an unprivileged user (root may write anywhere): as root, the child drops
    to ``nobody`` after its imports; as anyone else, the permissions suffice.
    """
    with tempfile.TemporaryDirectory() as base:
        locked = os.path.join(base, "locked")
        os.mkdir(locked)
        existing = os.path.join(locked, "old.db")
        open_store(existing).close()
        os.chmod(existing, 0o666)  # the file writable, its folder not
        read_only = os.path.join(base, "read-only.db")
        open_store(read_only).close()
        os.chmod(read_only, 0o444)
        os.chmod(locked, 0o555)
        os.chmod(base, 0o777)
        targets = [os.path.join(locked, "new.db"), existing, read_only]
        done = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, json.dumps(sf.event("created")), *targets],
            capture_output=True,
            text=True,
            check=False,
        )
        os.chmod(locked, 0o755)
    assert done.returncode == 0, done.stderr
    new, old, file = done.stdout.splitlines()
    folder_message = f"cannot write: the folder {locked} is not writable"
    assert new.startswith(f"{targets[0]}: {folder_message}")
    assert old.startswith(f"{existing}: {folder_message}")
    assert file.startswith(f"{read_only}: cannot write: the file is read-only")
