"""Eviction for real: scratch Redis servers with a tiny maxmemory, given their tier's policy by the API at start-up,
filled far beyond it. LFU (premium) keeps the keys read often even when they were read long ago; LRU (shared) keeps
the keys read lately. With a single REDIS_URL, both tiers share one server and its one policy."""

from __future__ import annotations

import os
import time

import pytest

from .conftest import redis_key, scrape, user_id

pytestmark = pytest.mark.integration

MAXMEMORY = ("--maxmemory", "2mb", "--maxmemory-policy", "noeviction", "--maxmemory-samples", "10")  # API sets policy
FILLER = b"x" * 1024
FILL_KEYS = 4000  # about 5 MB of values: more than twice what 2 MB leaves after Redis's own ~1 MB


def fill(server, prefix: str, tier: str, start: int, count: int) -> list[str]:
    """Write `count` filler keys of this API's tier straight into Redis (entries nobody reads)."""
    keys = [redis_key(prefix, tier, "filler", str(n)) for n in range(start, start + count)]
    with server.client() as client, client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, FILLER, px=60_000)
        pipe.execute()
    return keys


def fill_to(server, prefix: str, tier: str, fraction: float) -> list[str]:
    """Filler keys until they take `fraction` of the room Redis had left under its maxmemory; nothing is evicted."""
    keys: list[str] = []
    with server.client() as client:
        memory = client.info("memory")
        limit = memory["used_memory"] + fraction * (memory["maxmemory"] - memory["used_memory"])
        while client.info("memory")["used_memory"] < limit:
            keys += fill(server, prefix, tier, len(keys), 50)
    assert evicted(server) == 0
    return keys


def surviving(server, keys: list[str]) -> int:
    with server.client() as client:
        return client.exists(*keys)


def evicted(server) -> int:
    with server.client() as client:
        return client.info("stats")["evicted_keys"]


def test_tiers_get_their_policy_and_evict_by_frequency_or_recency(scratch_redis, launch_redis_api):
    shared, premium = scratch_redis(*MAXMEMORY), scratch_redis(*MAXMEMORY)
    prefix = f"evict-{os.getpid()}"
    api = launch_redis_api(prefix, {"shared": shared.url, "premium": premium.url})
    for server, policy in ((shared, "allkeys-lru"), (premium, "allkeys-lfu")):
        with server.client() as client:
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": policy}

    # premium, LFU: read two keys often, then flood the server without reading them again
    elite = api.client("ELITE", 0)
    for _ in range(60):
        assert elite.get("/api/v1/portfolio").status_code == elite.get("/api/v1/market/quotes/AAPL").status_code == 200
    hot = [
        redis_key(prefix, "premium", "portfolio", user_id(api, "ELITE", 0)),
        redis_key(prefix, "premium", "quote", "AAPL"),
    ]
    cold = [redis_key(prefix, "premium", "quote", symbol) for symbol in ("MSFT", "KO", "V", "PG", "JNJ", "WMT")]
    filled = fill(premium, prefix, "premium", 0, FILL_KEYS)
    assert evicted(premium) > FILL_KEYS // 4
    assert surviving(premium, hot) == 2, "LFU evicted the frequently read keys"
    assert surviving(premium, cold) < len(cold) and surviving(premium, filled) < FILL_KEYS
    assert elite.get("/api/v1/portfolio").headers["X-Cache"] == "HIT"

    # shared, LRU: fill to 70% of maxmemory, read one of those keys a second later, then write as much again
    lite = api.client("LITE", 0)
    assert lite.get("/api/v1/portfolio").headers["X-Cache"] == "MISS"
    old = fill_to(shared, prefix, "shared", 0.7)
    time.sleep(1.1)  # Redis keeps access times to the second
    assert lite.get("/api/v1/portfolio").headers["X-Cache"] == "HIT"
    new = fill(shared, prefix, "shared", len(old), len(old))
    assert evicted(shared) > len(old) // 4
    assert surviving(shared, [redis_key(prefix, "shared", "portfolio", user_id(api, "LITE", 0))]) == 1
    # Redis's LRU is approximate (it samples keys, with idle times to the second): nearly all recent keys stay
    assert surviving(shared, new) >= 0.95 * len(new), "LRU evicted keys written lately"
    assert surviving(shared, old) / len(old) < 0.95 * surviving(shared, new) / len(new), "LRU did not prefer recent"
    assert lite.get("/api/v1/portfolio").headers["X-Cache"] == "HIT"

    families = scrape(api)
    errors = {
        s.labels["tier"]: s.value for s in families["trademate_api_cache_errors"].samples if s.name.endswith("_total")
    }
    assert errors == {"shared": 0, "premium": 0}


def test_one_redis_url_holds_both_tiers_under_their_prefixes(scratch_redis, launch_redis_api):
    server = scratch_redis("--maxmemory-policy", "volatile-ttl")
    prefix = f"single-{os.getpid()}"
    api = launch_redis_api(prefix, env={"REDIS_URL": server.url})
    assert api.client("LITE", 1).get("/api/v1/portfolio").headers["X-Cache"] == "MISS"
    assert api.client("BLACK", 1).get("/api/v1/portfolio").headers["X-Cache"] == "MISS"
    with server.client() as client:
        assert (
            client.exists(
                redis_key(prefix, "shared", "portfolio", user_id(api, "LITE", 1)),
                redis_key(prefix, "premium", "portfolio", user_id(api, "BLACK", 1)),
                redis_key(prefix, "shared", "quote", "AAPL"),
                redis_key(prefix, "premium", "quote", "AAPL"),
            )
            == 4
        )
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-ttl"}  # left alone
    assert api.stop() == 0
    log = api.stderr_path.read_text()
    assert "holds both tiers" in log and "single policy volatile-ttl" in log
