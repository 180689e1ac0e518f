"""The HTTP endpoints: thin handlers that read the request record, consult the tier cache, and query the store."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Match, Route

from . import payloads
from .auth import TokenIndex, User
from .cache_memory import TierCache
from .cache_redis import RedisTierCache
from .monitor import HIT, MISS, RECORD_KEY, ApiMetrics, RequestRecord
from .openapi import SYMBOL_PATTERN
from .optimizer import CacheSpec, fetch_in_batches, spread_over_plans, symbol_key, tier_cache, warm_user_caches
from .settings import PREMIUM, TierPolicy

JSON = "application/json"
MAX_ORDERS = 100  # largest `limit` of GET /api/v1/orders
MAX_PRICE = 1_000_000.0  # largest limit price of an order
LIMIT = re.compile(r"[0-9]{1,4}")  # ASCII digits only: "²" is a digit to str.isdigit() but not to int()
SYMBOL = re.compile(SYMBOL_PATTERN)


class OrderRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)  # unknown fields are ignored

    symbol: str = Field(min_length=1, max_length=10, pattern=r"^[A-Za-z.]+$")
    side: Literal["buy", "sell"]
    quantity: int = Field(ge=1, le=10_000, strict=True)
    price: float | None = Field(default=None, gt=0, le=MAX_PRICE, allow_inf_nan=False)


def _unprocessable(field: str, message: str, kind: str = "value_error") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, for the query parameters checked by hand."""
    return HTTPException(422, [{"type": kind, "loc": ["query", field], "msg": message}])


def valid_symbol_key(request: Request, rec: RequestRecord) -> str:
    """The cache key of a quote; a symbol no ticker can be is refused with 422 before any lookup."""
    if not SYMBOL.fullmatch(request.path_params["symbol"]):
        raise _unprocessable("symbol", "expected 1 to 10 letters, digits, '.' or '-'", "string_pattern_mismatch")
    return symbol_key(request, rec)


class Endpoints:
    """Handlers bound to the app's store, tier caches and token index; `start` loads users and warms the caches."""

    def __init__(
        self, store, caches: dict[str, TierCache | RedisTierCache], index: TokenIndex, metrics: ApiMetrics,
        warm_users: int = 0,
    ) -> None:  # fmt: skip
        self.store = store
        self.caches = caches
        self.index = index
        self.metrics = metrics
        self.warm_users = warm_users  # users whose documents `start` caches, besides every quote
        self.symbols: frozenset[str] = frozenset()

    async def start(self) -> None:
        rec = RequestRecord()
        users = [User(*row) for row in await self.store.users(rec)]
        self.index.replace(users)
        quotes = await self.store.quotes(rec)
        self.symbols = frozenset(row[0] for row in quotes)
        bodies = [(("quote", row[0]), payloads.encode(payloads.quote(row))) for row in quotes]
        for cache in self.caches.values():
            await cache.set_many(bodies)
        if self.warm_users:
            await warm_user_caches(self, spread_over_plans(users, self.warm_users), self._warmed)

    @staticmethod
    def _warmed(tier: str) -> list[CacheSpec]:
        """The per-user documents cache warming builds for a user of `tier`."""
        endpoints = [Endpoints.portfolio, Endpoints.summary, Endpoints.watchlist]
        if tier == PREMIUM:
            endpoints.append(Endpoints._analytics)
        return [endpoint.cache_spec for endpoint in endpoints]

    async def health(self, request: Request) -> Response:
        claimed = request.headers.get("x-user-tier")
        return Response(
            payloads.encode({"status": "ok", "tier": claimed.strip().lower() if claimed else None}), media_type=JSON
        )

    async def metrics_text(self, _request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @tier_cache("portfolio")
    async def portfolio(self, rec: RequestRecord, user_id: str) -> dict:
        return payloads.portfolio(rec.user, await self.store.portfolio(rec, user_id))

    @tier_cache("summary")
    async def summary(self, rec: RequestRecord, user_id: str) -> dict:
        return payloads.summary(rec.user, *await self.store.summary(rec, user_id))

    @tier_cache("quote", key=valid_symbol_key)
    async def quote(self, rec: RequestRecord, symbol: str) -> dict:
        row = await self.store.quote(rec, symbol)
        if row is None:
            raise HTTPException(404, f"unknown symbol {symbol!r}")
        return payloads.quote(row)

    async def quotes(self, request: Request) -> Response:
        symbols = request.query_params.get("symbols")
        if symbols is None:
            raise _unprocessable("symbols", "Field required", "missing")
        rec = request.scope[RECORD_KEY]
        wanted = list(dict.fromkeys(s.strip().upper() for s in symbols.split(",") if s.strip()))
        limit = self._policy(rec).max_batch
        if not wanted or len(wanted) > limit:
            raise _unprocessable("symbols", f"give 1 to {limit} symbols for the {rec.tier} tier, got {len(wanted)}")
        malformed = next((symbol for symbol in wanted if not SYMBOL.fullmatch(symbol)), None)
        if malformed is not None:
            raise _unprocessable("symbols", f"{malformed!r} is not a ticker (1 to 10 letters, digits, '.' or '-')")
        cache = self.caches[rec.tier]
        bodies = await cache.get_many([("quote", symbol) for symbol in wanted])
        missing = [symbol for symbol, body in zip(wanted, bodies, strict=True) if body is None]
        rec.cache = MISS if missing else HIT
        if missing:
            rows = await fetch_in_batches(missing, lambda chunk: self.store.quotes(rec, chunk), limit)
            found = {row[0]: payloads.encode(payloads.quote(row)) for row in rows}
            await cache.set_many((("quote", symbol), body) for symbol, body in found.items())
            bodies = [body or found.get(symbol) for symbol, body in zip(wanted, bodies, strict=True)]
        unknown = [symbol for symbol, body in zip(wanted, bodies, strict=True) if body is None]
        return Response(payloads.quote_batch([body for body in bodies if body], unknown), media_type=JSON)

    @tier_cache("watchlist")
    async def watchlist(self, rec: RequestRecord, user_id: str) -> dict:
        return payloads.watchlist(rec.user, await self.store.watchlist(rec, user_id))

    async def list_orders(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "20")
        limit = int(raw) if LIMIT.fullmatch(raw) else 0
        if not 1 <= limit <= MAX_ORDERS:
            raise _unprocessable("limit", f"Input should be an integer from 1 to {MAX_ORDERS}", "int_range")
        rec = request.scope[RECORD_KEY]
        rows = await self.store.recent_orders(rec, rec.user.user_id, limit)
        return Response(payloads.encode(payloads.orders(rec.user, rows)), media_type=JSON)

    async def place_order(self, request: Request, order: OrderRequest) -> Response:
        rec = request.scope[RECORD_KEY]
        symbol = order.symbol.upper()
        if symbol not in self.symbols:
            raise HTTPException(422, [{"type": "value_error", "loc": ["body", "symbol"], "msg": "unknown symbol"}])
        row = await self.store.place_order(rec, rec.user.user_id, symbol, order.side, order.quantity, order.price)
        return Response(payloads.encode(payloads.order(row)), status_code=201, media_type=JSON)

    async def analytics(self, request: Request) -> Response:
        rec = request.scope[RECORD_KEY]
        if rec.tier != PREMIUM:
            raise HTTPException(403, "premium analytics need a premium plan (ELITE or BLACK)")
        return await self._analytics(request)

    @tier_cache("analytics")
    async def _analytics(self, rec: RequestRecord, user_id: str) -> dict:
        return payloads.analytics(rec.user, await self.store.analytics(rec, user_id))

    def _policy(self, rec: RequestRecord) -> TierPolicy:
        return self.caches[rec.tier].policy

    def register(self, app: FastAPI) -> None:
        """GET routes are plain Starlette routes placed first: FastAPI's per-request dependency solving would cost
        about 40 µs each (as much as all the rest of a cached read), and they take no body. Only the POST goes through
        FastAPI's validation, so only it appears in the OpenAPI schema."""
        app.router.routes[0:0] = [
            TemplateRoute(path, endpoint, methods=["GET"])
            for path, endpoint in (
                ("/api/v1/portfolio", self.portfolio),
                ("/api/v1/portfolio/summary", self.summary),
                ("/api/v1/market/quotes/{symbol}", self.quote),
                ("/api/v1/market/quotes", self.quotes),
                ("/api/v1/watchlist", self.watchlist),
                ("/api/v1/orders", self.list_orders),
                ("/api/v1/analytics/premium", self.analytics),
                ("/health", self.health),
                ("/metrics", self.metrics_text),
            )
        ]
        app.add_api_route(
            "/api/v1/orders", self.place_order, methods=["POST"], status_code=201, response_class=Response
        )


class TemplateRoute(Route):
    """A Starlette route that, like FastAPI's own, leaves itself in scope["route"] (the metrics' endpoint label)."""

    def matches(self, scope) -> tuple[Match, dict]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope
