"""The history store: rows from a summary, appends from processes racing at one moment, the rebuild from run
directories (a damaged one skipped with one line, through the real command), and BASELINE=auto's choice."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.synthetic import write_synthetic_run
from trademate_load import history
from trademate_load.history_rows import rows, track
from trademate_load.rundir import write_json

CHECKS = [
    {"name": "p95_ms", "op": "<", "limit": 50.0, "actual": 3.1, "passed": True, "status": "passed", "ci95": [3.0, 3.2]},
    {"name": "uptime", "op": ">=", "limit": 0.999, "actual": 1.0, "passed": True, "status": "passed"},
]


def summary(run_id: str, p95: float = 3.1, *, exit_code: int = 0, valid: bool | None = True, profile="premium"):
    """A summary.json of one premium tier, as the engine writes it."""
    latency = {"mean": p95 / 2, "p50": p95 / 3, "p95": p95, "p99": p95 * 2, "max": p95 * 3}
    verdict = {0: "pass", 1: "fail", 3: "invalid"}[exit_code]
    return {
        "schema": "trademate-load/summary/1",
        "run_id": run_id,
        "profile": profile,
        "started_at": f"2026-12-0{1 + int(run_id[-2:]) // 10}T10:{int(run_id[-2:]) % 60:02d}:00+00:00",
        "duration_s": 60.0,
        "verdict": verdict,
        "exit_code": exit_code,
        "generator": None if valid is None else {"valid": valid},
        "tiers": {
            "premium": {
                "requests": 30000,
                "rps": 500.0,
                "latency_ms": latency,
                "ci95": {"p95_ms": [p95 * 0.98, p95 * 1.02], "mean_ms": [p95 / 2 - 0.1, p95 / 2 + 0.1]},
                "success_rate": 1.0,
                "uptime": {"ratio": 1.0},
                "checks": [{**c, "actual": p95} if c["name"] == "p95_ms" else c for c in CHECKS],
            }
        },
    }


def run_dir(report_dir: Path, run_id: str, label: str = "", **kwargs) -> Path:
    path = report_dir / run_id
    path.mkdir(parents=True)
    write_json(path / "summary.json", summary(run_id, **kwargs))
    write_json(path / "run.json", {"run_id": run_id, "profile": "premium", "label": label, "started_ts": 0.0,
                                   "settings": {}, "sla": {}})  # fmt: skip
    return path


def test_a_row_holds_the_figures_their_intervals_limits_and_every_check():
    (row,) = rows(summary("r-01"), {"label": "main@3f2c1a0"}, "r-01/index.html")
    assert (row["kind"], row["label"], row["track"], row["tier"]) == ("run", "main@3f2c1a0", "main", "premium")
    figures = (row["p95_ms"], row["p95_ms_lo"], row["p95_ms_hi"], row["p95_ms_limit"])
    assert figures == pytest.approx((3.1, 3.038, 3.162, 50.0))
    assert (row["p99_ms_lo"], row["p99_ms_limit"]) == (None, None)  # no interval recorded, no check
    assert (row["uptime"], row["uptime_limit"], row["met"], row["valid"]) == (1.0, 0.999, True, True)
    assert [c["name"] for c in row["checks"]] == ["p95_ms", "uptime"] and row["checks"][0]["lo"] == 3.0
    assert json.loads(json.dumps(row)) == row


@pytest.mark.parametrize(("label", "expected"), [("main@3f2c1a0", "main"), ("nightly", "nightly"), ("", "")])
def test_a_label_s_track_is_its_text_before_the_first_at(label, expected):
    assert track(label) == expected


APPEND_AT = """
import sys, time
from pathlib import Path
from tests.unit.test_history import summary
from trademate_load import history
report_dir, worker, at = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, at - time.time()))  # every process appends from the same moment
for n in range(25):
    run_id = f"w{worker}-{n:02d}"
    history.record(report_dir / run_id, summary(run_id), {"label": f"worker{worker}@{n}"})
"""


def test_processes_appending_at_the_same_moment_lose_no_row_and_tear_none(tmp_path):
    at = time.time() + 3.0  # after every interpreter has started
    workers = [
        subprocess.Popen([sys.executable, "-c", APPEND_AT, str(tmp_path), str(w), str(at)], cwd=ROOT) for w in range(4)
    ]
    assert [p.wait(60) for p in workers] == [0] * 4
    frame, problems = history.read(tmp_path)
    assert problems == [] and len(frame) == 100 and frame["run_id"].is_unique
    lines = history.history_path(tmp_path).read_text().splitlines()
    assert len(lines) == 100 and all(json.loads(line)["tier"] == "premium" for line in lines)


def test_a_rerendered_run_keeps_its_last_rows_and_a_torn_line_is_named(tmp_path):
    history.record(tmp_path / "r-01", summary("r-01", 3.0), {})
    history.record(tmp_path / "r-01", summary("r-01", 4.0), {})
    with history.history_path(tmp_path).open("a") as file:
        file.write('{"run_id": "r-02", "tier"\n')
    frame, problems = history.read(tmp_path)
    assert frame["p95_ms"].tolist() == [4.0]
    assert len(problems) == 1 and problems[0].startswith(f"skipped {history.history_path(tmp_path)}:3: ")


def run_history(report_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "trademate_load", "history", "--report-dir", str(report_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_rebuild_recreates_the_history_from_ten_good_runs_and_skips_a_damaged_one_with_one_line(tmp_path):
    for n in range(10):
        run_dir(tmp_path, f"r-{n:02d}", label=f"main@{n}", p95=3.0 + n / 10)
    damaged = tmp_path / "r-05-damaged"
    damaged.mkdir()
    (damaged / "summary.json").write_text('{"schema": "trademate-load/summary/1", "tiers": {')
    (tmp_path / "not-a-run").mkdir()  # neither summary.json nor run.json: not a run directory at all
    history.history_path(tmp_path).write_text("stale\n")
    proc = run_history(tmp_path, "--rebuild")
    assert proc.returncode == 0, proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped")]
    assert skipped == [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(skipped) == 1 and str(damaged) in skipped[0] and "summary.json" in skipped[0]
    frame, problems = history.read(tmp_path)
    assert problems == [] and frame["run_id"].tolist() == [f"r-{n:02d}" for n in range(10)]
    assert frame["label"].tolist() == [f"main@{n}" for n in range(10)]
    assert "Wrote" in proc.stdout and (tmp_path / "index.html").exists()


def test_history_of_a_missing_report_directory_is_invalid_input(tmp_path):
    proc = run_history(tmp_path / "nowhere")
    assert proc.returncode == 2 and "no such report directory" in proc.stderr


def test_baseline_auto_picks_the_last_passing_valid_run_of_the_profile_and_label_prefix(tmp_path):
    run_dir(tmp_path, "r-01", label="main@1")
    run_dir(tmp_path, "r-02", label="release@1.4")
    run_dir(tmp_path, "r-03", label="main@2")
    run_dir(tmp_path, "r-04", label="main@3", exit_code=1)  # breached
    run_dir(tmp_path, "r-05", label="main@4", exit_code=3, valid=False)  # the generator starved
    run_dir(tmp_path, "r-06", label="main@5", valid=False)
    run_dir(tmp_path, "r-07", label="main@6", profile="shared")
    history.rebuild(tmp_path)
    assert history.pick_baseline(tmp_path, "premium") == tmp_path / "r-03"
    assert history.pick_baseline(tmp_path, "premium", "release") == tmp_path / "r-02"
    assert history.pick_baseline(tmp_path, "premium", "feature") is None
    assert history.pick_baseline(tmp_path, "shared") == tmp_path / "r-07"
    (tmp_path / "r-03" / "summary.json").unlink()  # a run directory removed since: the one before it
    assert history.pick_baseline(tmp_path, "premium") == tmp_path / "r-02"


@pytest.mark.parametrize(("value", "prefix"), [("auto", ""), ("auto:main", "main"), ("reports/x", None), ("", None)])
def test_baseline_auto_or_a_run_directory(value, prefix):
    assert history.parse_auto(value) == prefix


def test_the_first_run_after_a_change_is_told_so_in_its_summary_and_its_own_page(tmp_path):
    """Twelve runs, premium p95 stepping from 3 to 8 ms at the eighth: the history finds the change there, and that
    run's summary.json and page (re-rendered from its summary and charts) say so; its neighbours stay unmarked."""
    rng = np.random.default_rng(4)
    for n in range(12):
        run_dir(tmp_path, f"r-{n:02d}", label=f"main@{n}", p95=(3.0 if n < 7 else 8.0) * rng.normal(1, 0.05))
    step = tmp_path / "r-07"
    own = json.loads((step / "summary.json").read_text())
    shutil.rmtree(step)
    write_synthetic_run(step, rng.lognormal(np.log(4.0), 0.3, 2000))  # a real page, charts and run.json
    write_json(step / "summary.json", {**own, "label": "main@7"})  # the engine writes the label into summary.json
    proc = run_history(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "premium p95_ms" in proc.stdout and "at r-07" in proc.stdout
    (change,) = [c for c in json.loads((step / "summary.json").read_text())["changes"] if c["figure"] == "p95_ms"]
    assert change["tier"] == "premium" and change["size"] == pytest.approx(5.0, abs=0.8) and change["p_value"] < 0.01
    page = (step / "index.html").read_text()
    assert "first run after a change" in page and "premium p95_ms" in page and "charts" not in page.split("<img")[0]
    assert all("changes" not in json.loads((tmp_path / f"r-{n:02d}" / "summary.json").read_text()) for n in (6, 8))
