"""The tier caches on a controlled clock: TTL expiry for both eviction policies, entries stored together expiring
spread over the jitter's share of the TTL, LFU keeping the frequent keys."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from trademate_api.cache_memory import TierCache, TtlLfuCache
from trademate_api.settings import TIER_POLICIES, TierPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("eviction", ["lru", "lfu"])
def test_entries_expire_after_the_tiers_ttl(eviction):
    clock = Clock()
    policy = TierPolicy(cache_ttl_s=60.0, cache_eviction=eviction, max_batch=10, cache_ttl_jitter=0.0)
    cache = TierCache("t", policy, timer=clock)

    async def scenario() -> list:
        await cache.set_many([("a", b"1"), ("b", b"2")])
        seen = [await cache.get("a"), await cache.get_many(["a", "b", "c"])]
        clock.now += 59.9
        seen.append(await cache.get("b"))
        clock.now += 0.2
        seen.append(await cache.get_many(["a", "b"]))
        return seen

    assert asyncio.run(scenario()) == [b"1", [b"1", b"2", None], b"2", [None, None]]


@pytest.mark.parametrize("tier", ["shared", "premium"])
def test_entries_stored_together_expire_spread_over_the_jitter_and_never_past_the_ttl(tier):
    """A warm-up stores every entry in the same second: each lives its own share of the TTL, so at most a
    hundredth of them expire in any one second (not all at once, as in the synchronized expiry this replaces)."""
    clock, policy = Clock(), TIER_POLICIES[tier]
    cache = TierCache(tier, policy, timer=clock)
    keys = [("portfolio", str(n)) for n in range(5000)]
    asyncio.run(cache.set_many((key, b"x") for key in keys))
    ttl, start, alive = policy.cache_ttl_s, clock.now, []
    for second in range(int(ttl) + 2):
        clock.now = start + second
        alive.append(sum(body is not None for body in asyncio.run(cache.get_many(keys))))
    shortest = ttl * (1 - policy.cache_ttl_jitter)
    assert alive[int(shortest) - 1] == len(keys) and alive[int(ttl)] == 0  # none before 1 - jitter, none past the TTL
    expired_per_second = [before - after for before, after in itertools.pairwise(alive)]
    assert max(expired_per_second) <= len(keys) * 1.5 / (ttl * policy.cache_ttl_jitter)


def test_lfu_evicts_the_least_frequently_read_key():
    cache = TtlLfuCache(maxsize=2, ttl=60.0, timer=Clock())
    cache["hot"], cache["cold"] = b"h", b"c"
    for _ in range(3):
        assert cache.get("hot") == b"h"
    cache["new"] = b"n"
    assert (cache.get("hot"), cache.get("cold"), cache.get("new"), len(cache)) == (b"h", None, b"n", 2)
