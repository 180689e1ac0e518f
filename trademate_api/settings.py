"""Start-up settings of the reference API and the fixed per-tier policies (plans, cache, batch limits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

SHARED = "shared"
PREMIUM = "premium"
TIERS = (SHARED, PREMIUM)

PLAN_TIERS = MappingProxyType({"LITE": SHARED, "PRO": SHARED, "ELITE": PREMIUM, "BLACK": PREMIUM})


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """What a tier buys: cache freshness and eviction, and the largest quote batch it may ask for."""

    cache_ttl_s: float
    cache_eviction: str  # "lru" or "lfu"
    max_batch: int
    cache_maxsize: int = 50_000


TIER_POLICIES = MappingProxyType(
    {
        SHARED: TierPolicy(cache_ttl_s=300.0, cache_eviction="lru", max_batch=50),
        PREMIUM: TierPolicy(cache_ttl_s=60.0, cache_eviction="lfu", max_batch=100),
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the API needs at start-up; built once from the command line, never mutated."""

    db_path: Path
    host: str = "127.0.0.1"
    port: int = 8000
    credentials: Path | None = None
    users_per_plan: int = 200
    log_level: str = "warning"
    seed: int = 20240601
    tiers: MappingProxyType = field(default_factory=lambda: TIER_POLICIES)
