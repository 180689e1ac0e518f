"""The history of runs under a report directory: ``REPORT_DIR/history.jsonl``, kept by every run, rebuilt at will.

Every run and every SLA probe round appends its rows (:mod:`trademate_load.history_rows`, one JSON line per tier)
when its reports are written. The run directories stay the truth: :func:`rebuild` recreates the file from every
``summary.json`` under the report directory, and skips a damaged directory with one line naming it. Appends and
rebuilds hold an exclusive ``flock`` on the file and write each run's lines in one ``write``, so two runs ending
at the same moment both land whole. A run re-rendered (``python -m trademate_load report DIR``) appends again:
the reader keeps each run's last rows. :func:`pick_baseline` answers ``BASELINE=auto``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from trademate_load.config import ConfigError
from trademate_load.history_rows import rows
from trademate_load.rundir import read_summary
from trademate_load.runinfo import read_run_json

logger = logging.getLogger(__name__)
HISTORY_FILE = "history.jsonl"
AUTO = "auto"  # BASELINE=auto or auto:PREFIX


def history_path(report_dir: Path) -> Path:
    return Path(report_dir) / HISTORY_FILE


def report_of(run_dir: Path) -> str:
    """A run's report, relative to its report directory: its index.html, or summary.json when it has no page."""
    page = "index.html" if (run_dir / "index.html").exists() else "summary.json"
    return f"{run_dir.name}/{page}"


@contextmanager
def _locked(path: Path, flags: int) -> Iterator[int]:
    fd = os.open(path, flags | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _lines(new_rows: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in new_rows).encode()


def record(run_dir: Path, summary: Mapping[str, Any], run: Mapping[str, Any]) -> None:
    """Append a judged run's rows to the history of the report directory it sits in."""
    data = _lines(rows(summary, run, report_of(run_dir)))
    with _locked(history_path(run_dir.parent), os.O_WRONLY | os.O_APPEND) as fd:
        os.write(fd, data)


def _run_rows(run_dir: Path) -> list[dict[str, Any]]:
    """One run directory's rows; ConfigError names what is damaged."""
    summary = read_summary(run_dir)
    older = "label" not in summary and (run_dir / "run.json").exists()  # a summary from before labels were kept
    run = read_run_json(run_dir / "run.json").to_json() if older else {}
    return rows(summary, run, report_of(run_dir))


def rebuild(report_dir: Path) -> tuple[int, list[str]]:
    """Recreate the history from the run directories: (runs kept, one line per directory skipped)."""
    report_dir = Path(report_dir)
    kept, skipped, lines = 0, [], []
    candidates = (p for p in sorted(report_dir.iterdir()) if p.is_dir() and not p.is_symlink())
    for run_dir in candidates:
        if not (run_dir / "summary.json").exists() and not (run_dir / "run.json").exists():
            continue  # not a run directory
        try:
            lines.append(_lines(_run_rows(run_dir)))
            kept += 1
        except ConfigError as exc:
            skipped.append(f"skipped {run_dir}: {exc}")
    with _locked(history_path(report_dir), os.O_WRONLY) as fd:
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"".join(lines), 0)
    return kept, skipped


def read(report_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """The history frame (one row per run and tier, oldest first, each run's last rows only) and one line per
    history line that could not be read."""
    path, records, problems = history_path(report_dir), [], []
    text = ""
    if path.exists():
        with path.open("rb") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # not halfway through another process's append
            text = file.read().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "run_id" not in row or "tier" not in row:
                raise ValueError("not a history row")
            records.append(row)
        except ValueError as exc:
            problems.append(f"skipped {path}:{number}: {exc}")
    frame = pd.DataFrame(records)
    if frame.empty:
        return frame, problems
    frame = frame.drop_duplicates(["run_id", "tier"], keep="last")
    order = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601", errors="coerce")
    return frame.assign(_order=order).sort_values(["_order", "run_id"], kind="stable").drop(columns="_order"), problems


def pick_baseline(report_dir: Path, profile: str, prefix: str = "") -> Path | None:
    """``BASELINE=auto[:PREFIX]``: the most recent run of ``profile`` (with a label starting with PREFIX) that
    passed (exit 0: every SLA met, or not yet decidable) and whose load generator was not found wanting, whose
    summary.json is still there."""
    frame, _ = read(report_dir)
    if frame.empty:
        return None
    runs = frame[(frame["kind"] == "run") & (frame["profile"] == profile) & (frame["exit_code"] == 0)]
    runs = runs[runs["valid"].ne(False) & runs["label"].fillna("").str.startswith(prefix)]
    for run_id in reversed(runs["run_id"].drop_duplicates().tolist()):
        if (Path(report_dir) / run_id / "summary.json").exists():
            return Path(report_dir) / run_id
    return None


def auto_baseline(report_dir: Path, profile: str, prefix: str) -> tuple[Path | None, dict[str, Any] | None]:
    """``BASELINE=auto[:PREFIX]`` as a run begins: the baseline's directory and summary, or (None, None) when the
    history has none (logged: the run is not gated)."""
    which = f"profile {profile}" + (f" with a label starting {prefix!r}" if prefix else "")
    baseline = pick_baseline(report_dir, profile, prefix)
    try:
        summary = None if baseline is None else read_summary(baseline)
    except ConfigError as exc:
        baseline, summary = None, None
        logger.warning("TradeMate: BASELINE=auto: %s", exc)
    if baseline is None:
        logger.warning("TradeMate: BASELINE=auto: no passing valid run of %s in the history: no gate", which)
    else:
        logger.info("TradeMate: BASELINE=auto: %s, the last passing valid run of %s", baseline, which)
    return baseline, summary


def parse_auto(baseline: str) -> str | None:
    """The label prefix of ``auto`` / ``auto:PREFIX`` (``""`` for any label), or None for a run directory."""
    if baseline == AUTO:
        return ""
    return baseline.removeprefix(AUTO + ":") if baseline.startswith(AUTO + ":") else None
