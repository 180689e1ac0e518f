-- TradeMate reference API: embedded SQLite schema (the seed's trading domain).
-- Applied by trademate_api.db.create_schema on a fresh or re-seeded database file.

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
