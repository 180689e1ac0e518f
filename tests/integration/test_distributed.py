"""Distributed runs (a master and two forked workers) against the real reference API.

Every sample a worker takes reaches the master, however the run stops; a worker killed mid-run is noticed,
the run goes on with the other one and ends by itself, its samples up to its last shipment are kept, and
every report names it. Each worker logs how many samples it shipped as it quits: that count, taken in the
worker itself, is what the master's ``samples.parquet`` is checked against (Locust's own totals come through
the same reports, so they alone would not show a lost final report).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import psutil
import pytest
import requests

from tests.conftest import JUDGED, ROOT, only_run_dir, target, wait_for, web_ui
from trademate_load.launcher import LOCUSTFILE, worker_options

pytestmark = pytest.mark.integration
SHIPPED = re.compile(r"TradeMate worker (\S+) \(pid (\d+)\) shipped (\d+) samples")
# Locust's master logs one of these once every user is spawned (the second when workers' reports lag behind).
SPAWNED = re.compile(r"All users spawned|Spawning is complete")


class DistributedRun:
    """``locust --processes 2`` (smoke profile) as a real subprocess, its output in files the test can watch."""

    def __init__(self, api, tmp_path: Path, run_time: str):
        self.report_dir = tmp_path / "reports"
        self.stats = tmp_path / "locust-stats"  # Locust appends .json
        self.out, self.err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
        cmd += ["--profile", "smoke", "--run-time", run_time, "--json-file", str(self.stats)]
        cmd += worker_options(2)
        cmd += target(api, self.report_dir)
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)

    def wait_for_log(self, pattern: re.Pattern, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not pattern.search(self.err.read_text()):
            log = self.err.read_text()[-3000:]
            assert self.proc.poll() is None, f"locust exited before logging {pattern.pattern!r}:\n{log}"
            assert time.monotonic() < deadline, f"no {pattern.pattern!r} in the log within {timeout} s"
            time.sleep(0.1)

    def finish(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def shipped(self) -> dict[str, tuple[int, int]]:
        """What each worker says it shipped as it quit: worker id -> (pid, samples)."""
        return {m[1]: (int(m[2]), int(m[3])) for m in SHIPPED.finditer(self.err.read_text())}

    def locust_total(self) -> int:
        return sum(entry["num_requests"] for entry in json.loads(self.stats.with_suffix(".json").read_text()))


def _read(run_dir: Path) -> tuple[pd.DataFrame, dict, dict]:
    samples = pd.read_parquet(run_dir / "samples.parquet")
    return samples, json.loads((run_dir / "run.json").read_text()), json.loads((run_dir / "summary.json").read_text())


def _assert_every_sample_arrived(run: DistributedRun) -> tuple[pd.DataFrame, dict, dict]:
    samples, info, summary = _read(only_run_dir(run.report_dir))
    shipped, log = run.shipped(), run.err.read_text()[-4000:]
    assert len(shipped) == 2, log
    per_worker = samples["worker"].value_counts().to_dict()
    assert per_worker == {worker: count for worker, (_, count) in shipped.items()}, log
    assert len(samples) == run.locust_total() == sum(count for _, count in shipped.values()) > 0, log
    workers = {w["id"]: (w["state"], w["pid"], w["samples"]) for w in summary["workers"]}
    assert workers == {worker: ("finished", pid, count) for worker, (pid, count) in shipped.items()}, log
    assert info["workers"] == summary["workers"]
    return samples, info, summary


def test_workers_ship_every_sample_to_the_master(api, tmp_path):
    run = DistributedRun(api, tmp_path, "6s")
    code = run.finish()
    samples, info, summary = _assert_every_sample_arrived(run)
    assert code == info["exit_code"] == summary["exit_code"] in JUDGED, run.err.read_text()[-3000:]
    assert summary["verdict"] != "incomplete"
    assert samples["worker"].nunique() == 2


@pytest.mark.parametrize("stop_after_s", [0.3, 1.7, 3.1])
def test_no_final_report_is_lost_whenever_the_master_is_stopped(api, tmp_path, stop_after_s):
    """Ctrl-C (SIGINT) to the master at an arbitrary moment: each worker's last samples still reach the run."""
    run = DistributedRun(api, tmp_path, "30s")
    run.wait_for_log(SPAWNED)
    time.sleep(stop_after_s)
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    _, info, summary = _assert_every_sample_arrived(run)
    assert info["interrupted"] is True
    assert code == summary["exit_code"] and summary["verdict"] != "incomplete", run.err.read_text()[-3000:]


def test_worker_killed_mid_run(api, tmp_path):
    """SIGKILL one worker: the run goes on, ends by itself, keeps its shipped samples and names it everywhere."""
    run = DistributedRun(api, tmp_path, "14s")
    run.wait_for_log(SPAWNED)
    time.sleep(3.5)  # past a report interval (3 s): the worker has shipped samples, and its pid with them
    workers = psutil.Process(run.proc.pid).children()
    assert len(workers) == 2
    victim = workers[0].pid
    workers[0].send_signal(signal.SIGKILL)
    code = run.finish()
    run_dir = only_run_dir(run.report_dir)
    samples, info, summary = _read(run_dir)

    lost = [w for w in summary["workers"] if w["state"] == "missing"]
    assert len(lost) == 1 and lost[0]["pid"] == victim, summary["workers"]
    lost = lost[0]
    assert lost["lost_at"] and 0 < lost["lost_after_s"] < info["ended_ts"] - info["started_ts"]
    assert lost["samples"] == len(samples[samples["worker"] == lost["id"]]) > 0  # up to its last shipment
    shipped = run.shipped()
    assert lost["id"] not in shipped  # killed: it never logged, nor sent, a final report
    (survivor,) = [w for w in summary["workers"] if w["state"] != "missing"]
    assert survivor["state"] == "finished" and survivor["samples"] == shipped[survivor["id"]][1]
    assert len(samples) == run.locust_total() == lost["samples"] + survivor["samples"]
    assert info["workers"] == summary["workers"]

    # The documented rule: a lost worker makes a run that would pass "incomplete" (exit 3); a breach stays exit 1.
    breached = any(c["status"] == "failed" for t in summary["tiers"].values() for c in t["checks"])
    assert code == info["exit_code"] == summary["exit_code"] == (1 if breached else 3), run.err.read_text()[-3000:]
    assert summary["verdict"] == ("fail" if breached else "incomplete")
    assert f"worker {lost['id']} (pid {victim}) missing at {lost['lost_at']}" in summary["reason"]
    out = run.out.read_text()
    assert f"WARNING: lost worker {lost['id']} (pid {victim}) missing" in out
    assert out.rstrip().splitlines()[-1] == (
        "SLA breached (exit 1)" if breached else "Run incomplete: a load worker was lost (exit 3)"
    )
    junit = ET.parse(run_dir / "junit.xml").getroot()
    errors = junit.findall(".//testsuite[@name='workers']/testcase/error")
    assert len(errors) == 1 and errors[0].get("type") == "WorkerLost" and lost["id"] in errors[0].get("message")
    html = (run_dir / "index.html").read_text()
    assert f"worker {lost['id']}" in html and "LOST" in html


def test_web_ui_stop_keeps_every_worker_sample(api, tmp_path):
    """`make ui WORKERS=2`: a stop in the web UI waits for each worker's next report before writing the run."""
    report_dir, output = tmp_path / "reports", tmp_path / "locust.txt"
    with web_ui(api, "smoke", report_dir, output, workers=2) as web:
        wait_for(lambda: "2 workers connected" in output.read_text(), "2 workers connected", 60)
        assert requests.post(f"{web}/swarm", data={"profile": "smoke"}, timeout=5).json()["success"] is True
        time.sleep(6)
        assert requests.post(f"{web}/stop", timeout=30).json()["success"] is True
        wait_for((report_dir / "latest" / "summary.json").exists, "run directory after the stop", 60)
    # leaving the block stopped Locust: the workers quit, each logging what it shipped
    shipped = {m[1]: int(m[3]) for m in SHIPPED.finditer(output.read_text())}
    assert len(shipped) == 2, output.read_text()[-3000:]
    samples = pd.read_parquet(only_run_dir(report_dir) / "samples.parquet")
    assert samples["worker"].value_counts().to_dict() == shipped
    summary = json.loads((report_dir / "latest" / "summary.json").read_text())
    assert {w["id"]: w["samples"] for w in summary["workers"]} == shipped
