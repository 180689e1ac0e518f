"""The live branch on synthetic samples: its figures are sla.evaluate's, its tail reader loses no row across
swaps, its uptime equals the verdict's, abort_on_fail stops on a decided failure and stop_when_decided on a settled
run, the SLA tab marks each figure, the Prometheus exposition parses, and every report of a run that ended early
says which check (or which decision) ended it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.synthetic import T0, frame_of, write_synthetic_run
from trademate_load.config import ConfigError
from trademate_load.live import BufferTail, LiveBoard, LiveRun
from trademate_load.metrics import BUCKETS_S, build_registry
from trademate_load.profile import Profile, TierLoad, load_profile
from trademate_load.record import SampleBuffer
from trademate_load.report.console import render_console
from trademate_load.report.summary import apply_abort
from trademate_load.rundir import load_run, render_reports
from trademate_load.sla import Window, evaluate
from trademate_load.sla_spec import Sla, TierSla
from trademate_load.webtab import FAIL_MARK, PASS_MARK, tab_rows

PREMIUM = TierSla(p95_ms=50, p99_ms=100, mean_ms=25, success_rate=0.9995, compliance=0.95, uptime=0.999)
SHARED = TierSla(p95_ms=100, p99_ms=200, mean_ms=50, success_rate=0.999, compliance=0.95, uptime=0.999)
SLA = Sla(tiers={"premium": PREMIUM, "shared": SHARED})
LOADS = {
    "premium": TierLoad(users=5, rps=50, plans={"ELITE": 1}),
    "shared": TierLoad(users=5, rps=50, plans={"PRO": 1}),
}
SECONDS, WARMUP, WINDOW = 40.0, 4.0, 10.0


def two_tier_frame(seed: int = 3) -> pd.DataFrame:
    """Both tiers over SECONDS at 50 req/s, lognormal latency, a few failures, some requests started late."""
    rng = np.random.default_rng(seed)
    parts = []
    for tier, median in (("premium", 8.0), ("shared", 30.0)):
        n = int(50 * SECONDS)
        parts.append(
            frame_of(
                rng.lognormal(np.log(median), 0.8, n),
                tier=tier,
                ok=rng.random(n) > 0.01,
                duration=SECONDS,
                late_s=np.where(rng.random(n) < 0.05, rng.random(n) * 0.2, 0.0),
                endpoint="GET /api/v1/portfolio" if tier == "premium" else "GET /api/v1/watchlist",
            )
        )
    frame = pd.concat(parts, ignore_index=True).sort_values("ts", kind="stable", ignore_index=True)
    frame["plan"] = np.where(frame["tier"] == "shared", "PRO", "ELITE")
    return frame


def append_rows(buffer: SampleBuffer, frame: pd.DataFrame) -> None:
    """Append a frame's rows to a buffer, coded as the collector codes them."""
    for row in frame.itertuples(index=False):
        key = buffer.keys.code((row.tier, row.plan, row.endpoint, row.worker))
        buffer.append(row.ts, row.intended_ts, key, row.status, row.ok, row.latency_ms, row.bytes, row.error)


def live_run(basis: str = "corrected", sla: Sla = SLA, **settings) -> LiveRun:
    """A run of both tiers for SECONDS (WARMUP excluded), live window WINDOW; ``settings``: more Profile fields."""
    profile = Profile(
        name="p",
        run_time_s=SECONDS,
        warmup_s=WARMUP,
        spawn_rate=10,
        tiers=LOADS,
        sla=sla,
        latency=basis,
        live_window_s=WINDOW,
        **settings,
    )
    return LiveRun(run_id="r", profile=profile, started_ts=T0, run_time_s=SECONDS)


def feed(frame: pd.DataFrame, run: LiveRun, chunks: int = 7) -> LiveBoard:
    """Feed ``frame`` through a buffer in chunks, as the collector would fill it, swapping it out midway."""
    buffer = SampleBuffer()
    board = LiveBoard(buffer)
    board.start(run)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), chunks)):
        append_rows(buffer, frame.iloc[part])
        if i % 3 == 1:
            buffer.swap()  # the spiller's swap: the tail reader must still see every row
        board.poll()
    board.finish(T0 + SECONDS)
    return board


@pytest.mark.parametrize("basis", ["corrected", "service"])
def test_run_so_far_and_window_figures_equal_sla_evaluate(basis):
    frame = two_tier_frame()
    snapshot = feed(frame, live_run(basis)).snapshot
    assert snapshot["state"] == "stopped"
    end = T0 + SECONDS
    for scope, window in (("run", Window(T0 + WARMUP, end)), ("window", Window(end - WINDOW, end))):
        verdict = evaluate(frame, LOADS, SLA, window, basis)
        for tier, expected in verdict.tiers.items():
            live = snapshot["tiers"][tier][scope]
            assert live["requests"] == expected.requests > 0
            assert live["failures"] == expected.failures > 0
            assert live["rps"] == pytest.approx(expected.rps)
            assert live["success_rate"] == pytest.approx(expected.success_rate)
            assert live["sla_compliance"] == pytest.approx(expected.sla_compliance)
            assert live["error_budget"] == pytest.approx(expected.error_budget)
            # The run so far keeps latencies to the microsecond; the window keeps them raw.
            tolerance = 0.0005 if scope == "run" else 1e-12
            for stat in ("mean", "p50", "p95", "p99", "max"):
                assert live["latency_ms"][stat] == pytest.approx(expected.latency_ms[stat], abs=tolerance), stat
            checks = {c["name"]: c for c in live["checks"]}
            for check in expected.checks:
                if check.name in checks:
                    assert checks[check.name]["actual"] == pytest.approx(check.actual, abs=tolerance)


def test_the_run_so_far_starts_after_warm_up_and_the_window_is_recent():
    frame = two_tier_frame()
    run = live_run()
    board = LiveBoard(SampleBuffer())
    board.start(run)
    append_rows(board.tail.buffer, frame[frame["ts"] < T0 + WARMUP])
    board.poll()
    early = run.update(T0 + WARMUP)
    assert early["tiers"]["premium"]["run"]["requests"] == 0
    assert early["tiers"]["premium"]["run"]["rps"] is None  # nothing measured yet: not a failing 0 req/s
    assert early["tiers"]["premium"]["window"]["requests"] > 0


def test_the_tail_reader_sees_every_row_once_across_swaps():
    buffer = SampleBuffer()
    frame = two_tier_frame()
    append_rows(buffer, frame.iloc[:10])
    tail = BufferTail(buffer)  # starts at the end: rows appended before it are not its business
    seen = []
    for lo, hi in ((10, 30), (30, 31), (31, 100)):
        append_rows(buffer, frame.iloc[lo:hi])
        if hi == 31:
            buffer.swap()
        append_rows(buffer, frame.iloc[hi : hi + 0])
        seen.append(tail.read().ts)
    buffer.swap()
    seen.append(tail.read().ts)
    assert np.array_equal(np.concatenate(seen), frame["ts"].to_numpy()[10:100])
    tail.skip()
    assert len(tail.read()) == 0


def test_checks_are_point_flags_against_the_sla():
    slow = frame_of(np.full(2000, 70.0), duration=SECONDS)  # premium p95 70 ms against 50 ms
    snapshot = feed(slow, live_run()).snapshot
    window = {c["name"]: c for c in snapshot["tiers"]["premium"]["window"]["checks"]}
    assert window["p95_ms"]["passed"] is False and window["p95_ms"]["actual"] == 70.0
    assert window["p99_ms"]["passed"] is True
    assert window["sla_compliance"]["passed"] is False and window["sla_compliance"]["actual"] == 0.0
    assert window["rps"]["passed"] is True  # 50 req/s against 50
    assert window["error_budget"]["passed"] is True
    shared = {c["name"]: c for c in snapshot["tiers"]["shared"]["window"]["checks"]}
    assert shared["rps"]["actual"] == 0.0 and shared["rps"]["passed"] is False  # no shared traffic at all
    assert "p95_ms" not in shared or shared["p95_ms"]["actual"] is None


def slow_after(seconds: float) -> pd.DataFrame:
    """Premium at 50 req/s: fast until ``seconds`` into the run, then 80 ms (p95 target 50 ms)."""
    latency = np.where(np.linspace(0, SECONDS, 2000, endpoint=False) < seconds, 5.0, 80.0)
    return frame_of(latency, duration=SECONDS)


def with_healthy_shared(premium: pd.DataFrame) -> pd.DataFrame:
    """``premium`` and a shared tier answering every request in 5 ms."""
    shared = frame_of(np.full(2000, 5.0), tier="shared", duration=SECONDS, endpoint="GET /api/v1/watchlist")
    return pd.concat([premium, shared], ignore_index=True).sort_values("ts", kind="stable", ignore_index=True)


def step(board: LiveBoard, frame: pd.DataFrame, until: float) -> dict | None:
    """Append the samples that started before ``until`` (and after the last step), then update at ``until``."""
    done = getattr(board, "_done", T0)
    append_rows(board.tail.buffer, frame[(frame["ts"] >= done) & (frame["ts"] < until - 1.0)])
    board._done = until - 1.0
    return board.update(until)


def run_steps(board: LiveBoard, frame: pd.DataFrame) -> dict[int, dict]:
    """Each second of the run stepped through; the early-end records by second."""
    records = {second: step(board, frame, T0 + second) for second in range(1, int(SECONDS))}
    return {second: record for second, record in records.items() if record is not None}


def test_abort_on_fail_stops_once_the_test_decides_the_p95_fails_and_names_tier_check_and_time():
    frame = slow_after(20.0)
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("p95_ms",)))
    fired = run_steps(board, frame)
    assert len(fired) == 1
    ((second, record),) = fired.items()
    assert record["outcome"] == "fail" and record["by"] == "abort_on_fail"
    assert (record["tier"], record["check"]) == ("premium", "p95_ms")
    # 800 fast requests after warm-up, then 50 slow ones a second: decided within seconds of the slowdown
    # (samples reach the board a second late, and its figures end a settle second before now).
    assert 21 <= record["at_s"] <= 28 and record["at_s"] == second - 1
    assert record["tests"] == 2 and record["alpha"] == 0.05  # p95_ms of both tiers share the 5%
    assert record["evidence"] >= 2 / 0.05
    assert "premium p95_ms: " in record["reason"] and "since warm-up at or above 50 ms" in record["reason"]
    assert board.snapshot["aborted"] == record
    assert tab_rows(board.snapshot)[1]["figure"] == f"{FAIL_MARK} ABORTED by abort_on_fail.p95_ms"


def test_a_fast_run_never_aborts_and_warm_up_is_never_judged():
    frame = slow_after(SECONDS)
    frame.loc[frame["ts"] < T0 + WARMUP - 1, "latency_ms"] = 500.0  # a slow warm-up does not count
    frame["latency_co_ms"] = frame["latency_ms"]
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("p95_ms", "success_rate", "mean_ms", "compliance")))
    assert run_steps(board, frame) == {}
    states = {d["check"]: d["state"] for d in board.snapshot["tiers"]["premium"]["decisions"]}
    assert states["p95_ms"] == "passed" and states["mean_ms"] == "holds"
    assert states["success_rate"] == "open"  # 1,800 requests cannot show 99.95%


def test_a_failure_rate_far_above_the_allowance_aborts_within_seconds_of_warm_up():
    frame = frame_of(np.full(2000, 5.0), ok=np.arange(2000) % 50 != 0, duration=SECONDS)  # 2% fail
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("success_rate",)))
    (record,) = run_steps(board, frame).values()
    assert record["check"] == "success_rate" and record["at_s"] <= WARMUP + 5
    assert "premium success_rate: " in record["reason"] and "failed (2.0" in record["reason"]


def stalled_premium() -> pd.DataFrame:
    """Premium at 50 req/s stalled (900 ms) for the second 12-13 s into the run, and a healthy shared tier."""
    seconds = np.linspace(0, SECONDS, 2000, endpoint=False) // 1
    return with_healthy_shared(frame_of(np.where(seconds == 12, 900.0, 5.0), duration=SECONDS))


def test_an_outage_longer_than_the_planned_run_allows_aborts_on_uptime():
    sla = Sla(tiers={t: TierSla(p95_ms=50, uptime=0.999, window=2.0) for t in LOADS})
    board = LiveBoard(SampleBuffer())
    board.start(live_run(sla=sla, abort_on_fail=("uptime",)))
    (record,) = run_steps(board, stalled_premium()).values()
    assert (record["tier"], record["check"]) == ("premium", "uptime") and record["evidence"] is None
    # the window 12-14 s is judged once its requests have had their 1 s timeout, a settle second later
    assert 15 <= record["at_s"] <= 17
    assert "premium uptime: down 2.0 s (12.0-14.0 s: p95 900.0 ms (limit < 50 ms))" in record["reason"]
    assert "more than the 0.04 s that 99.900% of the planned 36 s allows" in record["reason"]


def test_stop_when_decided_ends_a_healthy_run_once_every_check_is_settled():
    sla = Sla(tiers={t: TierSla(p95_ms=50, mean_ms=25, success_rate=0.95, uptime=0.99, window=5.0) for t in LOADS})
    rng = np.random.default_rng(5)
    frame = pd.concat(
        [frame_of(rng.lognormal(np.log(5.0), 0.3, 2000), tier=tier, duration=SECONDS) for tier in LOADS],
        ignore_index=True,
    ).sort_values("ts", kind="stable", ignore_index=True)
    board = LiveBoard(SampleBuffer())
    board.start(live_run(sla=sla, stop_when_decided=True))
    fired = run_steps(board, frame)
    _, record = min(fired.items())
    assert record["outcome"] == "pass" and record["by"] == "stop_when_decided" and record["tests"] == 6
    assert WARMUP < record["at_s"] < 20
    assert "every check settled: 4 passed its sequential test (alpha 0.05 over 6 tests), 4 hold" in record["reason"]
    assert board.snapshot["decided"] == record and board.snapshot["aborted"] is None


def test_stop_when_decided_ends_a_failing_run_as_an_abort():
    board = LiveBoard(SampleBuffer())
    board.start(live_run(stop_when_decided=True))
    _, record = min(run_steps(board, with_healthy_shared(slow_after(20.0))).items())
    assert record["outcome"] == "fail" and record["by"] == "stop_when_decided"
    assert record["tier"] == "premium" and record["check"] in ("p95_ms", "compliance")


def test_live_uptime_equals_the_verdicts_at_the_end():
    frame = stalled_premium()
    sla = Sla(tiers={t: TierSla(p95_ms=50, uptime=0.999, window=5.0) for t in LOADS})
    snapshot = feed(frame, live_run(sla=sla)).snapshot
    verdict = evaluate(frame, LOADS, sla, Window(T0 + WARMUP, T0 + SECONDS), "corrected")
    for tier in LOADS:
        live, expected = snapshot["tiers"][tier]["uptime"], verdict.tiers[tier].uptime
        assert live["timeline"] == "".join({"up": "U", "down": "D"}.get(w.state, "-") for w in expected.windows)
        assert live["ratio"] == pytest.approx(expected.ratio)
    assert snapshot["tiers"]["premium"]["uptime"]["timeline"] == "UDUUUUUU"
    assert snapshot["tiers"]["shared"]["uptime"]["timeline"] == "UUUUUUUU"


def test_tab_rows_mark_each_figure_green_or_red():
    frame = slow_after(SECONDS / 2)
    rows = tab_rows(feed(frame, live_run()).snapshot)
    assert rows[0]["tier"] == "stopped" and rows[0]["window"] == f"last {WINDOW:g} s"
    by_figure = {(row["tier"], row["figure"]): row for row in rows}
    p95 = by_figure[("premium", "p95")]
    assert p95["target"] == "< 50.000 ms"
    assert p95["window"] == f"{FAIL_MARK} 80.000 ms"  # the last 10 s are all slow
    assert p95["run"].startswith(FAIL_MARK)
    assert by_figure[("premium", "p99")]["window"] == f"{PASS_MARK} 80.000 ms"
    assert by_figure[("premium", "requests (failed)")]["run"] == "1800 (0)"
    assert by_figure[("premium", "error budget left")]["run"].startswith(f"{PASS_MARK} 100.0%")
    uptime = by_figure[("premium", "uptime (5 s windows)")]
    assert uptime["target"] == ">= 99.900%" and uptime["window"] == f"{FAIL_MARK} down (last judged window)"
    # windows from the end of warm-up (4 s): 19-24 s is down with its last 4 s slow
    assert uptime["run"] == f"{FAIL_MARK} 41.667% of 36 s; down 19.0-40.0 s: p95 80.0 ms (limit < 50 ms)"
    decisions = by_figure[("premium", "early decisions (alpha 0.05)")]["run"]
    assert "p95_ms failed, p99_ms passed, success_rate open" in decisions and "uptime failed" in decisions
    assert tab_rows({"state": "idle", "tiers": {}})[0]["figure"] == "waiting for a test to start"


def test_prometheus_exposition_has_the_agreed_names_and_counts():
    frame = two_tier_frame()
    buffer = SampleBuffer()
    board = LiveBoard(buffer)
    registry = build_registry(board)
    board.start(live_run())
    append_rows(buffer, frame)
    board.update(T0 + SECONDS)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    for tier in ("premium", "shared"):
        rows = frame[frame["tier"] == tier]
        samples = {s.name: s for f in families.values() for s in f.samples if s.labels.get("tier") == tier}
        assert samples["trademate_requests_total"].value == len(rows)
        assert samples["trademate_request_failures_total"].value == int((~rows["ok"]).sum())
        assert samples["trademate_sla_p95_target_seconds"].value == SLA.tiers[tier].p95_ms / 1000
        live = board.snapshot["tiers"][tier]
        assert samples["trademate_latency_p95_seconds"].value == pytest.approx(
            live["window"]["latency_ms"]["p95"] / 1000
        )
        assert samples["trademate_latency_p99_seconds"].value == pytest.approx(
            live["window"]["latency_ms"]["p99"] / 1000
        )
        assert samples["trademate_sla_compliance_ratio"].value == pytest.approx(live["window"]["sla_compliance"])
        assert samples["trademate_error_budget_remaining_ratio"].value == pytest.approx(
            live["run"]["error_budget_left_ratio"]
        )
        assert samples["trademate_uptime_ratio"].value == live["uptime"]["ratio"] is not None
    histogram = families["trademate_request_latency_seconds"]
    assert histogram.type == "histogram"
    count = {s.labels["endpoint"]: s.value for s in histogram.samples if s.name.endswith("_count")}
    assert count == {"GET /api/v1/portfolio": 2000, "GET /api/v1/watchlist": 2000}
    le_50ms = next(
        s.value
        for s in histogram.samples
        if s.name.endswith("_bucket") and s.labels["le"] == "0.05" and s.labels["tier"] == "premium"
    )
    premium = frame[frame["tier"] == "premium"]["latency_co_ms"]
    assert le_50ms == int((premium <= 50.0).sum())
    assert 0.05 in BUCKETS_S and 0.1 in BUCKETS_S  # the tiers' p95 targets are bucket bounds


SLA_TEXT = "tiers:\n  premium: {p95_ms: 50, success_rate: 0.999}\n"
PROFILE = "run_time: 30s\ntiers:\n  premium: {users: 1, rps: 10}\nsla: sla.yaml\n"


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("abort_on_fail: {p95: true}", "abort_on_fail.p95", "did you mean 'p95_ms'"),
        ("abort_on_fail: {p95_ms: 10s}", "abort_on_fail.p95_ms", "expected true or false, got '10s' (a check"),
        ("abort_on_fail: {p95_ms: [1]}", "abort_on_fail.p95_ms", "expected true or false"),
        (
            "abort_on_fail: {error_budget: true}",
            "abort_on_fail.error_budget",
            "retired: use abort_on_fail.success_rate",
        ),
        ("abort_on_fail: {p99_ms: true}", "abort_on_fail.p99_ms", "sets p99_ms: nothing to check"),
        ("abort_on_fail: [p95_ms]", "abort_on_fail", "expected a mapping"),
        ("stop_when_decided: yes please", "stop_when_decided", "expected true or false"),
        ("decision_alpha: 0.5", "decision_alpha", "below 0.5"),
        ("decision_alpha: 0", "decision_alpha", "greater than 0"),
        ("live_window: 0s", "live_window", "longer than 0 s"),
        ("live_window: soon", "live_window", "duration"),
    ],
)
def test_bad_abort_on_fail_and_live_window_name_file_and_field(tmp_path, extra, field, words):
    (tmp_path / "sla.yaml").write_text(SLA_TEXT)
    (tmp_path / "p.yaml").write_text(PROFILE + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        load_profile(str(tmp_path / "p.yaml"))
    assert caught.value.field == field and caught.value.path == str(tmp_path / "p.yaml")
    assert words in str(caught.value)


def test_abort_on_fail_and_live_window_parse(tmp_path):
    (tmp_path / "sla.yaml").write_text(SLA_TEXT)
    extra = "live_window: 1m\nabort_on_fail: {success_rate: true, p95_ms: true, compliance: false}\n"
    (tmp_path / "p.yaml").write_text(PROFILE + extra + "stop_when_decided: true\ndecision_alpha: 0.01\n")
    profile = load_profile(str(tmp_path / "p.yaml"))
    assert profile.abort_on_fail == ("success_rate", "p95_ms")
    assert profile.live_window_s == 60.0 and profile.stop_when_decided and profile.decision_alpha == 0.01
    settings = profile.settings()
    assert settings["abort_on_fail"] == ["success_rate", "p95_ms"] and settings["stop_when_decided"] is True
    smoke = load_profile("smoke")
    assert smoke.abort_on_fail == () and smoke.live_window_s == 30.0 and not smoke.stop_when_decided
    assert smoke.decision_alpha == 0.05


ABORTED = {
    "outcome": "fail",
    "by": "abort_on_fail",
    "tier": "premium",
    "check": "p95_ms",
    "at_s": 12.0,
    "reason": "premium p95_ms: 900 of 1700 since warm-up at or above 50 ms (52.941%, allowed 5.000%); evidence ...",
    "alpha": 0.05,
    "tests": 2,
    "evidence": 1e9,
}


@pytest.mark.parametrize(
    ("code", "verdict", "expected_code", "expected_verdict"),
    [(0, "pass", 1, "fail"), (0, "inconclusive", 1, "fail"), (1, "fail", 1, "fail"), (3, "no_data", 3, "no_data")],
)
def test_an_aborted_run_is_a_breach_unless_nothing_was_measured(code, verdict, expected_code, expected_verdict):
    summary = apply_abort({"exit_code": code, "verdict": verdict, "reason": "as judged"}, dict(ABORTED))
    assert (summary["exit_code"], summary["verdict"]) == (expected_code, expected_verdict)
    assert summary["aborted"] == ABORTED
    assert "stopped at 12.0 s by abort_on_fail.p95_ms (premium): premium p95_ms: 900 of 1700" in summary["reason"]
    assert apply_abort({"exit_code": 0, "verdict": "pass", "reason": "ok"}, None) == {
        "exit_code": 0,
        "verdict": "pass",
        "reason": "ok",
        "aborted": None,
    }


def test_every_report_says_which_check_stopped_the_run_and_when(tmp_path):
    run_dir = tmp_path / "20270115-080000-premium"
    write_synthetic_run(run_dir, np.linspace(1.0, 20.0, 3_000), seconds=30.0)
    frame, run = load_run(run_dir)
    summary = render_reports(run_dir, frame, {**run, "aborted": ABORTED})
    assert summary["aborted"] == ABORTED and summary["exit_code"] == 1
    assert json.loads((run_dir / "summary.json").read_text())["aborted"] == ABORTED
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='abort_on_fail']/testcase")
    assert case.get("name") == "p95_ms" and "stopped at 12.0 s" in case.find("failure").get("message")
    assert junit.get("failures") == "1"
    console = render_console(summary)
    assert f"Aborted: premium p95_ms at 12.0 s: {ABORTED['reason']}" in console
    assert console.splitlines()[-1] == "SLA breached (exit 1)"
    assert "aborted at 12.0 s: premium p95_ms" in (run_dir / "index.html").read_text()
