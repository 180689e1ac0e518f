"""The embedded SQLite equivalents of the PostgreSQL optimizations: summary tables rebuilt on the tiers' schedules,
and per-tier statement timeouts that interrupt a slow statement."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from tests.api.conftest import start_api
from trademate_api import db, seed
from trademate_api.monitor import RequestRecord
from trademate_api.settings import TIER_POLICIES
from trademate_api.timeouts import DatabaseTimeout

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT count(*) FROM c"


@pytest.fixture
def store(tmp_path: Path):
    path = tmp_path / "store.sqlite3"
    db.create_and_seed(path, seed.generate(3, 11))
    store = db.SqliteStore(path, TIER_POLICIES)
    yield store
    asyncio.run(store.close())


def record(tier: str) -> RequestRecord:
    rec = RequestRecord()
    rec.tier = tier
    return rec


@pytest.mark.parametrize("tier", ["premium", "shared"])
def test_slow_statement_is_interrupted_at_the_tier_timeout(store: db.SqliteStore, tier: str):
    rec = record(tier)
    with pytest.raises(DatabaseTimeout) as raised:
        store._fetch(rec, SLOW)
    assert raised.value.tier == tier
    assert rec.db_seconds >= TIER_POLICIES[tier].statement_timeout_ms / 1000
    assert store._fetch(rec, "SELECT 1") == [(1,)]  # the connection stays usable


def test_tierless_statement_has_no_timeout(store: db.SqliteStore):
    assert store._fetch(RequestRecord(), SLOW) == [(1_000_000,)]


def test_summary_tables_match_the_live_portfolio(store: db.SqliteStore):
    rec = record("premium")
    portfolio = asyncio.run(store.portfolio(rec, "elite-0001"))
    (count, cost, value, realized, _day), top = asyncio.run(store.summary(rec, "elite-0001"))
    assert count == len(portfolio)
    assert cost == pytest.approx(sum(row[1] * row[2] for row in portfolio))
    assert value == pytest.approx(sum(row[1] * row[4] for row in portfolio))
    assert realized == pytest.approx(sum(row[3] for row in portfolio))
    largest = sorted(((row[0], row[1] * row[4]) for row in portfolio), key=lambda item: -item[1])[:3]
    assert [symbol for symbol, _ in top] == [symbol for symbol, _ in largest]
    assert [value for _, value in top] == pytest.approx([value for _, value in largest])
    assert asyncio.run(store.analytics(rec, "elite-0001")) == portfolio


@pytest.mark.integration
def test_summary_tables_are_rebuilt_on_each_tiers_schedule(tmp_path: Path):
    path = tmp_path / "api.sqlite3"
    running = start_api(tmp_path, "--db", str(path), "--refresh-premium-s", "0.3", "--refresh-shared-s", "0.9")
    seen: dict[str, list[str]] = {"premium": [], "shared": []}
    deadline = time.monotonic() + 2.2
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            while time.monotonic() < deadline:
                for tier, refreshed_at in conn.execute("SELECT tier, refreshed_at FROM summary_refresh_log"):
                    if not seen[tier] or seen[tier][-1] != refreshed_at:
                        seen[tier].append(refreshed_at)
                time.sleep(0.03)
    finally:
        assert running.stop() == 0
    assert len(seen["premium"]) >= 5, seen  # every 0.3 s
    assert 2 <= len(seen["shared"]) <= 4, seen  # every 0.9 s
