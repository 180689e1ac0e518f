"""Per-tier in-process caches of serialized JSON bodies: TTL with LRU eviction (shared) or LFU eviction (premium)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from time import monotonic

from cachetools import LFUCache, TTLCache

from .settings import TierPolicy


class TtlLfuCache:
    """An LFU cache whose entries also expire `ttl` seconds after they were stored (cachetools has no such class).

    Expired entries are dropped when read; until then they count against `maxsize` and are evicted by frequency.
    """

    __slots__ = ("_entries", "_timer", "_ttl")

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = monotonic) -> None:
        self._entries = LFUCache(maxsize)
        self._ttl = ttl
        self._timer = timer

    def get(self, key: Hashable, default=None):
        entry = self._entries.get(key)
        if entry is None:
            return default
        if entry[0] <= self._timer():
            del self._entries[key]
            return default
        return entry[1]

    def __setitem__(self, key: Hashable, value) -> None:
        self._entries[key] = (self._timer() + self._ttl, value)

    def __len__(self) -> int:
        return len(self._entries)


class TierCache:
    """One tier's cache. Coroutine methods, so that a Redis-backed class can take its place for the handlers."""

    def __init__(self, tier: str, policy: TierPolicy, timer: Callable[[], float] = monotonic) -> None:
        self.tier = tier
        self.policy = policy
        if policy.cache_eviction == "lfu":
            self._entries = TtlLfuCache(policy.cache_maxsize, policy.cache_ttl_s, timer)
        else:
            self._entries = TTLCache(policy.cache_maxsize, policy.cache_ttl_s, timer)

    async def get(self, key: Hashable) -> bytes | None:
        return self._entries.get(key)

    async def get_many(self, keys: Sequence[Hashable]) -> list[bytes | None]:
        get = self._entries.get
        return [get(key) for key in keys]

    async def set(self, key: Hashable, body: bytes) -> None:
        self._entries[key] = body

    async def set_many(self, items: Iterable[tuple[Hashable, bytes]]) -> None:
        for key, body in items:
            self._entries[key] = body

    def __len__(self) -> int:
        return len(self._entries)
