"""The Redis tier caches: one connection pool per tier, keys `trademate:{prefix}:{tier}:{namespace}:{ident}`, each
with its own share of the tier's TTL (TierPolicy.entry_ttl), the tier's eviction policy given to a server of its own,
and the tier URLs read from the environment.

A Redis failure never fails a request: the error is counted, the operation reads as a miss, and an unreachable Redis
is skipped for a second before one request tries it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from time import monotonic
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .settings import TIERS, TierPolicy

if TYPE_CHECKING:
    from .cache import Key

REDIS_SCHEMES = ("redis", "rediss", "unix")
REDIS_TIMEOUT_S = 0.25  # a slower Redis is treated as down: the database answers instead
RETRY_AFTER_S = 1.0  # after a Redis error, skip Redis this long, then let one request probe it
REDIS_POLICIES = {"lru": "allkeys-lru", "lfu": "allkeys-lfu"}
log = logging.getLogger("trademate_api.cache")  # the logger these lines have always had


class RedisTierCache:
    """One tier's cache in Redis: a pool of `pool_size` connections, SET PX for writes, GET or one MGET for reads.

    `exclusive` says the server holds only this tier, so that `open` may give it the tier's eviction policy.
    `on_error` is called once per failed Redis operation (the API counts them by tier).
    """

    backend = "redis"

    def __init__(
        self,
        tier: str,
        policy: TierPolicy,
        url: str,
        prefix: str,
        *,
        exclusive: bool,
        pool_size: int,
        on_error: Callable[[], None] = lambda: None,
        timer: Callable[[], float] = monotonic,
    ) -> None:
        self.tier = tier
        self.policy = policy
        self.url = url
        self.key_prefix = f"trademate:{prefix}:{tier}:"
        self.exclusive = exclusive
        self._pool_size = pool_size
        self._on_error = on_error
        self._timer = timer
        self._down_until = 0.0  # monotonic time before which Redis is not tried; 0: healthy
        self._client: Redis | None = None

    def redis_key(self, key: Key) -> str:
        return f"{self.key_prefix}{key[0]}:{key[1]}"

    async def open(self) -> None:
        """Create the pool (inside the event loop), check the server answers and give it the tier's eviction."""
        pool = ConnectionPool.from_url(
            self.url,
            max_connections=self._pool_size,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
            client_name=f"trademate-api-{self.tier}",
        )
        self._client = Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
        try:
            await self._client.ping()
            await self._configure_eviction()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            log.warning(
                "%s cache: Redis %s does not answer (%s); serving from the database, eviction policy unchecked",
                self.tier,
                self,
                exc,
            )

    async def _configure_eviction(self) -> None:
        wanted = REDIS_POLICIES[self.policy.cache_eviction]
        try:
            config = {
                _text(name): _text(value) for name, value in (await self._client.config_get("maxmemory*")).items()
            }
            current = config.get("maxmemory-policy", "")
            if self.exclusive and current != wanted:
                await self._client.config_set("maxmemory-policy", wanted)
                log.info("%s cache: set maxmemory-policy of Redis %s from %s to %s", self.tier, self, current, wanted)
                current = wanted
        except ResponseError as exc:  # managed Redis services often refuse CONFIG
            log.warning(
                "%s cache: cannot read or set maxmemory-policy of Redis %s (%s); keeping the server's",
                self.tier,
                self,
                exc,
            )
            return
        if not self.exclusive:
            log.warning(
                "%s cache: Redis %s holds both tiers under their own prefixes; eviction is then the server's single"
                " policy %s, not %s",
                self.tier,
                self,
                current,
                wanted,
            )
        if config.get("maxmemory", "0") == "0":
            log.warning("%s cache: Redis %s has no maxmemory; keys leave it only by their TTL", self.tier, self)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _usable(self) -> bool:
        """False while Redis is marked down; once that time is over, the caller is the one probe that tries it."""
        if not self._down_until:
            return True
        now = self._timer()
        if now < self._down_until:
            return False
        self._down_until = now + RETRY_AFTER_S
        return True

    def _failed(self, exc: BaseException) -> None:
        """Count the error; a lost or slow server (not a busy pool, not a refused command) pauses Redis."""
        self._on_error()
        unreachable = isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)
        if unreachable and not isinstance(exc, MaxConnectionsError):
            self._down_until = self._timer() + RETRY_AFTER_S
        log.debug("%s cache: Redis error %r", self.tier, exc)

    async def get(self, key: Key) -> bytes | None:
        if not self._usable():
            return None
        try:
            body = await self._client.get(self.redis_key(key))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._down_until = 0.0
        return body

    async def get_many(self, keys: Sequence[Key]) -> list[bytes | None]:
        if not self._usable():
            return [None] * len(keys)
        try:
            bodies = await self._client.mget([self.redis_key(key) for key in keys])
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return [None] * len(keys)
        self._down_until = 0.0
        return bodies

    async def set(self, key: Key, body: bytes, ttl: float | None = None) -> None:
        if not self._usable():
            return
        try:
            await self._client.set(self.redis_key(key), body, px=round(self.policy.entry_ttl(ttl) * 1000))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._down_until = 0.0

    async def set_many(self, items: Iterable[tuple[Key, bytes]], ttl: float | None = None) -> None:
        """All in one pipelined round trip (no MULTI): one SET PX per item."""
        if not self._usable():
            return
        entry_ttl = self.policy.entry_ttl
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, body in items:
                    pipe.set(self.redis_key(key), body, px=round(entry_ttl(ttl) * 1000))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._down_until = 0.0

    def __str__(self) -> str:
        """The server without credentials, for log lines."""
        parts = urlsplit(self.url)
        return parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_urls_from_env(environ: Mapping[str, str]) -> MappingProxyType | None:
    """tier -> Redis URL from REDIS_SHARED_URL and REDIS_PREMIUM_URL, either defaulting to REDIS_URL; None: no Redis.

    Raises ValueError naming the variable when only one tier has a server or a URL is not a Redis URL.
    """
    fallback = environ.get("REDIS_URL", "").strip()
    urls = {tier: environ.get(f"REDIS_{tier.upper()}_URL", "").strip() or fallback for tier in TIERS}
    if not any(urls.values()):
        return None
    for tier, url in urls.items():
        variable = f"REDIS_{tier.upper()}_URL"
        if not url:
            raise ValueError(f"{variable} is not set: set it too, or REDIS_URL for both tiers")
        if urlsplit(url).scheme not in REDIS_SCHEMES:
            source = variable if environ.get(variable, "").strip() else "REDIS_URL"
            raise ValueError(f"{source}={url!r} is not a Redis URL ({', '.join(REDIS_SCHEMES)})")
    return MappingProxyType(urls)
