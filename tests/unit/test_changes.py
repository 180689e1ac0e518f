"""Change points across runs (trademate_load.changes): a +5 ms step in a noisy p95 is found where it is, a flat history
stays quiet, each (kind, profile, track, tier) is its own series even when runs interleave, and odd series (constant,
too short, nulls) find nothing and break nothing. Fixed seeds: the same draws every time."""

import numpy as np
import pandas as pd
import pytest
import ruptures
from scipy.stats import ttest_ind

from trademate_load.changes import (
    ALPHA,
    COLUMNS,
    FIGURES,
    Change,
    change_points,
    detect,
    l2_cost,
    noise_scale,
    penalty,
    welch_p,
)

SEEDS = range(20)
STEP_AT = 20  # the first run at the new level


def stepped(seed: int, n: int = 30, at: int = STEP_AT, low: float = 20.0, high: float = 25.0) -> np.ndarray:
    """A premium p95 around ``low`` ms with 10% Gaussian noise, at ``high`` from run ``at`` on."""
    level = np.where(np.arange(n) < at, low, high)
    return level * (1 + 0.1 * np.random.default_rng(seed).standard_normal(n))


def flat(seed: int, n: int = 100, level: float = 20.0) -> np.ndarray:
    return level * (1 + 0.1 * np.random.default_rng(1000 + seed).standard_normal(n))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_step_is_found_within_three_runs(seed):
    # over 1000 seeds 96.5% are (the misses mostly place the step 4 or more runs off); these 20 all are
    found = [change for change in change_points(stepped(seed)) if abs(change.index - STEP_AT) <= 3]
    assert len(found) == 1, change_points(stepped(seed))
    assert found[0].size > 0 and found[0].p_value < ALPHA


@pytest.mark.parametrize("seed", SEEDS)
def test_a_flat_history_has_at_most_one_false_change(seed):
    # over 1000 seeds 1.1% have one, 0.2% two
    assert len(change_points(flat(seed))) <= 1


def test_size_and_p_value_of_the_step():
    found = [next(c for c in change_points(stepped(seed)) if abs(c.index - STEP_AT) <= 3) for seed in SEEDS]
    sizes = np.array([change.size for change in found])
    # +5 ms, measured as the change of the segments' medians: about 1.1 ms of spread a seed, 0.25 ms over 20 seeds
    assert sizes.mean() == pytest.approx(5.0, abs=1.0)
    assert np.all((sizes > 1.5) & (sizes < 8.5))
    assert all(18 < change.before < 22 and 22 < change.after < 28 for change in found)
    assert all(change.size_pct == pytest.approx(100 * change.size / change.before) for change in found)
    assert np.median([change.size_pct for change in found]) == pytest.approx(25, abs=5)
    assert all(0 <= change.p_value < ALPHA for change in found)
    assert np.median([change.p_value for change in found]) < 1e-3


def test_change_fields():
    change = Change(index=3, before=20.0, after=25.0, p_value=0.001)
    assert (change.size, change.size_pct) == (5.0, 25.0)
    assert Change(index=3, before=0.0, after=0.02, p_value=0.0).size_pct is None
    assert Change(index=3, before=1.0, after=0.98, p_value=0.0).size_pct == pytest.approx(-2.0)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([], id="empty"),
        pytest.param([20.0] * 30, id="constant"),
        pytest.param([20.0, 20.0, 20.0, 90.0, 90.0], id="too short, however big the step"),
        pytest.param(stepped(0)[:5], id="too short"),
        pytest.param([0.1 + 0.2] * 15 + [0.3] * 15, id="float dust"),
    ],
)
def test_no_change(values):
    assert change_points(values) == []


def test_a_shift_in_an_otherwise_exact_series():
    # success rate 1.0 in every run, then 0.98: the differences' MAD is 0, their standard deviation stands in
    (change,) = change_points([1.0] * 20 + [0.98] * 10)
    assert (change.index, change.before, change.after, change.p_value) == (20, 1.0, 0.98, 0.0)


def test_nan_is_refused():
    with pytest.raises(ValueError, match="finite"):
        change_points([20.0, np.nan, 21.0, 20.0, 19.0, 20.0, 22.0])


def test_noise_scale_ignores_a_level_shift():
    for seed in SEEDS:
        noise = 2.0 * np.random.default_rng(seed).standard_normal(30)
        shifted = noise + np.where(np.arange(30) < STEP_AT, 0.0, 100.0)  # a 50-sigma step
        assert noise_scale(shifted) / noise_scale(noise) < 1.3
    assert noise_scale(2.0 * np.random.default_rng(0).standard_normal(1000)) == pytest.approx(2.0, rel=0.1)
    assert noise_scale(np.full(30, 20.0)) == 0.0


def test_the_cost_is_ruptures_l2():
    # the cumulative-sum cost gives ruptures' own l2 numbers, so PELT splits where Pelt(model="l2") does
    for seed in range(5):
        signal = stepped(seed) / 2.0
        ours, theirs = l2_cost()().fit(signal), ruptures.costs.CostL2().fit(signal)
        for start in range(0, 28, 3):
            for end in range(start + 2, 31, 4):
                assert ours.error(start, end) == pytest.approx(theirs.error(start, end), abs=1e-9)
        for pen in (penalty(30), 2.0):
            fast = ruptures.Pelt(custom_cost=l2_cost()(), min_size=2, jump=1).fit_predict(signal, pen)
            assert fast == ruptures.Pelt(model="l2", min_size=2, jump=1).fit_predict(signal, pen)


def test_welch_p_is_scipys():
    series = stepped(0)
    before, after = series[:STEP_AT], series[STEP_AT:]
    assert welch_p(before, after) == pytest.approx(ttest_ind(before, after, equal_var=False).pvalue)
    assert welch_p(np.array([1.0, 1.0]), np.array([0.98, 0.98])) == 0.0  # two constants that differ
    assert welch_p(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 1.0


def history(seed: int = 0, runs: int = 30) -> pd.DataFrame:
    """A history frame of two interleaved tracks, one run each in turn: ``main`` (main@0, main@1...) flat,
    ``canary`` with its premium p95 5 ms higher from its run STEP_AT on (10% noise on both). Each run has a premium
    row and a shared one, whose tier is steady (40 ms exactly); p99 is 1.5 x p95, mean_ms null throughout, uptime
    null in the first runs, success_rate 1.0 everywhere. Shuffled: the order must come from started_at."""
    premium = {"main": flat(seed, runs), "canary": stepped(seed, runs)}
    start = pd.Timestamp("2026-12-01T00:00:00+00:00")
    rows = []
    for i in range(runs):
        for turn, track in enumerate(("main", "canary")):
            started = start + pd.Timedelta(minutes=10 * (2 * i + turn))
            run_id = f"{started:%Y%m%d-%H%M%S}-premium"
            for tier, p95 in (("premium", premium[track][i]), ("shared", 40.0)):
                rows.append(
                    {
                        "run_id": run_id,
                        "kind": "run",
                        "profile": "premium",
                        "label": f"{track}@{i}",
                        "track": track,
                        "started_at": started.isoformat(),
                        "duration_s": 300.0,
                        "tier": tier,
                        "verdict": "pass",
                        "exit_code": 0,
                        "met": True,
                        "valid": True,
                        "requests": 30_000,
                        "rps": 100.0,
                        "p95_ms": p95,
                        "p95_ms_lo": p95 * 0.97,
                        "p95_ms_hi": p95 * 1.03,
                        "p95_ms_limit": 50.0 if tier == "premium" else 100.0,
                        "p99_ms": 1.5 * p95,
                        "mean_ms": None,
                        "success_rate": 1.0,
                        "uptime": None if i < 3 else 1.0,
                        "report": f"{run_id}/index.html",
                        "checks": [],
                    }
                )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed)


def step_run(frame: pd.DataFrame) -> pd.Series:
    """The canary's first run at the new level (its premium row)."""
    canary = frame[(frame["label"] == f"canary@{STEP_AT}") & (frame["tier"] == "premium")]
    return canary.iloc[0]


def test_detect_names_the_run_after_the_step():
    frame = history()
    found = detect(frame)
    assert list(found.columns) == list(COLUMNS)
    run = step_run(frame)
    assert found[["kind", "profile", "track", "tier", "figure", "run_id", "label", "started_at"]].values.tolist() == [
        ["run", "premium", "canary", "premium", "p95_ms", run["run_id"], f"canary@{STEP_AT}", run["started_at"]],
        ["run", "premium", "canary", "premium", "p99_ms", run["run_id"], f"canary@{STEP_AT}", run["started_at"]],
    ]
    p95, p99 = found.iloc[0], found.iloc[1]
    assert p95["size"] == pytest.approx(p95["after"] - p95["before"]) == pytest.approx(5.0, abs=1.0)
    assert p95["size_pct"] == pytest.approx(100 * p95["size"] / p95["before"])
    assert 0 <= p95["p_value"] < ALPHA and p99["p_value"] == pytest.approx(p95["p_value"])
    assert p99["size"] == pytest.approx(1.5 * p95["size"])  # p99 is 1.5 x p95: the same step


@pytest.mark.parametrize("seed", range(5))
def test_interleaved_tracks_are_kept_apart(seed):
    # the canary's step, one run in two of the whole history, is found in the canary's series only; main has none
    frame = history(seed)
    found = detect(frame)
    assert set(found["track"]) == {"canary"} and set(found["tier"]) == {"premium"}
    assert step_run(frame)["run_id"] in set(found.loc[found["figure"] == "p95_ms", "run_id"])
    assert set(found["label"]) <= {f"canary@{i}" for i in range(30)}


def test_null_figures_are_left_out_of_their_series():
    frame = history().sort_values(["started_at", "tier"])
    canary = (frame["track"] == "canary") & (frame["tier"] == "premium")
    step_run = frame.loc[canary & (frame["label"] == f"canary@{STEP_AT}"), "run_id"].iloc[0]
    nulls = canary & frame["label"].isin([f"canary@{i}" for i in (3, 11, STEP_AT - 1, STEP_AT + 5)])
    frame.loc[nulls, "p95_ms"] = np.nan
    found = detect(frame, figures=("p95_ms", "mean_ms", "uptime"))
    assert found[["track", "tier", "figure", "run_id"]].values.tolist() == [["canary", "premium", "p95_ms", step_run]]


def test_nothing_to_find():
    for frame in (history().head(0), history().assign(p95_ms=None, p99_ms=np.nan)):
        found = detect(frame)
        assert found.empty and list(found.columns) == list(COLUMNS)
    assert detect(history(), figures=("success_rate", "uptime", "no_such_figure")).empty
    assert FIGURES == ("p95_ms", "p99_ms", "mean_ms", "success_rate", "uptime")
