"""The history page of a report directory, written: ``REPORT_DIR/index.html``, and each run told of its changes.

:func:`publish` reads the history (:mod:`trademate_load.history`), finds its change points
(:mod:`trademate_load.changes`) and the daily compliance (:mod:`trademate_load.compliance`), renders the page
(:mod:`trademate_load.report.history_page`) and writes it. Each run that is the first after a change gets the change
in its summary.json (``changes``) and its own page says so, re-rendered from its summary and charts (not its
samples); a run no longer at a change loses the mark. ``python -m trademate_load history`` (``make history``) calls
it, and so does every run whose report directory already has a history page, which keeps the page current.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trademate_load import history
from trademate_load.changes import detect
from trademate_load.compliance import daily
from trademate_load.config import ConfigError
from trademate_load.report.history_charts import render_history_charts
from trademate_load.report.history_page import render_history_page
from trademate_load.report.html import render_html
from trademate_load.rundir import read_summary, write_json, write_text
from trademate_load.runinfo import read_run_json

logger = logging.getLogger(__name__)
PAGE = "index.html"
CHANGE_FIELDS = ("tier", "figure", "before", "after", "size", "size_pct", "p_value", "track", "profile")


@dataclass(frozen=True)
class Published:
    """What :func:`publish` did: the page, the runs and rounds it shows, its change points, and what it skipped."""

    page: Path
    runs: int
    probe_rounds: int
    changes: pd.DataFrame
    skipped: list[str]


def _marks(changes: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per run id, the changes it is the first run after, as summary.json's ``changes`` holds them."""
    marks: dict[str, list[dict[str, Any]]] = {}
    for change in changes.to_dict("records"):
        entry = {name: _plain(change.get(name)) for name in CHANGE_FIELDS}
        marks.setdefault(change["run_id"], []).append(entry)
    return marks


def _plain(value: Any) -> Any:
    """A JSON value: numpy numbers as Python's, NaN (a size in % of a zero level) as null."""
    if isinstance(value, str) or value is None:
        return value
    number = float(value)
    return None if math.isnan(number) else number


def mark_run(run_dir: Path, changes: list[dict[str, Any]]) -> bool:
    """Record in a run's summary.json and page the changes it is the first run after; False when already so."""
    summary = read_summary(run_dir)
    if (summary.get("changes") or []) == changes:
        return False
    summary = {**summary, "changes": changes}
    run = read_run_json(run_dir / "run.json").to_json()
    pngs = {png.stem: png.read_bytes() for png in sorted((run_dir / "charts").glob("*.png"))}
    write_json(run_dir / "summary.json", summary)
    if (run_dir / PAGE).exists():
        write_text(run_dir / PAGE, render_html(None, summary, run, pngs))
    return True


def _mark_runs(report_dir: Path, frame: pd.DataFrame, changes: pd.DataFrame) -> list[str]:
    marks, problems = _marks(changes), []
    runs = frame.loc[frame["kind"] == "run", "run_id"].drop_duplicates() if not frame.empty else []
    for run_id in runs:
        run_dir = report_dir / run_id
        if not (run_dir / "summary.json").exists():
            continue
        try:
            mark_run(run_dir, marks.get(run_id, []))
        except (ConfigError, OSError) as exc:
            problems.append(f"skipped marking {run_dir}: {exc}")
    return problems


def publish(report_dir: Path, rebuild: bool = False) -> Published:
    """Write ``report_dir``'s history page (``rebuild``: recreate the history from the run directories first)."""
    report_dir = Path(report_dir)
    skipped: list[str] = []
    if rebuild or not history.history_path(report_dir).exists():
        skipped += history.rebuild(report_dir)[1]
    frame, problems = history.read(report_dir)
    changes = detect(frame) if not frame.empty else pd.DataFrame()
    pngs = render_history_charts(frame, changes)
    page = report_dir / PAGE
    write_text(page, render_history_page(frame, changes, daily(frame), pngs))
    skipped += problems + _mark_runs(report_dir, frame, changes)
    kinds = frame.drop_duplicates("run_id")["kind"].value_counts() if not frame.empty else {}
    return Published(page, int(kinds.get("run", 0)), int(kinds.get("probe", 0)), changes, skipped)


def after_run(run_dir: Path, summary: dict[str, Any], run: dict[str, Any]) -> None:
    """As a run (or probe round) ends: add it to the history, and rewrite the history page if its report directory
    has one (``make history`` made it). Neither can change the run's verdict: a failure is logged, and
    ``python -m trademate_load history --rebuild`` recreates both."""
    try:
        history.record(run_dir, summary, run)
        if (run_dir.parent / PAGE).exists():
            publish(run_dir.parent)
    except (OSError, ValueError) as exc:
        logger.error("could not add %s to the history of %s: %s", run_dir.name, run_dir.parent, exc)
