"""The tier-aware optimization layer of the handlers: the `tier_cache` decorator, batch processing and cache warming.

    class Endpoints:
        @tier_cache("portfolio")                     # key: the signed-in user; TTL: the tier's (300 s or 60 s)
        async def portfolio(self, rec, user_id): ...  # returns the JSON document; runs only on a miss

Latency per tier and endpoint is recorded for every request by monitor.MonitorMiddleware, so no per-handler
monitoring decorator is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

from fastapi.responses import Response
from starlette.requests import Request

from . import payloads
from .monitor import HIT, MISS, RECORD_KEY, RequestRecord

JSON = "application/json"
T = TypeVar("T")
R = TypeVar("R")
Build = Callable[[Any, RequestRecord, str], Awaitable[Any]]  # (endpoints, rec, ident) -> JSON document
KeyOf = Callable[[Request, RequestRecord], str]
log = logging.getLogger(__name__)


def user_key(_request: Request, rec: RequestRecord) -> str:
    """Cache per signed-in user."""
    return rec.user.user_id


def symbol_key(request: Request, _rec: RequestRecord) -> str:
    """Cache per instrument named in the path."""
    return request.path_params["symbol"].upper()


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """What a `tier_cache` endpoint caches: its namespace, TTL override, and the builder run on a miss."""

    namespace: str
    expire_override: float | None
    build: Build


def tier_cache(namespace: str, expire_override: float | None = None, key: KeyOf = user_key):
    """Turn `async def build(self, rec, ident) -> document` into a Starlette endpoint `(self, request) -> Response`.

    The endpoint reads `(namespace, key(request, rec))` from `self.caches[rec.tier]`, marks the request HIT or MISS
    (the X-Cache header and the hit/miss counters), runs `build` only on a miss and stores the serialized body for
    `expire_override` seconds, or the tier's TTL when None. An exception from `build` (a 404) is not cached.
    """

    def decorate(build: Build):
        async def endpoint(self, request: Request) -> Response:
            rec = request.scope[RECORD_KEY]
            ident = key(request, rec)
            cache = self.caches[rec.tier]
            body = await cache.get((namespace, ident))
            if body is None:
                rec.cache = MISS
                body = payloads.encode(await build(self, rec, ident))
                await cache.set((namespace, ident), body, expire_override)
            else:
                rec.cache = HIT
            return Response(body, media_type=JSON)

        endpoint.__name__, endpoint.__qualname__, endpoint.__doc__ = build.__name__, build.__qualname__, build.__doc__
        endpoint.cache_spec = CacheSpec(namespace, expire_override, build)
        return endpoint

    return decorate


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def batch_processor(items: Sequence[T], fn: Callable[[T], Awaitable[R]], batch_size: int) -> list[R]:
    """`fn(item)` for every item, `batch_size` of them at a time concurrently; the results in item order."""
    results: list[R] = []
    for batch in chunks(items, batch_size):
        results.extend(await asyncio.gather(*(fn(item) for item in batch)))
    return results


async def fetch_in_batches(
    keys: Sequence[T], fetch: Callable[[Sequence[T]], Awaitable[list[R]]], batch_size: int
) -> list[R]:
    """One `fetch(chunk)` per chunk of at most `batch_size` keys, all concurrently; their rows concatenated."""
    if len(keys) <= batch_size:
        return await fetch(keys)
    return [row for rows in await asyncio.gather(*(fetch(chunk) for chunk in chunks(keys, batch_size))) for row in rows]


def spread_over_plans(users: Sequence, limit: int) -> list:
    """At most `limit` users, taken in turn from each plan (so a small limit still covers every plan and tier)."""
    by_plan: dict[str, list] = {}
    for user in users:
        by_plan.setdefault(user.plan, []).append(user)
    taken = (user for turn in itertools.zip_longest(*by_plan.values()) for user in turn if user is not None)
    return list(itertools.islice(taken, limit))


async def warm_user_caches(endpoints, users: Sequence, specs: Callable[[str], Iterable[CacheSpec]]) -> int:
    """Build and store the cached documents `specs(tier)` of each user, in batches of the tier's batch size.

    `endpoints` is the handlers' owner (its `caches` and the builders' `self`); returns the entries stored. Best
    effort: a user whose documents fail to build (a database timeout) is left cold and counted in the log line.
    """
    started, stored, failed = perf_counter(), 0, 0
    for tier, cache in endpoints.caches.items():
        tier_users = [user for user in users if user.tier == tier]
        tier_specs = list(specs(tier))
        if not tier_users or not tier_specs:
            continue

        async def build(user, tier_specs=tier_specs) -> list[bytes] | None:
            rec = RequestRecord()
            rec.user, rec.tier = user, user.tier
            try:
                return [payloads.encode(await spec.build(endpoints, rec, user.user_id)) for spec in tier_specs]
            except Exception as exc:  # warming must never stop the API from starting
                log.debug("warming %s failed: %r", user.user_id, exc)
                return None

        built = await batch_processor(tier_users, build, cache.policy.max_batch)  # per user, one body per spec
        warmed = [(user, bodies) for user, bodies in zip(tier_users, built, strict=True) if bodies is not None]
        failed += len(tier_users) - len(warmed)
        for column, spec in enumerate(tier_specs):
            entries = [((spec.namespace, user.user_id), bodies[column]) for user, bodies in warmed]
            await cache.set_many(entries, spec.expire_override)
            stored += len(warmed)
    log.info("warmed %d cache entries for %d users in %.2f s", stored, len(users), perf_counter() - started)
    if failed:
        log.warning("cache warming left %d of %d users cold: their documents could not be built", failed, len(users))
    return stored
