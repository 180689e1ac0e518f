"""The traffic model: one FastHttpUser class per tier, paced on its own schedule, with weighted endpoints.

Each user signs in as a distinct seeded account of its tier's plans and sends one request per period
(``users / rps`` of its tier: 0.1 s at the seed's 10 req/s per user). Its first request is placed at a
random phase within the period, so users spawned together do not fire in lock-step bursts (Locust's
``constant_throughput`` does, inflating p99 about 16x here). The schedule never slips: when a response
is late the next request goes out at once but keeps its planned ``intended_ts``, which each request
carries in its context with its tier and plan, so latency can be corrected for coordinated omission.
"""

from __future__ import annotations

import random
import time
from typing import ClassVar

import gevent
from locust import FastHttpUser

BATCH_SYMBOLS = 10


def portfolio(user: TierUser) -> None:
    user.get("/api/v1/portfolio", "GET /api/v1/portfolio")


def portfolio_summary(user: TierUser) -> None:
    user.get("/api/v1/portfolio/summary", "GET /api/v1/portfolio/summary")


def quote(user: TierUser) -> None:
    user.get(f"/api/v1/market/quotes/{user.rng.choice(user.symbols)}", "GET /api/v1/market/quotes/{symbol}")


def batch_quotes(user: TierUser) -> None:
    symbols = user.rng.sample(user.symbols, min(BATCH_SYMBOLS, len(user.symbols)))
    user.get(f"/api/v1/market/quotes?symbols={','.join(symbols)}", "GET /api/v1/market/quotes")


def watchlist(user: TierUser) -> None:
    user.get("/api/v1/watchlist", "GET /api/v1/watchlist")


def list_orders(user: TierUser) -> None:
    user.get("/api/v1/orders?limit=20", "GET /api/v1/orders")


def place_order(user: TierUser) -> None:
    order = {
        "symbol": user.rng.choice(user.symbols),
        "side": user.rng.choice(("buy", "sell")),
        "quantity": user.rng.randint(1, 100),
    }
    user.client.post("/api/v1/orders", name="POST /api/v1/orders", json=order, headers=user.headers)


def premium_analytics(user: TierUser) -> None:
    user.get("/api/v1/analytics/premium", "GET /api/v1/analytics/premium")


class TierUser(FastHttpUser):
    """A paced user of one tier; the suite (``environment.trademate``) supplies its profile and account."""

    abstract = True
    tier: ClassVar[str]
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        suite = self.environment.trademate
        profile = suite.profile_for_users()
        load = profile.tiers[self.tier]
        account = suite.pool.take(self.tier, load.plans)
        self.rng = random.Random()
        self.symbols = list(profile.symbols)
        self.headers = {"Authorization": f"Bearer {account.token}", "X-User-Tier": self.tier}
        self.period = load.period_s
        first = time.time() + self.rng.uniform(0.0, self.period)
        self._context = {"tier": self.tier, "plan": account.plan, "intended_ts": first}
        gevent.sleep(max(0.0, first - time.time()))

    def context(self) -> dict:
        return self._context

    def wait_time(self) -> float:
        """Sleep until the next slot of this user's schedule (0 when already late: the slot is kept)."""
        self._context["intended_ts"] += self.period
        return max(0.0, self._context["intended_ts"] - time.time())

    def get(self, path: str, name: str) -> None:
        self.client.get(path, name=name, headers=self.headers)


class SharedTierUser(TierUser):
    """LITE and PRO users: 100 of them send 1000 req/s in the seed's model."""

    tier = "shared"
    tasks: ClassVar = {
        portfolio: 30,
        quote: 25,
        watchlist: 15,
        batch_quotes: 10,
        portfolio_summary: 10,
        list_orders: 5,
        place_order: 5,
    }


class PremiumTierUser(TierUser):
    """ELITE and BLACK users: 50 of them send 500 req/s; they also read premium analytics."""

    tier = "premium"
    tasks: ClassVar = {
        portfolio: 25,
        quote: 25,
        watchlist: 10,
        batch_quotes: 10,
        portfolio_summary: 10,
        premium_analytics: 10,
        list_orders: 5,
        place_order: 5,
    }


TIER_USERS: dict[str, type[TierUser]] = {"shared": SharedTierUser, "premium": PremiumTierUser}
