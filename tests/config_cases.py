"""What the property tests of the configuration loaders share: a valid profile and SLA file, strategies of bad
values, and loading a profile from a fresh directory, where a ConfigError must be one clean line naming the file
and the field (``tests/unit/test_config_properties.py``, ``test_sla_spec_properties.py``,
``test_profile_properties.py``). Example counts stay small so each module runs in seconds; under CI the examples
are derandomized.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from trademate_load.config import ConfigError
from trademate_load.profile import PROFILES_DIR, Profile, load_profile

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

# Threshold of the SLA file -> values it must refuse.
BAD_THRESHOLDS = st.one_of(NOT_NUMBERS.filter(lambda v: v is not None), NEGATIVE, NON_FINITE)


def write(directory: Path, name: str, content: bytes | dict) -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else yaml.safe_dump(content, allow_unicode=True).encode())
    return path


def outcome(profile: bytes | dict, sla: bytes | dict = SLA) -> ConfigError | Profile:
    """Load ``profile`` (with ``sla`` as its sla.yaml) from a fresh directory; a ConfigError must be one clean line."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp).resolve()
        files = {write(directory, "p.yaml", profile), write(directory, "sla.yaml", sla)}
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


def typos(keys: list[str]) -> st.SearchStrategy[tuple[str, str]]:
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


def suggestion(exc: ConfigError) -> str:
    match = re.search(r"did you mean '([^']*)'\?", exc.message)
    assert match, str(exc)
    return match.group(1)


def assert_nearest(exc: ConfigError, typo: str, key: str, keys: list[str]) -> None:
    assert exc.field.endswith(typo) and "unknown key" in exc.message, str(exc)
    suggested = suggestion(exc)
    assert suggested in keys
    closeness = difflib.SequenceMatcher(None, typo, suggested).ratio()
    assert closeness >= difflib.SequenceMatcher(None, typo, key).ratio(), str(exc)
