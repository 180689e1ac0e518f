"""A staged profile through a real locust subprocess: every stage runs its own users, up and then down.

Locust's dispatcher spawns ``fixed_count`` users only at its start and after a ramp-down; the load shape re-arms
it (``locust_compat.rearm_fixed_users``) so a stage that adds users gets them. Without that, the second stage
below would keep the first stage's 5 users, and so would the third.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import JUDGED, ROOT, only_run_dir, run_locust, target

pytestmark = pytest.mark.integration
STAGES = [(5, 5.0), (15, 5.0), (8, 5.0)]  # premium users, seconds: up, then down
SETTLE_S = 1.5  # a stage's users run this long after it starts (the shape ticks each second, spawning takes 0.2 s)
SPAWNED = re.compile(r"All users spawned: .* \((\d+) total users\)")


def staged_profile(path) -> None:
    stages = "".join(f"  - {{duration: {seconds:g}s, users: {{premium: {users}}}}}\n" for users, seconds in STAGES)
    path.write_text(
        f"name: stages\nrun_time: {sum(s for _, s in STAGES):g}s\nwarmup: 1s\nspawn_rate: 50\n"
        "tiers:\n  premium: {users: 15, rps: 30, plans: {ELITE: 1, BLACK: 1}}\n"  # 2 req/s a user
        f"sla: {ROOT / 'profiles' / 'sla.yaml'}\nstages:\n{stages}"
    )


@pytest.fixture(scope="module")
def staged_run(api, tmp_path_factory):
    """(locust's stderr, run.json) of one run of the staged profile."""
    tmp = tmp_path_factory.mktemp("staged")
    staged_profile(tmp / "stages.yaml")
    proc = run_locust("--profile", str(tmp / "stages.yaml"), *target(api, tmp / "reports"), timeout=90)
    assert proc.returncode in JUDGED, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads((only_run_dir(tmp / "reports") / "run.json").read_text())
    return proc.stderr, run


def test_locust_spawns_each_stages_users(staged_run):
    stderr, _ = staged_run
    spawned = [match.group(0) for match in SPAWNED.finditer(stderr)]
    assert [int(total) for total in SPAWNED.findall(stderr)] == [users for users, _ in STAGES], spawned


def test_each_second_of_a_stage_runs_its_users(staged_run):
    """The generator's health rows count the users running each second (run.json): a stage's, once it settled."""
    _, run = staged_run
    columns = run["generator"]["columns"]
    ts, users = columns.index("ts"), columns.index("users_premium")
    rows = run["generator"]["processes"]["local"]["rows"]
    start = run["started_ts"]
    for i, (expected, seconds) in enumerate(STAGES):
        settled, end = start + SETTLE_S, start + seconds - 0.25
        seen = [row[users] for row in rows if settled <= row[ts] <= end]
        assert seen and set(seen) == {expected}, f"stage {i + 1}: {seen} users, not {expected}"
        start += seconds
