"""The OpenAPI document of the hand-routed endpoints, merged into FastAPI's own (which only knows the POST).

The GET routes are plain Starlette routes for speed (routes.py), so FastAPI cannot describe them; this module
does, with the same limits the handlers enforce, so that clients and schema-driven fuzzers (schemathesis) see
every endpoint, its parameters, the bearer authentication and the errors it answers with.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

SYMBOL_PATTERN = r"^[A-Za-z0-9.\-]{1,10}$"  # what GET endpoints accept as a ticker (BRK.B, BF-B, X001)
BEARER = [{"bearer": []}]
_ERROR = {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}}}
_JSON = {"application/json": {"schema": {"type": "object"}}}
_TIER_HEADER = {
    "name": "X-User-Tier",
    "in": "header",
    "required": False,
    "description": "optional; must agree with the token's tier (403 otherwise)",
    "schema": {"type": "string", "enum": ["shared", "premium"]},
}


def _responses(*codes: int) -> dict[str, Any]:
    described = {
        200: ("the document", _JSON),
        400: ("a body that cannot be parsed", _ERROR),
        401: ("missing or invalid bearer token", _ERROR),
        403: ("X-User-Tier disagrees with the token, or a premium endpoint asked by a shared user", _ERROR),
        404: ("unknown symbol", _ERROR),
        422: ("invalid parameter", _ERROR),
        503: ("a database statement timed out (with Retry-After)", _ERROR),
    }
    return {str(code): {"description": described[code][0], "content": described[code][1]} for code in codes}


def _read(summary: str, parameters: list[dict], *codes: int) -> dict[str, Any]:
    """An authenticated GET operation answering 200, 401, 403 and 503, plus ``codes``."""
    return {
        "get": {
            "summary": summary,
            "operationId": summary.lower().replace(" ", "_"),
            "security": BEARER,
            "parameters": [*parameters, _TIER_HEADER],
            "responses": _responses(200, 401, 403, 503, *codes),
        }
    }


def read_paths(max_orders: int, max_batch: int) -> dict[str, Any]:
    """The GET endpoints: ``max_orders`` is the largest order list, ``max_batch`` the premium tier's batch limit."""
    symbol = {"name": "symbol", "in": "path", "required": True, "schema": {"type": "string", "pattern": SYMBOL_PATTERN}}
    symbols = {
        "name": "symbols",
        "in": "query",
        "required": True,
        "description": f"comma-separated tickers, 1 to the tier's batch limit (shared 50, premium {max_batch})",
        "schema": {"type": "string", "minLength": 1},
    }
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": max_orders, "default": 20},
    }
    return {
        "/api/v1/portfolio": _read("Portfolio", []),
        "/api/v1/portfolio/summary": _read("Portfolio summary", []),
        "/api/v1/market/quotes/{symbol}": _read("Quote", [symbol], 404, 422),
        "/api/v1/market/quotes": _read("Quote batch", [symbols], 422),
        "/api/v1/watchlist": _read("Watchlist", []),
        "/api/v1/orders": _read("Recent orders", [limit], 422),
        "/api/v1/analytics/premium": _read("Premium analytics", []),
        "/health": {
            "get": {
                "summary": "Health",
                "operationId": "health",
                "parameters": [{**_TIER_HEADER, "description": "echoed back", "schema": {"type": "string"}}],
                "responses": _responses(200),
            }
        },
    }


def install(app: FastAPI, max_orders: int, max_batch: int) -> None:
    """Make ``app.openapi()`` describe the GET routes and the bearer scheme besides FastAPI's own operations."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI caches it in app.openapi_schema: completed here once
            for path, operations in read_paths(max_orders, max_batch).items():
                schema.setdefault("paths", {}).setdefault(path, {}).update(operations)
            post = schema["paths"]["/api/v1/orders"].get("post")
            if post is not None:
                post["security"] = BEARER
                post["responses"].update(_responses(400, 401, 403, 503))
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        return app.openapi_schema

    app.openapi = openapi
