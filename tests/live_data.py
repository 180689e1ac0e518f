"""Synthetic samples and runs for the live branch's tests: two tiers, a profile of SECONDS with WARMUP, and the
helpers that feed frames through a collector's buffer to a live board, at once or second by second."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.synthetic import T0, frame_of
from trademate_load.live import LiveBoard, LiveRun
from trademate_load.profile import Profile, TierLoad
from trademate_load.record import SampleBuffer
from trademate_load.sla_spec import Sla, TierSla

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


def stalled_premium() -> pd.DataFrame:
    """Premium at 50 req/s stalled (900 ms) for the second 12-13 s into the run, and a healthy shared tier."""
    seconds = np.linspace(0, SECONDS, 2000, endpoint=False) // 1
    return with_healthy_shared(frame_of(np.where(seconds == 12, 900.0, 5.0), duration=SECONDS))
