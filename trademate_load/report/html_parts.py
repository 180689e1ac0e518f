"""The small display pieces every section of the HTML report shares: the missing mark, the latency percentiles
shown, a chart as an embeddable image, a duration as text, and the templates' environment (the run report's and the
history page's)."""

from __future__ import annotations

import base64
import functools
from pathlib import Path

import jinja2

from trademate_load.formatting import DASH, finite

MISSING = DASH
PERCENTILES = ("mean", "p50", "p95", "p99", "max")


def image(png: bytes | None, alt: str) -> dict | None:
    """An embeddable image (data URI, alt text, and its pixel size from the PNG header), or None without a chart."""
    if not png:
        return None
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return {"src": src, "alt": alt, "width": width, "height": height}


def seconds(value: object) -> str | None:
    """A duration in seconds for display, or None when missing."""
    number = finite(value)
    return None if number is None else f"{number:,.1f} s"


@functools.cache
def environment() -> jinja2.Environment:
    """The report templates' environment (autoescaping, undefined names an error), built on first use."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
