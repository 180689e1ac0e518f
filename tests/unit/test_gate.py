"""The baseline gate on summaries and on real run directories, through the CLI: a figure regresses only when the 95%
interval of its difference excludes zero and the difference is beyond its tolerance."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.synthetic import write_synthetic_run
from trademate_load.gate import FIGURES, INCONCLUSIVE, NO_CHANGE, REGRESSED, apply, compare
from trademate_load.sla_spec import BASELINE_FIGURES, DEFAULT_TOLERANCES, Tolerance


def intervals(latency, success, spread):
    """Each figure's 95% interval, ``spread`` of its value on each side (None: no intervals recorded)."""
    if spread is None:
        return None
    figures = {f"{k}_ms": v for k, v in latency.items() if k != "max"} | {"success_rate": success}
    return {name: [value * (1 - spread), value * (1 + spread)] for name, value in figures.items()}


def summary(p95, *, endpoint_p95=None, rps=500.0, success=1.0, spread=0.02):
    latency = {"mean": p95 / 2, "p50": p95 / 3, "p95": p95, "p99": p95 * 2, "max": p95 * 3}
    endpoint_latency = {**latency, "p95": endpoint_p95 or p95}
    return {
        "run_id": "base",
        "verdict": "pass",
        "exit_code": 0,
        "reason": "every SLA met",
        "tiers": {
            "premium": {
                "latency_ms": latency,
                "ci95": intervals(latency, success, spread),
                "success_rate": success,
                "rps": rps,
                "latency_basis": "corrected",
            }
        },
        "endpoints": [
            {
                "tier": "premium",
                "name": "GET /x",
                "success_rate": success,
                "latency_ms": endpoint_latency,
                "ci95": intervals(endpoint_latency, success, spread),
            }
        ],
    }


@pytest.mark.parametrize(
    ("before", "after", "regressed"),
    [
        (10.0, 30.0, True),  # three times worse
        (10.0, 11.9, False),  # +19%
        (10.0, 12.5, True),  # +25% and +2.5 ms
        (4.0, 5.5, False),  # +37.5% but only +1.5 ms
        (10.0, 5.0, False),  # better
    ],
)
def test_p95_tolerance_needs_both_relative_and_absolute(before, after, regressed):
    comparison = compare(summary(after), summary(before), DEFAULT_TOLERANCES)
    assert comparison["tiers"][0]["figures"]["p95_ms"]["regressed"] is regressed
    assert ("premium.p95_ms" in comparison["regressions"]) is regressed


@pytest.mark.parametrize(
    ("before", "after", "spread", "change"),
    [
        (10.0, 30.0, 0.02, REGRESSED),  # three times worse, tight intervals
        (10.0, 30.0, 0.9, INCONCLUSIVE),  # three times worse, but each run's interval is as wide as the change
        (10.0, 30.0, None, INCONCLUSIVE),  # summaries without intervals cannot tell
        (10.0, 10.5, 0.0, NO_CHANGE),  # a real difference, within the tolerance
        (10.0, 10.5, 0.9, NO_CHANGE),
        (10.0, 5.0, 0.02, "improved"),
    ],
)
def test_a_change_beyond_the_tolerance_counts_only_when_its_interval_excludes_zero(before, after, spread, change):
    comparison = compare(summary(after, spread=spread), summary(before, spread=spread), DEFAULT_TOLERANCES)
    figure = comparison["tiers"][0]["figures"]["p95_ms"]
    assert figure["change"] == change
    assert figure["regressed"] is (change == REGRESSED)
    assert comparison["change"] == {REGRESSED: REGRESSED, INCONCLUSIVE: INCONCLUSIVE}.get(change, NO_CHANGE)
    if spread:
        low, high = figure["ci95"]
        assert low < after - before < high


def test_an_inconclusive_comparison_is_noted_and_keeps_the_verdict():
    wide = dict(spread=0.9)
    gated = apply(summary(30, **wide), compare(summary(30, **wide), summary(10, **wide), DEFAULT_TOLERANCES))
    assert (gated["verdict"], gated["exit_code"]) == ("pass", 0)
    assert (
        gated["reason"] == "every SLA met; against baseline base, inconclusive: premium.p95_ms, premium[GET /x].p95_ms"
    )


def test_figures_without_a_tolerance_say_worse_or_better_and_never_fail():
    comparison = compare(summary(10.0), summary(9.0), DEFAULT_TOLERANCES)  # p99 has no tolerance: 18 vs 20 ms
    assert comparison["tiers"][0]["figures"]["p99_ms"]["change"] == "worse"
    assert comparison["regressions"] == []
    unbounded = summary(10.0)
    unbounded["tiers"]["premium"]["ci95"]["p99_ms"] = [19.0, None]  # too few samples to bound p99 from above
    figure = compare(unbounded, summary(9.0), DEFAULT_TOLERANCES)["tiers"][0]["figures"]["p99_ms"]
    assert (figure["change"], figure["ci95"]) == (INCONCLUSIVE, None)
    assert compare(unbounded, summary(9.0), DEFAULT_TOLERANCES)["inconclusive"] == []  # not gated: no finding


def test_lower_is_worse_for_throughput_and_success():
    tolerances = {"rps": Tolerance(pct=10), "success_rate": Tolerance(abs=0.001)}
    comparison = compare(summary(10, rps=400, success=0.99, spread=0.001), summary(10, spread=0.001), tolerances)
    assert comparison["regressions"] == ["premium.success_rate", "premium.rps", "premium[GET /x].success_rate"]
    figure = comparison["tiers"][0]["figures"]["rps"]
    assert (figure["baseline"], figure["current"], figure["delta"], figure["delta_pct"]) == (500.0, 400.0, -100, -20)


def test_endpoints_are_compared_too():
    comparison = compare(summary(10, endpoint_p95=40), summary(10), DEFAULT_TOLERANCES)
    assert comparison["regressions"] == ["premium[GET /x].p95_ms"]


def test_a_regression_fails_a_passing_verdict():
    gated = apply(summary(30), compare(summary(30), summary(10), DEFAULT_TOLERANCES))
    assert (gated["verdict"], gated["exit_code"]) == ("fail", 1)
    assert gated["reason"] == "regressed against baseline base: premium.p95_ms, premium[GET /x].p95_ms"
    assert gated["baseline"]["run_id"] == "base"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "trademate_load", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(3)
    base = rng.lognormal(mean=np.log(4.0), sigma=0.4, size=30_000)
    write_synthetic_run(root / "base", base)
    write_synthetic_run(root / "same", base.copy())
    write_synthetic_run(root / "slow", base * 3)
    return root


def test_compare_exits_1_when_latencies_triple(runs):
    proc = run_cli("compare", str(runs / "base"), str(runs / "slow"))
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSED" in proc.stdout
    assert "Regressions: premium.p95_ms" in proc.stdout


def test_compare_exits_0_against_itself(runs):
    proc = run_cli("compare", str(runs / "base"), str(runs / "same"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("Regressions: none")


def test_report_with_a_baseline_gates_and_records_it(runs):
    proc = run_cli("report", str(runs / "slow"), "--baseline", str(runs / "base"))
    assert proc.returncode == 1
    written = json.loads((runs / "slow" / "summary.json").read_text())
    assert written["verdict"] == "fail" and written["baseline"]["run_id"] == "base"
    assert json.loads((runs / "slow" / "run.json").read_text())["exit_code"] == 1
    assert "baseline" in (runs / "slow" / "junit.xml").read_text()


def test_a_directory_that_is_not_a_run_is_invalid_input(runs, tmp_path):
    proc = run_cli("compare", str(tmp_path), str(runs / "base"))
    assert proc.returncode == 2
    assert "summary.json: (file): no such file: not a run directory" in proc.stderr


def test_the_gate_compares_every_figure_a_profile_may_set_a_tolerance_for():
    assert tuple(FIGURES) == BASELINE_FIGURES
