"""Profiles and SLA files: the shipped ones load; each defect is refused naming the file and the field."""

from pathlib import Path

import pytest

from trademate_load.config import ConfigError, parse_duration
from trademate_load.profile import PROFILES_DIR, load_profile

SLA_TEXT = (PROFILES_DIR / "sla.yaml").read_text()
GOOD = """
name: t
run_time: 30s
warmup: 10s
spawn_rate: 10
tiers:
  premium: {users: 5, rps: 50, plans: {ELITE: 3, BLACK: 1}}
sla: sla.yaml
"""


@pytest.mark.parametrize("name", ["smoke", "premium", "shared", "mixed"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.name == name
    for load in profile.tiers.values():
        assert load.rps / load.users == 10  # the seed's 10 req/s per user
    assert profile.sla.tiers["premium"].p95_ms == 50
    assert profile.sla.tiers["shared"].p95_ms == 100


def test_seed_model():
    mixed = load_profile("mixed")
    assert (mixed.tiers["shared"].users, mixed.tiers["shared"].rps) == (100, 1000)
    assert (mixed.tiers["premium"].users, mixed.tiers["premium"].rps) == (50, 500)


def write(tmp_path: Path, profile: str, sla: str = SLA_TEXT) -> Path:
    (tmp_path / "sla.yaml").write_text(sla)
    path = tmp_path / "p.yaml"
    path.write_text(profile)
    return path


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("run_time: 30s", "run_time: soon", "run_time", "duration"),
        ("run_time: 30s", "run_time: 0s", "run_time", "longer than 0"),
        ("users: 5", "users: -1", "tiers.premium.users", "whole number"),
        ("users: 5", "users: five", "tiers.premium.users", "whole number"),
        ("rps: 50", "rps: 0", "tiers.premium.rps", "greater than 0"),
        ("ELITE: 3", "GOLD: 3", "tiers.premium.plans.GOLD", "unknown key"),
        ("premium: {", "premiun: {", "tiers.premiun", "did you mean 'premium'"),
        ("spawn_rate: 10", "spawn_rat: 10", "spawn_rat", "did you mean 'spawn_rate'"),
        ("sla: sla.yaml", "sla: missing.yaml", "(file)", "no such file"),
        ("sla: sla.yaml", "sla: 3", "sla", "path of an SLA file"),
        ("warmup: 10s", "warmup: [1]", "warmup", "duration"),
        ("tiers:", "latency: fastest\ntiers:", "latency", "corrected, service"),
    ],
)
def test_bad_profile_names_file_and_field(tmp_path, old, new, field, words):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert info.value.field == field
    assert words in info.value.message
    assert str(info.value).startswith(str(path.parent))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("p95_ms: 50", "p95_ms: fast", "tiers.premium.p95_ms"),
        ("success_rate: 0.9995", "success_rate: 99.95", "tiers.premium.success_rate"),
        ("p99_ms: 100", "p99: 100", "tiers.premium.p99"),
        ("endpoints: {}", "endpoints: {premium: {'GET /x': {p90_ms: 3}}}", "endpoints.premium.GET /x.p90_ms"),
    ],
)
def test_bad_sla_names_sla_file_and_field(tmp_path, old, new, field):
    path = write(tmp_path, GOOD, SLA_TEXT.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert info.value.path.endswith("sla.yaml")
    assert info.value.field == field


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, GOOD + "tiers: [\n")
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert info.value.field.startswith("line ")


def test_unknown_profile_name_lists_known_ones():
    with pytest.raises(ConfigError, match="known names: mixed, premium, scalability, shared, smoke"):
        load_profile("nope")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), (45, 45)])
def test_durations(text, seconds):
    assert parse_duration(text, "f", "x") == seconds


def test_warmup_never_exceeds_a_fifth_of_the_run(tmp_path):
    profile = load_profile(str(write(tmp_path, GOOD)))
    assert profile.warmup_for(30) == 6  # 10 s asked, 30 s run
    assert profile.warmup_for(300) == 10


def test_stages_shape_users(tmp_path):
    text = GOOD + "stages:\n  - {duration: 10s, users: {premium: 2}}\n  - {duration: 5s, users: {premium: 5}}\n"
    profile = load_profile(str(write(tmp_path, text)))
    assert profile.users_at(0) == {"premium": 2}
    assert profile.users_at(12) == {"premium": 5}
    assert profile.users_at(15) is None
