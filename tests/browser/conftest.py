"""The browser tests' Chromium: where it is, a skip (a failure under CI) when it or Playwright is missing, and what it
saw of a page (inspect_report.py, in a subprocess: the pytest process is patched by gevent)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCRIPT = Path(__file__).with_name("inspect_report.py")


@pytest.fixture(scope="module", autouse=True)
def browser_available():
    """Skip (fail under CI) when there is no Chromium to drive or no Playwright to drive it with."""
    require(
        CHROMIUM.exists(), f"no Chromium at {CHROMIUM}", "`make test` as root installs it (apt-get install chromium)"
    )
    require(
        importlib.util.find_spec("playwright"), "playwright is not installed", "pip install -r requirements-dev.txt"
    )


def inspect(run_dir: Path, *expect_texts: str) -> dict:
    """What Chromium saw of run_dir/index.html (see inspect_report.py)."""
    args = [arg for text in expect_texts for arg in ("--expect-text", text)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CHROMIUM": str(CHROMIUM)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)
