"""Property tests of the profile and SLA loaders: any malformed file is one ConfigError line naming file and field.

Hypothesis builds malformed profiles and SLA files (random YAML structures, wrong types, missing and extra keys,
bad durations, negative and non-finite numbers, unknown tiers and plans, non-UTF-8 bytes, empty files, YAML
syntax errors); every one must give :class:`ConfigError` whose text is one line naming the file and the field,
never another exception. A few such files also go through the real command line (exit 2, one stderr line, no
traceback). Example counts stay small so the module runs in seconds; under CI the examples are derandomized.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trademate_load.profile import (
    PLANS_BY_TIER,
    PROFILE_KEYS,
    PROFILES_DIR,
    RATIO_METRICS,
    SLA_METRICS,
    TIERS,
    ConfigError,
    Profile,
    load_profile,
)

ROOT = Path(__file__).resolve().parents[2]
SLA = yaml.safe_load((PROFILES_DIR / "sla.yaml").read_text())
BASE = {
    "name": "t",
    "run_time": "30s",
    "warmup": "5s",
    "spawn_rate": 10,
    "tiers": {
        "premium": {"users": 5, "rps": 50, "plans": {"ELITE": 3, "BLACK": 1}},
        "shared": {"users": 10, "rps": 100, "plans": {"LITE": 1, "PRO": 1}},
    },
    "sla": "sla.yaml",
}
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)

# Values of every YAML shape, and the ones no field of a profile accepts where a number or duration is due.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.dates())
YAML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)
    ),
    max_leaves=10,
)
NOT_NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(), st.integers(), max_size=2),
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, 10**400])
NOT_POSITIVE = st.one_of(st.integers(max_value=0), st.floats(max_value=0, allow_nan=False))
NEGATIVE = st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
NOT_DURATIONS = st.one_of(
    NOT_NUMBERS.filter(lambda v: not (isinstance(v, str) and re.fullmatch(r"[\d.hms\s]*", v))), NEGATIVE, NON_FINITE
)
NOT_COUNTS = st.one_of(NOT_NUMBERS, st.integers(max_value=0), st.floats(allow_nan=False))
NOT_NAMES = st.one_of(st.text(max_size=10), st.integers(), st.lists(st.text(max_size=3), max_size=2))

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
# Threshold of the SLA file -> values it must refuse.
BAD_THRESHOLDS = st.one_of(NOT_NUMBERS.filter(lambda v: v is not None), NEGATIVE, NON_FINITE)


def _write(directory: Path, name: str, content: bytes | dict) -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else yaml.safe_dump(content, allow_unicode=True).encode())
    return path


def outcome(profile: bytes | dict, sla: bytes | dict = SLA) -> ConfigError | Profile:
    """Load ``profile`` (with ``sla`` as its sla.yaml) from a fresh directory; a ConfigError must be one clean line."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp).resolve()
        files = {_write(directory, "p.yaml", profile), _write(directory, "sla.yaml", sla)}
        try:
            return load_profile(str(directory / "p.yaml"))
        except ConfigError as exc:
            text = str(exc)
            assert text == f"{exc.path}: {exc.field}: {exc.message}"
            assert len(text.splitlines()) == 1 and text.isprintable(), text
            assert Path(exc.path).resolve() in files or exc.field == "(file)", text  # or the file `sla` names
            assert exc.field and exc.message
            return exc


def refused(profile: bytes | dict, sla: bytes | dict = SLA) -> ConfigError:
    result = outcome(profile, sla)
    assert isinstance(result, ConfigError), f"accepted {profile!r}"
    return result


def with_value(data: dict, where: tuple, value) -> dict:
    """A deep copy of ``data`` with the value at key path ``where`` replaced."""
    copy = yaml.safe_load(yaml.safe_dump(data))
    node = copy
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return copy


def paths_of(data, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping, parents before children."""
    if not isinstance(data, dict):
        return []
    return [p for key, value in data.items() for p in [(*prefix, key), *paths_of(value, (*prefix, key))]]


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


def _typos(keys: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(key, a one-edit misspelling of it that is no valid key)."""

    def edit(key: str, data) -> str:
        i = data.draw(st.integers(0, len(key) - 1))
        kind = data.draw(st.sampled_from(["drop", "swap", "double", "replace"]))
        letter = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
        return {
            "drop": key[:i] + key[i + 1 :],
            "swap": key[:i] + key[i + 1 : i + 2] + key[i : i + 1] + key[i + 2 :],
            "double": key[:i] + key[i] + key[i:],
            "replace": key[:i] + letter + key[i + 1 :],
        }[kind]

    return st.tuples(st.sampled_from(keys), st.data()).map(lambda kd: (kd[0], edit(kd[0], kd[1])))


def _suggestion(exc: ConfigError) -> str:
    match = re.search(r"did you mean '([^']*)'\?", exc.message)
    assert match, str(exc)
    return match.group(1)


def _assert_nearest(exc: ConfigError, typo: str, key: str, keys: list[str]) -> None:
    assert exc.field.endswith(typo) and "unknown key" in exc.message, str(exc)
    suggested = _suggestion(exc)
    assert suggested in keys
    closeness = difflib.SequenceMatcher(None, typo, suggested).ratio()
    assert closeness >= difflib.SequenceMatcher(None, typo, key).ratio(), str(exc)


@PROPERTY
@given(_typos(PROFILE_KEYS))
def test_a_misspelt_profile_key_suggests_the_nearest(pair):
    key, typo = pair
    if typo in PROFILE_KEYS:
        return
    data = dict(BASE)
    data[typo] = data.pop(key, 1)
    _assert_nearest(refused(data), typo, key, PROFILE_KEYS)


@PROPERTY
@given(_typos(list(SLA_METRICS)))
def test_a_misspelt_sla_metric_suggests_the_nearest(pair):
    key, typo = pair
    if typo in SLA_METRICS:
        return
    sla = with_value(SLA, ("tiers", "premium", typo), 1)
    _assert_nearest(refused(BASE, sla), typo, key, list(SLA_METRICS))


@PROPERTY
@given(_typos(list(TIERS)), st.sampled_from(["profile", "sla"]))
def test_an_unknown_tier_is_refused_with_a_suggestion(pair, where):
    key, typo = pair
    if typo in TIERS:
        return
    if where == "profile":
        exc = refused(with_value(BASE, ("tiers", typo), {"users": 1, "rps": 10}))
    else:
        exc = refused(BASE, with_value(SLA, ("tiers", typo), {"p95_ms": 1}))
    _assert_nearest(exc, typo, key, list(TIERS))


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


@PROPERTY
@given(
    st.sampled_from(["p.yaml", "sla.yaml"]),
    st.integers(min_value=0),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]),
)
def test_non_utf8_bytes_are_refused(which, position, junk):
    profile, sla = yaml.safe_dump(BASE).encode(), yaml.safe_dump(SLA).encode()
    text = profile if which == "p.yaml" else sla
    text = text[: position % len(text)] + junk + text[position % len(text) :]
    exc = refused(*((text, sla) if which == "p.yaml" else (profile, text)))
    assert Path(exc.path).name == which and exc.field == "(file)" and "UTF-8" in exc.message, str(exc)


@PROPERTY
@given(st.binary(max_size=64))
def test_any_bytes_are_refused_cleanly(content):
    refused(content)


@PROPERTY
@given(st.text(max_size=64))
def test_any_text_is_refused_cleanly(content):
    refused(content.encode())


@PROPERTY
@given(st.integers(min_value=0), st.text(alphabet=":{}[],&*!|>'\"%@`#?-\t\x00\x85\u2028 \n", min_size=1, max_size=3))
def test_yaml_damage_loads_or_is_refused_cleanly(position, junk):
    text = yaml.safe_dump(BASE, default_flow_style=False)
    outcome((text[: position % len(text)] + junk + text[position % len(text) :]).encode())


@pytest.mark.parametrize("content", [b"", b"   \n", b"# only a comment\n", b"---\n", b"~\n"])
def test_an_empty_file_is_refused(content):
    exc = refused(content)
    assert exc.field == "(file)" and "empty" in exc.message, str(exc)


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (b"run_time: !!int soon\n", "(file)", "not valid YAML"),
        (b"run_time: !!timestamp x\n", "(file)", "not valid YAML"),
        (b"run_time: !!float x\n", "(file)", "not valid YAML"),
        (b"run_time: !!python/object:os.system 1\n", "line 1", "not valid YAML"),
        (b"a: \x00\n", "(file)", "not valid YAML"),
        (b"[" * 2000, "(file)", "nested too deeply"),
        (b"name: t\n\tbad: 1\n", "line 2", "not valid YAML"),
        (b"--- 1\n--- 2\n", "line 2", "not valid YAML"),
    ],
)
def test_yaml_the_parser_chokes_on_is_refused(content, field, words):
    exc = refused(content)
    assert exc.field == field and words in exc.message, str(exc)


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


@pytest.mark.parametrize("value", [0, [], "", False])
def test_falsy_sla_endpoints_of_the_wrong_type_are_refused(value):
    exc = refused(BASE, {**SLA, "endpoints": value})
    assert exc.field == "endpoints", str(exc)


# Through the real command line: exit 2, one line on stderr naming file and field, no traceback.
CLI_CASES = {
    "not-utf8": (yaml.safe_dump(BASE).encode() + b"\xff\xfe\n", "p.yaml: (file): not UTF-8"),
    "syntax": (b"name: t\ntiers: {premium: [\n", "p.yaml: line 3: not valid YAML"),
    "typo": (yaml.safe_dump({**BASE, "spawnrate": 1}).encode(), "p.yaml: spawnrate: unknown key; did you mean"),
    "nan": (yaml.safe_dump(with_value(BASE, ("tiers", "premium", "rps"), math.nan)).encode(), "tiers.premium.rps"),
    "sla-negative": (
        yaml.safe_dump({**BASE, "sla": "bad_sla.yaml"}).encode(),
        "bad_sla.yaml: tiers.premium.p95_ms: must not be negative",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_validate_on_the_command_line_exits_2_with_one_line(tmp_path, case):
    content, expected = CLI_CASES[case]
    _write(tmp_path, "sla.yaml", SLA)
    _write(tmp_path, "bad_sla.yaml", with_value(SLA, ("tiers", "premium", "p95_ms"), -5))
    path = _write(tmp_path, "p.yaml", content)
    done = subprocess.run(
        [sys.executable, "-m", "trademate_load", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {tmp_path}") and expected in lines[0], lines[0]
