"""Faults of the run directory: one that cannot be written is refused before any load, and a damaged samples file or
run.json is refused on re-render naming the file.

Each test sends at most 15 s of load, only to 127.0.0.1, and checks what the suite promises for that fault: the
exit code, one clear line naming what failed, what is kept (run.json, samples.parquet) and how the failures are
counted (summary.json's ``errors`` by tier, endpoint, status and error type). docs/faults.md lists them."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import JUDGED, only_run_dir, run_locust, run_suite, target
from tests.integration.fault_runs import served_api_requests

pytestmark = pytest.mark.integration


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
