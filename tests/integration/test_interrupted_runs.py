"""Faults of the run itself: SIGINT or SIGTERM mid-run, to the launcher and to make, keep every sample so far.

Each test sends at most 15 s of load, only to 127.0.0.1, and checks what the suite promises for that fault: the
exit code, one clear line naming what failed, what is kept (run.json, samples.parquet) and how the failures are
counted (summary.json's ``errors`` by tier, endpoint, status and error type). docs/faults.md lists them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import JUDGED, ROOT, only_run_dir
from tests.integration.fault_runs import read_run, wait_until_spawned
from trademate_load.launcher import main_line

pytestmark = pytest.mark.integration


# --- signals ---------------------------------------------------------------------------------------------------------


def interrupted_run(cmd: list[str], sig: int, to_group: bool) -> tuple[subprocess.Popen, str]:
    """Start ``cmd`` in a session of its own, send ``sig`` 5 s after every user runs (past the smoke profile's 3 s
    warm-up, 10 s before its end), to the whole process group as a terminal's Ctrl-C does or to the process alone
    as a supervisor does; its process and output once it ended."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True
    )
    try:
        seen = wait_until_spawned(proc)
        time.sleep(5)
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        return proc, "".join(seen) + proc.communicate(timeout=90)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def make_command(report_dir: Path) -> list[str]:
    """``make loadtest-smoke`` as a user runs it (``-o .venv``: never rebuild the shared virtualenv here)."""
    variables = ["HOST=", "CREDENTIALS=", "RUN_TIME=", "WORKERS=0", "BASELINE=", f"REPORT_DIR={report_dir}"]
    return ["make", "--no-print-directory", "-o", ".venv", "loadtest-smoke", *variables]


@pytest.mark.parametrize(
    ("entry", "sig"),
    [("launcher", signal.SIGTERM), ("make", signal.SIGINT), ("make", signal.SIGTERM)],
    ids=["launcher-SIGTERM", "make-SIGINT", "make-SIGTERM"],
)
def test_an_interrupted_run_reports_every_sample_so_far(tmp_path, entry, sig):
    """SIGINT to the launcher alone is tests/integration/test_locust_run.py's; here SIGTERM, and both from make."""
    if entry == "launcher":
        cmd = [sys.executable, "-m", "trademate_load", "run", "smoke", "--report-dir", str(tmp_path)]
    else:
        cmd = make_command(tmp_path)
    proc, out = interrupted_run(cmd, sig, to_group=entry == "make" and sig == signal.SIGINT)
    run, summary, samples = read_run(only_run_dir(tmp_path))
    assert run["interrupted"] is True and summary["interrupted"] is True
    assert len(samples) == run["samples"] > 0 and summary["tiers"]["premium"]["requests"] > 0
    assert run["exit_code"] == summary["exit_code"] in JUDGED, out[-3000:]
    lines = out.rstrip().splitlines()
    if entry == "launcher":
        assert proc.returncode == run["exit_code"]
    else:  # make waits for its recipe to end and fails (dies of the signal, or says why on a line of its own)
        assert proc.returncode != 0, out[-3000:]
        if lines[-1].startswith("make: *** [Makefile:"):
            lines = lines[:-1]
    assert lines[-1] == main_line(run["exit_code"], summary["verdict"])  # the suite's last line names its code
    assert "Traceback" not in out
