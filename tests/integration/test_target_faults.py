"""Faults of the target: not listening, killed mid-run, 5xx bursts, answers past the tier's timeout, and a bad
tier timeout, each a real run against a real target.

Each test sends at most 15 s of load, only to 127.0.0.1, and checks what the suite promises for that fault: the
exit code, one clear line naming what failed, what is kept (run.json, samples.parquet) and how the failures are
counted (summary.json's ``errors`` by tier, endpoint, status and error type). docs/faults.md lists them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, only_run_dir, run_locust, run_suite, target
from tests.harness import reference_api, start_api
from tests.integration.fault_runs import (
    HTTP_503_TYPE,
    REFUSED_TYPE,
    SMALL_TIERS,
    TIMEOUT_TYPE,
    errors_by_type,
    in_window,
    read_run,
    wait_until_spawned,
    write_profile,
)
from trademate_load.launcher import free_port, main_line
from trademate_load.profile import load_profile

pytestmark = pytest.mark.integration


# --- the target ------------------------------------------------------------------------------------------------------


def test_a_target_not_listening_exits_3_with_one_line_naming_the_host(api, tmp_path):
    host = f"http://127.0.0.1:{free_port()}"
    profile = write_profile(tmp_path, "3s", SMALL_TIERS)
    proc = run_suite("run", str(profile), "--host", host, "--credentials", str(api[1]), "--report-dir", str(tmp_path))
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: could not measure {host}: the target never answered (")
    assert line.endswith(f"requests failed with {REFUSED_TYPE})") and "Traceback" not in proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == main_line(3, "no_data")
    run_dir = only_run_dir(tmp_path)
    run, summary, samples = read_run(run_dir)
    assert run["exit_code"] == summary["exit_code"] == 3 and run["host"] == host
    assert len(samples) == run["samples"] > 0 and not samples["ok"].any()  # every attempt kept, none answered


def test_a_target_killed_mid_run_keeps_every_sample_and_counts_the_errors_by_type(tmp_path):
    api = start_api(tmp_path, users_per_plan=None)
    url = api.base_url
    try:
        profile = write_profile(tmp_path, "10s", SMALL_TIERS)
        cmd = [sys.executable, "-m", "trademate_load", "run", str(profile), "--host", url]
        cmd += ["--credentials", str(tmp_path / "credentials.csv"), "--report-dir", str(tmp_path / "reports")]
        run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        seen = wait_until_spawned(run)
        time.sleep(4)  # halfway through the 10 s run, well past its 1 s warm-up
        api.process.send_signal(signal.SIGKILL)
        killed_ts = time.time()
        api.process.wait(timeout=10)
        out = "".join(seen) + run.communicate(timeout=60)[0]
    finally:
        api.stop()
    assert run.returncode == 1, out[-3000:]
    run_json, summary, samples = read_run(only_run_dir(tmp_path / "reports"))
    assert run_json["exit_code"] == summary["exit_code"] == 1 and summary["verdict"] == "fail"
    assert len(samples) == run_json["samples"]  # every sample so far is kept, answered or not
    answered, failed = samples[samples["ok"]], samples[~samples["ok"]]
    assert len(answered) > 0 and answered["ts"].max() < killed_ts  # nothing answered once the target was gone
    assert (failed["status"] == 0).all() and (failed["error"] == REFUSED_TYPE).sum() > 0
    window = in_window(samples, summary)
    for tier in ("shared", "premium"):
        rows = window[window["tier"] == tier]
        counted = errors_by_type(summary, tier)
        assert summary["tiers"][tier]["failures"] == sum(counted.values()) == (~rows["ok"]).sum() > 0
        refused = sum(n for (_, _, error), n in counted.items() if error == REFUSED_TYPE)
        assert refused == (rows["error"] == REFUSED_TYPE).sum() > 0
    assert out.rstrip().splitlines()[-1] == main_line(1, "fail")


def test_5xx_bursts_and_answers_past_the_tier_timeout_fail_with_their_type(tmp_path):
    """Shared answers 503 one time in five; every watchlist answer takes 1.5 s: past premium's default 1 s timeout,
    within shared's default 2 s. So premium's watchlist requests fail as timeouts, shared's succeed, slowly."""
    faults = [
        "--fault",
        "tier=shared error=20% status=503",
        "--fault",
        "endpoint=/api/v1/watchlist latency=fixed(1500ms)",
    ]
    profile = write_profile(tmp_path, "8s", SMALL_TIERS)
    (tmp_path / "api").mkdir()
    with reference_api(tmp_path / "api", extra_args=[*faults, "--fault-seed", "3"]) as api:
        proc = run_locust("--profile", str(profile), *target(api, tmp_path / "reports"))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    run, summary, samples = read_run(only_run_dir(tmp_path / "reports"))
    tiers = run["settings"]["tiers"]
    assert tiers["premium"]["timeout_s"] == 1.0 and tiers["shared"]["timeout_s"] == 2.0  # the defaults, recorded
    window = in_window(samples, summary)

    premium = errors_by_type(summary, "premium")
    assert set(premium) == {("GET /api/v1/watchlist", 0, TIMEOUT_TYPE)}  # timeouts, no answer: status 0
    premium_rows = window[window["tier"] == "premium"]
    timed_out = premium_rows[premium_rows["endpoint"] == "GET /api/v1/watchlist"]
    assert premium[("GET /api/v1/watchlist", 0, TIMEOUT_TYPE)] == len(timed_out) > 0 and not timed_out["ok"].any()
    assert summary["tiers"]["premium"]["failures"] == len(timed_out)

    shared = errors_by_type(summary, "shared")
    assert {(status, error) for _, status, error in shared} == {(503, HTTP_503_TYPE)}  # 5xx, counted as such
    shared_rows = window[window["tier"] == "shared"]
    assert sum(shared.values()) == summary["tiers"]["shared"]["failures"] == (shared_rows["status"] == 503).sum() > 0
    slow = shared_rows[(shared_rows["endpoint"] == "GET /api/v1/watchlist") & shared_rows["ok"]]
    assert len(slow) > 0 and (slow["latency_ms"] >= 1500).all()  # slow but within shared's 2 s: not failures


@pytest.mark.parametrize("value", ["0s", "-1s", "soon", "true", "{a: 1}"])
def test_a_bad_tier_timeout_exits_2_naming_the_field(tmp_path, value):
    profile = write_profile(tmp_path, "5s", f"  premium: {{users: 1, rps: 1, timeout: {value}}}\n")
    proc = run_suite("validate", str(profile))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: {profile}: tiers.premium.timeout: ")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_tier_timeout_takes_a_duration(tmp_path):
    profile = write_profile(
        tmp_path, "5s", "  premium: {users: 1, rps: 1, timeout: 250ms}\n  shared: {users: 1, rps: 1}\n"
    )
    tiers = load_profile(str(profile)).tiers
    assert tiers["premium"].timeout_s == 0.25 and tiers["shared"].timeout_s == 2.0
