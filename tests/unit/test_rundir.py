"""A run directory rebuilds its reports and chart files from its samples and run.json alone."""

from __future__ import annotations

import json

import numpy as np

from tests.report_data import embedded_png, image_tags, tier_chart_names
from tests.synthetic import write_synthetic_run
from trademate_load import rundir


def test_run_directory_gets_chart_files_and_rebuilds_them(tmp_path):
    run_dir = tmp_path / "20270115-080000-premium"
    summary = write_synthetic_run(run_dir, np.linspace(1.0, 30.0, 3_000), seconds=30.0)
    assert summary["scalability"] is None
    written = {path.stem: path.read_bytes() for path in (run_dir / "charts").glob("*.png")}
    assert set(written) == tier_chart_names("premium")
    html = (run_dir / "index.html").read_text()
    assert sorted(embedded_png(tag) for tag in image_tags(html)) == sorted(written.values())
    (run_dir / "charts" / "stale.png").write_bytes(b"old")
    for path in (run_dir / "charts").glob("premium_*.png"):
        path.unlink()
    frame, run = rundir.load_run(run_dir)
    again = rundir.render_reports(run_dir, frame, run)
    assert {path.stem for path in (run_dir / "charts").glob("*.png")} == set(written)
    assert again == json.loads((run_dir / "summary.json").read_text())
