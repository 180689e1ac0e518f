"""Unit tests of the HTML report renderer, on synthetic runs, with real rendering."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest

from tests.report_data import (
    FULL_WIDTH,
    HOST,
    NO_CHARTS,
    banner_label,
    baseline_summaries,
    embedded_png,
    empty_frame,
    image_tags,
    make_frame,
    make_run,
    make_summary,
    png_width,
    stepped_summary,
    table_row,
)
from trademate_load import gate
from trademate_load.formatting import format_interval, format_rate
from trademate_load.report import charts
from trademate_load.report.console import render_console
from trademate_load.report.html import render_html
from trademate_load.sla_spec import DEFAULT_TOLERANCES


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


def test_every_image_is_an_embedded_png_with_alt_text(page):
    tags = image_tags(page)
    assert len(tags) == 2 * len(charts.CHART_KINDS) + 2  # eight charts per tier, failures, noisy neighbour
    for tag in tags:
        assert png_width(embedded_png(tag)) > 0
        assert re.search(r'alt="[^"]{10,}"', tag)


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
    # nothing loaded from elsewhere; the one link that is not data is to the report directory's history page
    assert re.findall(r"""(src|href)=["'](?!data:)([^"']*)""", page) == [("href", "../index.html")]


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


def test_rates_never_round_up_to_full():
    assert format_rate(0.9995) == "99.95%"
    assert format_rate(0.9999999) == ">99.999%"
    assert format_rate(1.0) == "100%"
    assert format_rate(None) == "—"
