"""The SLA validation probe's judging and recording: a round judged, its JSON, and the history of rounds.

A round's samples (:mod:`trademate_load.probe`) are judged by the suite's own path,
:func:`trademate_load.rundir.judge` (``sla.evaluate`` on the frame, then ``build_summary``), on service time. Each
endpoint is also held to its tier's thresholds (p95, p99, mean, success rate) unless the SLA file overrides that
endpoint, so the verdict says which endpoint broke.

A probe is small, so the engine's intervals often leave p99 and the success rate ``inconclusive``: like
the suite, that is exit 0 unless strict. A round whose target does not answer ``GET /health`` at all is
``no_data`` (exit 3) without sending anything else. Over several rounds the JSON keeps each round's verdict and
each tier's state, uptime over the rounds and the exit code of them all. Tokens never reach the result. Nothing
here imports locust.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from trademate_load import history_publish
from trademate_load.credentials import Account
from trademate_load.formatting import iso
from trademate_load.frame import normalize
from trademate_load.history_rows import PROBE
from trademate_load.probe import ProbeSettings, plan_jobs, send_all, unreachable
from trademate_load.profile import TierLoad
from trademate_load.record import COLUMNS
from trademate_load.rundir import judge, new_run_dir, write_json
from trademate_load.runinfo import RunInfo, write_run_json
from trademate_load.sla_spec import ENDPOINT_METRICS, Sla
from trademate_load.store import write_parquet
from trademate_load.uptime import DOWN, UNJUDGED, UP
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS

SCHEMA = "trademate-load/probe/1"
HISTORY_KEPT = 1000  # rounds listed in the JSON (the exit code counts them all)


def endpoint_sla(sla: Sla, settings: ProbeSettings, tiers: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per-endpoint limits: every probed endpoint gets its tier's p95/p99/mean/success limits, and the SLA file's
    own per-endpoint overrides win."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for tier in tiers:
        limits = {m: v for m, v in asdict(sla.tiers[tier]).items() if m in ENDPOINT_METRICS and v is not None}
        own = sla.endpoints.get(tier, {})
        out[tier] = {name: {**limits, **own.get(name, {})} for name in settings.endpoints(tier)}
        out[tier].update({name: dict(v) for name, v in own.items() if name not in out[tier]})
    return out


def run_record(
    settings: ProbeSettings,
    sla: Sla,
    accounts: dict[str, list[Account]],
    started: float,
    ended: float,
    run_id: str = "",
) -> RunInfo:
    """The run.json ``rundir.judge`` reads for one probe round."""
    return RunInfo(
        run_id=run_id or f"probe-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))}",
        profile=PROBE,
        label=settings.label,
        host=settings.host,
        started_at=iso(started),
        started_ts=started,
        ended_ts=ended,
        warmup_s=0.0,
        latency_basis="service",  # unpaced: corrected latency equals service time
        sla={tier: asdict(sla.tiers[tier]) for tier in accounts},
        sla_endpoints=endpoint_sla(sla, settings, list(accounts)),
        settings={
            "tiers": {
                # rps only sets the pacing period (for missed_schedule, always 0 unpaced); it is not a target here
                tier: asdict(TierLoad(users=settings.concurrency, rps=1.0, plans={a.plan: 1 for a in accts}))
                for tier, accts in accounts.items()
            },
            "strict": settings.strict,
            "unpaced": True,  # no schedule: uptime judges the requests sent
        },
    )


def measure(settings: ProbeSettings, sla: Sla, accounts: dict[str, list[Account]], round_no: int = 1):
    """One probe round: send, judge with the suite's engine, return the result (see :func:`result`)."""
    started = time.time()
    reason = unreachable(settings)
    if reason is not None:
        return no_data(settings, round_no, started, reason)
    jobs = plan_jobs(settings, accounts, random.Random())
    rows = send_all(settings, jobs)
    ended = time.time()
    frame = normalize(pd.DataFrame(rows, columns=list(COLUMNS)))
    run_dir = new_run_dir(Path(settings.report_dir), PROBE, started) if settings.report_dir else None
    run = run_record(settings, sla, accounts, started, ended, run_id=run_dir.name if run_dir else "")
    summary = judge(frame, run)
    if run_dir is not None:
        keep(run_dir, frame, run, summary)
    return result(summary, settings, round_no)


def keep(run_dir: Path, frame: pd.DataFrame, run: RunInfo, summary: dict[str, Any]) -> None:
    """A round as a run directory (its samples, run.json and summary.json; no page), added to the history."""
    write_parquet(frame, run_dir / "samples.parquet")
    run.exit_code = summary["exit_code"]
    write_run_json(run_dir / "run.json", run)
    write_json(run_dir / "summary.json", summary)
    history_publish.after_run(run_dir, summary, run.to_json())


def _status(checks: list[dict[str, Any]]) -> str:
    statuses = {c["status"] for c in checks}
    if "failed" in statuses:
        return "fail"
    return "inconclusive" if "inconclusive" in statuses else "pass"


def _header(settings: ProbeSettings, round_no: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "round": round_no,
        "host": settings.host,
        "iterations": settings.iterations,
        "concurrency": settings.concurrency,
        "read_only": settings.read_only,
        "strict": settings.strict,
        "sla_file": settings.sla_path,
        "latency_basis": "service",
    }


def no_data(settings: ProbeSettings, round_no: int, started: float, reason: str) -> dict[str, Any]:
    """The result of a round that could not measure."""
    head = {"started_at": iso(started), "duration_s": round(time.time() - started, 3)}
    verdict = {"verdict": "no_data", "exit_code": EXIT_NO_DATA, "reason": reason, "tiers": {}, "errors": []}
    return {**_header(settings, round_no), **head, **verdict}


def result(summary: dict[str, Any], settings: ProbeSettings, round_no: int) -> dict[str, Any]:
    """The probe's JSON for one round, from the suite's summary: per tier and per endpoint the figures, the
    checks and their verdict."""
    tiers = {}
    for tier, figures in summary["tiers"].items():
        own = [c for c in figures["checks"] if not c.get("endpoint")]
        endpoints = {}
        for e in (e for e in summary["endpoints"] if e["tier"] == tier):
            checks = [c for c in figures["checks"] if c.get("endpoint") == e["name"]]
            success = (e["requests"] - e["failures"]) / e["requests"] if e["requests"] else None
            endpoints[e["name"]] = {
                "requests": e["requests"],
                "failures": e["failures"],
                "latency_ms": e["latency_ms"],
                "success_rate": None if success is None else round(success, 6),
                "verdict": _status(checks),
                "checks": checks,
            }
        tiers[tier] = {
            **{k: figures[k] for k in ("requests", "failures", "rps", "latency_ms", "success_rate")},
            **{k: figures[k] for k in ("sla_compliance", "db_ms_p95", "cache_hit_rate", "uptime")},
            "verdict": _status(own),
            "checks": own,
            "endpoints": endpoints,
        }
    return {
        **_header(settings, round_no),
        "started_at": summary["started_at"],
        "duration_s": summary["duration_s"],
        "verdict": summary["verdict"],
        "exit_code": summary["exit_code"],
        "reason": summary["reason"],
        "tiers": tiers,
        "errors": summary["errors"],
    }


def rounds(
    settings: ProbeSettings, sla: Sla, accounts: dict[str, list[Account]], interval_s: float, count: int | None
) -> Iterator[dict[str, Any]]:
    """Each round's result: ``count`` rounds (None: until interrupted), one starting every ``interval_s`` seconds
    (or as soon as the previous one ends, when it took longer)."""
    for round_no in itertools.count(1):
        started = time.monotonic()
        yield measure(settings, sla, accounts, round_no)
        if count is not None and round_no >= count:
            return
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def round_states(res: dict[str, Any], tiers: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per tier, whether a round found it up, down (any window of the round down, or the target did not answer
    at all) or could not judge it (too few requests in its windows), and why it was down."""
    states = {}
    for tier in tiers:
        uptime = (res.get("tiers") or {}).get(tier, {}).get("uptime")
        if res["verdict"] == "no_data" or uptime is None:
            states[tier] = {"state": DOWN, "cause": res.get("reason") or "no answer"}
        elif uptime["down"]:
            states[tier] = {"state": DOWN, "cause": "; ".join(d["cause"] for d in uptime["down"])}
        else:
            states[tier] = {"state": UP if uptime["ratio"] is not None else UNJUDGED, "cause": ""}
    return states


def uptime_over_rounds(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per tier, the share of judged rounds that found it up, and the rounds that found it down."""
    out: dict[str, dict[str, Any]] = {}
    for entry in history:
        for tier, found in entry["tiers"].items():
            tally = out.setdefault(tier, {"rounds": 0, UP: 0, DOWN: 0, UNJUDGED: 0, "down_rounds": []})
            tally["rounds"] += 1
            tally[found["state"]] += 1
            if found["state"] == DOWN:
                tally["down_rounds"].append({"round": entry["round"], "started_at": entry["started_at"], **found})
    for tally in out.values():
        judged = tally[UP] + tally[DOWN]
        tally["ratio"] = round(tally[UP] / judged, 6) if judged else None
        tally["down_rounds"] = tally["down_rounds"][-HISTORY_KEPT:]
    return out


def with_history(res: dict[str, Any], history: list[dict[str, Any]], tiers: Sequence[str]) -> dict[str, Any]:
    """The JSON written after a round: that round's result, the verdict and each tier's state of every round so
    far, uptime over the rounds, and the exit code of them all (:func:`overall_exit`)."""
    entry = {k: res[k] for k in ("round", "started_at", "verdict", "exit_code")}
    history.append({**entry, "tiers": round_states(res, tiers)})
    overall = overall_exit([h["exit_code"] for h in history])
    return {
        **res,
        "overall_exit_code": overall,
        "rounds": len(history),
        "uptime_over_rounds": uptime_over_rounds(history),
        "history": history[-HISTORY_KEPT:],
    }


def overall_exit(codes: Sequence[int]) -> int:
    """The exit code of several rounds: 1 if any breached, else 3 if any could not measure, else 0."""
    if EXIT_BREACH in codes:
        return EXIT_BREACH
    return EXIT_NO_DATA if EXIT_NO_DATA in codes or not codes else EXIT_PASS
