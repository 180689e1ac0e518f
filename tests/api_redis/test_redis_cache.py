"""The API on one Redis per tier (REDIS_SHARED_URL, REDIS_PREMIUM_URL): X-Cache MISS then HIT, each tier's TTL on
the stored keys, the servers' eviction policies, warming at start-up, and hit/miss counters in /metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.api.conftest import RunningApi, start_api
from trademate_api.settings import TIER_POLICIES

from .conftest import clean_env, counter, delete_prefix, redis_key, scrape, user_id

pytestmark = pytest.mark.integration

TTL_S = {"shared": 300, "premium": 60}
TIER_OF = {"LITE": "shared", "PRO": "shared", "ELITE": "premium", "BLACK": "premium"}
WARMED_PER_PLAN = 2  # --warm-users 8 over four plans: users 0 and 1 of each plan; cold reads use users 2 to 4
SYMBOLS = ["AAPL", "MSFT", "NVDA", "JPM", "KO"]


@pytest.fixture(scope="module")
def redis_api(redis_urls, tmp_path_factory) -> Iterator[tuple[RunningApi, str]]:
    """(API, key prefix): one API for the module, each tier on its own server, 8 users warmed at start."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    env = clean_env(REDIS_SHARED_URL=redis_urls["shared"], REDIS_PREMIUM_URL=redis_urls["premium"])
    running = start_api(tmp_path_factory.mktemp("redis-api"), "--cache-prefix", prefix, "--warm-users", "8", env=env)
    yield running, prefix
    running.stop()
    for url in redis_urls.values():
        delete_prefix(url, prefix)


def ttl_s(url: str, key: str) -> float:
    with redis.Redis.from_url(url) as client:
        return client.pttl(key) / 1000


@pytest.mark.parametrize(
    ("plan", "path", "namespace"),
    [
        ("LITE", "/api/v1/portfolio", "portfolio"),
        ("ELITE", "/api/v1/portfolio", "portfolio"),
        ("PRO", "/api/v1/watchlist", "watchlist"),
        ("BLACK", "/api/v1/analytics/premium", "analytics"),
    ],
)
def test_read_misses_then_hits_and_its_key_has_the_tiers_ttl(redis_api, redis_urls, plan, path, namespace):
    api, prefix = redis_api
    tier, index = TIER_OF[plan], WARMED_PER_PLAN
    session = api.client(plan, index)
    first, second = session.get(path), session.get(path)
    assert (first.status_code, first.headers["X-Cache"], second.headers["X-Cache"]) == (200, "MISS", "HIT")
    assert second.content == first.content
    key = redis_key(prefix, tier, namespace, user_id(api, plan, index))
    assert TTL_S[tier] * (1 - TIER_POLICIES[tier].cache_ttl_jitter) - 1 < ttl_s(redis_urls[tier], key) <= TTL_S[tier]
    other = "premium" if tier == "shared" else "shared"
    assert ttl_s(redis_urls[other], redis_key(prefix, other, namespace, user_id(api, plan, index))) < 0  # absent


@pytest.mark.parametrize("plan", ["PRO", "BLACK"])
def test_quotes_are_warm_in_each_tiers_server(redis_api, redis_urls, plan):
    api, prefix = redis_api
    tier = TIER_OF[plan]
    batch = api.client(plan, 3).get("/api/v1/market/quotes", params={"symbols": ",".join(SYMBOLS)})
    assert (batch.status_code, batch.headers["X-Cache"]) == (200, "HIT")
    assert [quote["symbol"] for quote in batch.json()["quotes"]] == SYMBOLS
    single = api.client(plan, 3).get("/api/v1/market/quotes/ko")
    assert (single.headers["X-Cache"], single.json()["symbol"]) == ("HIT", "KO")
    assert 0 < ttl_s(redis_urls[tier], redis_key(prefix, tier, "quote", "KO")) <= TTL_S[tier]


@pytest.mark.parametrize("plan", ["LITE", "PRO", "ELITE", "BLACK"])
def test_warming_caches_the_documents_of_seeded_users(redis_api, plan):
    api, _prefix = redis_api
    paths = ["/api/v1/portfolio", "/api/v1/portfolio/summary", "/api/v1/watchlist"]
    paths += ["/api/v1/analytics/premium"] if TIER_OF[plan] == "premium" else []
    for index in range(WARMED_PER_PLAN):
        session = api.client(plan, index)
        assert {path: session.get(path).headers["X-Cache"] for path in paths} == dict.fromkeys(paths, "HIT")
    body = api.client(plan, 0).get("/api/v1/portfolio").json()
    assert (body["user_id"], body["plan"]) == (user_id(api, plan, 0), plan)


def test_each_tiers_server_has_its_eviction_policy(redis_api, redis_urls):
    for tier, policy in (("shared", "allkeys-lru"), ("premium", "allkeys-lfu")):
        with redis.Redis.from_url(redis_urls[tier], decode_responses=True) as client:
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": policy}


def test_metrics_parse_and_hit_and_miss_counters_move_by_tier(redis_api):
    api, _prefix = redis_api
    before = scrape(api)
    assert [api.client("PRO", 4).get("/api/v1/portfolio/summary").headers["X-Cache"] for _ in range(3)] == [
        "MISS",
        "HIT",
        "HIT",
    ]
    assert [api.client("ELITE", 4).get("/api/v1/watchlist").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    after = scrape(api)
    moved = {
        (name, tier): counter(after, name, tier) - counter(before, name, tier)
        for name in ("trademate_api_cache_hits", "trademate_api_cache_misses", "trademate_api_cache_errors")
        for tier in ("shared", "premium")
    }
    assert moved == {
        ("trademate_api_cache_hits", "shared"): 2,
        ("trademate_api_cache_hits", "premium"): 1,
        ("trademate_api_cache_misses", "shared"): 1,
        ("trademate_api_cache_misses", "premium"): 1,
        ("trademate_api_cache_errors", "shared"): 0,
        ("trademate_api_cache_errors", "premium"): 0,
    }
    assert counter(after, "trademate_api_cache_errors", "shared") == 0
    latency = after["trademate_api_latency_seconds"]
    counts = {(s.labels["tier"], s.labels["endpoint"]) for s in latency.samples if s.name.endswith("_count")}
    assert {("shared", "/api/v1/portfolio/summary"), ("premium", "/api/v1/watchlist")} <= counts
