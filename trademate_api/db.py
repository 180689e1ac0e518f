"""Embedded SQLite backend: open and seed the database file, and run the API's queries with timing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from time import perf_counter

from .seed import SeedData, iso

QUOTE_COLUMNS = "symbol, name, exchange, price, bid, ask, volume, previous_close, day_high, day_low, updated_at"
SQL = {
    "users": "SELECT user_id, plan, tier, token_hash FROM users",
    "portfolio": (
        "SELECT p.symbol, p.quantity, p.average_price, p.realized_pnl, q.price, q.previous_close"
        " FROM portfolio_positions AS p JOIN market_quotes AS q ON q.symbol = p.symbol"
        " WHERE p.user_id = ? ORDER BY p.symbol"
    ),
    "summary": (
        "SELECT COUNT(*), SUM(p.quantity * p.average_price), SUM(p.quantity * q.price), SUM(p.realized_pnl),"
        " SUM(p.quantity * (q.price - q.previous_close))"
        " FROM portfolio_positions AS p JOIN market_quotes AS q ON q.symbol = p.symbol WHERE p.user_id = ?"
    ),
    "top_holdings": (
        "SELECT p.symbol, p.quantity * q.price AS value"
        " FROM portfolio_positions AS p JOIN market_quotes AS q ON q.symbol = p.symbol"
        " WHERE p.user_id = ? ORDER BY value DESC LIMIT 3"
    ),
    "quote": f"SELECT {QUOTE_COLUMNS} FROM market_quotes WHERE symbol = ?",
    "all_quotes": f"SELECT {QUOTE_COLUMNS} FROM market_quotes ORDER BY symbol",
    "watchlist": (
        "SELECT q.symbol, q.name, q.price, q.bid, q.ask, q.previous_close, q.volume"
        " FROM watchlists AS w JOIN market_quotes AS q ON q.symbol = w.symbol WHERE w.user_id = ? ORDER BY w.symbol"
    ),
    "orders": (
        "SELECT order_id, symbol, side, quantity, price, status, created_at FROM orders"
        " WHERE user_id = ? ORDER BY created_at DESC, order_id DESC LIMIT ?"
    ),
    "insert_order": (
        "INSERT INTO orders (user_id, symbol, side, quantity, price, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING order_id"
    ),
}


def connect(path: Path) -> sqlite3.Connection:
    """One autocommit connection in WAL mode; the event loop is its only user, so no thread check is needed."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def create_and_seed(path: Path, data: SeedData) -> None:
    """(Re)create every table from sql/sqlite-schema.sql and load `data` in one transaction."""
    schema = resources.files(__package__).joinpath("sql/sqlite-schema.sql").read_text(encoding="utf-8")
    conn = connect(path)
    try:
        conn.executescript(schema)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", data.users)
        conn.executemany(f"INSERT INTO market_quotes ({QUOTE_COLUMNS}) VALUES ({', '.join('?' * 11)})", data.quotes)
        conn.executemany("INSERT INTO portfolio_positions VALUES (?, ?, ?, ?, ?)", data.positions)
        conn.executemany("INSERT INTO watchlists VALUES (?, ?)", data.watchlists)
        conn.executemany(SQL["insert_order"].removesuffix(" RETURNING order_id"), data.orders)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


class SqliteStore:
    """The API's queries over one connection. Each takes the request record `rec` and adds its DB time to it.

    Methods are coroutines so that a networked backend (PostgreSQL) can replace this class unchanged for the
    handlers; here each runs synchronously on the event loop, since every query is sub-millisecond.
    """

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)

    def close(self) -> None:
        self._conn.close()

    def _fetch(self, rec, sql: str, params: Sequence = ()) -> list[tuple]:
        started = perf_counter()
        try:
            return self._conn.execute(sql, params).fetchall()
        finally:
            rec.db_seconds += perf_counter() - started
            rec.db_queries += 1

    async def users(self, rec) -> list[tuple]:
        return self._fetch(rec, SQL["users"])

    async def portfolio(self, rec, user_id: str) -> list[tuple]:
        return self._fetch(rec, SQL["portfolio"], (user_id,))

    async def summary(self, rec, user_id: str) -> tuple[tuple, list[tuple]]:
        return self._fetch(rec, SQL["summary"], (user_id,))[0], self._fetch(rec, SQL["top_holdings"], (user_id,))

    async def quote(self, rec, symbol: str) -> tuple | None:
        rows = self._fetch(rec, SQL["quote"], (symbol,))
        return rows[0] if rows else None

    async def quotes(self, rec, symbols: Sequence[str] | None = None) -> list[tuple]:
        if symbols is None:
            return self._fetch(rec, SQL["all_quotes"])
        placeholders = ", ".join("?" * len(symbols))
        return self._fetch(rec, f"SELECT {QUOTE_COLUMNS} FROM market_quotes WHERE symbol IN ({placeholders})", symbols)

    async def watchlist(self, rec, user_id: str) -> list[tuple]:
        return self._fetch(rec, SQL["watchlist"], (user_id,))

    async def recent_orders(self, rec, user_id: str, limit: int) -> list[tuple]:
        return self._fetch(rec, SQL["orders"], (user_id, limit))

    async def place_order(self, rec, user_id: str, symbol: str, side: str, quantity: int, price: float | None) -> tuple:
        """Record a new order (status `accepted`) and return it as an `orders` row."""
        created_at = iso(datetime.now(UTC))
        params = (user_id, symbol, side, quantity, price, "accepted", created_at)
        (order_id,) = self._fetch(rec, SQL["insert_order"], params)[0]
        return (order_id, symbol, side, quantity, price, "accepted", created_at)
