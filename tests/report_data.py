"""Synthetic runs for the report's tests: samples spread over a run, its run.json and summary, and readers of the
rendered page (its PNGs, banner and table rows)."""

from __future__ import annotations

import base64
import copy
import re
import struct

import numpy as np
import pandas as pd

from trademate_load.report import charts

START = 1_795_702_502.1
DURATION = 30.0
WARMUP = 6.0
HOST = "http://127.0.0.1:40123"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT_ENDPOINT = "GET /x<script>alert(1)</script>"
TIER_PLANS = {"shared": np.array(["LITE", "PRO"]), "premium": np.array(["ELITE", "BLACK"])}
NO_CHARTS: dict[str, bytes] = {}  # for tests of the page's text: charts passed in (none) are not drawn
ENDPOINTS = np.array(["GET /api/v1/portfolio", "GET /api/v1/market/quotes", "POST /api/v1/orders"])


def make_frame(rows: int = 20_000, *, tiers: tuple[str, ...] = ("shared", "premium"), fail_rate: float = 0.01):
    """Synthetic samples in the sample-record layout, spread over the run, warm-up included."""
    rng = np.random.default_rng(7)
    intended = START + np.sort(rng.random(rows)) * DURATION
    tier = np.array(tiers)[rng.integers(0, len(tiers), rows)]
    ok = rng.random(rows) >= fail_rate
    latency = rng.lognormal(np.log(4.0), 0.5, rows)
    delay_ms = rng.exponential(0.3, rows)
    plan = np.where(tier == "shared", TIER_PLANS["shared"][rows % 2], TIER_PLANS["premium"][rows % 2])
    return pd.DataFrame(
        {
            "ts": intended + delay_ms / 1000,
            "intended_ts": intended,
            "tier": tier,
            "plan": plan,
            "endpoint": ENDPOINTS[rng.integers(0, len(ENDPOINTS), rows)],
            "status": np.where(ok, 200, 503).astype(np.int64),
            "ok": ok,
            "latency_ms": latency,
            "latency_co_ms": latency + delay_ms,
            "bytes": rng.integers(200, 2_000, rows),
            "error": pd.Series(np.where(ok, None, "HTTPError 503"), dtype=object),
            "db_ms": np.where(rng.random(rows) < 0.2, rng.random(rows) * 3, np.nan),
            "cache": pd.Series(np.where(rng.random(rows) < 0.97, "hit", "miss"), dtype=object),
            "worker": "local",
        }
    )


def empty_frame() -> pd.DataFrame:
    """A frame with the sample columns and no rows."""
    return make_frame(10).iloc[0:0]


def make_run(**changes) -> dict:
    """run.json content for a two-tier run."""
    run = {
        "run_id": "20261126-141502-mixed",
        "profile": "mixed",
        "host": HOST,
        "started_at": "2026-11-26T14:15:02+00:00",
        "ended_at": "2026-11-26T14:15:32+00:00",
        "started_ts": START,
        "ended_ts": START + DURATION + 0.3,
        "warmup_s": WARMUP,
        "exit_code": 1,
        "interrupted": False,
        "versions": {"suite": "0.1.0", "locust": "2.47.0", "python": "3.11.7"},
        "latency_basis": "corrected",
        "settings": {
            "run_time_s": DURATION,
            "spawn_rate": 50,
            "tiers": {
                "shared": {"users": 100, "rps": 1000, "plans": {"LITE": 1, "PRO": 1}},
                "premium": {"users": 50, "rps": 500, "plans": {"ELITE": 3, "BLACK": 1}},
            },
        },
        "sla": {
            "shared": {"p95_ms": 100, "p99_ms": 200, "mean_ms": 50, "success_rate": 0.999, "error_rate": 0.01},
            "premium": {"p95_ms": 50, "p99_ms": 100, "mean_ms": 25, "success_rate": 0.9995, "error_rate": 0.01},
        },
    }
    run.update(changes)
    return run


def tier_summary(requests: int, rps: float, target: int, *, basis: str = "corrected") -> dict:
    """One tier's summary.json entry, with a passed, a failed and a not-measured check."""
    return {
        "requests": requests,
        "failures": 37,
        "rps": rps,
        "target_rps": target,
        "latency_ms": {"mean": 4.1, "p50": 3.2, "p95": 9.8, "p99": 17.25, "max": 80.2},
        "service_latency_ms": {"mean": 4.0, "p50": 3.1, "p95": 9.5, "p99": 16.75, "max": 80.0},
        "success_rate": 0.9963,
        "sla_compliance": 0.998,
        "db_ms_p95": 1.9,
        "cache_hit_rate": None,
        "latency_basis": basis,
        "missed_schedule": 4,
        "error_budget": {"allowed": requests * 0.0005, "failures": 37, "burned": 37 / (requests * 0.0005), "left": 0.0},
        "uptime": {
            "ratio": 0.8,
            "required": 0.999,
            "window_s": 5.0,
            "min_requests": 101,
            "judged_s": 24.3,
            "down_s": 5.0,
            "unjudged_s": 0.0,
            "timeline": "UDUUU",
            "down": [
                {
                    "start": "2026-11-26T14:15:13.000+00:00",
                    "end": "2026-11-26T14:15:18.000+00:00",
                    "start_s": 11.0,
                    "end_s": 16.0,
                    "cause": "p95 812.3 ms (limit < 50 ms)",
                    "windows": 1,
                }
            ],
        },
        "checks": [
            {
                "name": "p95_ms",
                "op": "<",
                "limit": 50,
                "actual": 9.8,
                "passed": True,
                "status": "passed",
                "ci95": [9.1, 10.4],
            },
            {
                "name": "success_rate",
                "op": ">=",
                "limit": 0.9995,
                "actual": 0.9963,
                "passed": False,
                "status": "failed",
            },
            {
                "name": "cache_hit_rate",
                "op": ">=",
                "limit": 0.95,
                "actual": None,
                "passed": None,
                "status": "not_measured",
            },
        ],
    }


def make_summary(verdict: str = "fail", *, basis: str = "corrected") -> dict:
    """summary.json content matching make_run, with a hostile endpoint name and error text."""
    premium = tier_summary(6_679, 498.7, 500, basis=basis)
    premium["checks"].append(
        {"name": "p95_ms", "op": "<", "limit": 30, "actual": 8.0, "passed": True, "status": "passed"}
        | {"endpoint": SCRIPT_ENDPOINT}
    )
    return {
        "schema": "trademate-load/summary/1",
        "run_id": "20261126-141502-mixed",
        "profile": "mixed",
        "host": HOST,
        "started_at": "2026-11-26T14:15:02+00:00",
        "duration_s": 24.3,
        "verdict": verdict,
        "exit_code": {"pass": 0, "fail": 1}.get(verdict, 3),
        "reason": {"pass": "every SLA met", "fail": "breached: premium success_rate"}.get(verdict, "no samples"),
        "tiers": {
            "shared": tier_summary(13_321, 996.1, 1000, basis=basis),
            "premium": premium,
        },
        "endpoints": [
            {
                "tier": "premium",
                "name": SCRIPT_ENDPOINT,
                "requests": 7_512,
                "failures": 11,
                "latency_ms": {"mean": 3.0, "p50": 2.1, "p95": 8.0, "p99": 15.5, "max": 1234.5},
            }
        ],
        "errors": [
            {"tier": "premium", "endpoint": SCRIPT_ENDPOINT, "status": 503, "error": "<script>x</script>", "count": 3}
        ],
    }


def png_width(data: bytes) -> int:
    """Width from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">I", data[16:20])[0]


def png_height(data: bytes) -> int:
    png_width(data)  # checks the header
    return struct.unpack(">I", data[20:24])[0]


def image_tags(html: str) -> list[str]:
    """Every <img ...> tag of the page."""
    return re.findall(r"<img\b[^>]*>", html)


def embedded_png(tag: str) -> bytes:
    """Decoded PNG bytes of an <img> tag whose src is a base64 PNG data URI."""
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
    assert match, tag[:120]
    return base64.b64decode(match.group(1), validate=True)


def banner_label(html: str) -> str:
    """The verdict text of the banner."""
    match = re.search(r'<header class="banner (\w+)">.*?<span class="verdict">([^<]+)</span>', html, re.S)
    assert match
    return match.group(2)


def table_row(html: str, text: str) -> str:
    """The first table row containing text."""
    match = re.search(r"<tr\b[^>]*>(?:(?!</tr>).)*?" + re.escape(text) + r".*?</tr>", html, re.S)
    assert match, text
    return match.group(0)


FULL_WIDTH = charts.FIGSIZE[0] * charts.DPI
HALF_WIDTH = charts.HALF_FIGSIZE[0] * charts.DPI


def tier_chart_names(*tiers: str) -> set[str]:
    return {charts.chart_name(tier, kind) for tier in tiers for kind in charts.CHART_KINDS}


def baseline_summaries() -> tuple[dict, dict]:
    """A current summary and a baseline it regressed from (premium p95 +50% and +5 ms)."""
    current = make_summary("pass")
    baseline = copy.deepcopy(current)
    baseline["run_id"] = "20261120-090000-mixed"
    baseline["tiers"]["premium"]["latency_ms"] = {**current["tiers"]["premium"]["latency_ms"], "p95": 4.8}
    for summary in (current, baseline):  # tight 95% intervals (±2%), as many samples give
        for tier in summary["tiers"].values():
            latency = tier["latency_ms"]
            tier["ci95"] = {f"{k}_ms": [latency[k] * 0.98, latency[k] * 1.02] for k in ("mean", "p50", "p95", "p99")}
    return current, baseline


def stepped_summary() -> dict:
    """make_summary with a scalability section of two tiers over five steps."""
    steps = []
    for i, (pct, p95) in enumerate(((25, 2.0), (50, 2.1), (75, 2.3), (100, 2.6), (125, 9.5))):
        steps.append(
            {
                "step": i + 1,
                "users": pct // 2,
                "offered_rps": pct * 5.0,
                "load_pct": float(pct),
                "achieved_rps": pct * 5.0 * (0.99 if pct <= 100 else 0.85),
                "ratio": 0.99 if pct <= 100 else 0.85,
                "requests": 1000,
                "failures": 0,
                "latency_ms": {"p50": p95 / 2, "p95": p95, "p99": p95 * 2},
            }
        )
    tier = {
        "target_rps": 500.0,
        "per_user_rps": 10.0,
        "p95_limit_ms": 50,
        "steps": steps,
        "linear": True,
        "shortfall_step": None,
        "bend_step": 5,
        "throughput": "throughput stayed linear up to the target",
        "latency": "latency bends at step 5 (125% of target, 531 req/s achieved): p95 9.50 ms against 2.00 ms",
    }
    summary = make_summary("pass")
    summary["scalability"] = {
        "settle_s": 2.0,
        "linear_ratio": 0.95,
        "bend_factor": 1.5,
        "latency_basis": "corrected",
        "steps": [],
        "tiers": {"premium": tier, "shared": copy.deepcopy(tier)},
    }
    return summary
