"""The run directory ``reports/<run-id>/``: written after a run, and rebuilt from its own files alone.

Layout: ``samples.parquet`` and ``run.json`` (written first, so nothing measured is lost if a report
fails), then ``summary.json``, ``junit.xml``, ``charts/<name>.png`` and ``index.html`` (the same charts
embedded); ``reports/latest`` points at the newest.
Every report is a pure function of (samples, run.json), so ``python -m trademate_load report DIR``
re-renders them exactly.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from trademate_load import gate, losses, scalability, validity_verdict
from trademate_load.config import ConfigError
from trademate_load.frame import read_parquet
from trademate_load.profile import TierLoad, scheduled_requests
from trademate_load.report.charts import render_charts
from trademate_load.report.html import render_html
from trademate_load.report.junit import render_junit
from trademate_load.report.summary import SCHEMA, build_summary
from trademate_load.runinfo import RunInfo, as_json, read_run_json, write_json, write_run_json
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window
from trademate_load.sla_spec import Sla, parse_sla
from trademate_load.store import write_parquet

logger = logging.getLogger(__name__)


def new_run_dir(report_dir: Path, profile: str, started_ts: float) -> Path:
    """A fresh, unique ``<report_dir>/<YYYYmmdd-HHMMSS>-<profile>[-n]`` directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started_ts))
    report_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = report_dir / (f"{stamp}-{profile}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{report_dir}: no free run directory name for {stamp}-{profile}")


def report_dir_problem(report_dir: Path) -> str | None:
    """Why run directories cannot be written under ``report_dir`` (created if missing), or None: checked before
    any load is sent, so a run never measures what it cannot keep."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=report_dir):
            pass
    except OSError as exc:
        return f"report directory {report_dir}: cannot write run directories there ({exc.strerror or exc}): nothing run"
    return None


def write_text(path: Path, text: str) -> None:
    """``text`` written whole (through a temporary file beside ``path``) or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_inputs(
    run: RunInfo | dict[str, Any],
) -> tuple[dict[str, TierLoad], Sla, Window, str, bool, dict[str, list], dict]:
    """What the SLA engine needs, read back from run.json (``dropped``: open-model drops; the schedule of each
    tier's requests, unless the run was unpaced, as a probe is)."""
    info = RunInfo.view(run)
    tiers = info.tier_loads()
    sla = parse_sla({"tiers": info.sla, "endpoints": info.sla_endpoints}, "run.json:sla")
    window = Window(info.started_ts + info.warmup_s, info.ended_ts)
    scheduled = {} if info.unpaced else {tier: _schedule(info, tier, load) for tier, load in tiers.items()}
    return tiers, sla, window, info.latency_basis, info.strict, info.dropped, scheduled


def _schedule(info: RunInfo, tier: str, load: TierLoad):
    """Requests ``tier`` was scheduled to send between two epoch times, from run.json's profile settings."""
    started, stages = info.started_ts, info.stages
    return lambda start_ts, end_ts: scheduled_requests(load, stages, tier, start_ts - started, end_ts - started)


def judge(frame: pd.DataFrame, run: RunInfo | dict[str, Any]) -> dict[str, Any]:
    """summary.json for a run: the SLA verdict, lost workers, whether the load generator explains it, the baseline
    gate when run.json carries a baseline."""
    info = RunInfo.view(run)
    run = info.to_json()
    inputs = run_inputs(info)
    summary = losses.apply(build_summary(evaluate(frame, *inputs), run), info.workers)
    summary = validity_verdict.apply(summary, frame, run, inputs)
    summary["scalability"] = scalability.analyze(frame, info)
    if info.baseline_summary:
        comparison = gate.compare(summary, info.baseline_summary, gate.tolerances_from(info.settings))
        summary = gate.apply(summary, comparison)
    return summary


def render_reports(run_dir: Path, frame: pd.DataFrame, run: RunInfo | dict[str, Any]) -> dict[str, Any]:
    """Judge the samples and write summary.json, junit.xml, the charts and index.html; run.json gets the exit code."""
    summary = judge(frame, run)
    run = {**as_json(run), "exit_code": summary["exit_code"]}
    write_run_json(run_dir / "run.json", run)
    write_json(run_dir / "summary.json", summary)
    write_text(run_dir / "junit.xml", render_junit(summary))
    pngs = render_charts(frame, summary, run)
    write_charts(run_dir / "charts", pngs)
    write_text(run_dir / "index.html", render_html(frame, summary, run, pngs))
    return summary


def write_charts(directory: Path, pngs: dict[str, bytes]) -> None:
    """Each chart as ``<name>.png`` in ``directory``; PNGs left from an earlier rendering are removed."""
    directory.mkdir(exist_ok=True)
    for stale in directory.glob("*.png"):
        if stale.stem not in pngs:
            stale.unlink()
    for name, png in pngs.items():
        tmp = directory / f".{name}.png.tmp"
        tmp.write_bytes(png)
        tmp.replace(directory / f"{name}.png")


def point_latest(run_dir: Path) -> None:
    """Make ``<report_dir>/latest`` a relative symlink to ``run_dir``."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)


def write_run(run_dir: Path, frame: pd.DataFrame, run: RunInfo | dict[str, Any]) -> dict[str, Any]:
    """Persist the samples and run.json first, then every report, then point ``latest`` here."""
    write_parquet(frame, run_dir / "samples.parquet")
    write_run_json(run_dir / "run.json", run)
    result = render_reports(run_dir, frame, run)
    point_latest(run_dir)
    return result


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json of an earlier run (a baseline), checked to be one; ConfigError names what is wrong."""
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "no such file: not a run directory") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc}") from None
    if not isinstance(summary, dict) or summary.get("schema") != SCHEMA:
        raise ConfigError(path, "schema", f"expected {SCHEMA!r}")
    return summary


def load_run(run_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The samples and run.json of a run directory, run.json with every field (an older one's missing fields at
    their defaults); ConfigError: run.json is damaged, naming the field; SamplesFileError."""
    run = read_run_json(run_dir / "run.json")
    return read_parquet(run_dir / "samples.parquet"), run.to_json()
