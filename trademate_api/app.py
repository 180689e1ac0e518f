"""The application factory: wire store, tier caches, token index, metrics and middlewares into a FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .auth import AuthMiddleware, TokenIndex
from .cache import TierCache
from .db import SqliteStore
from .monitor import ApiMetrics, MonitorMiddleware
from .routes import Endpoints
from .settings import Settings

# FastAPI's native OpenTelemetry hooks cost ~5% per request even with no provider configured; the API has its own
# Prometheus metrics (monitor.py), so they are switched off.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app(settings: Settings) -> FastAPI:
    """An app over the already seeded database at `settings.db_path`; users and warm caches load at start-up."""
    metrics = ApiMetrics()
    caches = {tier: TierCache(tier, policy) for tier, policy in settings.tiers.items()}
    endpoints = Endpoints(SqliteStore(settings.db_path), caches, TokenIndex(), metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await endpoints.start()
        try:
            yield
        finally:
            endpoints.store.close()

    app = FastAPI(title="TradeMate reference API", version="1.0.0", lifespan=lifespan, telemetry=NO_TELEMETRY)
    endpoints.register(app)
    app.add_middleware(AuthMiddleware, index=endpoints.index)
    app.add_middleware(MonitorMiddleware, metrics=metrics)  # added last: outermost of the user middlewares
    app.state.metrics = metrics
    app.state.caches = caches
    return app
