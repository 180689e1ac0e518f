"""The request mix: what a user of each tier sends, as plain functions of a client, with their weights.

Each function draws its parameters from ``client.rng`` and ``client.symbols`` and sends one request with
``client.get(path, name)`` or ``client.post(path, name, body)``, named by its stable endpoint name. The
suite's Locust users (:mod:`trademate_load.users`) are such clients; the SLA probe
(:mod:`trademate_load.probe`) records what the same functions would send. Nothing here imports locust.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

BATCH_SYMBOLS = 10


class Client(Protocol):
    rng: random.Random
    symbols: Sequence[str]

    def get(self, path: str, name: str) -> None: ...

    def post(self, path: str, name: str, body: dict) -> None: ...


def portfolio(user: Client) -> None:
    user.get("/api/v1/portfolio", "GET /api/v1/portfolio")


def portfolio_summary(user: Client) -> None:
    user.get("/api/v1/portfolio/summary", "GET /api/v1/portfolio/summary")


def quote(user: Client) -> None:
    user.get(f"/api/v1/market/quotes/{user.rng.choice(user.symbols)}", "GET /api/v1/market/quotes/{symbol}")


def batch_quotes(user: Client) -> None:
    symbols = user.rng.sample(list(user.symbols), min(BATCH_SYMBOLS, len(user.symbols)))
    user.get(f"/api/v1/market/quotes?symbols={','.join(symbols)}", "GET /api/v1/market/quotes")


def watchlist(user: Client) -> None:
    user.get("/api/v1/watchlist", "GET /api/v1/watchlist")


def list_orders(user: Client) -> None:
    user.get("/api/v1/orders?limit=20", "GET /api/v1/orders")


def place_order(user: Client) -> None:
    order = {
        "symbol": user.rng.choice(user.symbols),
        "side": user.rng.choice(("buy", "sell")),
        "quantity": user.rng.randint(1, 100),
    }
    user.post("/api/v1/orders", "POST /api/v1/orders", order)


def premium_analytics(user: Client) -> None:
    user.get("/api/v1/analytics/premium", "GET /api/v1/analytics/premium")


Request = Callable[[Client], None]
SHARED_REQUESTS: dict[Request, int] = {  # request function: weight
    portfolio: 30,
    quote: 25,
    watchlist: 15,
    batch_quotes: 10,
    portfolio_summary: 10,
    list_orders: 5,
    place_order: 5,
}
PREMIUM_REQUESTS: dict[Request, int] = {
    portfolio: 25,
    quote: 25,
    watchlist: 10,
    batch_quotes: 10,
    portfolio_summary: 10,
    premium_analytics: 10,
    list_orders: 5,
    place_order: 5,
}
TIER_REQUESTS = {"shared": SHARED_REQUESTS, "premium": PREMIUM_REQUESTS}


class Recorder:
    """A client that sends nothing: it keeps the (method, path, body, name) of each request asked of it."""

    def __init__(self, rng: random.Random, symbols: Sequence[str]):
        self.rng, self.symbols = rng, symbols
        self.sent: list[tuple[str, str, dict | None, str]] = []

    def get(self, path: str, name: str) -> None:
        self.sent.append(("GET", path, None, name))

    def post(self, path: str, name: str, body: dict) -> None:
        self.sent.append(("POST", path, body, name))


def endpoint_name(request: Request) -> str:
    """The stable endpoint name a request function sends under."""
    recorder = Recorder(random.Random(0), ("AAPL",))
    request(recorder)
    return recorder.sent[0][3]
