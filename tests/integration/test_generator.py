"""The run judges its own load generator, in real runs: starved by a noisy neighbour on its core it is ``invalid``
(exit 3, never 1, never 0), one line naming it; a distributed run names the starved worker.

A noisy neighbour is four busy loops pinned to the generator's core, each in a session of its own (Linux groups
a session's tasks and shares the CPU between the groups: in one session together, the loops would take only half
the core); the target has the other core to itself. The neighbours come when the run starts (its run.json appears)
and leave when its run time is over, so that neither the start-up nor the reports are starved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, only_run_dir, wait_for
from tests.harness import reference_api
from tests.services import require
from trademate_load.launcher import LOCUSTFILE, free_port

pytestmark = pytest.mark.integration
CORES = sorted(os.sched_getaffinity(0))
NEIGHBOURS = 4
RUN_S = 12


def two_cores() -> tuple[int, int]:
    require(
        len(CORES) >= 2,
        f"needs two cores to starve the generator and not the target; this machine gives {len(CORES)}",
        "run it on a machine (or a CPU affinity) with two cores",
    )
    return CORES[0], CORES[-1]


@contextmanager
def pinned(core: int) -> Iterator[None]:
    """Processes started inside the block run on ``core`` alone (they inherit this process's affinity)."""
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(CORES))


@contextmanager
def noisy_neighbours(core: int, reports: Path, proc: subprocess.Popen, count: int = NEIGHBOURS) -> Iterator[None]:
    """``count`` busy loops on ``core`` from the start of the run writing under ``reports`` to its run time's end."""
    wait_for(lambda: any(reports.glob("*/run.json")), "the run's start", 60, proc)
    busy = f"import time\nend = time.monotonic() + {RUN_S}\nwhile time.monotonic() < end: pass"
    with pinned(core):
        loops = [subprocess.Popen([sys.executable, "-c", busy], start_new_session=True) for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_a_generator_starved_by_a_noisy_neighbour_is_invalid_never_a_breach_nor_a_pass(tmp_path):
    generator_core, target_core = two_cores()
    reports = tmp_path / "reports"
    with pinned(target_core), reference_api(tmp_path) as (url, credentials):
        variables = [f"HOST={url}", f"CREDENTIALS={credentials}", f"RUN_TIME={RUN_S}s", f"REPORT_DIR={reports}"]
        make = ["taskset", "-c", str(generator_core), "make", "--no-print-directory", "-o", ".venv", "loadtest"]
        proc = subprocess.Popen(
            [*make, *variables], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        with noisy_neighbours(generator_core, reports, proc):
            out, err = proc.communicate(timeout=150)
    assert proc.returncode == 2, out[-3000:] + err[-3000:]  # make fails: the suite exited 3
    last = out.rstrip().splitlines()[-1]
    assert last == "[trademate] Run invalid: the load generator, not the target, limited it (exit 3)"
    summary = json.loads((only_run_dir(reports) / "summary.json").read_text())
    assert (summary["verdict"], summary["exit_code"]) == ("invalid", 3)
    generator = summary["generator"]
    local = generator["processes"]["local"]
    assert generator["valid"] is False and local["unhealthy_s"] > 0.5 * local["judged_s"]
    assert local["wait"]["mean"] > 0.25  # the neighbours kept it waiting for the CPU
    (line,) = [line for line in err.splitlines() if line.startswith("error: could not measure")]
    assert f"error: could not measure {url}: load generator local unhealthy " in line
    assert "loop lag p99 " in line and "waited for a CPU " in line and " req/s" in line


def test_a_distributed_run_with_one_worker_starved_is_invalid_naming_that_worker(tmp_path):
    """Premium at 250 req/s a worker, so that the quiet one has CPU to spare beside the target and the master, judged
    on a p95 of 10 ms (the quiet worker's requests take about 2): the starved worker's lateness fails it."""
    generator_core, target_core = two_cores()
    reports, port = tmp_path / "reports", free_port()
    (tmp_path / "sla.yaml").write_text("tiers:\n  premium: {p95_ms: 10}\n")
    profile = tmp_path / "premium.yaml"
    profile.write_text((ROOT / "profiles" / "premium.yaml").read_text())
    with pinned(target_core), reference_api(tmp_path) as (url, credentials):
        common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--profile", str(profile)]
        common += ["--credentials", str(credentials)]
        master_cmd = [*common, "--master", "--headless", "--only-summary", "--expect-workers", "2"]
        master_cmd += ["--run-time", f"{RUN_S}s"]
        master_cmd += ["--host", url, "--report-dir", str(reports), "--master-bind-host", "127.0.0.1"]
        master_cmd += ["--master-bind-port", str(port)]
        worker_cmd = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        master = subprocess.Popen(master_cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        quiet = subprocess.Popen(worker_cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with pinned(generator_core):
            starved = subprocess.Popen(worker_cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            with noisy_neighbours(generator_core, reports, master, 2 * NEIGHBOURS):
                out, err = master.communicate(timeout=150)
        finally:
            for worker in (quiet, starved):
                worker.kill()
                worker.wait()
    assert master.returncode == 3, out[-3000:] + err[-6000:]
    summary = json.loads((only_run_dir(reports) / "summary.json").read_text())
    ids = {worker["pid"]: worker["id"] for worker in summary["workers"]}
    starved_id, quiet_id = ids[starved.pid], ids[quiet.pid]
    assert summary["verdict"] == "invalid"
    assert f"load generator worker {starved_id} unhealthy " in summary["reason"]
    assert quiet_id not in summary["reason"]
    processes = summary["generator"]["processes"]
    assert set(processes) == {"master", starved_id, quiet_id}
    assert processes[starved_id]["unhealthy_s"] > processes[quiet_id]["unhealthy_s"]
