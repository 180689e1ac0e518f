"""Per-request monitoring: a pure ASGI middleware adding Server-Timing and X-Cache, and the Prometheus metrics."""

from __future__ import annotations

import logging
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from .settings import TIERS

RECORD_KEY = "trademate"  # the RequestRecord's key in the ASGI scope
HIT, MISS = b"HIT", b"MISS"
NO_TIER = "none"
UNMATCHED = "unmatched"  # endpoint label of requests no route handled (unknown paths, refused by auth)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
log = logging.getLogger(__name__)


class RequestRecord:
    """What one request did, filled by auth, handlers and the DB layer, read by the middleware at the end."""

    __slots__ = ("cache", "db_queries", "db_seconds", "tier", "user")

    def __init__(self) -> None:
        self.tier: str = NO_TIER
        self.user = None
        self.cache: bytes | None = None  # HIT or MISS on cacheable endpoints
        self.db_seconds = 0.0
        self.db_queries = 0


class ApiMetrics:
    """The API's Prometheus metrics in a registry of its own, so that several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "trademate_api_latency_seconds", "Time from request to last response byte, by tier and route template",
            ["tier", "endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.db_latency = Histogram(
            "trademate_api_db_seconds", "Database time of requests that queried it, by tier",
            ["tier"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.requests = Counter(
            "trademate_api_requests", "Responses by tier, route template and status", ["tier", "endpoint", "status"],
            registry=self.registry,
        )  # fmt: skip
        hits = Counter(
            "trademate_api_cache_hits", "Cacheable requests served from cache", ["tier"], registry=self.registry
        )
        misses = Counter(
            "trademate_api_cache_misses", "Cacheable requests not in cache", ["tier"], registry=self.registry
        )
        self._cache = {
            (tier, outcome): counter.labels(tier)
            for tier in TIERS
            for outcome, counter in ((HIT, hits), (MISS, misses))
        }
        errors = Counter(
            "trademate_api_cache_errors", "Failed cache (Redis) operations, answered from the database", ["tier"],
            registry=self.registry,
        )  # fmt: skip
        self.cache_errors = {tier: errors.labels(tier) for tier in TIERS}
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe(self, rec: RequestRecord, endpoint: str, status: int, seconds: float) -> None:
        key = (rec.tier, endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = (self.latency.labels(rec.tier, endpoint), self.requests.labels(rec.tier, endpoint, str(status)))
            self._children[key] = children
        children[0].observe(seconds)
        children[1].inc()
        if rec.cache is not None and rec.tier != NO_TIER:
            self._cache[rec.tier, rec.cache].inc()
        if rec.db_queries:
            self.db_latency.labels(rec.tier).observe(rec.db_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MonitorMiddleware:
    """Outermost app middleware: creates the request's record, stamps the headers, records the metrics."""

    def __init__(self, app, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rec = scope[RECORD_KEY] = RequestRecord()
        status = 0

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"server-timing", server_timing(started, rec))]
                if rec.cache is not None:
                    headers.append((b"x-cache", rec.cache))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if status:
                raise
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            await _internal_error(send_with_headers)
        finally:
            route = scope.get("route")
            self.metrics.observe(
                rec, route.path if route is not None else UNMATCHED, status or 500, perf_counter() - started
            )


def server_timing(started: float, rec: RequestRecord) -> bytes:
    app_ms = (perf_counter() - started) * 1000.0
    if rec.db_queries:
        return b"app;dur=%.3f, db;dur=%.3f" % (app_ms, rec.db_seconds * 1000.0)
    return b"app;dur=%.3f" % app_ms


async def _internal_error(send) -> None:
    body = b'{"detail":"Internal Server Error"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
