"""Figures as text (trademate_load.formatting): each medium's form, and the missing mark as a parameter."""

from __future__ import annotations

import math

from trademate_load.formatting import (
    DASH,
    NA,
    by_unit,
    fixed,
    format_count,
    format_ms,
    format_number,
    format_percent,
    format_value,
    percent,
    significant,
)


def test_plain_text_forms():
    assert fixed(12.3456) == "12.35" and fixed(12.3456, 3, " ms") == "12.346 ms" and fixed(None) == NA == "n/a"
    assert percent(0.99951) == "99.951%" and percent(0.2, 0) == "20%" and percent(None) == "n/a"
    assert significant(0.000123456789) == "0.000123457" and significant(None) == "n/a"
    assert by_unit(0.9995, "%") == "99.950%" and by_unit(12.3456, "ms") == "12.35 ms"
    assert by_unit(12.3456, "ms", ms_decimals=3) == "12.346 ms" and by_unit(0.9995, "%", pct_decimals=2) == "99.95%"
    assert by_unit(49.96, "rps") == "50.0" and by_unit(3, "") == "3" and by_unit(None, "ms") == "n/a"


def test_report_forms_and_the_missing_mark():
    assert (
        format_number(1234567) == "1,234,567" and format_number(3.14159) == "3.14" and format_number(314.159) == "314.2"
    )
    assert format_number(31415.9) == "31,416" and format_ms(4.3) == "4.30 ms" and format_count(1234.4) == "1,234"
    assert format_percent(0.125) == "12.5%" and format_percent(50.0, scale=1) == "50%"
    assert format_value("success_rate", 0.99) == "99%" and format_value("p95_ms", 12) == "12 ms"
    for missing in (None, math.nan, math.inf, "x", True):
        assert format_number(missing) == DASH == "—" and format_ms(missing) == format_count(missing) == DASH
    assert format_number(None, missing=NA) == format_ms(None, NA) == format_value("p95_ms", None, NA) == "n/a"
    assert format_percent(None) == DASH and format_percent(None, missing=NA) == NA
