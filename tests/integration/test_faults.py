"""Faults: the suite keeps working when things go wrong, each fault a real run against a real target.

Each test sends at most 15 s of load, only to 127.0.0.1, and checks what the suite promises for that fault: the
exit code, one clear line naming what failed, what is kept (run.json, samples.parquet) and how the failures are
counted (summary.json's ``errors`` by tier, endpoint, status and error type). docs/faults.md lists them.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from tests.conftest import JUDGED, ROOT, only_run_dir, run_locust, run_suite, target
from tests.harness import reference_api, start_api
from trademate_load.launcher import free_port, main_line
from trademate_load.profile import load_profile

pytestmark = pytest.mark.integration
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


# --- the report directory and the samples file -----------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["launcher", "locust"])
def test_an_unwritable_report_directory_is_refused_before_any_load(api, tmp_path, entry):
    """A report directory under a regular file cannot be created, by root either: the run must not start."""
    (tmp_path / "a-file").write_text("")
    report_dir = tmp_path / "a-file" / "reports"
    url, credentials = api
    before = served_api_requests(url)
    if entry == "launcher":
        proc = run_suite("run", "smoke", "--run-time", "5s", "--host", url, "--credentials", str(credentials),
                         "--report-dir", str(report_dir))  # fmt: skip
    else:
        proc = run_locust("--profile", "smoke", "--run-time", "5s", *target(api, report_dir))
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: report directory {report_dir}: cannot write run directories there (Not a directory): nothing run"
    ]
    assert "Traceback" not in proc.stderr
    assert served_api_requests(url) == before  # refused before sending a single request: nothing measured, none lost


@pytest.fixture(scope="module")
def finished_run(api, tmp_path_factory) -> Path:
    """The run directory of one short run (its verdict does not matter here: on a busy machine it may be invalid)."""
    report_dir = tmp_path_factory.mktemp("reports")
    proc = run_locust("--profile", "smoke", "--run-time", "3s", *target(api, report_dir))
    assert proc.returncode in JUDGED, proc.stdout[-2000:] + proc.stderr[-2000:]
    return only_run_dir(report_dir)


def _truncated(good: bytes, path: Path) -> None:
    path.write_bytes(good[: len(good) // 2])


def _garbage(good: bytes, path: Path) -> None:
    path.write_bytes(bytes((i * 131 + 7) % 256 for i in range(len(good))))


def _missing(good: bytes, path: Path) -> None:
    pass


def _wrong_columns(good: bytes, path: Path) -> None:
    pd.DataFrame({"timestamp": [1.0, 2.0], "latency": [3.0, 4.0]}).to_parquet(path)


def _wrong_types(good: bytes, path: Path) -> None:
    samples = pd.read_parquet(io.BytesIO(good))
    samples["latency_ms"] = samples["latency_ms"].astype(str) + " ms"
    samples.to_parquet(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncated, "not a readable Parquet file"),
        (_garbage, "not a readable Parquet file"),
        (_missing, "no such file"),
        (_wrong_columns, "not a samples file: missing columns ts, intended_ts, tier"),
        (_wrong_types, "columns of the wrong type"),
    ],
    ids=["truncated", "garbage", "missing", "wrong-columns", "wrong-types"],
)
def test_a_damaged_samples_file_is_refused_on_re_render_naming_the_file(finished_run, tmp_path, damage, message):
    copy = tmp_path / finished_run.name
    copy.mkdir()
    (copy / "run.json").write_bytes((finished_run / "run.json").read_bytes())
    damage((finished_run / "samples.parquet").read_bytes(), copy / "samples.parquet")
    proc = run_suite("report", str(copy))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith(f"error: {copy / 'samples.parquet'}: {message}")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (copy / "summary.json").exists()  # nothing judged from samples that could not be read


def test_a_damaged_run_json_is_refused_on_re_render_naming_the_file(finished_run, tmp_path):
    copy = tmp_path / finished_run.name
    copy.mkdir()
    (copy / "samples.parquet").write_bytes((finished_run / "samples.parquet").read_bytes())
    (copy / "run.json").write_text((finished_run / "run.json").read_text()[:200])  # cut short mid-write
    proc = run_suite("report", str(copy))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith(f"error: {copy / 'run.json'}: (file): not valid JSON: ")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
