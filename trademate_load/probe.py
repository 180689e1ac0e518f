"""The SLA validation probe's sending: what one round sends, and sending it.

A light, unpaced client (``requests``, no Locust). One round sends ``iterations`` requests to each endpoint of each
tier (what the suite's users' own request functions in :mod:`trademate_load.traffic` would send), interleaved so
that a disturbance spreads evenly, from one thread or a pool of ``concurrency`` threads with ``requests``. Every
request becomes one sample row with the columns of :mod:`trademate_load.record` (unpaced: ``intended_ts`` equals
``ts``). A target that does not answer ``GET /health`` at all is found before anything else is sent. Tokens live
only in request headers: they never reach samples. Judging the round is :mod:`trademate_load.probe_rounds`' job,
showing it :mod:`trademate_load.probe_console`'s. Nothing here imports locust.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from trademate_load.credentials import Account
from trademate_load.errors import describe_error
from trademate_load.profile import DEFAULT_SYMBOLS
from trademate_load.record import cache_code, server_timing_db_ms
from trademate_load.sla_spec import PLANS_BY_TIER, Sla
from trademate_load.traffic import TIER_REQUESTS, Recorder, Request, endpoint_name

CONNECT_TIMEOUT_S = 5.0
WORKER = "probe"
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
    report_dir: str = ""  # each round kept there as a run directory and added to its history ("": not kept)
    label: str = ""  # RUN_LABEL: the build under test, in the history

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
