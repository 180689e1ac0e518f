"""The report opened in a real Chromium: no console errors, every chart loads, hostile names stay text.

Playwright runs in a subprocess (tests/browser/inspect_report.py): this pytest process is patched by
gevent, which breaks Playwright's sync API. Without Chromium (or Playwright) the tests skip, with the
reason, unless CI is set: then they fail.
"""

from __future__ import annotations

import copy
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.browser.conftest import inspect
from tests.synthetic import T0, frame_of, write_synthetic_run
from trademate_load.formatting import iso
from trademate_load.profile import load_profile
from trademate_load.rundir import write_run

HOSTILE = "GET /x<script>alert(1)</script>"
STEP_S = 6.0
STEP_USERS = ({"shared": 25, "premium": 13}, {"shared": 50, "premium": 25}, {"shared": 100, "premium": 50})


def rich_frame() -> pd.DataFrame:
    """Both tiers over three stepped stages, failures included, one hostile endpoint name; only premium
    reports cache and DB time."""
    rng = np.random.default_rng(9)
    parts = []
    for i, users in enumerate(STEP_USERS):
        for tier, count in users.items():
            n = int(count * 10 * STEP_S)
            reported = tier == "premium"
            parts.append(
                frame_of(
                    rng.lognormal(np.log(3.0 + i), 0.5, n),
                    tier=tier,
                    ok=rng.random(n) > 0.004,
                    start=T0 + i * STEP_S,
                    duration=STEP_S,
                    db=rng.random(n) * 2 if reported else None,
                    cache=np.where(rng.random(n) < 0.97, "hit", "miss") if reported else None,
                    endpoint=HOSTILE if tier == "premium" and i == 1 else "GET /api/v1/portfolio",
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame["plan"] = np.where(frame["tier"] == "shared", "PRO", "ELITE")
    return frame


def rich_run(run_id: str, baseline_summary: dict | None = None) -> dict:
    """run.json for rich_frame: the mixed profile stepped through STEP_USERS, with an optional baseline."""
    profile = load_profile("mixed")
    settings = profile.settings()
    settings["stages"] = [{"duration_s": STEP_S, "users": users} for users in STEP_USERS]
    ended = T0 + STEP_S * len(STEP_USERS)
    return {
        "run_id": run_id,
        "profile": "mixed",
        "host": "http://127.0.0.1:1",
        "started_at": iso(T0),
        "ended_at": iso(ended),
        "started_ts": T0,
        "ended_ts": ended,
        "warmup_s": 2.0,
        "interrupted": False,
        "exit_code": None,
        "latency_basis": profile.latency,
        "versions": {},
        "settings": settings,
        "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
        "sla_endpoints": {},
        "baseline": "reports/baseline" if baseline_summary else None,
        "baseline_summary": baseline_summary,
    }


@pytest.fixture(scope="module")
def rich_run_dir(tmp_path_factory) -> Path:
    """A run directory with every section: two tiers, failures, scalability steps, a baseline it regressed from."""
    base = tmp_path_factory.mktemp("rich")
    frame = rich_frame()
    (base / "before").mkdir()
    baseline = copy.deepcopy(write_run(base / "before", frame, rich_run("before")))
    for tier in baseline["tiers"].values():
        tier["latency_ms"] = {key: value / 2 for key, value in tier["latency_ms"].items()}
        tier["ci95"] = {key: [end / 2 for end in ends] for key, ends in tier["ci95"].items() if key.endswith("_ms")}
    run_dir = base / "20270115-080000-mixed"
    run_dir.mkdir()
    summary = write_run(run_dir, frame, rich_run(run_dir.name, baseline))
    assert summary["baseline"]["regressions"] and summary["scalability"]
    return run_dir


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def assert_clean_page(result: dict, run_dir: Path) -> None:
    """No console errors, page errors, dialogs or failed requests; every chart loaded; screenshots saved."""
    assert [m for m in result["console"] if m["type"] in ("error", "warning")] == []
    assert result["page_errors"] == [] and result["dialogs"] == [] and result["failed_requests"] == []
    charts = sorted((run_dir / "charts").glob("*.png"))
    for name, view in result["views"].items():
        assert view["status"] == 200
        assert len(view["images"]) == len(charts) > 0
        for image in view["images"]:
            assert image["complete"] and image["naturalWidth"] > 0, (name, image["alt"])
            assert image["src"].startswith("data:image/png;base64,")
        assert view["scrollWidth"] <= view["clientWidth"], f"{name}: the page scrolls sideways"
        assert view["scripts"] == 0
    laptop, phone = (Path(result["views"][name]["screenshot"]) for name in ("laptop", "phone"))
    assert laptop.parent == run_dir and png_size(laptop)[0] == 1366
    assert png_size(phone)[0] == 390


def test_synthetic_run_report_in_a_browser(tmp_path):
    run_dir = tmp_path / "20270115-080000-premium"
    write_synthetic_run(run_dir, np.linspace(1.0, 40.0, 6_000), seconds=30.0)
    result = inspect(run_dir, "Tier premium", "SLA checks", "Error budget")
    assert_clean_page(result, run_dir)
    assert all(result["views"]["laptop"]["texts"].values())


def test_every_section_in_a_browser_with_a_hostile_endpoint_name(rich_run_dir):
    expected = (HOSTILE, "Noisy neighbour", "Scalability", "Against baseline before", "latency bends", "regressed")
    result = inspect(rich_run_dir, *expected)
    assert_clean_page(result, rich_run_dir)
    for name, view in result["views"].items():
        assert view["texts"] == dict.fromkeys(expected, True), name
    alts = " ".join(image["alt"] for image in result["views"]["laptop"]["images"])
    assert "Premium p95 latency over time against the shared tier" in alts
    assert "scalability step" in alts
    html = (rich_run_dir / "index.html").read_text()
    assert "Cache hit rate: not reported by the target" in html  # shared reports no X-Cache
