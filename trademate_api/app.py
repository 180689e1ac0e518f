"""The application factory: wire store, tier caches, token index, metrics and middlewares into a FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .auth import AuthMiddleware, TokenIndex
from .cache import build_caches, close_caches, open_caches
from .db import SqliteStore
from .fault_injection import install as install_faults
from .monitor import ApiMetrics, MonitorMiddleware
from .openapi import install as install_openapi
from .pg import PgStore
from .refresh import ViewRefresher
from .routes import MAX_ORDERS, Endpoints
from .settings import Settings
from .timeouts import install as install_timeouts

# FastAPI's native OpenTelemetry hooks cost ~5% per request even with no provider configured; the API has its own
# Prometheus metrics (monitor.py), so they are switched off.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app(settings: Settings) -> FastAPI:
    """An app over the already seeded database (PostgreSQL at `settings.database_url`, else SQLite at `db_path`);
    users and warm caches load at start-up, and the tiers' views are refreshed in the background."""
    metrics = ApiMetrics()
    caches = build_caches(settings.tiers, settings.redis_urls, settings.cache_prefix, metrics.cache_errors)
    endpoints = Endpoints(make_store(settings), caches, TokenIndex(), metrics, settings.warm_users)
    periods = {tier: policy.view_refresh_s for tier, policy in settings.tiers.items()}
    refresher = ViewRefresher(endpoints.store, periods, metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await endpoints.store.open()
        await open_caches(caches)
        await endpoints.start()
        refresher.start()
        try:
            yield
        finally:
            await refresher.stop()
            await endpoints.store.close()
            await close_caches(caches)

    app = FastAPI(title="TradeMate reference API", version="1.0.0", lifespan=lifespan, telemetry=NO_TELEMETRY)
    endpoints.register(app)
    install_openapi(app, MAX_ORDERS, max(policy.max_batch for policy in settings.tiers.values()))
    install_timeouts(app, metrics.registry)  # a database statement timeout is answered 503 and counted
    if settings.faults is not None:  # added before auth: runs inside it, where the tier is known
        install_faults(app, settings.faults)
    app.add_middleware(AuthMiddleware, index=endpoints.index)
    app.add_middleware(MonitorMiddleware, metrics=metrics)  # added last: outermost of the user middlewares
    app.state.metrics = metrics
    app.state.caches = caches
    return app


def make_store(settings: Settings) -> PgStore | SqliteStore:
    """PostgreSQL with per-tier pools when a database URL is set, else the embedded SQLite file."""
    if settings.database_url:
        return PgStore(settings.database_url, settings.tiers)
    return SqliteStore(settings.db_path, settings.tiers)
