"""The live figures' renderers on a synthetic run: the web UI's SLA tab (trademate_load.webtab) marks each figure,
and the Prometheus exposition (trademate_load.metrics) has the agreed names and counts."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.live_data import SECONDS, SLA, WINDOW, append_rows, feed, live_run, slow_after, two_tier_frame
from tests.synthetic import T0
from trademate_load.live import LiveBoard
from trademate_load.metrics import BUCKETS_S, build_registry
from trademate_load.record import SampleBuffer
from trademate_load.webtab import FAIL_MARK, PASS_MARK, tab_rows


def test_tab_rows_mark_each_figure_green_or_red():
    frame = slow_after(SECONDS / 2)
    rows = tab_rows(feed(frame, live_run()).snapshot)
    assert rows[0]["tier"] == "stopped" and rows[0]["window"] == f"last {WINDOW:g} s"
    by_figure = {(row["tier"], row["figure"]): row for row in rows}
    p95 = by_figure[("premium", "p95")]
    assert p95["target"] == "< 50.000 ms"
    assert p95["window"] == f"{FAIL_MARK} 80.000 ms"  # the last 10 s are all slow
    assert p95["run"].startswith(FAIL_MARK)
    assert by_figure[("premium", "p99")]["window"] == f"{PASS_MARK} 80.000 ms"
    assert by_figure[("premium", "requests (failed)")]["run"] == "1800 (0)"
    assert by_figure[("premium", "error budget left")]["run"].startswith(f"{PASS_MARK} 100.0%")
    uptime = by_figure[("premium", "uptime (5 s windows)")]
    assert uptime["target"] == ">= 99.900%" and uptime["window"] == f"{FAIL_MARK} down (last judged window)"
    # windows from the end of warm-up (4 s): 19-24 s is down with its last 4 s slow
    assert uptime["run"] == f"{FAIL_MARK} 41.667% of 36 s; down 19.0-40.0 s: p95 80.0 ms (limit < 50 ms)"
    decisions = by_figure[("premium", "early decisions (alpha 0.05)")]["run"]
    assert "p95_ms failed, p99_ms passed, success_rate open" in decisions and "uptime failed" in decisions
    assert tab_rows({"state": "idle", "tiers": {}})[0]["figure"] == "waiting for a test to start"


def test_prometheus_exposition_has_the_agreed_names_and_counts():
    frame = two_tier_frame()
    buffer = SampleBuffer()
    board = LiveBoard(buffer)
    registry = build_registry(board)
    board.start(live_run())
    append_rows(buffer, frame)
    board.update(T0 + SECONDS)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    for tier in ("premium", "shared"):
        rows = frame[frame["tier"] == tier]
        samples = {s.name: s for f in families.values() for s in f.samples if s.labels.get("tier") == tier}
        assert samples["trademate_requests_total"].value == len(rows)
        assert samples["trademate_request_failures_total"].value == int((~rows["ok"]).sum())
        assert samples["trademate_sla_p95_target_seconds"].value == SLA.tiers[tier].p95_ms / 1000
        live = board.snapshot["tiers"][tier]
        assert samples["trademate_latency_p95_seconds"].value == pytest.approx(
            live["window"]["latency_ms"]["p95"] / 1000
        )
        assert samples["trademate_latency_p99_seconds"].value == pytest.approx(
            live["window"]["latency_ms"]["p99"] / 1000
        )
        assert samples["trademate_sla_compliance_ratio"].value == pytest.approx(live["window"]["sla_compliance"])
        assert samples["trademate_error_budget_remaining_ratio"].value == pytest.approx(
            live["run"]["error_budget_left_ratio"]
        )
        assert samples["trademate_uptime_ratio"].value == live["uptime"]["ratio"] is not None
    histogram = families["trademate_request_latency_seconds"]
    assert histogram.type == "histogram"
    count = {s.labels["endpoint"]: s.value for s in histogram.samples if s.name.endswith("_count")}
    assert count == {"GET /api/v1/portfolio": 2000, "GET /api/v1/watchlist": 2000}
    le_50ms = next(
        s.value
        for s in histogram.samples
        if s.name.endswith("_bucket") and s.labels["le"] == "0.05" and s.labels["tier"] == "premium"
    )
    premium = frame[frame["tier"] == "premium"]["latency_co_ms"]
    assert le_50ms == int((premium <= 50.0).sum())
    assert 0.05 in BUCKETS_S and 0.1 in BUCKETS_S  # the tiers' p95 targets are bucket bounds
