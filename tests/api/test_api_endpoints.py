"""Every endpoint for its tier: status, body, Server-Timing, X-Cache, orders round trip and validation errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

SYMBOLS = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "MA", "UNH", "HD", "PG", "JNJ", "XOM",
    "BAC", "KO", "PEP", "COST", "WMT", "DIS", "NFLX", "ADBE", "CRM", "ORCL", "INTC", "AMD", "CSCO", "QCOM", "AVGO",
]  # fmt: skip

# (plan, user index) pairs are distinct per row so that each per-user cache starts cold
COLD_READS = [
    ("/api/v1/portfolio", "LITE", 1, "positions"),
    ("/api/v1/portfolio/summary", "PRO", 1, "market_value"),
    ("/api/v1/watchlist", "BLACK", 1, "symbols"),
    ("/api/v1/analytics/premium", "ELITE", 2, "concentration_hhi"),
]


@pytest.mark.parametrize(("path", "plan", "index", "key"), COLD_READS, ids=[row[0] for row in COLD_READS])
def test_cacheable_read_misses_with_db_time_then_hits_without(api_proc, server_timing, path, plan, index, key):
    session = api_proc.client(plan, index)
    first = session.get(path)
    assert first.status_code == 200, first.text
    assert key in first.json()
    assert first.headers["X-Cache"] == "MISS"
    assert set(server_timing(first)) == {"app", "db"}
    assert server_timing(first)["db"] <= server_timing(first)["app"]
    second = session.get(path)
    assert second.headers["X-Cache"] == "HIT"
    assert set(server_timing(second)) == {"app"}
    assert second.content == first.content


def test_portfolio_body_is_the_users_positions(api_proc):
    body = api_proc.client("PRO", 2).get("/api/v1/portfolio").json()
    assert 5 <= len(body["positions"]) <= 15
    assert {p["symbol"] for p in body["positions"]} <= set(SYMBOLS)
    assert body["market_value"] == pytest.approx(sum(p["market_value"] for p in body["positions"]), abs=0.05)


@pytest.mark.parametrize("plan", ["LITE", "BLACK"])
def test_quotes_are_warm_at_start_for_both_tiers(api_proc, server_timing, plan):
    session = api_proc.client(plan, 3)
    single = session.get("/api/v1/market/quotes/msft")
    assert single.status_code == 200
    assert single.json()["symbol"] == "MSFT"
    assert (single.headers["X-Cache"], set(server_timing(single))) == ("HIT", {"app"})
    batch = session.get("/api/v1/market/quotes", params={"symbols": ",".join(SYMBOLS)})
    assert batch.status_code == 200
    assert [quote["symbol"] for quote in batch.json()["quotes"]] == SYMBOLS
    assert batch.headers["X-Cache"] == "HIT"


def test_batch_with_an_unknown_symbol_is_a_miss_and_names_it(api_proc, server_timing):
    response = api_proc.client("LITE").get("/api/v1/market/quotes?symbols=AAPL,NOPE,aapl")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["unknown"]) == (1, ["NOPE"])
    assert response.headers["X-Cache"] == "MISS"
    assert "db" in server_timing(response)


def test_unknown_symbol_is_404(api_proc):
    response = api_proc.client("ELITE").get("/api/v1/market/quotes/NOPE")
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]


@pytest.mark.parametrize(
    ("plan", "count", "status"), [("LITE", 50, 200), ("PRO", 51, 422), ("ELITE", 100, 200), ("BLACK", 101, 422)]
)
def test_batch_size_is_limited_by_tier(api_proc, plan, count, status):
    symbols = [*SYMBOLS, *(f"X{n:03d}" for n in range(count - len(SYMBOLS)))]
    response = api_proc.client(plan).get("/api/v1/market/quotes", params={"symbols": ",".join(symbols)})
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["count"] == len(SYMBOLS)


def test_empty_batch_is_422(api_proc):
    response = api_proc.client("LITE").get("/api/v1/market/quotes?symbols=,")
    assert response.status_code == 422


def test_orders_are_not_cached_and_a_placed_order_is_listed_first(api_proc, server_timing):
    session = api_proc.client("ELITE", 3)
    listed = session.get("/api/v1/orders")
    assert listed.status_code == 200
    assert "X-Cache" not in listed.headers
    assert "db" in server_timing(listed)
    assert 3 <= listed.json()["count"] <= 8
    placed = session.post(
        "/api/v1/orders",
        json={"symbol": "nvda", "side": "sell", "quantity": 7, "price": 120.5},
    )
    assert placed.status_code == 201, placed.text
    assert "X-Cache" not in placed.headers
    assert "db" in server_timing(placed)
    order = placed.json()
    assert (order["symbol"], order["side"], order["quantity"], order["price"]) == ("NVDA", "sell", 7, 120.5)
    latest = session.get("/api/v1/orders?limit=1").json()["orders"]
    assert latest == [order]
    others = api_proc.client("ELITE", 4).get("/api/v1/orders").json()["orders"]
    assert order["order_id"] not in {o["order_id"] for o in others}


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "AAPL", "side": "buy", "quantity": 0},
        {"symbol": "AAPL", "side": "buy", "quantity": 10_001},
        {"symbol": "AAPL", "side": "buy", "quantity": 1.5},
        {"symbol": "AAPL", "side": "hold", "quantity": 1},
        {"symbol": "AAPL", "side": "buy", "quantity": 1, "price": 0},
        {"symbol": "NOPE", "side": "buy", "quantity": 1},
        {"side": "buy", "quantity": 1},
    ],
    ids=["zero", "too-many", "fraction", "side", "price", "unknown-symbol", "no-symbol"],
)
def test_invalid_order_is_422(api_proc, body):
    response = api_proc.client("PRO").post("/api/v1/orders", json=body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("limit", [0, 101, "x"])
def test_bad_orders_limit_is_422(api_proc, limit):
    assert api_proc.client("PRO").get(f"/api/v1/orders?limit={limit}").status_code == 422


def test_refused_requests_carry_server_timing_too(api_proc, server_timing):
    response = api_proc.client("LITE").get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert "app" in server_timing(response)
