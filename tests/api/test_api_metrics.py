"""The Prometheus endpoint: parseable text, the latency histogram by tier and endpoint, cache counters that move."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def scrape(api_proc) -> dict:
    response = api_proc.client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def counter_value(families: dict, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in families[name].samples
        if sample.name == f"{name}_total" and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_show_latency_by_tier_and_endpoint_and_cache_counters_move(api_proc):
    before = scrape(api_proc)
    session = api_proc.client("PRO", 4)
    assert [session.get("/api/v1/portfolio/summary").headers["X-Cache"] for _ in range(3)] == [
        "MISS",
        "HIT",
        "HIT",
    ]
    after = scrape(api_proc)

    histogram = after["trademate_api_latency_seconds"]
    assert histogram.type == "histogram"
    counts = {(s.labels["tier"], s.labels["endpoint"]): s.value for s in histogram.samples if s.name.endswith("_count")}
    assert counts[("shared", "/api/v1/portfolio/summary")] >= 3
    buckets = {s.labels["le"] for s in histogram.samples if s.name.endswith("_bucket")}
    assert {"0.0005", "0.05", "0.1", "1.0", "+Inf"} <= buckets

    for name, delta in (("trademate_api_cache_hits", 2), ("trademate_api_cache_misses", 1)):
        assert after[name].type == "counter"
        moved = counter_value(after, name, tier="shared") - counter_value(before, name, tier="shared")
        assert moved >= delta
        assert {s.labels["tier"] for s in after[name].samples} == {"shared", "premium"}

    requests_total = after["trademate_api_requests"]
    assert any(
        s.labels == {"tier": "shared", "endpoint": "/api/v1/portfolio/summary", "status": "200"}
        for s in requests_total.samples
    )


def test_unauthenticated_requests_are_labelled_none(api_proc):
    api_proc.client().get("/api/v1/portfolio")
    families = scrape(api_proc)
    tiers = {s.labels["tier"] for s in families["trademate_api_requests"].samples}
    assert "none" in tiers
