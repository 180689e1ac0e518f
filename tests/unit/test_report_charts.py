"""Unit tests of the report's charts: which are drawn, their names and sizes, on synthetic runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.report_data import (
    FULL_WIDTH,
    HALF_WIDTH,
    embedded_png,
    image_tags,
    make_frame,
    make_run,
    make_summary,
    png_height,
    png_width,
    tier_chart_names,
)
from trademate_load.report import charts
from trademate_load.report.html import render_html


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


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
