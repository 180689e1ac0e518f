"""The optimization layer in-process: the tier_cache decorator, batch processing, warming's user choice, the Redis
environment variables, and RedisTierCache's TTLs and error handling against a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest
import redis
from fastapi import HTTPException

from trademate_api.auth import User
from trademate_api.cache_memory import TierCache
from trademate_api.cache_redis import RedisTierCache, redis_urls_from_env
from trademate_api.monitor import HIT, MISS, RECORD_KEY, RequestRecord
from trademate_api.optimizer import batch_processor, fetch_in_batches, spread_over_plans, symbol_key, tier_cache
from trademate_api.settings import PREMIUM, SHARED, TIER_POLICIES, TierPolicy

from .conftest import delete_prefix


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Handlers:
    """A stand-in for routes.Endpoints: `caches` and decorated builders that count their calls."""

    def __init__(self, caches) -> None:
        self.caches = caches
        self.builds = 0

    @tier_cache("portfolio", expire_override=120)
    async def portfolio(self, rec, user_id: str) -> dict:
        self.builds += 1
        return {"user_id": user_id, "build": self.builds}

    @tier_cache("quote", key=symbol_key)
    async def quote(self, rec, symbol: str) -> dict:
        if symbol == "NOPE":
            raise HTTPException(404, "unknown symbol")
        return {"symbol": symbol}


def request(tier: str = SHARED, user_id: str = "lite-0001", **path_params) -> SimpleNamespace:
    rec = RequestRecord()
    rec.tier, rec.user = tier, User(user_id, "LITE", tier, "")
    return SimpleNamespace(scope={RECORD_KEY: rec}, path_params=path_params)


def call(endpoint, req) -> tuple[bytes | None, bytes]:
    response = asyncio.run(endpoint(req))
    return req.scope[RECORD_KEY].cache, response.body


def test_tier_cache_misses_then_hits_and_honours_expire_override():
    clock = Clock()
    policy = TierPolicy(cache_ttl_s=60.0, cache_eviction="lfu", max_batch=10, cache_ttl_jitter=0.0)  # exact TTLs
    handlers = Handlers({PREMIUM: TierCache(PREMIUM, policy, timer=clock)})
    first = call(handlers.portfolio, request(PREMIUM))
    assert first == (MISS, b'{"user_id":"lite-0001","build":1}')
    assert call(handlers.portfolio, request(PREMIUM)) == (HIT, first[1])
    clock.now += 119  # past the tier's 60 s, within the override's 120 s
    assert call(handlers.portfolio, request(PREMIUM)) == (HIT, first[1])
    clock.now += 2
    assert call(handlers.portfolio, request(PREMIUM))[0] == MISS
    assert handlers.builds == 2


def test_tier_cache_keys_by_path_symbol_and_does_not_cache_errors():
    handlers = Handlers({SHARED: TierCache(SHARED, TIER_POLICIES[SHARED])})
    assert call(handlers.quote, request(symbol="aapl")) == (MISS, b'{"symbol":"AAPL"}')
    assert call(handlers.quote, request(symbol="AAPL"))[0] == HIT
    for _ in range(2):
        req = request(symbol="nope")
        with pytest.raises(HTTPException):
            asyncio.run(handlers.quote(req))
        assert req.scope[RECORD_KEY].cache == MISS


def test_batch_processor_runs_each_batch_concurrently_and_keeps_order():
    running, peak = 0, 0

    async def double(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return item * 2

    assert asyncio.run(batch_processor(list(range(120)), double, 50)) == [n * 2 for n in range(120)]
    assert peak == 50


def test_fetch_in_batches_sends_chunks_of_the_batch_size_concurrently():
    seen: list[list[str]] = []

    async def fetch(chunk):
        seen.append(list(chunk))
        await asyncio.sleep(0)
        return [(symbol,) for symbol in chunk]

    keys = [f"S{n}" for n in range(120)]
    assert asyncio.run(fetch_in_batches(keys, fetch, 50)) == [(key,) for key in keys]
    assert [len(chunk) for chunk in seen] == [50, 50, 20]


def test_warming_spreads_its_users_over_the_plans():
    users = [SimpleNamespace(plan=plan, n=n) for plan in ("LITE", "PRO", "ELITE", "BLACK") for n in range(3)]
    chosen = spread_over_plans(users, 6)
    assert [(u.plan, u.n) for u in chosen] == [
        ("LITE", 0),
        ("PRO", 0),
        ("ELITE", 0),
        ("BLACK", 0),
        ("LITE", 1),
        ("PRO", 1),
    ]
    assert len(spread_over_plans(users, 100)) == 12


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"REDIS_URL": "redis://h:1/0"}, {"shared": "redis://h:1/0", "premium": "redis://h:1/0"}),
        (
            {"REDIS_SHARED_URL": "redis://a/0", "REDIS_PREMIUM_URL": "rediss://b/1", "REDIS_URL": "redis://c/0"},
            {"shared": "redis://a/0", "premium": "rediss://b/1"},
        ),
        (
            {"REDIS_URL": "redis://c/0", "REDIS_PREMIUM_URL": "redis://b/0"},
            {"shared": "redis://c/0", "premium": "redis://b/0"},
        ),
        ({"REDIS_SHARED_URL": "redis://a/0"}, "REDIS_PREMIUM_URL is not set"),
        ({"REDIS_URL": "http://c/0"}, "REDIS_URL='http://c/0' is not a Redis URL"),
        ({"REDIS_URL": " "}, None),
    ],
)
def test_redis_urls_come_from_the_environment(env, expected):
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            redis_urls_from_env(env)
    else:
        urls = redis_urls_from_env(env)
        assert (dict(urls) if urls else urls) == expected


def test_redis_tier_cache_stores_with_the_tiers_ttl_or_the_override(redis_urls):
    prefix = f"test-unit-{uuid.uuid4().hex[:10]}"
    errors: list[int] = []

    async def scenario() -> list:
        caches = [
            RedisTierCache(
                tier,
                TIER_POLICIES[tier],
                redis_urls[tier],
                prefix,
                exclusive=True,
                pool_size=2,
                on_error=lambda: errors.append(1),
            )
            for tier in (SHARED, PREMIUM)
        ]
        for cache in caches:
            await cache.open()
            await cache.set_many([(("quote", "AAPL"), b"a"), (("quote", "MSFT"), b"m")])
            await cache.set(("portfolio", "u1"), b"p", ttl=120)
        seen = [await cache.get_many([("quote", "AAPL"), ("quote", "NOPE"), ("portfolio", "u1")]) for cache in caches]
        for cache in caches:
            await cache.close()
        return seen

    try:
        assert asyncio.run(scenario()) == [[b"a", None, b"p"]] * 2
        for tier, ttl in ((SHARED, 300), (PREMIUM, 60)):
            shortest = 1 - TIER_POLICIES[tier].cache_ttl_jitter  # each entry lives its own share of the TTL
            with redis.Redis.from_url(redis_urls[tier]) as client:
                assert ttl * shortest - 5 < client.pttl(f"trademate:{prefix}:{tier}:quote:MSFT") / 1000 <= ttl
                assert 120 * shortest - 5 < client.pttl(f"trademate:{prefix}:{tier}:portfolio:u1") / 1000 <= 120
        assert errors == []
    finally:
        for url in redis_urls.values():
            delete_prefix(url, prefix)


def test_redis_errors_read_as_misses_are_counted_and_pause_redis():
    """Nothing listens on the port: each failure is counted once, then Redis is skipped until the pause is over."""
    clock, errors = Clock(), []
    cache = RedisTierCache(
        SHARED,
        TIER_POLICIES[SHARED],
        "redis://127.0.0.1:1/0",
        "x",
        exclusive=True,
        pool_size=2,
        on_error=lambda: errors.append(1),
        timer=clock,
    )

    async def scenario() -> list:
        await cache.open()  # fails: counted, start-up goes on
        seen = [await cache.get(("quote", "AAPL")), await cache.get_many([("a", "1"), ("b", "2")])]
        await cache.set(("quote", "AAPL"), b"a")
        clock.now += 1.5  # the pause is over: the next operation probes Redis again
        seen.append(await cache.get(("quote", "AAPL")))
        await cache.close()
        return seen

    assert asyncio.run(scenario()) == [None, [None, None], None]
    assert len(errors) == 2  # open, and the probe after the pause; the calls in between did not touch Redis


def test_a_refused_write_is_counted_but_reads_go_on(scratch_redis):
    """A full server under noeviction refuses writes (OOM): that is no outage, so Redis is not paused."""
    server = scratch_redis("--maxmemory-policy", "noeviction")
    with server.client() as client:
        client.set("trademate:full:shared:quote:AAPL", b"a")
        client.config_set("maxmemory", "1")
    errors: list[int] = []
    cache = RedisTierCache(
        SHARED,
        TIER_POLICIES[SHARED],
        server.url,
        "full",
        exclusive=False,
        pool_size=2,
        on_error=lambda: errors.append(1),
    )

    async def scenario() -> list:
        await cache.open()
        await cache.set(("quote", "MSFT"), b"m")
        await cache.set_many([(("quote", "KO"), b"k")])
        seen = [await cache.get(("quote", "AAPL")), await cache.get_many([("quote", "AAPL"), ("quote", "MSFT")])]
        await cache.close()
        return seen

    assert asyncio.run(scenario()) == [b"a", [b"a", None]]
    assert len(errors) == 2
