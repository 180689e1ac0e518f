"""Figures as text: the one place every renderer (console, JUnit, the HTML report), the web UI's SLA tab, the validity
notes and the SLA validation probe turn a number into a string.

Plain text (the console, junit.xml, the SLA tab, the probe, the validity notes) uses :func:`fixed`,
:func:`percent`, :func:`significant` and :func:`by_unit`; a missing figure reads ``n/a`` (``NA``). The HTML report
uses the friendlier forms (thousands separators, precision by magnitude, trailing zeros trimmed): ``format_number``,
``format_ms``, ``format_rate``, ``format_percent``, ``format_count``, ``format_value`` and ``format_interval``; a
missing figure reads ``—`` (``DASH``). Where a medium must look different (the missing mark, the decimals of a
latency), that is a parameter (``missing``, ``decimals``), never a copy. Standard library only.
"""

from __future__ import annotations

import math
import numbers
from datetime import UTC, datetime

NA = "n/a"  # a missing figure in plain text
DASH = "—"  # a missing figure on the HTML page
UNBOUNDED = "unbounded"  # the open end of a confidence interval


def finite(value: object) -> float | None:
    """value as a finite float, or None (missing, NaN, infinite or not a number)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# plain text


def fixed(value: float | None, decimals: int = 2, unit: str = "", missing: str = NA) -> str:
    """``value`` with ``decimals`` decimals and then ``unit`` (``"12.35 ms"``), or ``missing``."""
    return missing if value is None else f"{value:.{decimals}f}{unit}"


def percent(share: float | None, decimals: int = 3, missing: str = NA) -> str:
    """A share (0 to 1) as a percentage with ``decimals`` decimals (``0.99951`` -> ``"99.951%"``), or ``missing``."""
    return missing if share is None else f"{share * 100:.{decimals}f}%"


def significant(value: float | None, digits: int = 6, missing: str = NA) -> str:
    """``value`` to ``digits`` significant digits (``"%g"``), or ``missing``."""
    return missing if value is None else f"{value:.{digits}g}"


def by_unit(value: object, unit: str, missing: str = NA, ms_decimals: int = 2, pct_decimals: int = 3) -> str:
    """A figure in its unit: ``"%"`` a share as a percentage, ``"ms"`` a latency, ``"rps"`` a rate to one decimal,
    anything else as it is; ``missing`` when None."""
    if value is None:
        return missing
    if unit == "%":
        return percent(value, pct_decimals)  # type: ignore[arg-type]
    if unit == "ms":
        return fixed(value, ms_decimals, " ms")  # type: ignore[arg-type]
    if unit == "rps":
        return fixed(value, 1)  # type: ignore[arg-type]
    return str(value)


# the HTML report


def format_number(value: object, missing: str = DASH) -> str:
    """A figure with precision by magnitude: 2 decimals under 10, 1 under 1000, none above; ``missing`` if missing."""
    number = finite(value)
    if number is None:
        return missing
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    decimals = 2 if abs(number) < 10 else 1 if abs(number) < 1000 else 0
    return f"{number:,.{decimals}f}"


def format_ms(value: object, missing: str = DASH) -> str:
    """A latency in milliseconds, or ``missing`` when not measured."""
    number = finite(value)
    return missing if number is None else f"{format_number(value)} ms"


def format_rate(value: object, missing: str = DASH) -> str:
    """A share as a percentage with up to 3 decimals; never shows 100% for a share below 1."""
    number = finite(value)
    if number is None:
        return missing
    text = f"{number * 100:.3f}".rstrip("0").rstrip(".")
    if text == "100" and number < 1:
        return ">99.999%"
    return f"{text}%"


def format_percent(value: float | None, scale: float = 100, missing: str = DASH) -> str:
    """A ratio (or, with scale=1, a percentage) as a percentage with up to one decimal, or ``missing``."""
    if value is None:
        return missing
    return f"{value * scale:,.1f}".removesuffix(".0") + "%"


def format_count(value: object, missing: str = DASH) -> str:
    """A count with thousands separators, or ``missing``."""
    number = finite(value)
    return missing if number is None else f"{round(number):,}"


def format_value(name: str, value: object, missing: str = DASH) -> str:
    """A check's limit or actual, in the unit its name implies (share as percent, ms, or plain)."""
    if name.endswith(("_rate", "compliance", "uptime")):
        return format_rate(value, missing)
    if name.endswith("_ms") or "_ms_" in name:
        return format_ms(value, missing)
    return format_number(value, missing)


def format_interval(name: str, interval: object, missing: str = DASH) -> str:
    """A check's 95% interval as 'low – high' in its unit; a None end is unbounded; '' without one."""
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return ""
    low, high = (UNBOUNDED if end is None else format_value(name, end, missing) for end in interval)
    return f"{low} – {high}"


def iso(ts: float, timespec: str = "seconds") -> str:
    """An epoch time as ISO-8601 in UTC (``timespec="milliseconds"`` for run events)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec)
