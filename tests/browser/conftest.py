"""The browser tests' Chromium: where it is, and a skip (a failure under CI) when it or Playwright is missing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module", autouse=True)
def browser_available():
    """Skip (fail under CI) when there is no Chromium to drive or no Playwright to drive it with."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright is not installed (pip install -r requirements-dev.txt)")
    if missing:
        message = "browser tests need a browser: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
