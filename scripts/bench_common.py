"""Helpers shared by the generator benchmarks: the trivial target, fake credentials, profiles, pinned processes.

Imported by ``scripts/bench_generator.py`` and ``scripts/bench_soak.py`` (scripts/ is on their import path).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
LOCUSTFILE = ROOT / "locustfiles" / "trademate.py"
SLA_FILE = ROOT / "profiles" / "sla.yaml"
LISTENING = re.compile(r"listening on (http://\S+)")
PLANS = {"shared": ("LITE", "PRO"), "premium": ("ELITE", "BLACK")}


def cores() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def pin(core: int | None) -> list[str]:
    """A ``taskset`` prefix pinning a command to one core (nothing when taskset or the core is missing)."""
    if core is None or core not in cores():
        return []
    return ["taskset", "-c", str(core)]


def generator_core() -> int | None:
    """The load generator's core: the first, with the target on the last (when there are two or more)."""
    return cores()[0] if len(cores()) > 1 else None


def target_core() -> int | None:
    return cores()[-1] if len(cores()) > 1 else None


@contextlib.contextmanager
def trivial_target() -> Iterator[str]:
    """``scripts/bench_target.py`` on a free port, pinned to the target core; yields its URL."""
    cmd = [*pin(target_core()), sys.executable, str(SCRIPTS / "bench_target.py"), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        match = LISTENING.search(proc.stdout.readline())
        if match is None:
            raise RuntimeError("bench target did not start")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fake_credentials(path: Path, per_plan: int = 200) -> Path:
    """A credentials CSV for a target that does not check tokens."""
    lines = ["user_id,plan,tier,token"]
    for tier, plans in PLANS.items():
        for plan in plans:
            lines += [f"{plan.lower()}-{i},{plan},{tier},token-{plan}-{i}" for i in range(per_plan)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_profile(path: Path, run_time: str, tiers: dict[str, tuple[int, float]], **extra: str) -> Path:
    """A profile of ``tiers`` ({tier: (users, rps)}) with the shipped SLA; ``extra`` adds top-level keys."""
    rows = [f"name: {path.stem}", f"run_time: {run_time}", "warmup: 5s", "spawn_rate: 100"]
    rows += [f"{key}: {value}" for key, value in extra.items()]
    rows.append("tiers:")
    for tier, (users, rps) in tiers.items():
        plans = ", ".join(f"{plan}: 1" for plan in PLANS[tier])
        rows.append(f"  {tier}: {{users: {users}, rps: {rps}, plans: {{{plans}}}}}")
    rows.append(f"sla: {SLA_FILE}")
    path.write_text("\n".join(rows) + "\n")
    return path


def suite_command(profile: Path, host: str, credentials: Path, report_dir: Path, *extra: str) -> list[str]:
    """The suite's own headless locust run, pinned to the generator core."""
    return [
        *pin(generator_core()),
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--profile",
        str(profile),
        "--host",
        host,
        "--credentials",
        str(credentials),
        "--report-dir",
        str(report_dir),
        *extra,
    ]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (from /proc, no psutil needed)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(predicate, timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False
