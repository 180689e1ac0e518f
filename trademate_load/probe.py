"""The SLA validation probe: a light, unpaced client that measures each tier's endpoints and judges them.

One round sends ``iterations`` requests to each endpoint of each tier (what the suite's users' own request
functions in :mod:`trademate_load.traffic` would send), interleaved so that a disturbance spreads evenly,
from one thread or a pool of ``concurrency`` threads with ``requests``. Every request becomes one sample row
with the columns of :mod:`trademate_load.record` (unpaced: ``intended_ts`` equals ``ts``), and the round
is judged by the suite's own path, :func:`trademate_load.rundir.judge` (``sla.evaluate`` on the frame,
then ``build_summary``), on service time. Each endpoint is also held to its tier's thresholds (p95, p99,
mean, success rate) unless the SLA file overrides that endpoint, so the verdict says which endpoint broke.

A probe is small, so the engine's intervals often leave p99 and the success rate ``inconclusive``: like
the suite, that is exit 0 unless strict. A round whose target does not answer ``GET /health`` at all is
``no_data`` (exit 3) without sending anything else. Tokens live only in request headers: they never
reach samples, the result or the table. Nothing here imports locust.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import requests

from trademate_load.credentials import Account
from trademate_load.errors import describe_error
from trademate_load.formatting import by_unit, fixed, percent
from trademate_load.frame import normalize
from trademate_load.profile import DEFAULT_SYMBOLS, TierLoad
from trademate_load.record import COLUMNS, cache_code, server_timing_db_ms
from trademate_load.report.console import verdict_line
from trademate_load.report.summary import iso
from trademate_load.rundir import judge
from trademate_load.runinfo import RunInfo
from trademate_load.sla_spec import ENDPOINT_METRICS, PLANS_BY_TIER, Sla
from trademate_load.traffic import TIER_REQUESTS, Recorder, Request, endpoint_name
from trademate_load.uptime import DOWN, UNJUDGED, UP
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS

SCHEMA = "trademate-load/probe/1"
CONNECT_TIMEOUT_S = 5.0
WORKER = "probe"
HISTORY_KEPT = 1000  # rounds listed in the JSON (the exit code counts them all)
CACHE_NAMES = {1: "hit", 0: "miss", -1: None}

TIER_ENDPOINTS: dict[str, dict[str, Request]] = {  # per tier, endpoint name -> the users' request function
    tier: {endpoint_name(request): request for request in mix} for tier, mix in TIER_REQUESTS.items()
}


@dataclass(frozen=True)
class ProbeSettings:
    """What one probe measures and how it judges it."""

    host: str
    iterations: int
    concurrency: int = 1
    timeout_s: float = 10.0
    read_only: bool = False
    strict: bool = False
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    sla_path: str = ""

    def endpoints(self, tier: str) -> tuple[str, ...]:
        names = tuple(TIER_ENDPOINTS[tier])
        return tuple(n for n in names if n.startswith("GET ")) if self.read_only else names


@dataclass(frozen=True)
class Job:
    """One request to send: its tier, endpoint name, account and request shape."""

    tier: str
    endpoint: str
    account: Account
    method: str
    path: str
    body: dict | None


def tier_accounts(accounts: dict[str, list[Account]], sla: Sla) -> dict[str, list[Account]]:
    """Per tier the SLA file judges, its accounts with plans interleaved (LITE, PRO, LITE, ...); tiers without any
    account are left out."""
    tiers = {}
    for tier in sla.tiers:
        by_plan = [accounts.get(plan, []) for plan in PLANS_BY_TIER[tier]]
        mixed = [a for group in _interleave(by_plan) for a in group]
        if mixed:
            tiers[tier] = mixed
    return tiers


def _interleave(groups: list[list[Account]]) -> Iterator[list[Account]]:
    for i in range(max((len(g) for g in groups), default=0)):
        yield [g[i] for g in groups if i < len(g)]


def plan_jobs(settings: ProbeSettings, accounts: dict[str, list[Account]], rng: random.Random) -> list[Job]:
    """``iterations`` requests per tier and endpoint, interleaved; accounts taken in turn."""
    jobs = []
    turns = {tier: itertools.cycle(tier_list) for tier, tier_list in accounts.items()}
    for _ in range(settings.iterations):
        for tier in accounts:
            for endpoint in settings.endpoints(tier):
                recorder = Recorder(rng, settings.symbols)
                TIER_ENDPOINTS[tier][endpoint](recorder)
                ((method, path, body, _name),) = recorder.sent
                jobs.append(Job(tier, endpoint, next(turns[tier]), method, path, body))
    return jobs


def send(session: requests.Session, settings: ProbeSettings, job: Job) -> dict[str, Any]:
    """Send one request and return its sample row (no token in it: the token goes only into the header)."""
    headers = {"Authorization": f"Bearer {job.account.token}", "X-User-Tier": job.tier}
    ts = time.time()
    started = time.perf_counter()
    status, nbytes, error, db_ms, cache = 0, 0, None, float("nan"), None
    try:
        response = session.request(
            job.method,
            settings.host + job.path,
            json=job.body,
            headers=headers,
            timeout=(min(CONNECT_TIMEOUT_S, settings.timeout_s), settings.timeout_s),
        )
        status, nbytes = response.status_code, len(response.content)
        db_ms = server_timing_db_ms(response.headers.get("server-timing"))
        cache = CACHE_NAMES[cache_code(response.headers.get("x-cache"))]
        if status >= 400:
            error = f"HTTP {status}"
    except requests.RequestException as exc:
        error = describe_error(exc)
    latency_ms = (time.perf_counter() - started) * 1000.0
    return {
        "ts": ts,
        "intended_ts": ts,
        "tier": job.tier,
        "plan": job.account.plan,
        "endpoint": job.endpoint,
        "status": status,
        "ok": error is None,
        "latency_ms": latency_ms,
        "latency_co_ms": latency_ms,
        "bytes": nbytes,
        "error": error,
        "db_ms": db_ms,
        "cache": cache,
        "worker": WORKER,
    }


def send_all(settings: ProbeSettings, jobs: list[Job]) -> list[dict[str, Any]]:
    """Every job's sample: in order from one session, or from ``concurrency`` threads with a session each."""
    if settings.concurrency <= 1:
        with requests.Session() as session:
            return [send(session, settings, job) for job in jobs]
    local = threading.local()
    sessions: list[requests.Session] = []

    def one(job: Job) -> dict[str, Any]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        return send(local.session, settings, job)

    pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="probe")
    try:
        return list(pool.map(one, jobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for session in sessions:
            session.close()


def unreachable(settings: ProbeSettings) -> str | None:
    """Why the target cannot be measured (no HTTP answer to ``GET /health``), or None when it answers."""
    try:
        requests.get(
            settings.host + "/health", timeout=(min(CONNECT_TIMEOUT_S, settings.timeout_s), settings.timeout_s)
        )
    except requests.RequestException as exc:
        return f"{settings.host} did not answer GET /health: {describe_error(exc)}"
    return None


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
    settings: ProbeSettings, sla: Sla, accounts: dict[str, list[Account]], started: float, ended: float
) -> RunInfo:
    """The run.json ``rundir.judge`` reads for one probe round."""
    return RunInfo(
        run_id=f"probe-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))}",
        profile="probe",
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
    return result(judge(frame, run_record(settings, sla, accounts, started, ended)), settings, round_no)


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


def rounds_line(history: list[dict[str, Any]]) -> str:
    """``12 rounds: 11 inconclusive, 1 fail; uptime over the rounds: premium 91.667% (11 of 12 up); exit 1``: the
    last line of a probe of several rounds."""
    tally = Counter(h["verdict"] for h in history)
    verdicts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items()))
    uptime = ", ".join(
        f"{tier} {_share(u['ratio'])} ({u[UP]} of {u[UP] + u[DOWN]} up)"
        for tier, u in uptime_over_rounds(history).items()
    )
    code = overall_exit([h["exit_code"] for h in history])
    return f"{len(history)} rounds: {verdicts}; uptime over the rounds: {uptime}; exit {code}"


def _share(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.3f}%"


def overall_exit(codes: Sequence[int]) -> int:
    """The exit code of several rounds: 1 if any breached, else 3 if any could not measure, else 0."""
    if EXIT_BREACH in codes:
        return EXIT_BREACH
    return EXIT_NO_DATA if EXIT_NO_DATA in codes or not codes else EXIT_PASS


# --- the compact console table ---------------------------------------------------------------------------------

_SHOWN = {"passed": "pass", "failed": "FAIL", "inconclusive": "inconclusive", "not_measured": "not measured"}
_RATES = ("success_rate", "sla_compliance", "error_rate", "cache_hit_rate")


def _figure(name: str, value: float | None) -> str:
    return by_unit(value, "%" if name in _RATES else "ms", pct_decimals=2)


def _verdict_cell(verdict: str, checks: list[dict[str, Any]]) -> str:
    """``pass``, ``FAIL p95_ms 81.20 ms (< 50)``, ``inconclusive: p99_ms, success_rate``."""
    failed = [c for c in checks if c["status"] == "failed"]
    if failed:
        return "FAIL " + ", ".join(
            f"{c['name']} {_figure(c['name'], c['actual'])} ({c['op']} {c['limit']:g})" for c in failed
        )
    if verdict == "inconclusive":
        return "inconclusive: " + ", ".join(c["name"] for c in checks if c["status"] == "inconclusive")
    return _SHOWN["passed"]


def _row(tier: str, name: str, figures: dict[str, Any]) -> str:
    lat = figures["latency_ms"]
    success = percent(figures["success_rate"], 2)
    cells = [fixed(lat[k]) for k in ("mean", "p50", "p95", "p99", "max")]
    return (
        f"{tier:<8} {name:<34} {figures['requests']:>5} {figures['failures']:>5} "
        + " ".join(f"{c:>7}" for c in cells)
        + f" {success:>8}  {_verdict_cell(figures['verdict'], figures['checks'])}"
    )


def render_table(res: dict[str, Any]) -> str:
    """The round as a compact table: one row per tier (all its endpoints) and per endpoint, then the verdict."""
    lines = [
        f"SLA probe round {res['round']} of {res['host']} at {res['started_at']}: {res['iterations']} requests per "
        f"tier and endpoint, concurrency {res['concurrency']}, {res['duration_s']:.1f} s (latency: service time, ms)"
    ]
    if res.get("tiers"):
        header = (
            f"{'tier':<8} {'endpoint':<34} {'reqs':>5} {'fails':>5} "
            + " ".join(f"{h:>7}" for h in ("mean", "p50", "p95", "p99", "max"))
            + f" {'success':>8}  result"
        )
        lines += [header, "-" * len(header)]
        for tier, figures in res["tiers"].items():
            lines.append(_row(tier, "(all endpoints)", figures))
            lines += [_row(tier, name, e) for name, e in figures["endpoints"].items()]
            unmeasured = [c["name"] for c in figures["checks"] if c["status"] == "not_measured"]
            if unmeasured:
                lines.append(f"{'':<8} not reported by the target, not judged: {', '.join(unmeasured)}")
    counts: dict[str, int] = {}
    for figures in (res.get("tiers") or {}).values():
        for check in figures["checks"] + [c for e in figures["endpoints"].values() for c in e["checks"]]:
            counts[check["status"]] = counts.get(check["status"], 0) + 1
    tally = ", ".join(f"{n} {_SHOWN[s]}" for s, n in sorted(counts.items()))
    if res["verdict"] == "no_data":
        lines.append(f"Verdict: NO DATA: {res['reason']}")
    else:
        note = ""
        if counts.get("inconclusive"):
            strict = "strict: counted as a breach" if res["strict"] else "not strict: not counted as a breach"
            note = f" (inconclusive: too few samples to decide; {strict})"
        lines.append(f"Verdict: {res['verdict'].upper()}: checks {tally}{note}")
    lines.append(verdict_line(res["exit_code"], res["verdict"]))
    return "\n".join(lines)
