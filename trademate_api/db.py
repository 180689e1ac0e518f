"""Embedded SQLite backend: open and seed the database file, and run the API's queries with timing and timeouts.

The queries run on the event loop (each is sub-millisecond). What is not is SQLite's WAL checkpoint: by default
the commit that fills the log past 1000 pages copies it into the database and syncs the file, which on a
virtual disk took 85 to 185 ms, and every request in flight waited behind it (about once a minute at 500 req/s:
a premium p95 over its 50 ms limit for one uptime window). So the loop's connection never checkpoints, and a
thread with its own connection checkpoints every ``CHECKPOINT_S`` without blocking readers or writers
(``PASSIVE``); sqlite3 releases the interpreter while SQLite works. That thread does not sync the database file
either: a sync makes the file system commit its journal, and the loop's next append to the log waited for that
commit (a 380 ms checkpoint held the loop 354 ms in a 5-minute premium run). The database is a scratch copy
seeded at start, so the seconds a power cut could lose cost nothing; the log itself is never synced on a commit
(``synchronous=NORMAL``) and is copied as often.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from math import inf
from pathlib import Path
from time import perf_counter

from .seed import SeedData, iso
from .settings import PREMIUM, SHARED, TierPolicy
from .timeouts import DatabaseTimeout

logger = logging.getLogger(__name__)
QUOTE_COLUMNS = "symbol, name, exchange, price, bid, ask, volume, previous_close, day_high, day_low, updated_at"
SQL = {
    "users": "SELECT user_id, plan, tier, token_hash FROM users",
    "portfolio": (
        "SELECT p.symbol, p.quantity, p.average_price, p.realized_pnl, q.price, q.previous_close"
        " FROM portfolio_positions AS p JOIN market_quotes AS q ON q.symbol = p.symbol"
        " WHERE p.user_id = ? ORDER BY p.symbol"
    ),
    "analytics": (
        "SELECT symbol, quantity, average_price, realized_pnl, price, previous_close"
        " FROM portfolio_analytics_premium WHERE user_id = ? ORDER BY symbol"
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
    "fill_trades": (
        "INSERT INTO trades (order_id, user_id, symbol, side, quantity, price, executed_at)"
        " SELECT order_id, user_id, symbol, side, quantity, price, created_at FROM orders WHERE status = 'filled'"
    ),
}
SUMMARY_SQL = {
    tier: "SELECT positions, cost_basis, market_value, realized_pnl, day_change, top_holdings"
    f" FROM portfolio_summary_{tier} WHERE user_id = ?"
    for tier in (SHARED, PREMIUM)
}
NO_TOTALS = (0, 0.0, 0.0, 0.0, 0.0)
SUMMARY_COLUMNS = "user_id, positions, cost_basis, market_value, realized_pnl, day_change, top_holdings"
ANALYTICS_COLUMNS = "user_id, symbol, quantity, average_price, realized_pnl, price, previous_close"
# SQLite's stand-in for PostgreSQL's per-tier materialized views: (summary table, its columns, source view) by tier.
SUMMARY_TABLES = {
    SHARED: (("portfolio_summary_shared", SUMMARY_COLUMNS, "portfolio_summary"),),
    PREMIUM: (
        ("portfolio_summary_premium", SUMMARY_COLUMNS, "portfolio_summary"),
        ("portfolio_analytics_premium", ANALYTICS_COLUMNS, "portfolio_analytics"),
    ),
}
LOG_REFRESH = (
    "INSERT INTO summary_refresh_log (tier, refreshed_at, duration_ms) VALUES (?, ?, ?) ON CONFLICT (tier) DO UPDATE"
    " SET refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms, refreshes = refreshes + 1"
)
PROGRESS_STEPS = 1000  # SQLite VM instructions between two checks of the running statement's deadline
CHECKPOINT_S = 2.0  # how often the checkpointer thread copies the log into the database


def connect(path: Path) -> sqlite3.Connection:
    """One autocommit connection in WAL mode; the event loop is its only user, so no thread check is needed."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def create_and_seed(path: Path, data: SeedData) -> None:
    """(Re)create every table from sql/sqlite-schema.sql, load `data` in one transaction, build the summaries."""
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
        conn.execute(SQL["fill_trades"])
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        for tier in SUMMARY_TABLES:
            refresh_summaries(conn, tier)
    finally:
        conn.close()


def refresh_summaries(conn: sqlite3.Connection, tier: str) -> None:
    """Rebuild the tier's summary tables from their views in one transaction, and log it in summary_refresh_log."""
    started = perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, columns, view in SUMMARY_TABLES[tier]:
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view} WHERE tier = ?", (tier,))
        conn.execute(LOG_REFRESH, (tier, iso(datetime.now(UTC)), (perf_counter() - started) * 1000.0))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def top_holdings(document: str | list) -> list[tuple]:
    """[[symbol, value], ...] as a summary stores it (JSON text in SQLite, jsonb already decoded from PostgreSQL)."""
    return [tuple(pair) for pair in (json.loads(document) if isinstance(document, str) else document)]


class Checkpointer:
    """A thread that checkpoints the WAL of ``path`` every ``CHECKPOINT_S`` until stopped."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=OFF")  # its checkpoints copy pages without syncing the file (module doc)
        try:
            while not self._stop.wait(CHECKPOINT_S):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.exception("the WAL checkpointer of %s stopped", self._path)
        finally:
            conn.close()


class SqliteStore:
    """The API's queries over one connection. Each takes the request record `rec` and adds its DB time to it.

    Methods are coroutines so that a networked backend (pg.PgStore) can replace this class unchanged for the
    handlers; here each runs synchronously on the event loop, since every query is sub-millisecond. A statement
    of a tier that runs past the tier's `statement_timeout_ms` is interrupted (a progress handler checks its
    deadline every PROGRESS_STEPS instructions) and raises DatabaseTimeout; tierless statements have no limit.
    """

    def __init__(self, path: Path, tiers: Mapping[str, TierPolicy] | None = None) -> None:
        self._budgets = {tier: policy.statement_timeout_ms / 1000.0 for tier, policy in (tiers or {}).items()}
        self._deadline = inf
        self._path = path
        self._conn = connect(path)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the event loop
        self._conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
        self._checkpointer: Checkpointer | None = None

    async def open(self) -> None:
        """Start the checkpointer (the connection opened with the store; PgStore opens its pools here)."""
        self._checkpointer = Checkpointer(self._path).start()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._conn.close()

    def _past_deadline(self) -> bool:
        return perf_counter() > self._deadline

    def _fetch(self, rec, sql: str, params: Sequence = ()) -> list[tuple]:
        started = perf_counter()
        self._deadline = started + self._budgets.get(rec.tier, inf)
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise DatabaseTimeout(rec.tier) from exc
            raise
        finally:
            self._deadline = inf
            rec.db_seconds += perf_counter() - started
            rec.db_queries += 1

    async def refresh(self, tier: str) -> None:
        """Rebuild the tier's summary tables (what the refresher calls on the tier's schedule)."""
        refresh_summaries(self._conn, tier)

    async def users(self, rec) -> list[tuple]:
        return self._fetch(rec, SQL["users"])

    async def portfolio(self, rec, user_id: str) -> list[tuple]:
        return self._fetch(rec, SQL["portfolio"], (user_id,))

    async def summary(self, rec, user_id: str) -> tuple[tuple, list[tuple]]:
        """Totals and top holdings from the tier's summary table."""
        rows = self._fetch(rec, SUMMARY_SQL[rec.tier], (user_id,))
        return (rows[0][:5], top_holdings(rows[0][5])) if rows else (NO_TOTALS, [])

    async def analytics(self, rec, user_id: str) -> list[tuple]:
        """A premium user's positions, in the portfolio's row shape, from the analytics summary table."""
        return self._fetch(rec, SQL["analytics"], (user_id,))

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
