"""The web UI's SLA tab in a real Chromium during a real run: its figures show, painted green or red, and update;
after the run its run-so-far column equals summary.json's figures within the display's rounding.

Playwright runs in a subprocess (tests/browser/inspect_live_tab.py): this pytest process is patched by gevent.
Without Chromium (or Playwright) the test skips, with the reason, unless CI is set: then it fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import CHROMIUM
from tests.conftest import web_ui
from trademate_load.webtab import FAIL_MARK, PASS_MARK

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).with_name("inspect_live_tab.py")


def number(cell: str) -> float:
    """The figure of a cell such as '✓ 9.812 ms' or '✗ 99.950%'."""
    return float(re.search(r"-?\d+(?:\.\d+)?", cell).group())


def test_the_sla_tab_updates_during_a_run_and_matches_summary_json_after(api, tmp_path):
    reports, output = tmp_path / "reports", tmp_path / "locust.txt"
    with web_ui(api, "smoke", reports, output) as web:
        # 30 s: Chromium starts after the run does, and on a busy machine it took 18 s to show the tab
        started = requests.post(f"{web}/swarm", data={"profile": "smoke", "run_time": "30s"}, timeout=5).json()
        assert started["success"], started
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), web, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout)
    out = output.read_text()
    assert "Traceback" not in out, out[-3000:]
    assert result["page_errors"] == []
    assert [m for m in result["console"] if m["type"] == "error"] == []

    colours = {(c["mark"], c["color"]) for c in result["colours"]}
    assert colours and colours <= {(PASS_MARK, "rgb(27, 127, 59)"), (FAIL_MARK, "rgb(198, 40, 40)")}
    first, second = result["live"]
    assert first != second  # the figures update while the test runs
    for rows in (first, second):
        cells = {(row[0], row[1]): row for row in rows}
        for tier in ("shared", "premium"):
            for figure in ("req/s", "p95", "p99", "mean", "success rate", "compliance"):
                assert cells[(tier, figure)][3].startswith((PASS_MARK, FAIL_MARK)), (tier, figure, rows)

    summary = json.loads((reports / "latest" / "summary.json").read_text())
    final = {(row[0], row[1]): row[4] for row in result["final"]}
    for tier, expected in summary["tiers"].items():
        assert final[(tier, "requests (failed)")] == f"{expected['requests']} ({expected['failures']})"
        assert number(final[(tier, "req/s")]) == pytest.approx(expected["rps"], abs=0.06)
        for figure in ("mean", "p95", "p99"):
            assert number(final[(tier, figure)]) == pytest.approx(expected["latency_ms"][figure], abs=0.002), figure
        assert number(final[(tier, "success rate")]) / 100 == pytest.approx(expected["success_rate"], abs=6e-6)
        assert number(final[(tier, "compliance")]) / 100 == pytest.approx(expected["sla_compliance"], abs=6e-6)
        p95_check = next(c for c in expected["checks"] if c["name"] == "p95_ms" and not c.get("endpoint"))
        mark = PASS_MARK if expected["latency_ms"]["p95"] < p95_check["limit"] else FAIL_MARK
        assert final[(tier, "p95")].startswith(mark)
    for screenshot in result["screenshots"]:
        assert Path(screenshot).stat().st_size > 0
