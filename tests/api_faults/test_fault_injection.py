"""Faults in a running API: latency by tier, endpoint and method, error rates, lognormal accuracy, no request control.

One API process serves every test here; each test owns the endpoint its rule selects, so the random draws of a rule
are consumed only by its own test and can be regenerated from the seed.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from statistics import median

import numpy as np
import pytest

from trademate_api.fault_plan import Lognormal, random_stream

from .conftest import FaultyApi, start_api

pytestmark = pytest.mark.integration

SEED = 20240601
ENV_RULES = "endpoint=/health latency=lognormal(median=5ms, p99=40ms)"  # rule 1: TRADEMATE_FAULTS comes first
FLAG_RULES = (
    "tier=premium endpoint=/api/v1/portfolio latency=fixed(30ms)",  # rule 2
    "endpoint=/api/v1/orders method=GET latency=uniform(10ms,12ms)",  # rule 3
    "endpoint=/api/v1/watchlist error=0.2",  # rule 4
)
FAST_MS = 5.0  # an unfaulted request takes well under 1 ms: medians are checked, to bear a busy machine's outliers
LOGNORMAL_REQUESTS = 2000


def ms(replies: list) -> list[float]:
    """Server-Timing app durations in ms."""
    return [r.app_ms for r in replies]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    args = [arg for rule in FLAG_RULES for arg in ("--fault", rule)]
    running = start_api(
        tmp_path_factory.mktemp("faults"), *args, "--fault-seed", str(SEED), env={"TRADEMATE_FAULTS": ENV_RULES}
    )
    yield running
    running.stop()


def test_active_rules_are_logged_one_line_each(api: FaultyApi):
    logged = api.stderr_path.read_text()
    assert f"fault injection on: 4 rule(s), seed {SEED}" in logged
    assert "fault rule 1 (TRADEMATE_FAULTS): endpoint=/health latency=lognormal(median=5ms,p99=40ms)" in logged
    assert "fault rule 2 (--fault): tier=premium endpoint=/api/v1/portfolio latency=fixed(30ms)" in logged
    assert "fault rule 4 (--fault): endpoint=/api/v1/watchlist error=0.2 status=503" in logged


def test_fixed_latency_shows_in_client_time_and_server_timing_for_its_tier_only(api: FaultyApi):
    with api.client("ELITE") as premium, api.client("LITE") as shared:
        slow = [premium.get("/api/v1/portfolio") for _ in range(10)]
        fast = [shared.get("/api/v1/portfolio") for _ in range(10)]
    assert all(r.status == 200 for r in slow + fast)
    assert min(ms(slow)) >= 30.0 and median(ms(slow)) < 31.5, ms(slow)
    assert all(r.client_ms >= r.app_ms for r in slow)
    assert max(ms(fast)) < 30.0 and median(ms(fast)) < FAST_MS, ms(fast)


def test_endpoint_selector_is_a_route_template_not_a_prefix(api: FaultyApi):
    with api.client("BLACK") as premium:
        summaries = [premium.get("/api/v1/portfolio/summary") for _ in range(5)]
    assert all(r.status == 200 for r in summaries)
    assert max(ms(summaries)) < 30.0 and median(ms(summaries)) < FAST_MS, ms(summaries)


def test_method_selector_delays_only_that_method(api: FaultyApi):
    order = json.dumps({"symbol": "AAPL", "side": "buy", "quantity": 1}).encode()
    with api.client("PRO") as client:
        reads = [client.get("/api/v1/orders?limit=5") for _ in range(10)]
        writes = [client.request("POST", "/api/v1/orders", body=order) for _ in range(3)]
    assert [r.status for r in reads + writes] == [200] * len(reads) + [201] * len(writes)
    assert min(ms(reads)) >= 10.0 and median(ms(reads)) <= 12.5, ms(reads)
    assert median(ms(writes)) < FAST_MS, ms(writes)


def binomial_interval(n: int, p: float, confidence: float) -> tuple[int, int]:
    """The central `confidence` interval of Binomial(n, p), exactly."""
    tail, cumulative, low = (1.0 - confidence) / 2.0, 0.0, None
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1.0 - p) ** (n - k)
        if low is None and cumulative > tail:
            low = k
        if cumulative >= 1.0 - tail:
            return low, k
    return low, n


def test_error_rate_is_within_its_binomial_interval_and_reproducible_from_the_seed(api: FaultyApi):
    n = 1000
    with api.client("LITE") as shared, api.client("ELITE") as premium:
        replies = [client.get("/api/v1/watchlist") for client in (shared, premium) for _ in range(n // 2)]
    errors = [r for r in replies if r.status != 200]
    low, high = binomial_interval(n, 0.2, 0.999)
    assert low <= len(errors) <= high
    draws = random_stream(SEED, 4, "error")
    assert len(errors) == sum(draws.random() < 0.2 for _ in range(n)), "the same seed gives the same errors"
    assert {r.status for r in errors} == {503}
    assert json.loads(errors[0].body) == {"detail": "injected fault (rule 4)"}
    assert all(r.headers["Server-Timing"].startswith("app;dur=") for r in errors)
    with api.client() as anonymous:
        metrics = anonymous.get("/metrics").body.decode()
    for tier in ("shared", "premium"):
        label = f'trademate_api_requests_total{{endpoint="/api/v1/watchlist",status="503",tier="{tier}"}}'
        assert label in metrics, "injected errors are counted under their route and tier"


def test_no_header_or_query_parameter_reaches_the_faults(api: FaultyApi):
    tricks = {"X-Fault": "error=1 status=500", "X-Faults": "stall=0s+10s", "X-Trademate-Faults": "error=1"}
    with api.client("LITE") as shared, api.client("ELITE") as premium:
        replies = [shared.get("/api/v1/portfolio/summary?fault=error%3D1", headers=tricks) for _ in range(5)]
        held = [premium.get("/api/v1/portfolio?latency=0", headers={"X-Fault": "off"}) for _ in range(3)]
        assert shared.get("/api/v1/faults").status == 404
    assert all(r.status == 200 for r in replies) and median(ms(replies)) < FAST_MS, ms(replies)
    assert all(r.status == 200 and r.app_ms >= 30.0 for r in held), "a start-up rule cannot be switched off"


def _timed_health_requests(api: FaultyApi, count: int, concurrency: int) -> list:
    def worker(share: int) -> list:
        with api.client() as client:
            return [client.get("/health") for _ in range(share)]

    with ThreadPoolExecutor(concurrency) as pool:  # greenlets: the test process is gevent-patched by locust
        return [r for batch in pool.map(worker, [count // concurrency] * concurrency) for r in batch]


def test_lognormal_latency_matches_its_draws_and_its_target(api: FaultyApi):
    replies = _timed_health_requests(api, LOGNORMAL_REQUESTS, concurrency=8)
    assert len(replies) == LOGNORMAL_REQUESTS and all(r.status == 200 for r in replies)
    rng, shape = random_stream(SEED, 1, "latency"), Lognormal(0.005, 0.040)
    intended = np.array([shape.sample(rng) * 1000.0 for _ in range(LOGNORMAL_REQUESTS)])
    served = np.array([r.app_ms for r in replies])
    quantiles = [50, 95, 99]
    want, got = np.percentile(intended, quantiles), np.percentile(served, quantiles)
    # Server-Timing also holds the handler and the timer's wake-up, a lateness added to every request: about
    # +0.2 ms on a quiet machine, +0.8 ms at p50 and p95 alike on a busy one (a CI run failed a 0.6 ms bound so).
    # The shape is checked with that shift, read at the median, taken off, and the shift must stay small; at p99
    # (the 20 slowest of 2000) a busy machine's stalls have added 3.4 ms to 38 ms. A wrong shape is off by tens
    # of percent.
    shift = got[0] - want[0]
    assert shift <= 1.5, f"served {got} for {want}: {shift:+.2f} ms at the median"
    assert np.all(np.abs(got - shift - want) <= np.array([0.0, 0.03, 0.10]) * want + 0.2), f"served {got} for {want}"
    assert np.all(got >= want - 0.05), "a deadline is never served early"
    # The draws themselves: 2000 of them put the sample p99 within about 15% of the true 40 ms (2 sd).
    assert abs(np.percentile(intended, 50) / 5.0 - 1) < 0.06 and abs(np.percentile(intended, 99) / 40.0 - 1) < 0.15
