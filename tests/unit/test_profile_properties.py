"""Property tests of the profile loader (``trademate_load.profile``): any malformed profile is one ConfigError line
naming the file and the field.

Hypothesis builds malformed profiles (random YAML structures, wrong types, missing and extra keys, bad durations,
negative and non-finite numbers, unknown plans, misspelt keys); every one must give :class:`ConfigError` whose
text is one line naming the file and the field, never another exception. The file-level damage is in
``test_config_properties.py``, the SLA file's in ``test_sla_spec_properties.py``.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from tests.config_cases import (
    BASE,
    NEGATIVE,
    NON_FINITE,
    NOT_COUNTS,
    NOT_DURATIONS,
    NOT_NAMES,
    NOT_NUMBERS,
    NOT_POSITIVE,
    PROPERTY,
    YAML_VALUES,
    assert_nearest,
    outcome,
    paths_of,
    refused,
    typos,
    with_value,
)
from trademate_load.config import ConfigError
from trademate_load.profile import PROFILE_KEYS, Profile
from trademate_load.sla_spec import PLANS_BY_TIER, TIERS

# Field of the profile (a key path) -> values it must refuse; the error must name that field.
BAD_PROFILE_FIELDS = {
    ("run_time",): st.one_of(NOT_DURATIONS, st.just(0), st.just("0s")),
    ("warmup",): NOT_DURATIONS,
    ("spawn_rate",): st.one_of(NOT_NUMBERS, NOT_POSITIVE, NON_FINITE),
    ("name",): st.one_of(st.just(""), st.integers(), st.booleans(), st.lists(st.text(), max_size=2)),
    ("sla",): st.one_of(st.just(""), st.integers(), st.booleans(), st.lists(st.text(), max_size=2)),
    ("tiers",): st.one_of(NOT_NUMBERS.filter(lambda v: not isinstance(v, dict)), st.just({})),
    ("tiers", "premium"): NOT_NUMBERS.filter(lambda v: not isinstance(v, dict)),
    ("tiers", "premium", "users"): NOT_COUNTS,
    ("tiers", "shared", "rps"): st.one_of(NOT_NUMBERS, NOT_POSITIVE, NON_FINITE),
    ("tiers", "premium", "plans"): st.one_of(
        st.integers(), st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just({"ELITE": 0})
    ),
    ("tiers", "premium", "plans", "ELITE"): st.one_of(NEGATIVE, NOT_NUMBERS, st.floats(allow_nan=False)),
    ("model",): NOT_NAMES.filter(lambda v: v not in ("closed", "open")),
    ("latency",): NOT_NAMES.filter(lambda v: v not in ("corrected", "service")),
    ("arrivals",): NOT_NAMES.filter(lambda v: v not in ("constant", "poisson")),
    ("symbols",): st.one_of(
        st.just([]), st.text(max_size=5), st.lists(st.one_of(st.integers(), st.just("")), min_size=1)
    ),
    ("strict",): st.one_of(st.integers(), st.text(max_size=5), st.none()),
    ("stages",): st.one_of(
        st.integers(min_value=1), st.text(min_size=1), st.dictionaries(st.text(), st.integers(), min_size=1)
    ),
}


def test_the_base_profile_loads():
    assert isinstance(outcome(BASE), Profile)


@PROPERTY
@given(st.sampled_from(sorted(BAD_PROFILE_FIELDS)), st.data())
def test_a_bad_value_names_its_field(where, data):
    value = data.draw(BAD_PROFILE_FIELDS[where], label="value")
    exc = refused(with_value(BASE, where, value))
    field = ".".join(where)
    assert exc.field == field or exc.field.startswith(f"{field}."), str(exc)


@PROPERTY
@given(YAML_VALUES)
@example({"sla": "sla.yaml", "run_time": 10, "tiers": {"premium": {"users": 1, "rps": 10**400}}})
@example({"sla": "a\0b", "run_time": 10, "tiers": {"premium": {"users": 1, "rps": 1}}})
def test_any_yaml_structure_is_refused_cleanly(value):
    refused(value)


@PROPERTY
@given(st.sampled_from(paths_of(BASE)), YAML_VALUES)
def test_any_value_anywhere_loads_or_is_refused_cleanly(where, value):
    outcome(with_value(BASE, where, value))


@PROPERTY
@given(st.sampled_from(paths_of(BASE)))
def test_a_missing_key_names_it_or_takes_its_default(where):
    copy = yaml.safe_load(yaml.safe_dump(BASE))
    node = copy
    for key in where[:-1]:
        node = node[key]
    del node[where[-1]]
    result = outcome(copy)
    if isinstance(result, ConfigError):
        assert result.field == ".".join(where), str(result)


@PROPERTY
@given(typos(PROFILE_KEYS))
def test_a_misspelt_profile_key_suggests_the_nearest(pair):
    key, typo = pair
    if typo in PROFILE_KEYS:
        return
    data = dict(BASE)
    data[typo] = data.pop(key, 1)
    assert_nearest(refused(data), typo, key, PROFILE_KEYS)


@PROPERTY
@given(st.sampled_from(list(TIERS)), st.text(min_size=1, max_size=8))
def test_an_unknown_plan_is_refused(tier, plan):
    if plan in PLANS_BY_TIER[tier]:
        return
    exc = refused(with_value(BASE, ("tiers", tier, "plans"), {plan: 1}))
    assert exc.field.startswith(f"tiers.{tier}.plans.") and "unknown key" in exc.message, str(exc)


@PROPERTY
@given(st.text(min_size=1, max_size=10), YAML_VALUES)
@example("spawn\nrate", 1)
def test_an_extra_key_is_refused(key, value):
    if key in PROFILE_KEYS:
        return
    exc = refused({**BASE, key: value})
    assert "unknown key" in exc.message
    assert "did you mean" in exc.message or "known keys" in exc.message


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("tiers", "premium", "plans"), 0),
        (("tiers", "premium", "plans"), []),
        (("tiers", "premium", "plans"), ""),
    ],
)
def test_a_falsy_wrong_type_is_not_taken_for_the_default(where, value):
    exc = refused(with_value(BASE, where, value))
    assert exc.field == ".".join(where), str(exc)
