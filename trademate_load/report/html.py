"""Render a run's self-contained HTML report: a pure function of (samples frame, summary, run info).

This module assembles the page: the template environment and the context of every section, each built by its own
module (html_header, html_tiers, html_generator, html_scalability, html_baseline, html_tables). Table figures, the
verdict, the error budget, the baseline comparison and the scalability steps come from summary.json as computed by
the SLA engine, never recomputed; charts come from charts.render_charts (or are passed in, already rendered) and
are embedded as base64 PNG data URIs, so the page loads nothing from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from trademate_load.report import charts
from trademate_load.report.html_baseline import baseline_view
from trademate_load.report.html_generator import generator_view
from trademate_load.report.html_header import banner, change_line, metadata
from trademate_load.report.html_parts import environment, image
from trademate_load.report.html_scalability import scalability_view
from trademate_load.report.html_tables import endpoint_row, error_row
from trademate_load.report.html_tiers import tier_view
from trademate_load.runinfo import RunInfo

TEMPLATE = "report.html.j2"
HISTORY_LINK = "../index.html"  # the report directory's history page (make history)
ERRORS_ALT = "Failed requests per second, per tier; warm-up shaded"
NOISY_ALT = "Premium p95 latency over time against the shared tier's requests per second (second axis)"


def render_html(frame: pd.DataFrame | None, summary: dict, run: dict, pngs: Mapping[str, bytes] | None = None) -> str:
    """The complete report page for one run, as an HTML document string.

    ``pngs``: the charts already rendered by charts.render_charts (rendered here when None). ``frame`` None: the
    page re-rendered from the charts already drawn (the history marks a run), without reading the samples.
    """
    if pngs is None:
        pngs = charts.render_charts(frame, summary, run)
    return environment().get_template(TEMPLATE).render(page_context(frame, summary, run, pngs))


def page_context(frame: pd.DataFrame | None, summary: Mapping, run: Mapping, pngs: Mapping[str, bytes]) -> dict:
    """Everything the template shows, as plain display strings and lists."""
    return {
        "title": f"TradeMate load report {summary.get('run_id') or RunInfo.view(run).run_id}".strip(),
        "banner": banner(summary, run),
        "metadata": metadata(summary, run),
        "has_samples": (RunInfo.view(run).samples if frame is None else len(frame)) > 0,
        "changes": [change_line(change) for change in summary.get("changes") or []],
        "history_link": HISTORY_LINK,
        "tiers": [tier_view(name, tier, run, pngs) for name, tier in (summary.get("tiers") or {}).items()],
        "errors_chart": image(pngs.get(charts.ERRORS_CHART), ERRORS_ALT),
        "noisy_chart": image(pngs.get(charts.NOISY_CHART), NOISY_ALT),
        "generator": generator_view(summary.get("generator"), pngs),
        "scalability": scalability_view(summary.get("scalability"), pngs),
        "baseline": baseline_view(summary.get("baseline")),
        "endpoints": [endpoint_row(endpoint) for endpoint in summary.get("endpoints") or []],
        "errors": [error_row(error) for error in summary.get("errors") or []],
    }
