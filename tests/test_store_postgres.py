"""What only the PostgreSQL store has to prove: connecting, and losing connections."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from steplife.errors import StoreError
from steplife.store import is_postgres_dsn, open_store
from storeevents import event, started

pytest_plugins = ["storefixtures"]

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


def _application_name(dsn: str) -> str:
    return parse_qs(urlsplit(dsn).query)["application_name"][0]


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("postgresql://u@h/db", True),
        ("postgres://u@h/db", True),
        ("postgresql.db", False),
        ("steps.db", False),
    ],
)
def test_a_dsn_prefix_selects_postgresql(db: str, expected: bool) -> None:
    """Only a postgresql:// or postgres:// DSN means PostgreSQL; the rest are files."""
    assert is_postgres_dsn(db) is expected


def test_an_unreachable_server_is_a_clear_store_error() -> None:
    """No server at the DSN: StoreError naming it, quickly."""
    started_at = time.monotonic()
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at postgresql://.*:1/"):
        open_store(UNREACHABLE, timeout=2)
    assert time.monotonic() - started_at < 10


def test_a_password_never_shows_in_messages() -> None:
    """The DSN's password is masked in errors."""
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://postgres:s3cret@127.0.0.1:1/test", timeout=2)
    assert "s3cret" not in str(caught.value)
    assert "postgres:***@127.0.0.1" in str(caught.value)


def test_psycopg_missing_is_a_store_error_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the postgres extra, the error says what to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "steplife.store._postgres", raising=False)
    with pytest.raises(StoreError, match=r"pip install 'steplife\[postgres\]'"):
        open_store(UNREACHABLE)


def test_a_missing_database_is_a_store_error(pg_server: str) -> None:
    """The server is there but the database is not."""
    dsn = urlsplit(pg_server)._replace(path="/steplife_no_such_database").geturl()
    with pytest.raises(StoreError, match="does not exist"):
        open_store(dsn)


def test_the_postgres_scheme_works_too(pg_dsn: str) -> None:
    """``postgres://`` is accepted as well as ``postgresql://``."""
    with open_store(pg_dsn.replace("postgresql://", "postgres://", 1)) as store:
        assert store.apply(*event("created", "step_a")).version == 1
        assert store.dialect == "postgresql"


def test_tables_live_in_the_schema_the_dsn_names(pg_dsn: str, pg_server: str) -> None:
    """Stores in different schemas of one database do not see each other."""
    schema = _application_name(pg_dsn)
    with open_store(pg_dsn) as store:
        store.apply(*event("created", "step_a"))
    with psycopg.connect(pg_server) as conn:
        found = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'steplife_steps'"
            " AND table_schema = %s",
            (schema,),
        ).fetchall()
    assert found == [(schema,)]


def _wait_for_lock_waiter(admin: psycopg.Connection[Any], name: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock'",
            (name,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.02)
    raise AssertionError("the store's write never waited on the lock")


def test_a_connection_killed_mid_batch_leaves_nothing_and_the_store_recovers(
    pg_dsn: str,
) -> None:
    """pg_terminate_backend in the middle of a batch: nothing of it is kept; the store reconnects.

    Another session locks step_x, so the batch writes step_a and step_b, then waits
    on step_x (rows go in step-id order): that is when its backend is terminated.
    """
    name = _application_name(pg_dsn)
    with open_store(pg_dsn) as store, psycopg.connect(pg_dsn, autocommit=True) as admin:
        store.apply(*event("created", "step_x"))
        batch = [*started("step_a"), *started("step_b"), event("in_progress", "step_x")]
        outcome: list[BaseException] = []

        def ingest() -> None:
            try:
                store.ingest(batch, batch_size=100)
            except BaseException as exc:
                outcome.append(exc)

        with psycopg.connect(pg_dsn) as blocker:
            blocker.execute("SELECT 1 FROM steplife_steps WHERE step_id = 'step_x' FOR UPDATE")
            writer = threading.Thread(target=ingest)
            writer.start()
            pid = _wait_for_lock_waiter(admin, name)
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            writer.join(timeout=30)
            blocker.rollback()
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreError)
        assert "lost the connection" in str(outcome[0])
        assert admin.execute("SELECT count(*) FROM steplife_events").fetchone() == (1,)
        assert [s.id for s in store.steps()] == ["step_x"]  # read on a fresh connection
        report = store.ingest(batch)
        assert (report.applied, report.duplicates) == (5, 0)
        assert store.get("step_x").version == 2


def test_a_store_reconnects_after_its_sessions_are_killed(pg_dsn: str) -> None:
    """Between calls, lost connections are reopened transparently."""
    name = _application_name(pg_dsn)
    with open_store(pg_dsn) as store, psycopg.connect(pg_dsn, autocommit=True) as admin:
        store.apply(*event("created", "step_a"))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        with pytest.raises(StoreError, match="lost the connection"):
            store.apply(*event("in_progress", "step_a"))
        assert store.apply(*event("in_progress", "step_a")).version == 2


def test_psycopg_unwinding_noise_does_not_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """The second error psycopg logs while unwinding a failed pipeline is dropped; others pass."""
    import logging

    from steplife.store import _postgres  # noqa: F401  (installs the filter)

    with caplog.at_level(logging.WARNING, logger="psycopg"):
        logging.getLogger("psycopg").warning("error ignored terminating %r: %s", "pipe", "gone")
        logging.getLogger("psycopg").warning("something else")

    assert ["something else"] == [r.getMessage() for r in caplog.records]
