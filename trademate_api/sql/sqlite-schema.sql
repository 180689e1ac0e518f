-- TradeMate reference API: embedded SQLite schema (the seed's trading domain).
-- Applied by trademate_api.db.create_and_seed on a fresh or re-seeded database file.
--
-- The embedded equivalent of sql/database-optimization.sql (PostgreSQL):
--   * the covering index idx_portfolio_premium_covering (below);
--   * orders and trades: SQLite has no partitioning, so each is one table indexed on (user_id, time);
--   * materialized views: summary tables (portfolio_summary_shared, portfolio_summary_premium,
--     portfolio_analytics_premium) rebuilt from the views portfolio_summary and portfolio_analytics by
--     trademate_api.db.refresh_summaries on the same schedule (premium 60 s, shared 300 s), logged in
--     summary_refresh_log;
--   * stored functions: the equivalent queries live in trademate_api.db.SqliteStore;
--   * per-tier statement timeouts (premium 20 ms, shared 50 ms): a progress handler interrupts the statement.

DROP VIEW IF EXISTS portfolio_summary;
DROP VIEW IF EXISTS portfolio_analytics;
DROP TABLE IF EXISTS summary_refresh_log;
DROP TABLE IF EXISTS portfolio_analytics_premium;
DROP TABLE IF EXISTS portfolio_summary_premium;
DROP TABLE IF EXISTS portfolio_summary_shared;
DROP TABLE IF EXISTS trades;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS watchlists;
DROP TABLE IF EXISTS portfolio_positions;
DROP TABLE IF EXISTS market_quotes;
DROP TABLE IF EXISTS users;

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    plan       TEXT NOT NULL CHECK (plan IN ('LITE', 'PRO', 'ELITE', 'BLACK')),
    tier       TEXT NOT NULL CHECK (tier IN ('shared', 'premium')),
    token_hash TEXT NOT NULL UNIQUE  -- sha256 hex of the bearer token; the token itself is never stored
);

CREATE TABLE market_quotes (
    symbol         TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    exchange       TEXT NOT NULL,
    price          REAL NOT NULL,
    bid            REAL NOT NULL,
    ask            REAL NOT NULL,
    volume         INTEGER NOT NULL,
    previous_close REAL NOT NULL,
    day_high       REAL NOT NULL,
    day_low        REAL NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE portfolio_positions (
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    symbol        TEXT NOT NULL REFERENCES market_quotes (symbol),
    quantity      INTEGER NOT NULL,
    average_price REAL NOT NULL,
    realized_pnl  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, symbol)
);

-- The seed's covering index is, in PostgreSQL,
--   ON portfolio_positions(user_id, symbol) INCLUDE (quantity, average_price, realized_pnl).
-- SQLite has no INCLUDE clause, so the covered columns become trailing key columns: the portfolio
-- queries are then answered from the index alone, without touching the table.
CREATE INDEX idx_portfolio_premium_covering
    ON portfolio_positions (user_id, symbol, quantity, average_price, realized_pnl);

CREATE TABLE watchlists (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    symbol  TEXT NOT NULL REFERENCES market_quotes (symbol),
    PRIMARY KEY (user_id, symbol)
);

CREATE TABLE orders (
    order_id   INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    symbol     TEXT NOT NULL REFERENCES market_quotes (symbol),
    side       TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    price      REAL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX idx_orders_user_created ON orders (user_id, created_at);

CREATE TABLE trades (
    trade_id    INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (user_id),
    symbol      TEXT NOT NULL REFERENCES market_quotes (symbol),
    side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    price       REAL NOT NULL,
    executed_at TEXT NOT NULL
);

CREATE INDEX idx_trades_user_executed ON trades (user_id, executed_at);

-- Portfolio summary of every user: totals and the three largest holdings as a JSON array of [symbol, value].
CREATE VIEW portfolio_summary AS
SELECT u.user_id,
       u.tier,
       COUNT(p.symbol)                                             AS positions,
       COALESCE(SUM(p.quantity * p.average_price), 0)              AS cost_basis,
       COALESCE(SUM(p.quantity * q.price), 0)                      AS market_value,
       COALESCE(SUM(p.realized_pnl), 0)                            AS realized_pnl,
       COALESCE(SUM(p.quantity * (q.price - q.previous_close)), 0) AS day_change,
       (SELECT json_group_array(json_array(top.symbol, top.value))
          FROM (SELECT tp.symbol, tp.quantity * tq.price AS value
                  FROM portfolio_positions AS tp
                  JOIN market_quotes AS tq ON tq.symbol = tp.symbol
                 WHERE tp.user_id = u.user_id
                 ORDER BY value DESC, tp.symbol
                 LIMIT 3) AS top)                                  AS top_holdings
  FROM users AS u
  LEFT JOIN portfolio_positions AS p ON p.user_id = u.user_id
  LEFT JOIN market_quotes AS q ON q.symbol = p.symbol
 GROUP BY u.user_id, u.tier;

-- Premium analytics input: each position valued at its quote.
CREATE VIEW portfolio_analytics AS
SELECT p.user_id, u.tier, p.symbol, p.quantity, p.average_price, p.realized_pnl, q.price, q.previous_close
  FROM portfolio_positions AS p
  JOIN users AS u ON u.user_id = p.user_id
  JOIN market_quotes AS q ON q.symbol = p.symbol;

CREATE TABLE portfolio_summary_shared (
    user_id      TEXT PRIMARY KEY,
    positions    INTEGER NOT NULL,
    cost_basis   REAL NOT NULL,
    market_value REAL NOT NULL,
    realized_pnl REAL NOT NULL,
    day_change   REAL NOT NULL,
    top_holdings TEXT NOT NULL  -- JSON [[symbol, market value], ...], largest first
) WITHOUT ROWID;

CREATE TABLE portfolio_summary_premium (
    user_id      TEXT PRIMARY KEY,
    positions    INTEGER NOT NULL,
    cost_basis   REAL NOT NULL,
    market_value REAL NOT NULL,
    realized_pnl REAL NOT NULL,
    day_change   REAL NOT NULL,
    top_holdings TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE portfolio_analytics_premium (
    user_id        TEXT NOT NULL,
    symbol         TEXT NOT NULL,
    quantity       INTEGER NOT NULL,
    average_price  REAL NOT NULL,
    realized_pnl   REAL NOT NULL,
    price          REAL NOT NULL,
    previous_close REAL NOT NULL,
    PRIMARY KEY (user_id, symbol)
) WITHOUT ROWID;

-- One row per tier: when its summary tables were last rebuilt, how long that took, how many rebuilds so far.
CREATE TABLE summary_refresh_log (
    tier         TEXT PRIMARY KEY CHECK (tier IN ('shared', 'premium')),
    refreshed_at TEXT NOT NULL,
    duration_ms  REAL NOT NULL,
    refreshes    INTEGER NOT NULL DEFAULT 1
);
