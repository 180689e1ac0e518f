-- TradeMate reference API: the seed's database optimizations for PostgreSQL (15 or later).
--
-- Idempotent: applying it again to a database that already has it changes nothing (CREATE ... IF NOT EXISTS,
-- CREATE OR REPLACE FUNCTION, guarded partition creation). Objects go to the first schema of search_path.
-- Applied by trademate_api.pg.create_and_seed before the synthetic data is (re)loaded.
--
-- What it provides:
--   * the trading tables, with the covering index idx_portfolio_premium_covering for portfolio reads;
--   * orders and trades partitioned by month (UTC), with a DEFAULT partition for anything outside the range;
--   * per-tier materialized views for the portfolio summary (shared, premium) and analytics (premium), each with
--     a unique index so that REFRESH MATERIALIZED VIEW CONCURRENTLY works; refresh_tier_views(tier) refreshes a
--     tier's views and records it in mv_refresh_log (the API calls it every 60 s for premium, 300 s for shared);
--   * functions get_portfolio(user_id) and place_order(...), the API's portfolio read and order entry.
-- Per-tier statement timeouts (premium 20 ms, shared 50 ms) are set on the API's connection pools at connect time
-- (libpq options `-c statement_timeout=...`), so the server cancels a slow statement whatever the client does.
-- Prices are double precision, like the embedded SQLite schema (sql/sqlite-schema.sql), so both backends return
-- the same floats.

CREATE TABLE IF NOT EXISTS users (
    user_id    text PRIMARY KEY,
    plan       text NOT NULL CHECK (plan IN ('LITE', 'PRO', 'ELITE', 'BLACK')),
    tier       text NOT NULL CHECK (tier IN ('shared', 'premium')),
    token_hash text NOT NULL UNIQUE  -- sha256 hex of the bearer token; the token itself is never stored
);

CREATE TABLE IF NOT EXISTS market_quotes (
    symbol         text PRIMARY KEY,
    name           text NOT NULL,
    exchange       text NOT NULL,
    price          double precision NOT NULL,
    bid            double precision NOT NULL,
    ask            double precision NOT NULL,
    volume         bigint NOT NULL,
    previous_close double precision NOT NULL,
    day_high       double precision NOT NULL,
    day_low        double precision NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- The portfolio read is answered from this index alone (Index Only Scan): the key finds a user's positions in
-- symbol order, the INCLUDE columns carry the rest. Being unique, it is also the table's key: no second index on
-- (user_id, symbol) competes with it or has to be maintained.
CREATE TABLE IF NOT EXISTS portfolio_positions (
    user_id       text NOT NULL REFERENCES users (user_id),
    symbol        text NOT NULL REFERENCES market_quotes (symbol),
    quantity      integer NOT NULL,
    average_price double precision NOT NULL,
    realized_pnl  double precision NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_portfolio_premium_covering
    ON portfolio_positions (user_id, symbol) INCLUDE (quantity, average_price, realized_pnl);

CREATE TABLE IF NOT EXISTS watchlists (
    user_id text NOT NULL REFERENCES users (user_id),
    symbol  text NOT NULL REFERENCES market_quotes (symbol),
    PRIMARY KEY (user_id, symbol)
);

-- Orders and trades, partitioned by month. A partitioned table's primary key must contain the partition key.
CREATE SEQUENCE IF NOT EXISTS orders_order_id_seq AS bigint;
CREATE TABLE IF NOT EXISTS orders (
    order_id   bigint NOT NULL DEFAULT nextval('orders_order_id_seq'),
    user_id    text NOT NULL REFERENCES users (user_id),
    symbol     text NOT NULL REFERENCES market_quotes (symbol),
    side       text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity   integer NOT NULL CHECK (quantity > 0),
    price      double precision,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX IF NOT EXISTS idx_orders_user_created ON orders (user_id, created_at DESC, order_id DESC);

CREATE SEQUENCE IF NOT EXISTS trades_trade_id_seq AS bigint;
CREATE TABLE IF NOT EXISTS trades (
    trade_id    bigint NOT NULL DEFAULT nextval('trades_trade_id_seq'),
    order_id    bigint NOT NULL,
    user_id     text NOT NULL REFERENCES users (user_id),
    symbol      text NOT NULL REFERENCES market_quotes (symbol),
    side        text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity    integer NOT NULL CHECK (quantity > 0),
    price       double precision NOT NULL,
    executed_at timestamptz NOT NULL,
    PRIMARY KEY (trade_id, executed_at)
) PARTITION BY RANGE (executed_at);
CREATE INDEX IF NOT EXISTS idx_trades_user_executed ON trades (user_id, executed_at DESC);

-- Monthly partitions [first of month, first of next month) in UTC, named <table>_yYYYYmMM, from `months_back`
-- before the current month to `months_ahead` after it, plus <table>_default. Existing partitions are left alone.
-- A new month's rows may already sit in the default partition: they are moved into the new partition before it
-- is attached (attaching would otherwise fail). Returns the number of partitions created.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_back integer, months_ahead integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    table_name  text;
    key_column  text;
    first_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => months_back);
    low         timestamptz;
    high        timestamptz;
    part        text;
    created     integer := 0;
BEGIN
    SELECT n.nspname, c.relname, a.attname
      INTO schema_name, table_name, key_column
      FROM pg_class AS c
      JOIN pg_namespace AS n ON n.oid = c.relnamespace
      JOIN pg_partitioned_table AS pt ON pt.partrelid = c.oid
      JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
     WHERE c.oid = parent;
    IF table_name IS NULL THEN
        RAISE EXCEPTION '% is not a table partitioned on a column', parent;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %s DEFAULT',
                   schema_name, table_name || '_default', parent);
    FOR step IN 0 .. months_back + months_ahead LOOP
        low  := (first_month + make_interval(months => step)) AT TIME ZONE 'UTC';
        high := (first_month + make_interval(months => step + 1)) AT TIME ZONE 'UTC';
        part := table_name || to_char(first_month + make_interval(months => step), '"_y"YYYY"m"MM');
        CONTINUE WHEN to_regclass(format('%I.%I', schema_name, part)) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       schema_name, part, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I.%I WHERE %I >= %L AND %I < %L RETURNING *) '
                       'INSERT INTO %I.%I SELECT * FROM moved',
                       schema_name, table_name || '_default', key_column, low, key_column, high, schema_name, part);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, schema_name, part, low, high);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;

SELECT ensure_monthly_partitions('orders', 2, 3);
SELECT ensure_monthly_partitions('trades', 2, 3);

-- Timestamps leave the database as the API writes them: ISO 8601, UTC, milliseconds, 'Z'.
CREATE OR REPLACE FUNCTION iso_utc(moment timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

-- The portfolio read: a user's positions in symbol order with the current quote. A STABLE, non-strict SQL
-- function returning a set is inlined into the calling query, so `SELECT * FROM get_portfolio($1)` is planned
-- (and prepared) as the join itself: an Index Only Scan on idx_portfolio_premium_covering.
CREATE OR REPLACE FUNCTION get_portfolio(p_user_id text)
RETURNS TABLE (symbol text, quantity integer, average_price double precision, realized_pnl double precision,
               price double precision, previous_close double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.symbol, p.quantity, p.average_price, p.realized_pnl, q.price, q.previous_close
      FROM portfolio_positions AS p
      JOIN market_quotes AS q ON q.symbol = p.symbol
     WHERE p.user_id = p_user_id
     ORDER BY p.symbol
$$;

-- Order entry: record the order as `accepted` and return it as the API shows it. PL/pgSQL, so that its INSERT
-- is planned once per session rather than on every call; the row is routed to its month's partition.
CREATE OR REPLACE FUNCTION place_order(p_user_id text, p_symbol text, p_side text, p_quantity integer,
                                       p_price double precision)
RETURNS TABLE (order_id bigint, symbol text, side text, quantity integer, price double precision, status text,
               created_at text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    INSERT INTO orders AS o (user_id, symbol, side, quantity, price, status)
    VALUES (p_user_id, p_symbol, p_side, p_quantity, p_price, 'accepted')
    RETURNING o.order_id, o.symbol, o.side, o.quantity, o.price, o.status, iso_utc(o.created_at);
END
$$;

-- Portfolio summary of every user, the source of the per-tier materialized views below: totals and the three
-- largest holdings as a JSON array of [symbol, market value] pairs.
CREATE OR REPLACE VIEW portfolio_summary AS
SELECT u.user_id,
       u.tier,
       count(p.symbol)::integer                                         AS positions,
       coalesce(sum(p.quantity * p.average_price), 0)                   AS cost_basis,
       coalesce(sum(p.quantity * q.price), 0)                           AS market_value,
       coalesce(sum(p.realized_pnl), 0)                                 AS realized_pnl,
       coalesce(sum(p.quantity * (q.price - q.previous_close)), 0)      AS day_change,
       coalesce((SELECT jsonb_agg(jsonb_build_array(top.symbol, top.value) ORDER BY top.value DESC, top.symbol)
                   FROM (SELECT tp.symbol, tp.quantity * tq.price AS value
                           FROM portfolio_positions AS tp
                           JOIN market_quotes AS tq ON tq.symbol = tp.symbol
                          WHERE tp.user_id = u.user_id
                          ORDER BY value DESC, tp.symbol
                          LIMIT 3) AS top), '[]'::jsonb)                AS top_holdings
  FROM users AS u
  LEFT JOIN portfolio_positions AS p ON p.user_id = u.user_id
  LEFT JOIN market_quotes AS q ON q.symbol = p.symbol
 GROUP BY u.user_id, u.tier;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_portfolio_summary_shared AS
SELECT * FROM portfolio_summary WHERE tier = 'shared';
CREATE UNIQUE INDEX IF NOT EXISTS mv_portfolio_summary_shared_user ON mv_portfolio_summary_shared (user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_portfolio_summary_premium AS
SELECT * FROM portfolio_summary WHERE tier = 'premium';
CREATE UNIQUE INDEX IF NOT EXISTS mv_portfolio_summary_premium_user ON mv_portfolio_summary_premium (user_id);

-- Premium analytics input: each premium user's positions valued at the quote of the last refresh.
CREATE MATERIALIZED VIEW IF NOT EXISTS mv_portfolio_analytics_premium AS
SELECT p.user_id, p.symbol, p.quantity, p.average_price, p.realized_pnl, q.price, q.previous_close
  FROM portfolio_positions AS p
  JOIN users AS u ON u.user_id = p.user_id
  JOIN market_quotes AS q ON q.symbol = p.symbol
 WHERE u.tier = 'premium';
CREATE UNIQUE INDEX IF NOT EXISTS mv_portfolio_analytics_premium_position
    ON mv_portfolio_analytics_premium (user_id, symbol)
    INCLUDE (quantity, average_price, realized_pnl, price, previous_close);

-- One row per tier: when its views were last refreshed, how long that took, and how many refreshes so far.
CREATE TABLE IF NOT EXISTS mv_refresh_log (
    tier         text PRIMARY KEY CHECK (tier IN ('shared', 'premium')),
    refreshed_at timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    refreshes    bigint NOT NULL DEFAULT 1
);

-- Refresh a tier's materialized views and log it. CONCURRENTLY (the default) lets reads go on during the refresh;
-- the first population after a reload may skip it (p_concurrently => false), as nobody reads yet.
CREATE OR REPLACE FUNCTION refresh_tier_views(p_tier text, p_concurrently boolean DEFAULT true)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    views   text[] := CASE p_tier
                          WHEN 'shared' THEN ARRAY['mv_portfolio_summary_shared']
                          WHEN 'premium' THEN ARRAY['mv_portfolio_summary_premium', 'mv_portfolio_analytics_premium']
                      END;
    view    text;
BEGIN
    IF views IS NULL THEN
        RAISE EXCEPTION 'unknown tier %', p_tier USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH view IN ARRAY views LOOP
        EXECUTE format('REFRESH MATERIALIZED VIEW %s %I', CASE WHEN p_concurrently THEN 'CONCURRENTLY' END, view);
    END LOOP;
    INSERT INTO mv_refresh_log AS log (tier, refreshed_at, duration_ms)
    VALUES (p_tier, clock_timestamp(), 1000 * extract(epoch FROM clock_timestamp() - started))
    ON CONFLICT (tier) DO UPDATE
        SET refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms, refreshes = log.refreshes + 1;
    RETURN clock_timestamp();
END
$$;
