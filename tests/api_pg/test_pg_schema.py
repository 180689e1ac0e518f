"""database-optimization.sql on real PostgreSQL: idempotent, partitions by month, an index-only portfolio read,
and tier connections whose statements the server cancels at the tier's timeout."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from trademate_api import pg, seed
from trademate_api.settings import TIER_POLICIES

CATALOG = """
SELECT c.relname, c.relkind::text FROM pg_class AS c WHERE c.relnamespace = current_schema()::regnamespace
UNION ALL
SELECT p.proname, 'function' FROM pg_proc AS p WHERE p.pronamespace = current_schema()::regnamespace
ORDER BY 1, 2
"""


def apply_schema(conn: psycopg.Connection) -> list[tuple[str, str]]:
    conn.execute("SET client_min_messages = warning")
    conn.execute(pg.schema_sql())
    return conn.execute(CATALOG).fetchall()


def month_partition(table: str, moment: datetime) -> str:
    return f"{table}_y{moment:%Y}m{moment:%m}"


def test_sql_applies_cleanly_twice(fresh_schema: str):
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        first = apply_schema(conn)
        second = apply_schema(conn)
    assert second == first
    objects = dict(first)
    assert objects["idx_portfolio_premium_covering"] == "i"
    assert {objects[name] for name in ("orders", "trades")} == {"p"}  # partitioned tables
    assert {name for name, kind in first if kind == "m"} == {
        "mv_portfolio_summary_shared", "mv_portfolio_summary_premium", "mv_portfolio_analytics_premium",
    }  # fmt: skip
    assert {"get_portfolio", "place_order", "refresh_tier_views", "ensure_monthly_partitions"} <= set(objects)
    now = datetime.now(UTC)
    for table in ("orders", "trades"):
        assert {f"{table}_default", month_partition(table, now)} <= set(objects)
        monthly = [name for name, kind in first if kind == "r" and name.startswith(f"{table}_y")]
        assert len(monthly) == 6  # 2 months back, the current one, 3 ahead


def test_covering_index_definition(fresh_schema: str):
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        apply_schema(conn)
        (definition,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_portfolio_premium_covering'"
        ).fetchone()
    covering = "USING btree (user_id, symbol) INCLUDE (quantity, average_price, realized_pnl)"
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert definition.endswith(f"portfolio_positions {covering}")


def test_new_partition_takes_over_its_rows_from_the_default_partition(fresh_schema: str):
    now = datetime.now(UTC)
    year, month = divmod(now.year * 12 + now.month - 1 + 4, 12)  # 4 months ahead: beyond the partitions made
    later = datetime(year, month + 1, 15, tzinfo=UTC)
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        apply_schema(conn)
        conn.execute("INSERT INTO users VALUES ('u1', 'LITE', 'shared', 'h')")
        conn.execute("INSERT INTO market_quotes VALUES ('AAPL', 'Apple', 'NASDAQ', 1, 1, 1, 1, 1, 1, 1, now())")
        conn.execute(
            "INSERT INTO orders (user_id, symbol, side, quantity, status, created_at) VALUES (%s, %s, %s, %s, %s, %s)",
            ("u1", "AAPL", "buy", 1, "accepted", later),
        )
        where = "SELECT tableoid::regclass::text FROM orders"
        assert conn.execute(where).fetchone() == ("orders_default",)
        assert conn.execute("SELECT ensure_monthly_partitions('orders', 2, 4)").fetchone() == (1,)
        assert conn.execute(where).fetchone() == (month_partition("orders", later),)


def test_portfolio_read_is_an_index_only_scan_of_the_covering_index(fresh_schema: str):
    pg.create_and_seed(fresh_schema, seed.generate(200, 7))  # 800 users, about 8000 positions, analyzed
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        custom = [row[0] for row in conn.execute(f"EXPLAIN {pg.SQL['portfolio']}", ("elite-0001",))]
        # The API's statement is prepared after a few uses: its generic plan must use the index too.
        conn.execute(f"PREPARE portfolio_read (text) AS {pg.SQL['portfolio'].replace('%s', '$1')}")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        generic = [row[0] for row in conn.execute("EXPLAIN EXECUTE portfolio_read ('elite-0001')")]
        rows = conn.execute(pg.SQL["portfolio"], ("elite-0001",)).fetchall()
    scan = "Index Only Scan using idx_portfolio_premium_covering on portfolio_positions"
    assert any(scan in line for line in custom), "\n".join(custom)
    assert any(scan in line for line in generic), "\n".join(generic)
    assert 5 <= len(rows) <= 15
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


@pytest.mark.parametrize("tier", ["premium", "shared"])
def test_tier_connections_have_the_server_cancel_slow_statements(scratch_db: str, tier: str):
    timeout_ms = TIER_POLICIES[tier].statement_timeout_ms
    with psycopg.connect(pg.conninfo(scratch_db, tier, timeout_ms), autocommit=True) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == (f"{timeout_ms}ms",)
        conn.execute("SELECT pg_sleep(%s)", (timeout_ms / 4000,))  # well within the budget
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT pg_sleep(0.5)")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection stays usable


def test_conninfo_keeps_the_options_a_url_already_has():
    info = psycopg.conninfo.conninfo_to_dict(
        pg.conninfo("postgresql://u@h/db?options=-csearch_path%3Dx", "premium", 20)
    )
    assert info["options"] == "-csearch_path=x -c statement_timeout=20"
    assert info["application_name"] == "trademate-api-premium"
