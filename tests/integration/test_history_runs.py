"""The history kept by real runs: real locust runs and probe rounds against the reference API, one of them slowed by
its fault injection, BASELINE=auto gating them, two runs ending at the same moment, and the history page they make,
opened in real headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import browser_available, inspect  # noqa: F401 (the fixture: Chromium, or skip/fail)
from tests.conftest import ROOT, run_locust, run_suite, target
from tests.harness import reference_api
from trademate_load import history

# smoke's load with the latency and error SLAs alone: these runs share the session's API, whose caches the tests
# before them have warmed or let expire, so a cache-hit check would judge the test order, not the build
PROFILE = "name: history\nrun_time: 5s\nwarmup: 1s\nspawn_rate: 20\nsla: sla-history.yaml\ntiers:\n" + "".join(
    f"  {tier}: {{users: {users}, rps: {rps}, plans: {{{plans}}}}}\n"
    for tier, users, rps, plans in (("shared", 6, 60, "LITE: 1, PRO: 1"), ("premium", 4, 40, "ELITE: 1, BLACK: 1"))
)
SLA = "tiers:\n" + "".join(
    f"  {tier}: {{p95_ms: {p95}, p99_ms: {p95 * 2}, mean_ms: {p95 // 2}, success_rate: 0.99}}\n"
    for tier, p95 in (("shared", 100), ("premium", 50))
)
SLOW = "latency=fixed(12ms)"  # smoke's p95 is about 2-3 ms here: a regression of 4x and more, within every SLA


def summary_of(report_dir: Path, label: str) -> dict:
    """The summary.json of the last Locust run labelled ``label``."""
    run_id = [r for r, lab in runs_by_label(report_dir, "run").items() if lab == label][-1]
    return json.loads((report_dir / run_id / "summary.json").read_text())


def machine_was_busy(summary: dict) -> bool:
    """Did the run's health monitor find the machine busy (CPU or I/O pressure, steal) in any second of it? Then a
    slower rerun measured the machine, not the build, and it runs again."""
    processes = ((summary.get("generator") or {}).get("processes") or {}).values()
    return any(process.get("machine_busy_s", 0) > 0 for process in processes)


def runs_by_label(report_dir: Path, kind: str | None = None) -> dict[str, str]:
    frame, problems = history.read(report_dir)
    assert problems == []
    frame = frame if kind is None else frame[frame["kind"] == kind]
    return dict(zip(frame["run_id"], frame["label"], strict=True))


@pytest.fixture(scope="module")
def report_dir(api, tmp_path_factory):
    """Four runs in turn (main@1; main@2 slowed 12 ms, BASELINE=auto; main@3, the same build as main@1,
    BASELINE=auto), two more ending at the same moment, two probe rounds, then the history page."""
    report_dir, profiles = tmp_path_factory.mktemp("history"), tmp_path_factory.mktemp("profiles")
    (profiles / "history.yaml").write_text(PROFILE)
    (profiles / "sla-history.yaml").write_text(SLA)
    run = ("--profile", str(profiles / "history.yaml"))
    codes = {"main@1": run_locust(*target(api, report_dir), *run, "--label", "main@1").returncode}
    with reference_api(tmp_path_factory.mktemp("slow-api"), ["--fault", SLOW]) as slow:
        slow_run = run_locust(*target(slow, report_dir), *run, "--label", "main@2", "--baseline", "auto")
    codes["main@2"] = slow_run.returncode
    for _ in range(3):  # the rerun's claim needs the machine as quiet as for main@1: the suite's own measure says
        codes["main@3"] = run_locust(
            *target(api, report_dir), *run, "--label", "main@3", "--baseline", "auto"
        ).returncode
        if codes["main@3"] != 1 or not machine_was_busy(summary_of(report_dir, "main@3")):
            break
    base = [sys.executable, "-m", "locust", "-f", "locustfiles/trademate.py", "--headless", "--only-summary"]
    together = [
        subprocess.Popen([*base, *target(api, report_dir), *run, "--label", f"pair@{n}"], cwd=ROOT) for n in (1, 2)
    ]
    for n, process in enumerate(together, 1):
        codes[f"pair@{n}"] = process.wait(120)
    url, credentials = api
    probe = [sys.executable, "scripts/sla_validation.py", "--host", url, "--credentials", str(credentials)]
    probe += ["--iterations", "5", "--count", "2", "--report-dir", str(report_dir), "--label", "main@3"]
    codes["probe"] = subprocess.run(probe, capture_output=True, text=True, cwd=ROOT, timeout=120).returncode
    published = run_suite("history", "--report-dir", str(report_dir))
    assert published.returncode == 0, published.stderr
    return report_dir, codes, published.stdout


def test_every_run_and_probe_round_is_in_the_history_with_its_label(report_dir):
    report_dir, codes, stdout = report_dir
    labels = sorted(set(runs_by_label(report_dir).values()))
    assert labels == ["main@1", "main@2", "main@3", "pair@1", "pair@2"], codes
    frame, _ = history.read(report_dir)
    kinds = frame.drop_duplicates("run_id")["kind"].value_counts().to_dict()
    assert kinds["run"] >= 5 and kinds["probe"] == 2
    assert set(frame["tier"]) == {"premium", "shared"} and frame["p95_ms_lo"].notna().all()
    assert "Wrote" in stdout and f"{kinds['run']} runs, 2 probe rounds" in stdout


def test_two_runs_ending_at_the_same_moment_both_land(report_dir):
    report_dir, _, _ = report_dir
    assert {label for label in runs_by_label(report_dir).values() if label.startswith("pair")} == {"pair@1", "pair@2"}
    lines = history.history_path(report_dir).read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # no line torn


def test_baseline_auto_fails_a_regression_and_never_a_rerun_of_the_same_build(report_dir):
    report_dir, codes, _ = report_dir
    first, slow, rerun = (summary_of(report_dir, label) for label in ("main@1", "main@2", "main@3"))
    assert codes["main@1"] == 0, first["reason"]
    assert codes["main@2"] == 1 and slow["baseline"]["run_id"] == first["run_id"], slow["reason"]
    assert "premium.p95_ms" in slow["baseline"]["regressions"] and "regressed against baseline" in slow["reason"]
    assert all(
        check["status"] == "passed"
        for tier in slow["tiers"].values()
        for check in tier["checks"]
        if check["name"] == "p95_ms"
    )  # fmt: skip  (the SLA itself holds: the gate alone fails it)
    assert rerun["baseline"]["run_id"] == first["run_id"]  # the slow run failed: not a baseline
    assert codes["main@3"] != 1 and rerun["baseline"]["change"] in ("no change", "inconclusive"), rerun["reason"]


def test_the_history_page_marks_the_slow_run_and_links_every_report(report_dir):
    report_dir, _, _ = report_dir
    page = (report_dir / "index.html").read_text()
    for run_id, label in runs_by_label(report_dir).items():
        assert run_id in page and label in page
    slow = summary_of(report_dir, "main@2")["run_id"]
    row = page[page.rindex("<tr", 0, page.index(f'href="{slow}/index.html"')) :]
    assert "verdict-fail" in row[: row.index(">")]
    own = (report_dir / slow / "index.html").read_text()
    assert 'href="../index.html"' in own and "main@2" in own


def test_the_history_page_in_chromium_loads_every_chart_without_errors(report_dir):
    report_dir, _, _ = report_dir
    seen = inspect(report_dir, "Daily compliance")
    assert seen["console"] == [] and seen["page_errors"] == [] and seen["failed_requests"] == []
    for view in seen["views"].values():
        assert view["status"] == 200 and view["texts"] == {"Daily compliance": True}
        assert len(view["images"]) >= 10
        assert all(img["complete"] and img["naturalWidth"] > 0 for img in view["images"]), view["images"]
