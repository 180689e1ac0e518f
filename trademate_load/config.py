"""Reading and validating YAML configuration: one job, turning a file's values into checked plain values.

``read_yaml`` reads a file as a YAML mapping; ``parse_duration`` and the number, count, choice, flag, mapping
and unknown-key helpers check one value each. Any defect raises :class:`ConfigError` naming the file, the field
and the bad value, so the command line can print one line and exit 2. The profile (``profile.py``), the SLA file
(``sla_spec.py``) and the credentials file (``credentials.py``) are read through them. Nothing here imports locust.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import yaml

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


class ConfigError(ValueError):
    """A defect in a profile, SLA or credentials file: names the file, the field and what is wrong."""

    def __init__(self, path: str | Path, field_name: str, message: str):
        self.path, self.field, self.message = str(path), _one_line(field_name), _one_line(message)
        super().__init__(f"{_one_line(self.path)}: {self.field}: {self.message}")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def parse_duration(value: Any, path: str | Path, field_name: str) -> float:
    """``30``, ``30s``, ``5m``, ``1h30m``, ``250ms`` -> seconds."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(path, field_name, f"expected a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, int | float):
        seconds = value
    else:
        match = _DURATION.match(str(value).strip())
        if not match or not any(match.groups()):
            raise ConfigError(path, field_name, f"expected a duration such as 30s, 5m or 1h30m, got {value!r}")
        h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s + ms / 1000
    if not _finite(seconds):
        raise ConfigError(path, field_name, f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ConfigError(path, field_name, f"must not be negative, got {value!r}")
    return float(seconds)


def _finite(value: float) -> bool:
    """True unless ``value`` is nan, infinite, or an int too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def mapping(value: Any, path: str | Path, field_name: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(path, field_name, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def refuse_unknown(data: dict, allowed: tuple[str, ...] | list[str], path: str | Path, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(allowed)}"
            shown = key if isinstance(key, str) and key and key == key.strip() else repr(key)  # '' or ' x' visible
            raise ConfigError(path, f"{prefix}{shown}", f"unknown key{hint}")


def number(value: Any, path: str | Path, field_name: str, *, positive: bool = False, ratio: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, field_name, f"expected a number, got {value!r}")
    if not _finite(value):
        raise ConfigError(path, field_name, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(path, field_name, f"must be greater than 0, got {value!r}")
    if value < 0:
        raise ConfigError(path, field_name, f"must not be negative, got {value!r}")
    if ratio and value > 1:
        raise ConfigError(path, field_name, f"is a ratio between 0 and 1, got {value!r}")
    return float(value)


def count(value: Any, path: str | Path, field_name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        least = "a whole number >= 0" if allow_zero else "a whole number >= 1"
        raise ConfigError(path, field_name, f"expected {least}, got {value!r}")
    return value


def choice(data: dict, key: str, allowed: tuple[str, ...], path: str | Path) -> str:
    """``data[key]`` (default: the first of ``allowed``), refused unless it is one of ``allowed``."""
    value = data.get(key, allowed[0])
    if value not in allowed:
        raise ConfigError(path, key, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping or raise ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, "(file)", f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
        raise ConfigError(path, where, f"not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(path, "(file)", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # PyYAML building a bad tag such as `!!int x`
        raise ConfigError(path, "(file)", f"not valid YAML: a tagged value cannot be built ({exc})") from None
    if data is None:
        raise ConfigError(path, "(file)", "the file is empty (expected a YAML mapping)")
    if not isinstance(data, dict):
        raise ConfigError(path, "(file)", f"expected a YAML mapping at the top, got {type(data).__name__}")
    return data


def flag(data: dict, key: str, path: Path) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(path, key, f"expected true or false, got {value!r}")
    return value
