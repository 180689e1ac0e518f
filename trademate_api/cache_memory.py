"""The in-process tier caches: serialized JSON bodies in a bounded cachetools LRU (shared tier) or LFU (premium
tier) cache whose entries also expire, each after its own share of the tier's TTL (TierPolicy.entry_ttl: stored
together, they do not expire together), behind the coroutine API every tier cache has (cache.py).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from time import monotonic
from typing import TYPE_CHECKING

from cachetools import LFUCache, LRUCache

from .settings import TierPolicy

if TYPE_CHECKING:
    from .cache import Key


class ExpiringCache:
    """A bounded cachetools LRU or LFU cache whose entries also expire, each `ttl` seconds after it was stored.

    Expired entries are dropped when read; until then they count against the bound and are evicted by recency or
    frequency like any other entry (the unread ones first, which expired entries are).
    """

    __slots__ = ("_entries", "_timer", "_ttl")

    def __init__(self, entries: LRUCache | LFUCache, ttl: float, timer: Callable[[], float] = monotonic) -> None:
        self._entries = entries
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

    def set(self, key: Hashable, value, ttl: float | None = None) -> None:
        self._entries[key] = (self._timer() + (self._ttl if ttl is None else ttl), value)

    def __setitem__(self, key: Hashable, value) -> None:
        self.set(key, value)

    def __len__(self) -> int:
        return len(self._entries)


class TtlLruCache(ExpiringCache):
    """Least recently used entries go first when full (the shared tier)."""

    __slots__ = ()

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = monotonic) -> None:
        super().__init__(LRUCache(maxsize), ttl, timer)


class TtlLfuCache(ExpiringCache):
    """Least frequently used entries go first when full (the premium tier)."""

    __slots__ = ()

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = monotonic) -> None:
        super().__init__(LFUCache(maxsize), ttl, timer)


class TierCache:
    """One tier's in-process cache. Coroutine methods, so that RedisTierCache can take its place for the handlers."""

    backend = "memory"

    def __init__(self, tier: str, policy: TierPolicy, timer: Callable[[], float] = monotonic) -> None:
        self.tier = tier
        self.policy = policy
        kind = TtlLfuCache if policy.cache_eviction == "lfu" else TtlLruCache
        self._entries = kind(policy.cache_maxsize, policy.cache_ttl_s, timer)

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def get(self, key: Key) -> bytes | None:
        return self._entries.get(key)

    async def get_many(self, keys: Sequence[Key]) -> list[bytes | None]:
        get = self._entries.get
        return [get(key) for key in keys]

    async def set(self, key: Key, body: bytes, ttl: float | None = None) -> None:
        self._entries.set(key, body, self.policy.entry_ttl(ttl))

    async def set_many(self, items: Iterable[tuple[Key, bytes]], ttl: float | None = None) -> None:
        store, entry_ttl = self._entries.set, self.policy.entry_ttl
        for key, body in items:
            store(key, body, entry_ttl(ttl))

    def __len__(self) -> int:
        return len(self._entries)
