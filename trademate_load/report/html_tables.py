"""The HTML report's tables as display rows: one per endpoint (requests, failures, latency percentiles) and one
per error group (tier, endpoint, status, message, count)."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import format_count, format_number
from trademate_load.report.html_parts import PERCENTILES


def endpoint_row(endpoint: Mapping) -> dict:
    """One endpoint's row: tier, name, requests, failures and latency percentiles."""
    latency = endpoint.get("latency_ms") or {}
    return {
        "tier": str(endpoint.get("tier", "")),
        "name": str(endpoint.get("name", "")),
        "requests": format_count(endpoint.get("requests")),
        "failures": format_count(endpoint.get("failures")),
        "latency": [format_number(latency.get(key)) for key in PERCENTILES],
    }


def error_row(error: Mapping) -> dict:
    """One error group's row: tier, endpoint, status, message, count."""
    return {
        "tier": str(error.get("tier", "")),
        "endpoint": str(error.get("endpoint", "")),
        "status": str(error.get("status", "")),
        "error": str(error.get("error") or ""),
        "count": format_count(error.get("count")),
    }
