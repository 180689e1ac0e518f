"""Generate the seed data set: users with fresh random tokens, quotes, positions, watchlists and past orders."""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .settings import PLAN_TIERS

# symbol -> (name, exchange, reference price)
INSTRUMENTS = {
    "AAPL": ("Apple Inc.", "NASDAQ", 189.84),
    "MSFT": ("Microsoft Corporation", "NASDAQ", 415.26),
    "GOOGL": ("Alphabet Inc. Class A", "NASDAQ", 171.95),
    "AMZN": ("Amazon.com Inc.", "NASDAQ", 183.54),
    "NVDA": ("NVIDIA Corporation", "NASDAQ", 118.11),
    "META": ("Meta Platforms Inc.", "NASDAQ", 494.16),
    "TSLA": ("Tesla Inc.", "NASDAQ", 177.46),
    "JPM": ("JPMorgan Chase & Co.", "NYSE", 198.88),
    "V": ("Visa Inc.", "NYSE", 276.57),
    "MA": ("Mastercard Inc.", "NYSE", 451.03),
    "UNH": ("UnitedHealth Group Inc.", "NYSE", 492.71),
    "HD": ("The Home Depot Inc.", "NYSE", 341.35),
    "PG": ("Procter & Gamble Co.", "NYSE", 166.11),
    "JNJ": ("Johnson & Johnson", "NYSE", 147.03),
    "XOM": ("Exxon Mobil Corporation", "NYSE", 113.42),
    "BAC": ("Bank of America Corporation", "NYSE", 39.48),
    "KO": ("The Coca-Cola Company", "NYSE", 62.63),
    "PEP": ("PepsiCo Inc.", "NASDAQ", 172.91),
    "COST": ("Costco Wholesale Corporation", "NASDAQ", 812.44),
    "WMT": ("Walmart Inc.", "NYSE", 66.49),
    "DIS": ("The Walt Disney Company", "NYSE", 101.37),
    "NFLX": ("Netflix Inc.", "NASDAQ", 641.55),
    "ADBE": ("Adobe Inc.", "NASDAQ", 474.61),
    "CRM": ("Salesforce Inc.", "NYSE", 248.65),
    "ORCL": ("Oracle Corporation", "NYSE", 124.37),
    "INTC": ("Intel Corporation", "NASDAQ", 30.96),
    "AMD": ("Advanced Micro Devices Inc.", "NASDAQ", 160.35),
    "CSCO": ("Cisco Systems Inc.", "NASDAQ", 46.71),
    "QCOM": ("Qualcomm Inc.", "NASDAQ", 199.32),
    "AVGO": ("Broadcom Inc.", "NASDAQ", 1407.84),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """One seeded user's login, as written to the credentials file; the token exists only here and in that file."""

    user_id: str
    plan: str
    tier: str
    token: str


@dataclass(frozen=True, slots=True)
class SeedData:
    """Rows ready for insertion (tuples in schema column order) and the plain-text credentials."""

    credentials: list[Credential]
    users: list[tuple]
    quotes: list[tuple]
    positions: list[tuple]
    watchlists: list[tuple]
    orders: list[tuple]


def hash_token(token: bytes | str) -> str:
    """sha256 hex digest of a bearer token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generate(users_per_plan: int, seed: int, now: datetime | None = None) -> SeedData:
    """Build the whole data set; market data is reproducible from `seed`, tokens are always fresh."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    symbols = list(INSTRUMENTS)
    quotes = [_quote(rng, symbol, now) for symbol in symbols]
    prices = {row[0]: row[3] for row in quotes}
    credentials, users, positions, watchlists, orders = [], [], [], [], []
    for plan, tier in PLAN_TIERS.items():
        for number in range(1, users_per_plan + 1):
            user_id = f"{plan.lower()}-{number:04d}"
            token = secrets.token_urlsafe(32)
            credentials.append(Credential(user_id, plan, tier, token))
            users.append((user_id, plan, tier, hash_token(token)))
            for symbol in rng.sample(symbols, rng.randint(5, 15)):
                cost = round(prices[symbol] * rng.uniform(0.6, 1.25), 2)
                positions.append((user_id, symbol, rng.randint(1, 400), cost, round(rng.uniform(-2500, 6000), 2)))
            watchlists.extend((user_id, symbol) for symbol in rng.sample(symbols, rng.randint(5, 10)))
            for _ in range(rng.randint(3, 8)):
                symbol = rng.choice(symbols)
                created = now - timedelta(minutes=rng.randint(10, 60 * 24 * 30))
                price = round(prices[symbol] * rng.uniform(0.9, 1.1), 2)
                side, status = rng.choice(("buy", "sell")), rng.choice(("filled", "filled", "filled", "cancelled"))
                orders.append((user_id, symbol, side, rng.randint(1, 200), price, status, iso(created)))
    orders.sort(key=lambda row: row[-1])
    return SeedData(credentials, users, quotes, positions, watchlists, orders)


def _quote(rng: random.Random, symbol: str, now: datetime) -> tuple:
    name, exchange, reference = INSTRUMENTS[symbol]
    previous_close = round(reference, 2)
    price = round(reference * rng.uniform(0.97, 1.03), 2)
    half_spread = max(0.01, round(price * 0.0002, 2))
    high = round(max(price, previous_close) * rng.uniform(1.0, 1.015), 2)
    low = round(min(price, previous_close) * rng.uniform(0.985, 1.0), 2)
    volume = rng.randint(2_000_000, 90_000_000)
    return (
        symbol,
        name,
        exchange,
        price,
        round(price - half_spread, 2),
        round(price + half_spread, 2),
        volume,
        previous_close,
        high,
        low,
        iso(now),
    )
