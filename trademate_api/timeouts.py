"""Statement timeouts: the error both stores raise when the database cancels a statement, answered as a counted 503."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter

from .settings import TIERS

BODY = b'{"detail":"database statement timed out; retry shortly"}'


class DatabaseTimeout(Exception):
    """The database cancelled a statement at the tier's timeout (or no connection was free in time)."""

    def __init__(self, tier: str) -> None:
        super().__init__(f"database statement timed out for the {tier} tier")
        self.tier = tier


def install(app: FastAPI, registry: CollectorRegistry) -> Counter:
    """Answer DatabaseTimeout with 503 and `Retry-After: 1`, counted in trademate_api_db_timeouts_total{tier}."""
    timeouts = Counter(
        "trademate_api_db_timeouts", "Requests answered 503 because a database statement timed out, by tier",
        ["tier"], registry=registry,
    )  # fmt: skip
    for tier in TIERS:
        timeouts.labels(tier)  # exported as 0 from the start

    async def answer(_request: Request, exc: DatabaseTimeout) -> Response:
        timeouts.labels(exc.tier).inc()
        return Response(BODY, status_code=503, media_type="application/json", headers={"Retry-After": "1"})

    app.add_exception_handler(DatabaseTimeout, answer)
    return timeouts
