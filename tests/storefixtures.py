"""Fixtures for the step-store tests, as a pytest plugin module.

Test modules load it with ``pytest_plugins = ["storefixtures"]``. The `db` fixture
is parametrised over both backends, so every test that takes it runs on SQLite and
on PostgreSQL. PostgreSQL needs ``STEPLIFE_TEST_POSTGRES_DSN``; without it (or with
the server down) its tests are skipped, unless ``STEPLIFE_REQUIRE_POSTGRES=1``,
which makes them fail. Each PostgreSQL test gets a schema of its own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from steplife.store import DatabaseStore, open_store

ENV_DSN = "STEPLIFE_TEST_POSTGRES_DSN"
ENV_REQUIRE = "STEPLIFE_REQUIRE_POSTGRES"


# -- backends --------------------------------------------------------------------------


def with_schema(dsn: str, schema: str) -> str:
    """`dsn` with its search_path set to `schema`, and `schema` as application name."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("options", "application_name")]
    query += [("options", f"-csearch_path={schema}"), ("application_name", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The test server's DSN, checked reachable; skipped (or failed, when required) if not."""
    dsn = os.environ.get(ENV_DSN)
    required = os.environ.get(ENV_REQUIRE) == "1"
    if not dsn:
        reason = f"{ENV_DSN} is not set: no PostgreSQL server to test against"
        if required:
            pytest.fail(f"{ENV_REQUIRE}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {dsn} is unreachable: {exc}"
        if required:
            pytest.fail(f"{ENV_REQUIRE}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return dsn


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A DSN whose tables live in a fresh schema of their own, dropped afterwards."""
    schema = f"steplife_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(pg_server, schema)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            # Leftover sessions of a failed test must not keep the schema alive.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (schema,),
            )
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "steps.db")
    dsn: str = request.getfixturevalue("pg_dsn")
    return dsn


@pytest.fixture
def store(db: str) -> Iterator[DatabaseStore]:
    """An open store on `db`, closed after the test."""
    with open_store(db) as opened:
        yield opened
