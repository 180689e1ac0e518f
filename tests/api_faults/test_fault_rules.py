"""The fault rule grammar, table-driven, and the pure decisions: which rules select a request, samplers, stalls."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest

from trademate_api.fault_injection import FaultInjector
from trademate_api.fault_plan import FaultPlan, Lognormal, Uniform
from trademate_api.faults import FaultSpecError, load_plan, parse_rule, parse_rules

GOOD = [
    ("latency=fixed(5ms)", "endpoint=/api/* latency=fixed(5ms)"),
    ("latency=uniform(1ms,4ms)", "endpoint=/api/* latency=uniform(1ms,4ms)"),
    ("latency=uniform(high=4ms, low=250us)", "endpoint=/api/* latency=uniform(250us,4ms)"),
    ("latency=lognormal(median=5ms, p99=40ms)", "endpoint=/api/* latency=lognormal(median=5ms,p99=40ms)"),
    ("latency=lognormal(0.005s,0.04s)", "endpoint=/api/* latency=lognormal(median=5ms,p99=40ms)"),
    ("error=0.005", "endpoint=/api/* error=0.005 status=503"),
    ("error=0.5% status=429", "endpoint=/api/* error=0.005 status=429"),
    ("stall=40s+2s", "endpoint=/api/* stall=40s+2s"),
    (
        "  tier=premium   endpoint=/api/v1/portfolio method=get latency=fixed(1.5ms) error=1 stall=0s+500ms ",
        "tier=premium endpoint=/api/v1/portfolio method=GET latency=fixed(1.5ms) error=1 status=503 stall=0ms+500ms",
    ),
    (
        "endpoint=/api/v1/market/quotes/{symbol} latency=fixed(0ms)",
        "endpoint=/api/v1/market/quotes/{symbol} latency=fixed(0ms)",
    ),
    ("endpoint=/* stall=1s+1s", "endpoint=/* stall=1s+1s"),
]

BAD = [
    ("latency=fixed(5)", "latency=fixed(5)", "bad duration '5'"),
    ("latency=normal(5ms)", "latency=normal(5ms)", "expected fixed(D), uniform(LOW,HIGH) or lognormal"),
    ("latency=lognormal(median=5ms)", "latency=lognormal(median=5ms)", "lognormal(median,p99) takes 2"),
    ("latency=lognormal(median=40ms,p99=5ms)", "latency=lognormal(median=40ms,p99=5ms)", "0 < median < p99"),
    ("latency=uniform(4ms,1ms)", "latency=uniform(4ms,1ms)", "low <= high"),
    ("error=1.5", "error=1.5", "expected a rate in (0, 1]"),
    ("error=0", "error=0", "expected a rate in (0, 1]"),
    ("error=0.1 status=200", "status=200", "from 400 to 599"),
    ("latency=fixed(1ms) status=503", "status=503", "needs error="),
    ("stall=40s", "stall=40s", "START+DURATION"),
    ("stall=1s+0s", "stall=1s+0s", "above zero"),
    ("tier=gold error=0.1", "tier=gold", "tier must be one of shared, premium"),
    ("endpoint=api/v1 error=0.1", "endpoint=api/v1", "expected a path"),
    ("endpoint=/api/*/x error=0.1", "endpoint=/api/*/x", "expected a path"),
    ("method=G3T error=0.1", "method=G3T", "HTTP method"),
    ("colour=red error=0.1", "colour=red", "unknown key 'colour'"),
    ("error=0.1 error=0.2", "error=0.2", "given twice"),
    ("latency", "latency", "expected key=value"),
    ("tier=shared", "tier=shared", "a rule needs an effect"),
]


@pytest.mark.parametrize(("text", "canonical"), GOOD, ids=[text.strip() for text, _ in GOOD])
def test_good_rules_parse_to_their_canonical_form(text, canonical):
    rule = parse_rule(text.strip(), "--fault")
    assert str(rule) == canonical
    assert parse_rule(canonical, "--fault") == rule


@pytest.mark.parametrize(("text", "token", "reason"), BAD, ids=[text for text, _, _ in BAD])
def test_bad_rules_name_the_source_the_token_and_the_reason(text, token, reason):
    with pytest.raises(FaultSpecError) as caught:
        parse_rule(text, "--fault")
    message = str(caught.value)
    assert message.startswith(f'--fault "{text}": bad token {token!r}: ')
    assert reason in message
    assert "\n" not in message


def test_plan_takes_the_environment_first_then_each_flag_and_a_seed():
    environ = {"TRADEMATE_FAULTS": "latency=fixed(1ms); ;error=0.1", "TRADEMATE_FAULT_SEED": "42"}
    plan = load_plan(["stall=1s+1s; tier=shared latency=fixed(2ms)"], environ)
    assert [(rule.source, str(rule)) for rule in plan.rules] == [
        ("TRADEMATE_FAULTS", "endpoint=/api/* latency=fixed(1ms)"),
        ("TRADEMATE_FAULTS", "endpoint=/api/* error=0.1 status=503"),
        ("--fault", "endpoint=/api/* stall=1s+1s"),
        ("--fault", "tier=shared endpoint=/api/* latency=fixed(2ms)"),
    ]
    assert plan.seed == 42
    assert load_plan([], environ | {"TRADEMATE_FAULTS": ""}) is None
    assert load_plan(["error=0.1"], {}, seed=7).seed == 7
    with pytest.raises(FaultSpecError, match=r"^TRADEMATE_FAULT_SEED: bad token 'x': expected an integer$"):
        load_plan(["error=0.1"], {"TRADEMATE_FAULT_SEED": "x"})


@pytest.mark.parametrize(
    ("endpoint", "path", "selected"),
    [
        ("/api/v1/portfolio", "/api/v1/portfolio", True),
        ("/api/v1/portfolio", "/api/v1/portfolio/summary", False),
        ("/api/v1/portfolio*", "/api/v1/portfolio/summary", True),
        ("/api/v1/market/quotes/{symbol}", "/api/v1/market/quotes/AAPL", True),
        ("/api/v1/market/quotes/{symbol}", "/api/v1/market/quotes", False),
        ("/api/v1/market/quotes/{symbol}", "/api/v1/market/quotes/A/B", False),
        ("/api/*", "/health", False),
        ("/*", "/metrics", True),
    ],
)
def test_endpoint_selector_is_a_template_or_a_prefix(endpoint, path, selected):
    assert parse_rule(f"endpoint={endpoint} error=0.1", "--fault").selects("shared", "GET", path) is selected


def test_tier_and_method_selectors():
    rule = parse_rule("tier=premium method=POST error=0.1", "--fault")
    assert rule.selects("premium", "POST", "/api/v1/orders")
    assert not rule.selects("shared", "POST", "/api/v1/orders")
    assert not rule.selects("none", "POST", "/api/v1/orders")
    assert not rule.selects("premium", "GET", "/api/v1/orders")


def test_lognormal_is_parameterised_by_median_and_p99():
    shape, rng = Lognormal(0.005, 0.040), random.Random(0)
    draws = np.array([shape.sample(rng) for _ in range(200_000)])
    p95 = 0.005 * np.exp(shape.sigma * statistics.NormalDist().inv_cdf(0.95))
    for quantile, target in ((50, 0.005), (95, p95), (99, 0.040)):
        assert np.percentile(draws, quantile) == pytest.approx(target, rel=0.02)


def test_uniform_stays_in_its_bounds():
    shape, rng = Uniform(0.001, 0.004), random.Random(1)
    draws = [shape.sample(rng) for _ in range(10_000)]
    assert 0.001 <= min(draws) < 0.0011 and 0.0039 < max(draws) <= 0.004


def _injector(rules: str, origin_ns: int = 0) -> FaultInjector:
    injector = FaultInjector(FaultPlan(tuple(parse_rules(rules, "--fault")), seed=1))
    injector.origin_ns = origin_ns
    return injector


def test_a_request_arriving_in_a_stall_window_is_released_at_its_end_plus_its_latency():
    injector = _injector("stall=40s+2s; latency=fixed(5ms)")
    second = 1_000_000_000
    assert injector.decide("shared", "GET", "/api/v1/portfolio", 39 * second) == (39 * second + 5_000_000, 0, 0)
    assert injector.decide("shared", "GET", "/api/v1/portfolio", 40 * second) == (42 * second + 5_000_000, 0, 0)
    assert injector.decide("shared", "GET", "/api/v1/portfolio", 41_900_000_000) == (42 * second + 5_000_000, 0, 0)
    assert injector.decide("shared", "GET", "/api/v1/portfolio", 42 * second) == (42 * second + 5_000_000, 0, 0)
    assert injector.decide("none", "GET", "/health", 41 * second) == (41 * second, 0, 0)


def test_latencies_of_matching_rules_add_up_and_the_first_error_drawn_wins():
    injector = _injector("latency=fixed(1ms); tier=premium latency=fixed(2ms); error=1 status=500; error=1")
    assert injector.decide("premium", "GET", "/api/v1/portfolio", 0) == (3_000_000, 500, 3)
    assert injector.decide("shared", "GET", "/api/v1/portfolio", 0) == (1_000_000, 500, 3)
