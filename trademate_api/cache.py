"""The tier caches' shared interface: per-tier caches of serialized JSON bodies, in-process (cache_memory.py) or in
Redis (cache_redis.py), with one coroutine API (open, close, get, get_many, set, set_many); which one each tier gets.

Keys are `(namespace, ident)` pairs such as `("portfolio", "lite-0001")`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .cache_memory import TierCache
from .cache_redis import RedisTierCache
from .settings import TierPolicy

Key = tuple[str, str]


def build_caches(
    policies: Mapping[str, TierPolicy],
    redis_urls: Mapping[str, str] | None,
    prefix: str,
    error_counters: Mapping[str, Any],
) -> dict[str, TierCache | RedisTierCache]:
    """One cache per tier: in-process without `redis_urls`, otherwise in Redis, each tier on a server of its own
    when the URLs differ. `error_counters[tier].inc()` counts that tier's failed Redis operations."""
    if not redis_urls:
        return {tier: TierCache(tier, policy) for tier, policy in policies.items()}
    servers = list(redis_urls.values())
    return {
        tier: RedisTierCache(
            tier,
            policy,
            redis_urls[tier],
            prefix,
            exclusive=servers.count(redis_urls[tier]) == 1,
            pool_size=policy.pool_size,
            on_error=error_counters[tier].inc,
        )
        for tier, policy in policies.items()
    }


async def open_caches(caches: Mapping[str, TierCache | RedisTierCache]) -> None:
    await asyncio.gather(*(cache.open() for cache in caches.values()))


async def close_caches(caches: Mapping[str, TierCache | RedisTierCache]) -> None:
    await asyncio.gather(*(cache.close() for cache in caches.values()))
