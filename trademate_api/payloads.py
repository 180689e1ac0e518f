"""Shape database rows into the API's JSON documents and serialize them once to bytes (what the caches hold)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .auth import User
from .seed import iso

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def encode(document) -> bytes:
    return _encoder.encode(document).encode()


def _now() -> str:
    return iso(datetime.now(UTC))


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def quote(row: tuple) -> dict:
    symbol, name, exchange, price, bid, ask, volume, previous_close, high, low, updated_at = row
    return {
        "symbol": symbol, "name": name, "exchange": exchange, "currency": "USD", "price": price, "bid": bid,
        "ask": ask, "spread": round(ask - bid, 4), "change": round(price - previous_close, 2),
        "change_pct": _pct(price - previous_close, previous_close), "previous_close": previous_close,
        "day_high": high, "day_low": low, "volume": volume, "updated_at": updated_at,
    }  # fmt: skip


def quote_batch(bodies: list[bytes], unknown: list[str]) -> bytes:
    """Join already-serialized quotes into one batch document without re-serializing them."""
    return b'{"count":%d,"quotes":[%s],"unknown":%s}' % (len(bodies), b",".join(bodies), encode(unknown))


def _position(row: tuple) -> dict:
    symbol, quantity, average_price, _realized_pnl, price, _previous_close = row
    value = quantity * price
    return {
        "symbol": symbol, "quantity": quantity, "average_price": average_price, "price": price,
        "market_value": round(value, 2), "unrealized_pnl": round(value - quantity * average_price, 2),
    }  # fmt: skip


def portfolio(user: User, rows: list[tuple]) -> dict:
    positions = [_position(row) for row in rows]
    return {
        "user_id": user.user_id, "plan": user.plan, "tier": user.tier, "currency": "USD", "as_of": _now(),
        "market_value": round(sum(p["market_value"] for p in positions), 2),
        "realized_pnl": round(sum(row[3] for row in rows), 2), "positions": positions,
    }  # fmt: skip


def summary(user: User, totals: tuple, top: list[tuple]) -> dict:
    count, cost, value, realized, day_change = (x or 0 for x in totals)
    return {
        "user_id": user.user_id, "plan": user.plan, "tier": user.tier, "currency": "USD", "as_of": _now(),
        "positions": count, "cost_basis": round(cost, 2), "market_value": round(value, 2),
        "unrealized_pnl": round(value - cost, 2), "unrealized_pnl_pct": _pct(value - cost, cost),
        "realized_pnl": round(realized, 2), "total_pnl": round(value - cost + realized, 2),
        "day_change": round(day_change, 2), "day_change_pct": _pct(day_change, value - day_change),
        "top_holdings": [{"symbol": s, "market_value": round(v, 2), "weight_pct": _pct(v, value)} for s, v in top],
    }  # fmt: skip


def watchlist(user: User, rows: list[tuple]) -> dict:
    items = [
        {"symbol": symbol, "name": name, "price": price, "bid": bid, "ask": ask, "volume": volume,
         "change_pct": _pct(price - previous_close, previous_close)}
        for symbol, name, price, bid, ask, previous_close, volume in rows
    ]  # fmt: skip
    return {"user_id": user.user_id, "as_of": _now(), "count": len(items), "symbols": items}


def order(row: tuple) -> dict:
    order_id, symbol, side, quantity, price, status, created_at = row
    return {
        "order_id": order_id, "symbol": symbol, "side": side, "quantity": quantity, "price": price,
        "status": status, "created_at": created_at,
    }  # fmt: skip


def orders(user: User, rows: list[tuple]) -> dict:
    return {"user_id": user.user_id, "count": len(rows), "orders": [order(row) for row in rows]}


def analytics(user: User, rows: list[tuple]) -> dict:
    """Premium analytics over the positions: concentration, allocation, winners and losers."""
    values = {row[0]: row[1] * row[4] for row in rows}
    total = sum(values.values())
    returns = {row[0]: _pct(row[4] - row[2], row[2]) for row in rows}
    weights = sorted(
        ((symbol, value / total if total else 0.0) for symbol, value in values.items()), key=lambda x: -x[1]
    )
    hhi = sum(w * w for _, w in weights)
    ranked = sorted(returns.items(), key=lambda item: item[1])
    return {
        "user_id": user.user_id, "plan": user.plan, "tier": user.tier, "as_of": _now(),
        "positions": len(rows), "market_value": round(total, 2),
        "concentration_hhi": round(hhi, 4), "effective_positions": round(1 / hhi, 2) if hhi else 0.0,
        "allocation": [{"symbol": s, "weight_pct": round(100 * w, 2)} for s, w in weights[:5]],
        "winners": sum(1 for r in returns.values() if r > 0), "losers": sum(1 for r in returns.values() if r < 0),
        "best": [{"symbol": s, "return_pct": r} for s, r in reversed(ranked[-3:])],
        "worst": [{"symbol": s, "return_pct": r} for s, r in ranked[:3]],
        "realized_pnl": round(sum(row[3] for row in rows), 2),
    }  # fmt: skip
