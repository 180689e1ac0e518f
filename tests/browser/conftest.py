"""The browser tests' Chromium: where it is, and a skip (a failure under CI) when it or Playwright is missing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.services import require

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module", autouse=True)
def browser_available():
    """Skip (fail under CI) when there is no Chromium to drive or no Playwright to drive it with."""
    require(
        CHROMIUM.exists(), f"no Chromium at {CHROMIUM}", "`make test` as root installs it (apt-get install chromium)"
    )
    require(
        importlib.util.find_spec("playwright"), "playwright is not installed", "pip install -r requirements-dev.txt"
    )
