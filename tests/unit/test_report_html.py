"""Unit tests of the HTML report renderer and its charts, on synthetic frames, with real rendering."""

from __future__ import annotations

import base64
import copy
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import write_synthetic_run
from trademate_load import gate, rundir
from trademate_load.profile import DEFAULT_TOLERANCES
from trademate_load.report import charts, series
from trademate_load.report.console import render_console
from trademate_load.report.html import format_interval, format_rate, render_html

START = 1_795_702_502.1
DURATION = 30.0
WARMUP = 6.0
HOST = "http://127.0.0.1:40123"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT_ENDPOINT = "GET /x<script>alert(1)</script>"
TIER_PLANS = {"shared": np.array(["LITE", "PRO"]), "premium": np.array(["ELITE", "BLACK"])}
NO_CHARTS: dict[str, bytes] = {}  # for tests of the page's text: charts passed in (none) are not drawn
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
        "error_budget": {"allowed": requests * 0.0005, "failures": 37, "burned": 37 / (requests * 0.0005), "left": 0.0},
        "uptime": {
            "ratio": 0.8,
            "required": 0.999,
            "window_s": 5.0,
            "min_requests": 101,
            "judged_s": 24.3,
            "down_s": 5.0,
            "unjudged_s": 0.0,
            "timeline": "UDUUU",
            "down": [
                {
                    "start": "2026-11-26T14:15:13.000+00:00",
                    "end": "2026-11-26T14:15:18.000+00:00",
                    "start_s": 11.0,
                    "end_s": 16.0,
                    "cause": "p95 812.3 ms (limit < 50 ms)",
                    "windows": 1,
                }
            ],
        },
        "checks": [
            {
                "name": "p95_ms",
                "op": "<",
                "limit": 50,
                "actual": 9.8,
                "passed": True,
                "status": "passed",
                "ci95": [9.1, 10.4],
            },
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


def png_height(data: bytes) -> int:
    png_width(data)  # checks the header
    return struct.unpack(">I", data[20:24])[0]


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
    match = re.search(r"<tr\b[^>]*>(?:(?!</tr>).)*?" + re.escape(text) + r".*?</tr>", html, re.S)
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
    html = render_html(frame.iloc[:500], make_summary(verdict), make_run(), NO_CHARTS)
    assert banner_label(html) == label
    exit_code = make_summary(verdict)["exit_code"]
    assert f"exit code {exit_code}" in html
    assert make_summary(verdict)["reason"] in html


FULL_WIDTH = charts.FIGSIZE[0] * charts.DPI
HALF_WIDTH = charts.HALF_FIGSIZE[0] * charts.DPI


def tier_chart_names(*tiers: str) -> set[str]:
    return {charts.chart_name(tier, kind) for tier in tiers for kind in charts.CHART_KINDS}


def test_every_image_is_an_embedded_png_with_alt_text(page):
    tags = image_tags(page)
    assert len(tags) == 2 * len(charts.CHART_KINDS) + 2  # eight charts per tier, failures, noisy neighbour
    for tag in tags:
        assert png_width(embedded_png(tag)) > 0
        assert re.search(r'alt="[^"]{10,}"', tag)


def test_chart_functions_return_pngs_named_by_tier_and_kind(frame):
    pngs = charts.render_charts(frame, make_summary(), make_run())
    assert set(pngs) == tier_chart_names("shared", "premium") | {charts.ERRORS_CHART, charts.NOISY_CHART}
    for name, png in pngs.items():
        half = name.rsplit("_", 1)[-1] in charts.PAIR_KINDS
        assert png_width(png) == (HALF_WIDTH if half else FULL_WIDTH), name
    assert png_height(pngs[charts.chart_name("premium", "uptime")]) == charts.STRIP_FIGSIZE[1] * charts.DPI


def test_charts_can_be_passed_in_and_are_not_rendered_again(frame, monkeypatch):
    summary, run = make_summary(), make_run()
    pngs = charts.render_charts(frame, summary, run)

    def refuse(*_args):
        raise AssertionError("charts rendered twice")

    monkeypatch.setattr(charts, "render_charts", refuse)
    html = render_html(frame, summary, run, pngs)
    embedded = sorted(embedded_png(tag) for tag in image_tags(html))
    assert embedded == sorted(pngs.values())


def test_warmup_shading_changes_time_series_charts(frame):
    shaded = charts.render_charts(frame, make_summary(), make_run())
    plain = charts.render_charts(frame, make_summary(), make_run(warmup_s=0.0))
    for kind in ("latency", "throughput", "budget", "cache", "db"):
        name = charts.chart_name("premium", kind)
        assert shaded[name] != plain[name], kind
    assert shaded[charts.NOISY_CHART] != plain[charts.NOISY_CHART]


def test_no_failures_means_no_errors_chart(frame):
    passing = make_frame(5_000, fail_rate=0.0)
    summary = make_summary("pass")
    summary["errors"] = []
    html = render_html(passing, summary, make_run())
    assert len(image_tags(html)) == 2 * len(charts.CHART_KINDS) + 1
    assert "No errors." in html
    assert "Failures over time" not in html


def test_cache_and_db_not_reported_by_the_target_say_so_instead_of_a_chart():
    frame = make_frame(5_000)
    shared = frame["tier"] == "shared"
    frame["cache"] = frame["cache"].where(~shared, None)
    frame.loc[shared, "db_ms"] = np.nan
    pngs = charts.render_charts(frame, make_summary(), make_run())
    assert charts.chart_name("shared", "cache") not in pngs and charts.chart_name("shared", "db") not in pngs
    assert charts.chart_name("premium", "cache") in pngs and charts.chart_name("premium", "db") in pngs
    html = render_html(frame, make_summary(), make_run(), pngs)
    shared_section = html[html.index("<h2>Tier shared</h2>") : html.index("<h2>Tier premium</h2>")]
    assert "Cache hit rate: not reported by the target" in shared_section
    assert "Database time: not reported by the target" in shared_section
    assert "not reported by the target" not in html[html.index("<h2>Tier premium</h2>") :]


def test_noisy_neighbour_chart_only_when_both_tiers_ran():
    only_premium = make_frame(3_000, tiers=("premium",))
    pngs = charts.render_charts(only_premium, make_summary(), make_run())
    assert charts.NOISY_CHART not in pngs
    assert "Noisy neighbour" not in render_html(only_premium, make_summary(), make_run(), pngs)


def test_long_runs_are_drawn_in_wider_buckets():
    clock = series.Clock(origin=START, warmup_end=30.0, end=7_200.0)
    assert clock.bucket_s == 12 and clock.seconds / clock.bucket_s <= series.MAX_BUCKETS
    frame = make_frame(20_000)
    frame["ts"] = START + (frame["ts"] - START) * 240  # the same samples over two hours
    built = series.tier_series(frame, "premium", "latency_ms", clock)
    assert len(built.starts) == 600 and built.bucket_s == 12
    assert built.requests.sum() == (frame["tier"] == "premium").sum()
    assert np.all(built.widths == 12)


def test_tier_series_counts_and_quantiles_match_the_samples(frame):
    clock = series.run_clock(frame, make_run())
    built = series.tier_series(frame, "shared", "latency_co_ms", clock)
    rows = frame[frame["tier"] == "shared"]
    seconds = np.floor(rows["ts"].to_numpy() - START).astype(int)
    inside = (seconds >= 0) & (seconds < clock.seconds)
    assert built.requests.tolist() == np.bincount(seconds[inside], minlength=clock.seconds).tolist()
    failed = inside & ~rows["ok"].to_numpy()
    assert built.failures.tolist() == np.bincount(seconds[failed], minlength=clock.seconds).tolist()
    second = 12
    values = rows["latency_co_ms"].to_numpy()[seconds == second]
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    np.testing.assert_array_equal(built.latency[:, second], expected)
    window = rows[(rows["ts"] >= START + WARMUP) & (rows["ts"] <= START + clock.end)]["latency_co_ms"]
    np.testing.assert_array_equal(built.window_latency, np.sort(window.to_numpy()))
    hits = (rows["cache"] == "hit").to_numpy() & (seconds == second)
    assert built.cache_hits[second] == hits.sum() and built.cache_lookups[second] == (seconds == second).sum()
    db = rows["db_ms"].to_numpy()[(seconds == second) & rows["db_ms"].notna().to_numpy()]
    assert built.db_p95[second] == np.percentile(db, 95, method="inverted_cdf")


def test_cache_codes_from_object_and_categorical_columns():
    values = ["hit", "miss", None, "hit"]
    expected = [1, 0, -1, 1]
    assert series.cache_codes(pd.Series(values, dtype=object)).tolist() == expected
    assert series.cache_codes(pd.Series(values, dtype="category")).tolist() == expected


def test_error_budget_burn_over_the_sla_window():
    built = series.TierSeries(
        tier="premium",
        bucket_s=1,
        starts=np.arange(4.0),
        widths=np.ones(4),
        requests=np.array([100, 100, 100, 100]),
        failures=np.array([5, 0, 1, 1]),
        window_requests=np.array([0, 1000, 1000, 2000]),
        window_failures=np.array([0, 0, 1, 1]),
        latency=np.full((3, 4), np.nan),
        cache_hits=None,
        cache_lookups=None,
        db_p95=None,
        window_latency=np.empty(0),
    )
    burn = series.burn_series(built, 0.999)  # 1 failure allowed per 1000 requests
    assert np.isnan(burn[0])
    np.testing.assert_allclose(burn[1:], [0.0, 0.5, 0.5])
    assert series.burn_series(built, None) is None


def test_checks_show_their_95_percent_interval(page):
    assert "9.10 ms – 10.4 ms" in table_row(page, ">p95_ms<")
    assert format_interval("p99_ms", [4.3, None]) == "4.30 ms – unbounded"
    assert format_interval("success_rate", [0.990095, 1.0]) == "99.009% – 100%"
    assert format_interval("mean_ms", None) == ""


def test_inconclusive_check_and_verdict(frame):
    summary = make_summary()
    summary.update(verdict="inconclusive", exit_code=0, reason="too few samples to decide premium.p99_ms")
    summary["tiers"]["premium"]["checks"].append(
        {"name": "p99_ms", "op": "<", "limit": 100, "actual": 4.97, "passed": None, "status": "inconclusive"}
        | {"ci95": [4.3, None]}
    )
    html = render_html(frame.iloc[:500], summary, make_run(exit_code=0), NO_CHARTS)
    assert banner_label(html) == "INCONCLUSIVE" and '<header class="banner inconclusive">' in html
    row = table_row(html, "4.30 ms – unbounded")
    assert 'class="badge inconclusive">inconclusive<' in row


def test_error_budget_per_tier(frame):
    summary = make_summary()
    summary["tiers"]["shared"]["error_budget"] = {"allowed": 13.321, "failures": 2, "burned": 0.15014, "left": 11.321}
    summary["tiers"]["premium"]["error_budget"] = {"allowed": 0.0, "failures": 3, "burned": None, "left": 0.0}
    html = render_html(frame.iloc[:500], summary, make_run(), NO_CHARTS)
    shared = html[html.index("<h2>Tier shared</h2>") : html.index("<h2>Tier premium</h2>")]
    assert 'class="badge passed">within budget<' in shared
    for text in ("allowed failures</dt><dd>13.3<", "used (failures)</dt><dd>2<", "burned</dt><dd>15%<"):
        assert text in shared
    premium = html[html.index("<h2>Tier premium</h2>") :]
    assert 'class="badge failed">over budget<' in premium
    assert "burned</dt><dd>∞ (no failures allowed)<" in premium


def baseline_summaries() -> tuple[dict, dict]:
    """A current summary and a baseline it regressed from (premium p95 +50% and +5 ms)."""
    current = make_summary("pass")
    baseline = copy.deepcopy(current)
    baseline["run_id"] = "20261120-090000-mixed"
    baseline["tiers"]["premium"]["latency_ms"] = {**current["tiers"]["premium"]["latency_ms"], "p95": 4.8}
    return current, baseline


def test_baseline_section_shows_deltas_and_regressions_in_red(frame):
    current, baseline = baseline_summaries()
    comparison = gate.compare(current, baseline, DEFAULT_TOLERANCES)
    summary = gate.apply(current, comparison)
    html = render_html(frame.iloc[:500], summary, make_run(), NO_CHARTS)
    assert "Against baseline 20261120-090000-mixed" in html
    regressed = re.findall(r'<tr class="regressed">.*?</tr>', html, re.S)
    assert len(regressed) == 1
    for text in (
        "premium",
        "p95_ms",
        "4.80 ms",
        "9.80 ms",
        "+5.00 ms",
        "+104.2%",
        "worse by &gt; 20% and &gt; 2 ms",
    ):
        assert text in regressed[0], text
    assert "premium.p95_ms" in html  # the regressions list
    shared_p95 = table_row(html, '<td class="text">shared</td><td>p95_ms</td>')
    assert "shared" in shared_p95 and "+0.00 ms" in shared_p95 and "regressed" not in shared_p95
    endpoint = html[html.index("<details") :]
    assert "GET /x&lt;script&gt;alert(1)&lt;/script&gt;" in endpoint


def test_no_baseline_no_section(page):
    assert "Against baseline" not in page


def stepped_summary() -> dict:
    """make_summary with a scalability section of two tiers over five steps."""
    steps = []
    for i, (pct, p95) in enumerate(((25, 2.0), (50, 2.1), (75, 2.3), (100, 2.6), (125, 9.5))):
        steps.append(
            {
                "step": i + 1,
                "users": pct // 2,
                "offered_rps": pct * 5.0,
                "load_pct": float(pct),
                "achieved_rps": pct * 5.0 * (0.99 if pct <= 100 else 0.85),
                "ratio": 0.99 if pct <= 100 else 0.85,
                "requests": 1000,
                "failures": 0,
                "latency_ms": {"p50": p95 / 2, "p95": p95, "p99": p95 * 2},
            }
        )
    tier = {
        "target_rps": 500.0,
        "per_user_rps": 10.0,
        "p95_limit_ms": 50,
        "steps": steps,
        "linear": True,
        "shortfall_step": None,
        "bend_step": 5,
        "throughput": "throughput stayed linear up to the target",
        "latency": "latency bends at step 5 (125% of target, 531 req/s achieved): p95 9.50 ms against 2.00 ms",
    }
    summary = make_summary("pass")
    summary["scalability"] = {
        "settle_s": 2.0,
        "linear_ratio": 0.95,
        "bend_factor": 1.5,
        "latency_basis": "corrected",
        "steps": [],
        "tiers": {"premium": tier, "shared": copy.deepcopy(tier)},
    }
    return summary


def test_scalability_section_table_statements_and_chart(frame):
    summary = stepped_summary()
    pngs = charts.render_charts(frame, summary, make_run())
    assert png_width(pngs[charts.SCALABILITY_CHART]) == FULL_WIDTH
    html = render_html(frame, summary, make_run(), pngs)
    section = html[html.index("<h2>Scalability</h2>") :]
    assert "latency bends at step 5 (125% of target" in section
    assert "throughput stayed linear up to the target" in section
    row = table_row(section, '<td class="num">125%</td>')
    for text in ("531", "85%", "9.50", "19.0", "4.75"):
        assert text in row, text
    assert row.startswith('<tr class="short">')
    assert 'alt="p95 and p99 latency of each scalability step' in section
    console = render_console({**summary, "duration_s": 24.3})
    assert "Scalability" in console and "latency bends at step 5" in console


def test_no_scalability_section_without_stages(page):
    assert "<h2>Scalability</h2>" not in page


def test_run_directory_gets_chart_files_and_rebuilds_them(tmp_path):
    run_dir = tmp_path / "20270115-080000-premium"
    summary = write_synthetic_run(run_dir, np.linspace(1.0, 30.0, 3_000), seconds=30.0)
    assert summary["scalability"] is None
    written = {path.stem: path.read_bytes() for path in (run_dir / "charts").glob("*.png")}
    assert set(written) == tier_chart_names("premium")
    html = (run_dir / "index.html").read_text()
    assert sorted(embedded_png(tag) for tag in image_tags(html)) == sorted(written.values())
    (run_dir / "charts" / "stale.png").write_bytes(b"old")
    for path in (run_dir / "charts").glob("premium_*.png"):
        path.unlink()
    frame, run = rundir.load_run(run_dir)
    again = rundir.render_reports(run_dir, frame, run)
    assert {path.stem for path in (run_dir / "charts").glob("*.png")} == set(written)
    assert again == json.loads((run_dir / "summary.json").read_text())


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
    service_basis = render_html(
        frame.iloc[:500], make_summary(basis="service"), make_run(latency_basis="service"), NO_CHARTS
    )
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
    html = render_html(frame.iloc[:500], summary, make_run(), NO_CHARTS)
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
    assert len(tags) == 2 * len(charts.CHART_KINDS) + 2
    assert all(png_width(embedded_png(tag)) > 0 for tag in tags)


def test_tier_without_samples_says_so(frame):
    only_shared = make_frame(3_000, tiers=("shared",))
    html = render_html(only_shared, make_summary(), make_run())
    assert "No samples from this tier" in html
    assert len(image_tags(html)) == len(charts.CHART_KINDS) + 1  # no noisy-neighbour chart with one tier
    assert "not reported by the target" not in html[html.index("<h2>Tier premium</h2>") :]


def test_interrupted_run_is_flagged(frame):
    html = render_html(frame.iloc[:500], make_summary(), make_run(interrupted=True), NO_CHARTS)
    assert 'class="badge interrupted"' in html
    assert 'class="badge interrupted"' not in render_html(frame.iloc[:500], make_summary(), make_run(), NO_CHARTS)


def test_render_does_not_modify_its_inputs(frame):
    summary, run = make_summary(), make_run()
    before = (frame.copy(), copy.deepcopy(summary), copy.deepcopy(run))
    render_html(frame.iloc[:500], summary, run)
    pd.testing.assert_frame_equal(frame, before[0])
    assert (summary, run) == before[1:]


def test_group_quantiles_match_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    seconds = rng.integers(-2, 40, 50_000)
    values = rng.lognormal(1.0, 1.0, 50_000)
    values[::97] = np.nan
    labels, rows = series.group_quantiles(seconds, values, (0.5, 0.95, 0.99))
    assert labels.tolist() == sorted(set(seconds[np.isfinite(values)].tolist()))
    for i, second in enumerate(labels):
        group = values[(seconds == second) & np.isfinite(values)]
        expected = np.percentile(group, [50, 95, 99], method="inverted_cdf")
        np.testing.assert_array_equal(rows[:, i], expected)


@pytest.mark.parametrize("size", [1, 20, 100])
def test_group_quantiles_on_exact_ranks(size):
    values = np.arange(1.0, size + 1)
    _, rows = series.group_quantiles(np.zeros(size, np.int64), values, (0.5, 0.95, 0.99))
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    np.testing.assert_array_equal(rows[:, 0], expected)


def test_ecdf_points_are_thinned_and_keep_the_tail():
    values = np.sort(np.random.default_rng(5).lognormal(1.0, 1.0, 100_000))
    x, y = series.ecdf_points(values, max_points=2_000)
    assert len(x) <= 2_000
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert x[-1] == values.max() and y[-1] == 1.0
    np.testing.assert_array_equal(x[-50:], values[-50:])  # the slowest requests are all drawn


def test_rates_never_round_up_to_full():
    assert format_rate(0.9995) == "99.95%"
    assert format_rate(0.9999999) == ">99.999%"
    assert format_rate(1.0) == "100%"
    assert format_rate(None) == "—"
