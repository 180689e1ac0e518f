"""The tier caches on a controlled clock: TTL expiry for both eviction policies, LFU keeping the frequent keys."""

from __future__ import annotations

import asyncio

import pytest

from trademate_api.cache_memory import TierCache, TtlLfuCache
from trademate_api.settings import TierPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("eviction", ["lru", "lfu"])
def test_entries_expire_after_the_tiers_ttl(eviction):
    clock = Clock()
    cache = TierCache("t", TierPolicy(cache_ttl_s=60.0, cache_eviction=eviction, max_batch=10), timer=clock)

    async def scenario() -> list:
        await cache.set_many([("a", b"1"), ("b", b"2")])
        seen = [await cache.get("a"), await cache.get_many(["a", "b", "c"])]
        clock.now += 59.9
        seen.append(await cache.get("b"))
        clock.now += 0.2
        seen.append(await cache.get_many(["a", "b"]))
        return seen

    assert asyncio.run(scenario()) == [b"1", [b"1", b"2", None], b"2", [None, None]]


def test_lfu_evicts_the_least_frequently_read_key():
    cache = TtlLfuCache(maxsize=2, ttl=60.0, timer=Clock())
    cache["hot"], cache["cold"] = b"h", b"c"
    for _ in range(3):
        assert cache.get("hot") == b"h"
    cache["new"] = b"n"
    assert (cache.get("hot"), cache.get("cold"), cache.get("new"), len(cache)) == (b"h", None, b"n", 2)
