"""Locust's own outputs count what the samples hold: ``--csv``, ``--json-file`` and ``--html``, request and failure
counts per endpoint and in total, in one mixed run with injected 5xx answers through a real locust subprocess.

Locust's statistics are fed from the suite's rows in batches, the last one as the test stops; Locust writes its
JSON and HTML after that, and its CSV files only each second from a greenlet, so the suite writes them again
once the last batch is in (:func:`trademate_load.locust_stats.write_csv`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import JUDGED, only_run_dir, run_locust, target
from tests.harness import reference_api

pytestmark = pytest.mark.integration
FAULTS = ["--fault", "error=4% status=503", "--fault", "tier=premium error=4% status=500", "--fault-seed", "11"]
HTML_ARGS = "window.templateArgs = "


def html_figures(path: Path) -> dict:
    """The statistics Locust's HTML report embeds (a JSON object assigned in a script)."""
    text = path.read_text()
    start = text.index(HTML_ARGS) + len(HTML_ARGS)
    figures, _ = json.JSONDecoder().raw_decode(text[start:])
    return figures


def counts(rows, name: str, requests: str, failures: str) -> dict[str, tuple[int, int]]:
    """(requests, failures) by request name; the total under "Aggregated"."""
    return {row[name]: (int(row[requests]), int(row[failures])) for row in rows}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict:
    """One smoke run (both tiers, about 100 req/s for 12 s) against an API failing about 6% of its answers, with
    every output of Locust's asked for; the samples' counts and each output's."""
    tmp = tmp_path_factory.mktemp("outputs")
    (tmp / "api").mkdir()
    prefix, json_file, html = tmp / "locust", tmp / "locust", tmp / "locust.html"
    with reference_api(tmp / "api", extra_args=FAULTS) as api:
        proc = run_locust(
            "--profile",
            "smoke",
            "--run-time",
            "12s",
            *target(api, tmp / "reports"),
            *("--csv", str(prefix), "--json-file", str(json_file), "--html", str(html)),
            timeout=90,
        )
    assert proc.returncode in JUDGED, proc.stdout[-3000:] + proc.stderr[-3000:]
    samples = pd.read_parquet(only_run_dir(tmp / "reports") / "samples.parquet")
    by_endpoint = samples.groupby("endpoint", observed=True)["ok"]
    expected = {name: (len(ok), int((~ok).sum())) for name, ok in by_endpoint}
    expected["Aggregated"] = (len(samples), int((~samples["ok"]).sum()))
    with open(f"{prefix}_stats.csv", newline="") as file:
        stats_csv = list(csv.DictReader(file))
    with open(f"{prefix}_failures.csv", newline="") as file:
        failures_csv = list(csv.DictReader(file))
    return {
        "samples": expected,
        "csv": counts(stats_csv, "Name", "Request Count", "Failure Count"),
        "csv_failures": failures_csv,
        "json": json.loads(json_file.with_suffix(".json").read_text()),
        "html": html_figures(html),
    }


def test_the_run_has_requests_and_failures_on_every_endpoint_of_both_tiers(outputs):
    endpoints = {name: figures for name, figures in outputs["samples"].items() if name != "Aggregated"}
    requests, failures = outputs["samples"]["Aggregated"]
    assert requests > 800 and failures > 20
    assert len(endpoints) >= 8 and all(n > 0 for n, _ in endpoints.values())


def test_the_csv_counts_every_sample(outputs):
    """The Aggregated row and every endpoint's: requests and failures, as the samples hold them."""
    assert outputs["csv"] == outputs["samples"]


def test_the_csv_failures_count_every_failed_sample(outputs):
    occurrences: dict[str, int] = {}
    for row in outputs["csv_failures"]:
        occurrences[row["Name"]] = occurrences.get(row["Name"], 0) + int(row["Occurrences"])
    failed = {name: n for name, (_, n) in outputs["samples"].items() if n and name != "Aggregated"}
    assert occurrences == failed


def test_the_json_file_counts_every_sample(outputs):
    entries = outputs["json"]
    figures = counts(entries, "name", "num_requests", "num_failures")
    figures["Aggregated"] = tuple(sum(entry[key] for entry in entries) for key in ("num_requests", "num_failures"))
    assert figures == outputs["samples"]


def test_the_html_report_counts_every_sample(outputs):
    figures = outputs["html"]
    assert counts(figures["requests_statistics"], "name", "num_requests", "num_failures") == outputs["samples"]
    occurrences = sum(error["occurrences"] for error in figures["failures_statistics"])
    assert occurrences == outputs["samples"]["Aggregated"][1]
