"""The API as a process on PostgreSQL (DATABASE_URL): every endpoint, orders through the stored function, the views'
refresh schedule, and a statement timeout answered 503 and counted."""

from __future__ import annotations

import itertools
import re
import statistics
import time
from datetime import UTC, datetime

import psycopg
import pytest

from tests.api.conftest import RunningApi, server_timing
from tests.api_pg.conftest import REFRESH_PERIODS_S
from trademate_api.settings import TIER_POLICIES

pytestmark = pytest.mark.integration

USER_DOCUMENTS = ["/api/v1/portfolio", "/api/v1/portfolio/summary", "/api/v1/watchlist"]


def metric(api: RunningApi, name: str, **labels: str) -> float:
    """One sample of the API's /metrics (labels in any order); 0 when absent."""
    text = api.client().get("/metrics").text
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] == name and all(f'{k}="{v}"' in sample for k, v in labels.items()):
            return float(value)
    return 0.0


@pytest.mark.parametrize("plan", ["ELITE", "LITE"])
def test_every_endpoint_answers_2xx_from_postgres(pg_api: RunningApi, plan: str):
    client = pg_api.client(plan)
    documents = USER_DOCUMENTS + (["/api/v1/analytics/premium"] if plan == "ELITE" else [])
    for path in documents:
        miss, hit = client.get(path), client.get(path)
        assert (miss.status_code, miss.headers["X-Cache"], hit.status_code, hit.headers["X-Cache"]) == (
            200, "MISS", 200, "HIT"
        ), path  # fmt: skip
        assert server_timing(miss)["db"] > 0, path
        assert "db" not in server_timing(hit), path
    for path in ("/api/v1/market/quotes/AAPL", "/api/v1/market/quotes?symbols=AAPL,MSFT,NVDA", "/health", "/metrics"):
        assert client.get(path).status_code == 200, path
    orders = client.get("/api/v1/orders", params={"limit": 5})
    assert orders.status_code == 200
    assert server_timing(orders)["db"] > 0
    assert 1 <= orders.json()["count"] <= 5


def test_summary_and_analytics_views_agree_with_the_live_portfolio(pg_api: RunningApi):
    client = pg_api.client("BLACK", 1)
    portfolio = client.get("/api/v1/portfolio").json()
    summary = client.get("/api/v1/portfolio/summary").json()
    analytics = client.get("/api/v1/analytics/premium").json()
    assert summary["positions"] == analytics["positions"] == len(portfolio["positions"])
    assert summary["market_value"] == analytics["market_value"] == portfolio["market_value"]
    assert len(summary["top_holdings"]) == 3
    values = [holding["market_value"] for holding in summary["top_holdings"]]
    largest = sorted((position["market_value"] for position in portfolio["positions"]), reverse=True)[:3]
    assert values == largest


def test_order_is_placed_by_the_stored_function_in_its_month_partition(pg_api: RunningApi, scratch_db: str):
    client = pg_api.client("PRO", 2)
    placed = client.post("/api/v1/orders", json={"symbol": "msft", "side": "sell", "quantity": 7, "price": 401.5})
    assert placed.status_code == 201
    order = placed.json()
    assert (order["symbol"], order["side"], order["quantity"], order["price"], order["status"]) == (
        "MSFT", "sell", 7, 401.5, "accepted"
    )  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", order["created_at"])
    latest = client.get("/api/v1/orders", params={"limit": 1}).json()["orders"]
    assert latest == [order]
    with psycopg.connect(scratch_db) as conn:
        partition, user_id = conn.execute(
            "SELECT tableoid::regclass::text, user_id FROM orders WHERE order_id = %s", (order["order_id"],)
        ).fetchone()
    now = datetime.now(UTC)
    assert partition == f"orders_y{now:%Y}m{now:%m}"
    assert user_id == [row for row in pg_api.credentials if row["plan"] == "PRO"][2]["user_id"]


def test_views_refresh_on_each_tiers_schedule(pg_api: RunningApi, scratch_db: str):
    seen: dict[str, list[datetime]] = {"premium": [], "shared": []}
    deadline = time.monotonic() + 3 * REFRESH_PERIODS_S["shared"] + 0.3
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            for tier, refreshed_at in conn.execute("SELECT tier, refreshed_at FROM mv_refresh_log"):
                if not seen[tier] or seen[tier][-1] != refreshed_at:
                    seen[tier].append(refreshed_at)
            time.sleep(0.03)
    gaps = {tier: [(b - a).total_seconds() for a, b in itertools.pairwise(times)] for tier, times in seen.items()}
    assert len(gaps["premium"]) >= 5, seen
    assert len(gaps["shared"]) >= 2, seen
    for tier, period in REFRESH_PERIODS_S.items():
        assert period * 0.6 < statistics.median(gaps[tier]) < period * 1.6, (tier, gaps[tier])
    assert metric(pg_api, "trademate_api_view_refreshes_total", tier="premium", outcome="ok") >= 5
    assert metric(pg_api, "trademate_api_view_refreshes_total", tier="shared", outcome="error") == 0
    stamp = metric(pg_api, "trademate_api_view_refreshed_timestamp_seconds", tier="premium")
    assert time.time() - 5 < stamp <= time.time()


def test_statement_timeout_is_answered_503_and_counted(pg_api: RunningApi, scratch_db: str):
    """A lock held by another session keeps the portfolio read waiting until the server cancels it."""
    before = {tier: metric(pg_api, "trademate_api_db_timeouts_total", tier=tier) for tier in TIER_POLICIES}
    clients = {"premium": pg_api.client("ELITE", 4), "shared": pg_api.client("LITE", 4)}
    with psycopg.connect(scratch_db) as locker:
        locker.execute("LOCK TABLE portfolio_positions IN ACCESS EXCLUSIVE MODE")
        refused = {tier: client.get("/api/v1/portfolio") for tier, client in clients.items()}
        locker.rollback()
    for tier, reply in refused.items():
        assert reply.status_code == 503, reply.text
        assert reply.headers["Retry-After"] == "1"
        assert "timed out" in reply.json()["detail"]
        assert server_timing(reply)["db"] >= TIER_POLICIES[tier].statement_timeout_ms
        assert metric(pg_api, "trademate_api_db_timeouts_total", tier=tier) == before[tier] + 1
        assert clients[tier].get("/api/v1/portfolio").status_code == 200  # the timeout was not cached
