"""Unit tests of the history page: the daily compliance, the charts per series and figure, and the page (links,
the failing run's row, the change points, escaping, an empty history), on synthetic history frames."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from trademate_load.compliance import daily
from trademate_load.report.history_charts import FIGURES, chart_key, history_chart, normalized, render_history_charts
from trademate_load.report.history_page import render_history_page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TIERS = ("premium", "shared")
TRACKS = ("main", "release")
FAILING = 5  # the slow run: p95 far above its limit
SHIFT = 8  # the first run of track main after a change point in premium p95
PROBE_FIGURES = ("p95_ms", "success_rate", "uptime")  # a probe round here reports no p99 or mean


def run_row(i: int, tier: str) -> dict:
    """One (run, tier) row of the history: runs 3 h apart, tracks alternating, one slow failing run."""
    track = TRACKS[i % 2]
    started = START + timedelta(hours=3 * i)
    run_id = started.strftime("%Y%m%d-%H%M%S") + "-premium"
    slow = i == FAILING
    p95 = (120.0 if slow else 20.0 + (i % 3) * 0.5) * (1 if tier == "premium" else 2)
    limit = 50.0 if tier == "premium" else 100.0
    return {
        "run_id": run_id,
        "kind": "run",
        "profile": "premium",
        "label": f"{track}@{i:07x}",
        "track": track,
        "started_at": started.isoformat(),
        "duration_s": 300.0,
        "tier": tier,
        "verdict": "fail" if slow else "pass",
        "exit_code": 1 if slow else 0,
        "met": not slow,
        "valid": True,
        "requests": 3000,
        "rps": 10.0,
        "p95_ms": p95,
        "p95_ms_lo": p95 * 0.9,
        "p95_ms_hi": p95 * 1.1,
        "p95_ms_limit": limit,
        "p99_ms": p95 * 1.5,
        "p99_ms_limit": 2 * limit,
        "mean_ms": p95 / 2,
        "success_rate": 0.9995,
        "success_rate_lo": 0.999,
        "success_rate_hi": 0.9999,
        "success_rate_limit": 0.999,
        "uptime": 1.0,
        "report": f"{run_id}/index.html",
        "checks": [],
    }


def probe_row(j: int, tier: str) -> dict:
    """One (probe round, tier) row; the second round was down 2% of its time."""
    started = START + timedelta(hours=1 + 5 * j)
    run_id = "probe-" + started.strftime("%Y%m%d-%H%M%S")
    return {
        "run_id": run_id,
        "kind": "probe",
        "profile": "probe",
        "label": "",
        "track": "",
        "started_at": started.isoformat(),
        "tier": tier,
        "verdict": "pass",
        "exit_code": 0,
        "met": True,
        "valid": None,
        "p95_ms": 10.0,
        "success_rate": 1.0,
        "uptime": 1.0 - 0.02 * j,
        "uptime_limit": 0.95,
        "report": f"{run_id}/summary.json",
        "checks": [],
    }


def make_history() -> pd.DataFrame:
    rows = [run_row(i, tier) for i in range(12) for tier in TIERS]
    return pd.DataFrame(rows + [probe_row(j, tier) for j in range(2) for tier in TIERS])


def make_changes(history: pd.DataFrame) -> pd.DataFrame:
    first = history[(history["run_id"] == run_row(SHIFT, "premium")["run_id"]) & (history["tier"] == "premium")]
    row = first.iloc[0]
    change = {"kind": "run", "profile": "premium", "track": "main", "tier": "premium", "figure": "p95_ms"}
    change |= {"run_id": row["run_id"], "label": row["label"], "started_at": row["started_at"]}
    change |= {"before": 20.0, "after": 30.0, "size": 10.0, "size_pct": 50.0, "p_value": 0.0004}
    return pd.DataFrame([change])


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return make_history()


@pytest.fixture(scope="module")
def changes(history) -> pd.DataFrame:
    return make_changes(history)


@pytest.fixture(scope="module")
def pngs(history, changes) -> dict[str, bytes]:
    return render_history_charts(history, changes)


@pytest.fixture(scope="module")
def page(history, changes, pngs) -> str:
    return render_history_page(history, changes, daily(history), pngs)


def runs_table(page: str) -> dict[str, str]:
    """The Runs table's rows by run id: each row's opening tag and cells."""
    body = page[page.index('<section id="runs">') :]
    rows = re.findall(r"<tr class=.*?</tr>", body, flags=re.S)
    return {re.search(r'<a href="[^"]*">([^<]+)</a>', row).group(1): row for row in rows}


def test_a_chart_per_series_and_figure_with_values(pngs):
    expected = {chart_key("run", "premium", track, tier, f) for track in TRACKS for tier in TIERS for f in FIGURES}
    expected |= {chart_key("probe", "probe", "", tier, f) for tier in TIERS for f in PROBE_FIGURES}
    assert set(pngs) == expected
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs.values())
    assert "premium-main-premium-p95_ms" in pngs and "probe-all-shared-uptime" in pngs


def test_chart_names_are_safe_file_names():
    assert chart_key("run", "premium", "feat/x y", "premium", "p95_ms") == "premium-feat_x_y-premium-p95_ms"
    assert chart_key("run", "smoke", "", "shared", "uptime") == "smoke-all-shared-uptime"
    assert chart_key("probe", "nightly", "", "shared", "uptime") == "probe-nightly-all-shared-uptime"


def test_a_change_point_is_drawn_on_its_series_only(history, changes):
    frame = normalized(history)
    rows = frame[(frame["track"] == "main") & (frame["tier"] == "premium")].reset_index(drop=True)
    plain = history_chart(rows, "p95_ms", "p95", changes.iloc[:0])
    marked = history_chart(rows, "p95_ms", "p95", changes)
    assert marked.startswith(PNG_SIGNATURE) and marked != plain


def test_the_page_links_every_run_to_its_report(history, page):
    for run_id, report in history[["run_id", "report"]].drop_duplicates().itertuples(index=False):
        assert f'<a href="{report}">{run_id}</a>' in page
    assert "12 runs, 2 probe rounds" in page
    assert "2026-12-01 to 2026-12-02" in page


def test_the_page_embeds_every_chart_and_loads_nothing(pngs, page):
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


def test_the_failing_run_is_marked(page):
    rows = runs_table(page)
    failing = run_row(FAILING, "premium")["run_id"]
    assert rows[failing].startswith('<tr class="verdict-fail')
    assert 'class="badge fail"' in rows[failing]
    assert all("verdict-fail" not in row for run_id, row in rows.items() if run_id != failing)
    assert next(iter(rows)) == run_row(11, "premium")["run_id"]  # newest first
    assert len(rows) == 14


def test_the_change_point_table_lists_the_change(changes, page):
    run_id = changes.at[0, "run_id"]
    table = page[page.index('<section id="changes">') : page.index('<section id="daily">')]
    assert f'<a href="{run_id}/index.html">{run_id}</a>' in table
    assert "premium · main · premium" in table and "p95 latency" in table
    assert "20.0 ms → 30.0 ms" in table and "+10.0 ms" in table and "+50.0%" in table and "&lt; 0.001" in table
    assert 'class="worse"' in table
    assert "change-start" in runs_table(page)[run_id]


def test_the_daily_compliance_tables(page):
    table = page[page.index('<section id="daily">') : page.index('<section id="runs">')]
    assert table.count("<h3>Tier ") == 2
    assert "87.5%" in table and "99%" in table  # day one: 7 of 8 rows met; probe uptime mean (1.0 + 0.98) / 2


def test_everything_is_escaped():
    history = pd.DataFrame([run_row(0, "premium") | {"label": "<script>alert(1)</script>", "track": "<b>"}])
    page = render_history_page(history, None, daily(history), {})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_daily_figures_by_utc_day_and_tier():
    rows = [
        {"started_at": "2026-12-03T08:00:00+00:00", "kind": "run", "tier": "premium", "met": True, "uptime": 1.0},
        {"started_at": "2026-12-03T09:00:00+00:00", "kind": "run", "tier": "premium", "met": False, "uptime": 0.5},
        {"started_at": "2026-12-03T10:00:00+00:00", "kind": "probe", "tier": "premium", "met": True, "uptime": 1.0},
        {"started_at": "2026-12-03T11:00:00+00:00", "kind": "probe", "tier": "premium", "met": None, "uptime": 0.9},
        {"started_at": "2026-12-03T12:00:00+00:00", "kind": "run", "tier": "shared", "met": True, "uptime": None},
        # 23:30 at UTC-2 is 01:30 UTC the next day
        {"started_at": "2026-12-03T23:30:00-02:00", "kind": "probe", "tier": "premium", "met": True, "uptime": None},
    ]
    table = daily(pd.DataFrame(rows))
    assert list(table.columns) == ["day", "tier", "runs", "probe_rounds", "met_share", "probe_uptime"]
    assert list(zip(table["day"], table["tier"], strict=True)) == [
        ("2026-12-03", "premium"),
        ("2026-12-03", "shared"),
        ("2026-12-04", "premium"),
    ]
    assert table["runs"].tolist() == [2, 1, 0]
    assert table["probe_rounds"].tolist() == [2, 0, 1]
    assert table["met_share"].tolist() == [0.5, 1.0, 1.0]  # premium: 2 of 4 met (a null met is not met)
    assert table.at[0, "probe_uptime"] == pytest.approx(0.95)  # the probe rounds' mean: the runs' 0.5 is left out
    assert math.isnan(table.at[1, "probe_uptime"]) and math.isnan(table.at[2, "probe_uptime"])


def test_an_empty_history_says_there_are_no_runs():
    empty = pd.DataFrame()
    assert render_history_charts(empty, pd.DataFrame()) == {}
    table = daily(empty)
    assert table.empty and list(table.columns) == ["day", "tier", "runs", "probe_rounds", "met_share", "probe_uptime"]
    page = render_history_page(empty, pd.DataFrame(), table, {})
    assert "No runs yet" in page and "0 runs, 0 probe rounds" in page
    assert "No runs yet" in render_history_page(empty, None, None, {})
