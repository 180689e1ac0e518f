"""Start-up settings of the reference API and the fixed per-tier policies (plans, cache, batch limits)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fault_plan import FaultPlan

SHARED = "shared"
PREMIUM = "premium"
TIERS = (SHARED, PREMIUM)

PLAN_TIERS = MappingProxyType({"LITE": SHARED, "PRO": SHARED, "ELITE": PREMIUM, "BLACK": PREMIUM})


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """What a tier buys: cache freshness and eviction, and the largest quote batch it may ask for."""

    cache_ttl_s: float
    cache_eviction: str  # "lru" or "lfu"
    max_batch: int  # also the batch size of concurrent fetches (quotes, cache warming)
    cache_maxsize: int = 50_000
    pool_size: int = 25  # connections in each of the tier's pools (Redis cache, database)
    statement_timeout_ms: int = 50  # the database cancels a statement of the tier after this long
    view_refresh_s: float = 300.0  # period of the tier's materialized view (SQLite: summary table) refresh
    # each cache entry lives a random 50-100% of its TTL: entries stored together (the start-up warming, a burst of
    # misses) expire spread over half the TTL instead of in one second, and none is ever older than the TTL
    cache_ttl_jitter: float = 0.5

    def entry_ttl(self, ttl: float | None = None, draw: Callable[[], float] = random.random) -> float:
        """One entry's time to live: a random share between ``1 - cache_ttl_jitter`` and 1 of ``ttl`` (the tier's
        TTL when None)."""
        return (self.cache_ttl_s if ttl is None else ttl) * (1.0 - self.cache_ttl_jitter * draw())


TIER_POLICIES = MappingProxyType(
    {
        SHARED: TierPolicy(cache_ttl_s=300.0, cache_eviction="lru", max_batch=50),
        PREMIUM: TierPolicy(
            cache_ttl_s=60.0,
            cache_eviction="lfu",
            max_batch=100,
            pool_size=50,
            statement_timeout_ms=20,
            view_refresh_s=60.0,
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the API needs at start-up; built once from the command line, never mutated."""

    db_path: Path | None  # SQLite file; None with database_url
    host: str = "127.0.0.1"
    port: int = 8000
    credentials: Path | None = None
    users_per_plan: int = 200
    log_level: str = "warning"
    seed: int = 20240601
    tiers: MappingProxyType = field(default_factory=lambda: TIER_POLICIES)
    faults: FaultPlan | None = None  # fault injection for testing the load suite (faults.py); None: off
    database_url: str | None = None  # PostgreSQL (postgresql://...); None: SQLite at db_path
    redis_urls: MappingProxyType | None = None  # tier -> Redis URL; None: in-process caches
    cache_prefix: str = "api"  # Redis keys are trademate:{cache_prefix}:{tier}:{namespace}:{id}
    warm_users: int = 0  # users whose portfolio, summary, watchlist (and analytics) are cached at start-up
    profile_output: Path | None = None  # cProfile of the serving process, written as pstats when it stops
