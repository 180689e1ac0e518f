"""Property tests of the SLA file's loader (``trademate_load.sla_spec``): a bad threshold, tier, metric or
endpoints section is one ConfigError line naming the SLA file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.config_cases import BAD_THRESHOLDS, BASE, PROPERTY, SLA, assert_nearest, outcome, refused, typos, with_value
from trademate_load.config import ConfigError
from trademate_load.profile import Profile
from trademate_load.sla_spec import RATIO_METRICS, SLA_METRICS, TIERS


@PROPERTY
@given(st.sampled_from(list(SLA["tiers"]["premium"])), BAD_THRESHOLDS)
@example("success_rate", 1.5)
@example("p95_ms", math.nan)
def test_a_bad_sla_threshold_names_the_sla_file_and_field(metric, value):
    exc = refused(BASE, with_value(SLA, ("tiers", "premium", metric), value))
    assert Path(exc.path).name == "sla.yaml"
    assert exc.field == f"tiers.premium.{metric}", str(exc)


@PROPERTY
@given(st.sampled_from(list(SLA_METRICS)), st.floats(min_value=1.0, exclude_min=True, allow_infinity=False))
def test_a_ratio_above_one_is_refused(metric, value):
    result = outcome(BASE, with_value(SLA, ("tiers", "shared", metric), value))
    if metric in RATIO_METRICS:
        assert isinstance(result, ConfigError) and result.field == f"tiers.shared.{metric}", result
    else:
        assert isinstance(result, Profile)


@PROPERTY
@given(typos(list(SLA_METRICS)))
def test_a_misspelt_sla_metric_suggests_the_nearest(pair):
    key, typo = pair
    if typo in SLA_METRICS:
        return
    sla = with_value(SLA, ("tiers", "premium", typo), 1)
    assert_nearest(refused(BASE, sla), typo, key, list(SLA_METRICS))


@PROPERTY
@given(typos(list(TIERS)), st.sampled_from(["profile", "sla"]))
def test_an_unknown_tier_is_refused_with_a_suggestion(pair, where):
    key, typo = pair
    if typo in TIERS:
        return
    if where == "profile":
        exc = refused(with_value(BASE, ("tiers", typo), {"users": 1, "rps": 10}))
    else:
        exc = refused(BASE, with_value(SLA, ("tiers", typo), {"p95_ms": 1}))
    assert_nearest(exc, typo, key, list(TIERS))


@pytest.mark.parametrize("value", [0, [], "", False])
def test_falsy_sla_endpoints_of_the_wrong_type_are_refused(value):
    exc = refused(BASE, {**SLA, "endpoints": value})
    assert exc.field == "endpoints", str(exc)
