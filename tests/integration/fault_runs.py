"""What the fault tests share: a small profile, the run directory's files read back, and the errors counted by
type."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import requests

from tests.conftest import ROOT

SLA_FILE = ROOT / "profiles" / "sla.yaml"
TIMEOUT_TYPE = "TimeoutError: timed out"  # how a request past its tier's client timeout is recorded
HTTP_503_TYPE = "LocustBadStatusCode(code=503)"
REFUSED_TYPE = "ConnectionRefusedError: [Errno 111] Connection refused"


def write_profile(tmp_path: Path, run_time: str, tiers: str) -> Path:
    """A small profile in ``tmp_path`` with the repository's SLA file; ``tiers``: the YAML lines under tiers:."""
    path = tmp_path / "faults.yaml"
    path.write_text(f"name: faults\nrun_time: {run_time}\nwarmup: 1s\nspawn_rate: 50\ntiers:\n{tiers}sla: {SLA_FILE}\n")
    return path


SMALL_TIERS = "  shared: {users: 4, rps: 40}\n  premium: {users: 4, rps: 40}\n"


def served_api_requests(url: str) -> int:
    """Requests to /api/... the reference API has served, from its /metrics."""
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("trademate_api_requests_total{") and 'endpoint="/api/' in line
        )
    )


def read_run(run_dir: Path) -> tuple[dict, dict, pd.DataFrame]:
    """run.json, summary.json and samples.parquet of a run directory."""
    run = json.loads((run_dir / "run.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    return run, summary, pd.read_parquet(run_dir / "samples.parquet")


def errors_by_type(summary: dict, tier: str) -> dict[tuple[str, int, str], int]:
    """summary.json's failure counts of one tier, by (endpoint, status, error type)."""
    counts: dict[tuple[str, int, str], int] = {}
    for error in summary["errors"]:
        if error["tier"] == tier:
            key = (error["endpoint"], error["status"], error["error"])
            counts[key] = counts.get(key, 0) + error["count"]
    return counts


def in_window(samples: pd.DataFrame, summary: dict) -> pd.DataFrame:
    window = summary["window"]
    return samples[(samples["ts"] >= window["start_ts"]) & (samples["ts"] <= window["end_ts"])]


def wait_until_spawned(proc: subprocess.Popen) -> list[str]:
    """Read the run's output until every user runs; the lines read so far."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "All users spawned" in line:
            return seen
    raise AssertionError("the run ended before its users were spawned:\n" + "".join(seen[-40:]))
