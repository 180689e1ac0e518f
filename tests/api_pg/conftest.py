"""Fixtures on real PostgreSQL: scratch databases per test session, fresh schemas, and the API serving from one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.api.conftest import RunningApi, start_api

# Views refresh this often in the session's API, so that a test sees their schedule in a few seconds.
REFRESH_PERIODS_S = {"premium": 0.5, "shared": 1.5}


@contextmanager
def scratch_database(pg_url: str) -> Iterator[str]:
    """URL (postgresql://...) of a database created for the caller alone, dropped on exit."""
    name = f"trademate_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(pg_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def scratch_db(pg_url: str) -> Iterator[str]:
    """The session API's database."""
    with scratch_database(pg_url) as url:
        yield url


@pytest.fixture(scope="session")
def schema_db(pg_url: str) -> Iterator[str]:
    """A database for schema tests, apart from the API's: its refreshes would keep VACUUM from marking pages
    all-visible (an open transaction holds back the xmin horizon), and with that, index-only scans."""
    with scratch_database(pg_url) as url:
        yield url


@pytest.fixture
def fresh_schema(schema_db: str) -> Iterator[str]:
    """Connection string whose search_path is a new, empty schema of the schema tests' database."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(schema_db, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield make_conninfo(schema_db, options=f"-c search_path={name}")
    with psycopg.connect(schema_db, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_api(scratch_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One API process on the scratch database (DATABASE_URL), views refreshed every REFRESH_PERIODS_S."""
    periods = [f"--refresh-{tier}-s={period}" for tier, period in REFRESH_PERIODS_S.items()]
    running = start_api(tmp_path_factory.mktemp("pg_api"), *periods, env={"DATABASE_URL": scratch_db})
    yield running
    assert running.stop() == 0, Path(running.stderr_path).read_text()
