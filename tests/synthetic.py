"""Synthetic sample frames with known answers, for tests of the SLA engine and the renderers."""

import numpy as np
import pandas as pd

from trademate_load.frame import normalize
from trademate_load.profile import TierLoad
from trademate_load.record import COLUMNS, corrected_latency
from trademate_load.sla_spec import Sla, TierSla

PREMIUM = TierSla(
    p95_ms=50,
    p99_ms=100,
    mean_ms=25,
    db_ms=20,
    success_rate=0.9995,
    compliance=0.95,
    error_rate=0.01,
    cache_hit_rate=0.95,
)
SLA = Sla(tiers={"premium": PREMIUM, "shared": TierSla(p95_ms=100, p99_ms=200)})
LOADS = {"premium": TierLoad(users=50, rps=500, plans={"ELITE": 1})}
T0 = 1_800_000_000.0


def frame_of(
    latency,
    *,
    tier="premium",
    ok=None,
    start=T0,
    duration=10.0,
    late_s=None,
    db=None,
    cache=None,
    endpoint="GET /api/v1/portfolio",
    status=None,
):
    n = len(latency)
    latency = np.asarray(latency, dtype=float)
    ts = start + np.linspace(0, duration, n, endpoint=False)
    intended = ts - (np.zeros(n) if late_s is None else np.asarray(late_s))
    ok = np.ones(n, dtype=bool) if ok is None else np.asarray(ok)
    status = np.where(ok, 200, 500) if status is None else np.asarray(status)
    data = {
        "ts": ts,
        "intended_ts": intended,
        "tier": [tier] * n,
        "plan": ["ELITE"] * n,
        "endpoint": [endpoint] * n,
        "status": status,
        "ok": ok,
        "latency_ms": latency,
        "latency_co_ms": corrected_latency(ts, intended, latency),
        "bytes": np.full(n, 900),
        "error": [None if o else "HTTPError: 500" for o in ok],
        "db_ms": np.full(n, np.nan) if db is None else np.asarray(db, dtype=float),
        "cache": [None] * n if cache is None else list(cache),
        "worker": ["local"] * n,
    }
    return normalize(pd.DataFrame(data, columns=list(COLUMNS)))


def write_synthetic_run(run_dir, latency_ms, *, profile="premium", seconds=60.0):
    """A real run directory (samples.parquet, run.json and every report) for premium samples ``latency_ms``."""
    from trademate_load.formatting import iso
    from trademate_load.profile import load_profile
    from trademate_load.rundir import write_run

    loaded = load_profile(profile)
    frame = frame_of(latency_ms, duration=seconds, cache=["hit"] * len(latency_ms), db=np.full(len(latency_ms), 0.2))
    run = {
        "run_id": run_dir.name,
        "profile": loaded.name,
        "host": "http://127.0.0.1:1",
        "started_at": iso(T0),
        "ended_at": iso(T0 + seconds),
        "started_ts": T0,
        "ended_ts": T0 + seconds,
        "warmup_s": 0.0,
        "interrupted": False,
        "exit_code": None,
        "samples": len(frame),
        "latency_basis": loaded.latency,
        "versions": {},
        "settings": loaded.settings(),
        "sla": {tier: vars(limits) for tier, limits in loaded.sla.tiers.items()},
        "sla_endpoints": {},
    }
    run_dir.mkdir(parents=True)
    return write_run(run_dir, frame, run)
