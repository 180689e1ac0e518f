"""Unit tests of the HTML report renderer and its charts, on synthetic frames, with real rendering."""

from __future__ import annotations

import base64
import copy
import re
import struct

import numpy as np
import pandas as pd
import pytest

from trademate_load.report import charts
from trademate_load.report.html import format_rate, render_html

START = 1_795_702_502.1
DURATION = 30.0
WARMUP = 6.0
HOST = "http://127.0.0.1:40123"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT_ENDPOINT = "GET /x<script>alert(1)</script>"
TIER_PLANS = {"shared": np.array(["LITE", "PRO"]), "premium": np.array(["ELITE", "BLACK"])}
ENDPOINTS = np.array(["GET /api/v1/portfolio", "GET /api/v1/market/quotes", "POST /api/v1/orders"])


def make_frame(rows: int = 20_000, *, tiers: tuple[str, ...] = ("shared", "premium"), fail_rate: float = 0.01):
    """Synthetic samples in the sample-record layout, spread over the run, warm-up included."""
    rng = np.random.default_rng(7)
    intended = START + np.sort(rng.random(rows)) * DURATION
    tier = np.array(tiers)[rng.integers(0, len(tiers), rows)]
    ok = rng.random(rows) >= fail_rate
    latency = rng.lognormal(np.log(4.0), 0.5, rows)
    delay_ms = rng.exponential(0.3, rows)
    plan = np.where(tier == "shared", TIER_PLANS["shared"][rows % 2], TIER_PLANS["premium"][rows % 2])
    return pd.DataFrame(
        {
            "ts": intended + delay_ms / 1000,
            "intended_ts": intended,
            "tier": tier,
            "plan": plan,
            "endpoint": ENDPOINTS[rng.integers(0, len(ENDPOINTS), rows)],
            "status": np.where(ok, 200, 503).astype(np.int64),
            "ok": ok,
            "latency_ms": latency,
            "latency_co_ms": latency + delay_ms,
            "bytes": rng.integers(200, 2_000, rows),
            "error": pd.Series(np.where(ok, None, "HTTPError 503"), dtype=object),
            "db_ms": np.where(rng.random(rows) < 0.2, rng.random(rows) * 3, np.nan),
            "cache": pd.Series(np.where(rng.random(rows) < 0.97, "hit", "miss"), dtype=object),
            "worker": "local",
        }
    )


def empty_frame() -> pd.DataFrame:
    """A frame with the sample columns and no rows."""
    return make_frame(10).iloc[0:0]


def make_run(**changes) -> dict:
    """run.json content for a two-tier run."""
    run = {
        "run_id": "20261126-141502-mixed",
        "profile": "mixed",
        "host": HOST,
        "started_at": "2026-11-26T14:15:02+00:00",
        "ended_at": "2026-11-26T14:15:32+00:00",
        "started_ts": START,
        "ended_ts": START + DURATION + 0.3,
        "warmup_s": WARMUP,
        "exit_code": 1,
        "interrupted": False,
        "versions": {"suite": "0.1.0", "locust": "2.47.0", "python": "3.11.7"},
        "latency_basis": "corrected",
        "settings": {
            "run_time_s": DURATION,
            "spawn_rate": 50,
            "tiers": {
                "shared": {"users": 100, "rps": 1000, "plans": {"LITE": 1, "PRO": 1}},
                "premium": {"users": 50, "rps": 500, "plans": {"ELITE": 3, "BLACK": 1}},
            },
        },
        "sla": {
            "shared": {"p95_ms": 100, "p99_ms": 200, "mean_ms": 50, "success_rate": 0.999, "error_rate": 0.01},
            "premium": {"p95_ms": 50, "p99_ms": 100, "mean_ms": 25, "success_rate": 0.9995, "error_rate": 0.01},
        },
    }
    run.update(changes)
    return run


def tier_summary(requests: int, rps: float, target: int, *, basis: str = "corrected") -> dict:
    """One tier's summary.json entry, with a passed, a failed and a not-measured check."""
    return {
        "requests": requests,
        "failures": 37,
        "rps": rps,
        "target_rps": target,
        "latency_ms": {"mean": 4.1, "p50": 3.2, "p95": 9.8, "p99": 17.25, "max": 80.2},
        "service_latency_ms": {"mean": 4.0, "p50": 3.1, "p95": 9.5, "p99": 16.75, "max": 80.0},
        "success_rate": 0.9963,
        "sla_compliance": 0.998,
        "db_ms_p95": 1.9,
        "cache_hit_rate": None,
        "latency_basis": basis,
        "missed_schedule": 4,
        "checks": [
            {"name": "p95_ms", "op": "<", "limit": 50, "actual": 9.8, "passed": True, "status": "passed"},
            {
                "name": "success_rate",
                "op": ">=",
                "limit": 0.9995,
                "actual": 0.9963,
                "passed": False,
                "status": "failed",
            },
            {
                "name": "cache_hit_rate",
                "op": ">=",
                "limit": 0.95,
                "actual": None,
                "passed": None,
                "status": "not_measured",
            },
        ],
    }


def make_summary(verdict: str = "fail", *, basis: str = "corrected") -> dict:
    """summary.json content matching make_run, with a hostile endpoint name and error text."""
    premium = tier_summary(6_679, 498.7, 500, basis=basis)
    premium["checks"].append(
        {"name": "p95_ms", "op": "<", "limit": 30, "actual": 8.0, "passed": True, "status": "passed"}
        | {"endpoint": SCRIPT_ENDPOINT}
    )
    return {
        "schema": "trademate-load/summary/1",
        "run_id": "20261126-141502-mixed",
        "profile": "mixed",
        "host": HOST,
        "started_at": "2026-11-26T14:15:02+00:00",
        "duration_s": 24.3,
        "verdict": verdict,
        "exit_code": {"pass": 0, "fail": 1}.get(verdict, 3),
        "reason": {"pass": "every SLA met", "fail": "breached: premium success_rate"}.get(verdict, "no samples"),
        "tiers": {
            "shared": tier_summary(13_321, 996.1, 1000, basis=basis),
            "premium": premium,
        },
        "endpoints": [
            {
                "tier": "premium",
                "name": SCRIPT_ENDPOINT,
                "requests": 7_512,
                "failures": 11,
                "latency_ms": {"mean": 3.0, "p50": 2.1, "p95": 8.0, "p99": 15.5, "max": 1234.5},
            }
        ],
        "errors": [
            {"tier": "premium", "endpoint": SCRIPT_ENDPOINT, "status": 503, "error": "<script>x</script>", "count": 3}
        ],
    }


def png_width(data: bytes) -> int:
    """Width from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">I", data[16:20])[0]


def image_tags(html: str) -> list[str]:
    """Every <img ...> tag of the page."""
    return re.findall(r"<img\b[^>]*>", html)


def embedded_png(tag: str) -> bytes:
    """Decoded PNG bytes of an <img> tag whose src is a base64 PNG data URI."""
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
    assert match, tag[:120]
    return base64.b64decode(match.group(1), validate=True)


def banner_label(html: str) -> str:
    """The verdict text of the banner."""
    match = re.search(r'<header class="banner (\w+)">.*?<span class="verdict">([^<]+)</span>', html, re.S)
    assert match
    return match.group(2)


def table_row(html: str, text: str) -> str:
    """The first table row containing text."""
    match = re.search(r"<tr>(?:(?!</tr>).)*?" + re.escape(text) + r".*?</tr>", html, re.S)
    assert match, text
    return match.group(0)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def page(frame) -> str:
    return render_html(frame, make_summary("fail"), make_run())


def test_page_is_a_complete_html_document(page):
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert page.rstrip().endswith("</html>")
    for part in ("<html lang=", "<head>", '<meta charset="utf-8">', "<title>", "</body>"):
        assert part in page
    assert '<link rel="icon" href="data:,">' in page
    assert 'name="viewport"' in page


@pytest.mark.parametrize(("verdict", "label"), [("pass", "PASS"), ("fail", "FAIL"), ("no_data", "NO DATA")])
def test_banner_shows_the_summary_verdict(frame, verdict, label):
    html = render_html(frame.iloc[:500], make_summary(verdict), make_run())
    assert banner_label(html) == label
    exit_code = make_summary(verdict)["exit_code"]
    assert f"exit code {exit_code}" in html
    assert make_summary(verdict)["reason"] in html


def test_every_image_is_an_embedded_png_with_alt_text(page):
    tags = image_tags(page)
    assert len(tags) == 2 * len(charts.CHART_KINDS) + 1  # three charts per tier, one failures chart
    for tag in tags:
        assert png_width(embedded_png(tag)) > 0
        assert re.search(r'alt="[^"]{10,}"', tag)


def test_chart_functions_return_pngs_named_by_tier_and_kind(frame):
    pngs = charts.render_charts(frame, make_summary(), make_run())
    expected = {charts.chart_name(tier, kind) for tier in ("shared", "premium") for kind in charts.CHART_KINDS}
    assert set(pngs) == expected | {charts.ERRORS_CHART}
    for png in pngs.values():
        assert png_width(png) == charts.FIGSIZE[0] * charts.DPI


def test_warmup_shading_changes_time_series_charts(frame):
    shaded = charts.render_charts(frame, make_summary(), make_run())
    plain = charts.render_charts(frame, make_summary(), make_run(warmup_s=0.0))
    for kind in ("latency", "throughput"):
        name = charts.chart_name("premium", kind)
        assert shaded[name] != plain[name]


def test_no_failures_means_no_errors_chart(frame):
    passing = make_frame(5_000, fail_rate=0.0)
    summary = make_summary("pass")
    summary["errors"] = []
    html = render_html(passing, summary, make_run())
    assert len(image_tags(html)) == 2 * len(charts.CHART_KINDS)
    assert "No errors." in html


def test_tier_figures_from_the_summary_appear(page):
    for text in ("13,321", "6,679", "996.1 / 1,000 req/s", "498.7 / 500 req/s", "99.63%", "99.8%", "1.90 ms"):
        assert text in page
    assert "missed schedule</dt><dd>4<" in page
    assert "failures</dt><dd>37<" in page
    p95_row = table_row(page, ">p95_ms<")
    assert "9.80 ms" in p95_row and "&lt; 50 ms" in p95_row and 'class="badge passed"' in p95_row
    success_row = table_row(page, ">success_rate<")
    assert "99.63%" in success_row and "&gt;= 99.95%" in success_row and 'class="badge failed"' in success_row


def test_service_time_shown_beside_corrected_latency(frame, page):
    corrected = table_row(page, "latency (corrected)")
    assert all(value in corrected for value in ("4.10", "3.20", "9.80", "17.2", "80.2"))
    assert "16.8" in table_row(page, "service time")
    service_basis = render_html(frame.iloc[:500], make_summary(basis="service"), make_run(latency_basis="service"))
    assert "latency (service)" in service_basis
    assert "service time</td>" not in service_basis


def test_not_measured_check_is_grey_never_passed(page):
    row = table_row(page, ">cache_hit_rate<")
    assert 'class="badge not_measured"' in row and "not measured" in row
    assert "passed" not in row
    assert "cache hit rate</dt><dd>—<" in page


def test_check_without_status_is_derived_from_passed(frame):
    summary = make_summary()
    for check in summary["tiers"]["premium"]["checks"]:
        del check["status"]
    html = render_html(frame.iloc[:500], summary, make_run())
    assert 'class="badge not_measured"' in table_row(html, ">cache_hit_rate<")


def test_endpoint_and_error_tables(page):
    row = table_row(page, "7,512")
    for value in ("premium", "11", "3.00", "2.10", "8.00", "15.5", "1,234"):
        assert value in row
    error = table_row(page, ">503<")
    assert "&lt;script&gt;x&lt;/script&gt;" in error and ">3<" in error


def test_text_from_summary_and_run_is_escaped(frame):
    run = make_run(profile="<script>p()</script>", run_id="r<script>")
    summary = make_summary()
    summary["profile"] = None
    summary["run_id"] = None
    html = render_html(frame.iloc[:500], summary, run)
    assert "<script" not in html.lower()
    assert "GET /x&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;p()&lt;/script&gt;" in html
    assert '<span class="scope">GET /x&lt;script&gt;alert(1)&lt;/script&gt;</span>' in html


def test_page_is_self_contained(page):
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {HOST}
    assert "<script" not in page.lower()
    assert re.findall(r"<link\b[^>]*>", page) == ['<link rel="icon" href="data:,">']
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)


def test_empty_frame_renders_a_no_samples_message():
    summary = make_summary("no_data")
    summary.update(endpoints=[], errors=[])
    html = render_html(empty_frame(), summary, make_run(exit_code=3))
    assert banner_label(html) == "NO DATA"
    assert "No samples were recorded" in html
    assert image_tags(html) == []
    assert charts.render_charts(empty_frame(), summary, make_run()) == {}
    assert html.rstrip().endswith("</html>")


def test_minimal_summary_and_run_still_render():
    html = render_html(empty_frame(), {"verdict": "no_data", "tiers": {}}, {})
    assert banner_label(html) == "NO DATA"
    assert "No errors." in html


def test_degenerate_samples_and_sparse_run_info_still_render():
    frame = make_frame(3_000)
    frame.loc[frame["tier"] == "premium", "latency_co_ms"] = np.nan  # nothing to plot for premium latency
    frame["ok"] = frame["ok"].astype(object)
    frame.loc[0, "ok"] = None  # a missing outcome counts as a failure
    frame["tier"] = frame["tier"].astype("category")
    run = make_run(warmup_s=None, sla={}, settings={})
    del run["started_ts"], run["ended_ts"]  # the clock falls back to the samples' span
    html = render_html(frame, make_summary(), run)
    tags = image_tags(html)
    assert len(tags) == 2 * len(charts.CHART_KINDS) + 1
    assert all(png_width(embedded_png(tag)) > 0 for tag in tags)


def test_tier_without_samples_says_so(frame):
    only_shared = make_frame(3_000, tiers=("shared",))
    html = render_html(only_shared, make_summary(), make_run())
    assert "No samples from this tier" in html
    assert len(image_tags(html)) == len(charts.CHART_KINDS) + 1


def test_interrupted_run_is_flagged(frame):
    html = render_html(frame.iloc[:500], make_summary(), make_run(interrupted=True))
    assert 'class="badge interrupted"' in html
    assert 'class="badge interrupted"' not in render_html(frame.iloc[:500], make_summary(), make_run())


def test_render_does_not_modify_its_inputs(frame):
    summary, run = make_summary(), make_run()
    before = (frame.copy(), copy.deepcopy(summary), copy.deepcopy(run))
    render_html(frame.iloc[:500], summary, run)
    pd.testing.assert_frame_equal(frame, before[0])
    assert (summary, run) == before[1:]


def test_per_second_quantiles_match_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    seconds = rng.integers(-2, 40, 50_000)
    values = rng.lognormal(1.0, 1.0, 50_000)
    values[::97] = np.nan
    labels, rows = charts.per_second_quantiles(seconds, values, (0.5, 0.95, 0.99))
    assert labels.tolist() == sorted(set(seconds[np.isfinite(values)].tolist()))
    for i, second in enumerate(labels):
        group = values[(seconds == second) & np.isfinite(values)]
        expected = np.percentile(group, [50, 95, 99], method="inverted_cdf")
        np.testing.assert_array_equal(rows[:, i], expected)


@pytest.mark.parametrize("size", [1, 20, 100])
def test_per_second_quantiles_on_exact_ranks(size):
    values = np.arange(1.0, size + 1)
    _, rows = charts.per_second_quantiles(np.zeros(size, np.int64), values, (0.5, 0.95, 0.99))
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    np.testing.assert_array_equal(rows[:, 0], expected)


def test_ecdf_points_are_thinned_and_keep_the_tail():
    values = np.random.default_rng(5).lognormal(1.0, 1.0, 100_000)
    x, y = charts.ecdf_points(values)
    assert len(x) <= charts.MAX_CDF_POINTS
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert x[-1] == values.max() and y[-1] == 1.0
    np.testing.assert_array_equal(x[-50:], np.sort(values)[-50:])  # the slowest requests are all drawn


def test_rates_never_round_up_to_full():
    assert format_rate(0.9995) == "99.95%"
    assert format_rate(0.9999999) == ">99.999%"
    assert format_rate(1.0) == "100%"
    assert format_rate(None) == "—"
