"""PostgreSQL backend: apply the seed's SQL and load the data, and run the API's queries over per-tier pools.

Each tier has its own psycopg pool (`TierPolicy.pool_size` connections at most: shared 25, premium 50) whose
connections carry the tier's `statement_timeout` from connect time, so the server itself cancels a statement
that runs too long (premium 20 ms, shared 50 ms); that surfaces as DatabaseTimeout, which the app answers with
a counted 503. Tierless work (start-up loads, view refreshes) goes through a small admin pool with a generous
timeout. Connections are in autocommit, so a read is one round trip; every statement is prepared on its
connection, and get_portfolio is inlined into the prepared statement while place_order (PL/pgSQL) caches its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from importlib import resources
from time import perf_counter

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .db import NO_TOTALS, top_holdings
from .monitor import NO_TIER
from .seed import SeedData
from .settings import PREMIUM, SHARED, TierPolicy
from .timeouts import DatabaseTimeout

ADMIN_TIMEOUT_MS = 60_000  # start-up loads and view refreshes
POOL_WAIT_S = 2.0  # longest wait for a free connection before the request is answered 503
OPEN_TIMEOUT_S = 15.0
SEED_LOCK = 72_406_011  # advisory lock: two processes seeding one database take turns
SCHEMES = ("postgresql://", "postgres://")
# Autocommit: a read is one round trip. The API runs a handful of fixed statements, so each is prepared on a
# connection at its first use rather than its fifth (a pool of 50 would otherwise plan each one 250 times).
CONNECTION_KWARGS = {"autocommit": True, "prepare_threshold": 0}
TABLES = ("users", "market_quotes", "portfolio_positions", "watchlists", "orders", "trades")

QUOTE_COLUMNS = (
    "symbol, name, exchange, price, bid, ask, volume, previous_close, day_high, day_low, iso_utc(updated_at)"
)
SQL = {
    "users": "SELECT user_id, plan, tier, token_hash FROM users",
    "portfolio": "SELECT symbol, quantity, average_price, realized_pnl, price, previous_close FROM get_portfolio(%s)",
    "analytics": (
        "SELECT symbol, quantity, average_price, realized_pnl, price, previous_close"
        " FROM mv_portfolio_analytics_premium WHERE user_id = %s ORDER BY symbol"
    ),
    "quote": f"SELECT {QUOTE_COLUMNS} FROM market_quotes WHERE symbol = %s",
    "some_quotes": f"SELECT {QUOTE_COLUMNS} FROM market_quotes WHERE symbol = ANY(%s)",
    "all_quotes": f"SELECT {QUOTE_COLUMNS} FROM market_quotes ORDER BY symbol",
    "watchlist": (
        "SELECT q.symbol, q.name, q.price, q.bid, q.ask, q.previous_close, q.volume"
        " FROM watchlists AS w JOIN market_quotes AS q ON q.symbol = w.symbol WHERE w.user_id = %s ORDER BY w.symbol"
    ),
    "orders": (
        "SELECT order_id, symbol, side, quantity, price, status, iso_utc(created_at) FROM orders"
        " WHERE user_id = %s ORDER BY created_at DESC, order_id DESC LIMIT %s"
    ),
    "place_order": "SELECT * FROM place_order(%s, %s, %s, %s, %s)",
    "refresh": "SELECT refresh_tier_views(%s)",
}
SUMMARY_SQL = {
    tier: "SELECT positions, cost_basis, market_value, realized_pnl, day_change, top_holdings"
    f" FROM mv_portfolio_summary_{tier} WHERE user_id = %s"
    for tier in (SHARED, PREMIUM)
}
COPY_COLUMNS = {
    "users": "user_id, plan, tier, token_hash",
    "market_quotes": "symbol, name, exchange, price, bid, ask, volume, previous_close, day_high, day_low, updated_at",
    "portfolio_positions": "user_id, symbol, quantity, average_price, realized_pnl",
    "watchlists": "user_id, symbol",
    "orders": "user_id, symbol, side, quantity, price, status, created_at",
}
FILL_TRADES = (
    "INSERT INTO trades (order_id, user_id, symbol, side, quantity, price, executed_at)"
    " SELECT order_id, user_id, symbol, side, quantity, price, created_at FROM orders WHERE status = 'filled'"
)


def is_postgres_url(url: str) -> bool:
    return url.startswith(SCHEMES)


def schema_sql() -> str:
    return resources.files(__package__).joinpath("sql/database-optimization.sql").read_text(encoding="utf-8")


def conninfo(url: str, name: str, statement_timeout_ms: int) -> str:
    """`url` with `-c statement_timeout=...` (and an application_name) added to any libpq options it carries."""
    options = conninfo_to_dict(url).get("options") or ""
    timeout = f"-c statement_timeout={int(statement_timeout_ms)}"
    return make_conninfo(url, options=f"{options} {timeout}".strip(), application_name=f"trademate-api-{name}")


def create_and_seed(url: str, data: SeedData) -> None:
    """Apply database-optimization.sql (idempotent), replace every row with `data`, populate the views, analyze.

    An unreachable server is reported as ConnectionError (an OSError, as the command line expects of I/O failures).
    """
    try:
        conn = psycopg.connect(conninfo(url, "seed", ADMIN_TIMEOUT_MS), autocommit=True)
    except psycopg.OperationalError as exc:
        raise ConnectionError(f"cannot connect to PostgreSQL: {exc}") from exc
    with conn:
        conn.execute("SET client_min_messages = warning")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEED_LOCK,))
            conn.execute(schema_sql())
            conn.execute(f"TRUNCATE {', '.join(TABLES)}, mv_refresh_log")
            conn.execute("SELECT setval('orders_order_id_seq', 1, false), setval('trades_trade_id_seq', 1, false)")
            for table, rows in (
                ("users", data.users), ("market_quotes", data.quotes), ("portfolio_positions", data.positions),
                ("watchlists", data.watchlists), ("orders", data.orders),
            ):  # fmt: skip
                _copy(conn, table, rows)
            conn.execute(FILL_TRADES)
            for tier in (PREMIUM, SHARED):
                conn.execute("SELECT refresh_tier_views(%s, false)", (tier,))
        # Fresh statistics for the planner, and a visibility map so portfolio reads are index-only scans.
        conn.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")


def _copy(conn: psycopg.Connection, table: str, rows: Sequence[tuple]) -> None:
    with conn.cursor().copy(f"COPY {table} ({COPY_COLUMNS[table]}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


class PgStore:
    """The API's queries over per-tier pools, with the interface of db.SqliteStore.

    Each method takes the request record `rec`, runs on the pool of `rec.tier` (tierless work: the admin pool)
    and adds its database time, pool wait included, to the record.
    """

    def __init__(self, url: str, tiers: Mapping[str, TierPolicy]) -> None:
        self._pools = {
            tier: _pool(conninfo(url, tier, policy.statement_timeout_ms), tier, policy.pool_size)
            for tier, policy in tiers.items()
        }
        self._pools[NO_TIER] = _pool(conninfo(url, "admin", ADMIN_TIMEOUT_MS), "admin", 2, min_size=1)

    async def open(self) -> None:
        """Open every pool and wait for its first connections: a wrong URL fails start-up, not the first request."""
        await asyncio.gather(*(pool.open(wait=True, timeout=OPEN_TIMEOUT_S) for pool in self._pools.values()))

    async def close(self) -> None:
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))

    async def _fetch(self, rec, sql: str, params: Sequence = ()) -> list[tuple]:
        started = perf_counter()
        try:
            async with self._pools[rec.tier].connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall()
        except (psycopg.errors.QueryCanceled, PoolTimeout) as exc:
            raise DatabaseTimeout(rec.tier) from exc
        finally:
            rec.db_seconds += perf_counter() - started
            rec.db_queries += 1

    async def refresh(self, tier: str) -> None:
        """REFRESH MATERIALIZED VIEW CONCURRENTLY on the tier's views, logged in mv_refresh_log."""
        async with self._pools[NO_TIER].connection() as conn:
            await conn.execute(SQL["refresh"], (tier,))

    async def users(self, rec) -> list[tuple]:
        return await self._fetch(rec, SQL["users"])

    async def portfolio(self, rec, user_id: str) -> list[tuple]:
        return await self._fetch(rec, SQL["portfolio"], (user_id,))

    async def summary(self, rec, user_id: str) -> tuple[tuple, list[tuple]]:
        """Totals and top holdings from the tier's materialized summary view."""
        rows = await self._fetch(rec, SUMMARY_SQL[rec.tier], (user_id,))
        return (rows[0][:5], top_holdings(rows[0][5])) if rows else (NO_TOTALS, [])

    async def analytics(self, rec, user_id: str) -> list[tuple]:
        """A premium user's positions, in the portfolio's row shape, from the analytics materialized view."""
        return await self._fetch(rec, SQL["analytics"], (user_id,))

    async def quote(self, rec, symbol: str) -> tuple | None:
        rows = await self._fetch(rec, SQL["quote"], (symbol,))
        return rows[0] if rows else None

    async def quotes(self, rec, symbols: Sequence[str] | None = None) -> list[tuple]:
        if symbols is None:
            return await self._fetch(rec, SQL["all_quotes"])
        return await self._fetch(rec, SQL["some_quotes"], (list(symbols),))

    async def watchlist(self, rec, user_id: str) -> list[tuple]:
        return await self._fetch(rec, SQL["watchlist"], (user_id,))

    async def recent_orders(self, rec, user_id: str, limit: int) -> list[tuple]:
        return await self._fetch(rec, SQL["orders"], (user_id, limit))

    async def place_order(self, rec, user_id: str, symbol: str, side: str, quantity: int, price: float | None) -> tuple:
        """Record a new order through the stored function place_order and return it as an `orders` row."""
        return (await self._fetch(rec, SQL["place_order"], (user_id, symbol, side, quantity, price)))[0]


def _pool(info: str, name: str, max_size: int, min_size: int | None = None) -> AsyncConnectionPool:
    """A pool that opens a few connections up front and grows on demand up to `max_size`."""
    return AsyncConnectionPool(
        info, min_size=min_size or max(2, max_size // 10), max_size=max_size, name=f"trademate-{name}",
        kwargs=CONNECTION_KWARGS, timeout=POOL_WAIT_S, open=False,
    )  # fmt: skip
