"""A run in progress in one Locust process: its profile, planned length and start, and on the master its run
directory, sample store, the load generator's health rows, and the run.json that describes it."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import locust

from trademate_load import __version__
from trademate_load.collector import Spiller
from trademate_load.errors import scrub_secrets
from trademate_load.formatting import iso
from trademate_load.health import COLUMNS as HEALTH_COLUMNS
from trademate_load.health import lag_summary
from trademate_load.profile import Profile
from trademate_load.store import SampleStore


@dataclass
class ActiveRun:
    """A run in progress: its profile, planned length and start; on the master, its directory and sample store."""

    profile: Profile
    run_time_s: float
    started_ts: float
    stopped_ts: float | None = None
    run_dir: Path | None = None
    store: SampleStore | None = None
    spiller: Spiller | None = None
    error: str | None = None
    aborted: dict[str, Any] | None = None  # a check decided failed stopped the run: which, when and why
    decided: dict[str, Any] | None = None  # stop_when_decided ended the run once every check was settled
    health: dict[str, list] = field(default_factory=dict)  # per process, the load generator's rows (health.COLUMNS)
    ticks: dict[str, bytearray] = field(default_factory=dict)  # per process, its rows' loop-lag ticks (float32)

    @property
    def warmup_s(self) -> float:
        return self.profile.warmup_for(self.run_time_s)

    def keep_health(self, process: str, rows: list, ticks: bytes) -> None:
        self.health.setdefault(process, []).extend(rows)
        self.ticks.setdefault(process, bytearray()).extend(ticks)

    def generator(self, ended: float | None) -> dict[str, Any]:
        """run.json's ``generator``: per process its health rows and, once the run ended, its loop lag over the
        judged time (exact, from every tick)."""
        start = self.started_ts + self.warmup_s
        return {
            "columns": list(HEALTH_COLUMNS),
            "processes": {
                process: {
                    "rows": rows,
                    "lag_ms": None if ended is None else lag_summary(rows, bytes(self.ticks[process]), start, ended),
                }
                for process, rows in self.health.items()
            },
        }

    def info(
        self,
        ended: float | None,
        samples: int,
        host: str | None,
        workers: list,
        baseline: Path | None,
        baseline_summary: dict[str, Any] | None,
        label: str = "",
    ) -> dict[str, Any]:
        """run.json: what was run, against what, when, and every setting the reports are judged by."""
        run, profile = self, self.profile
        return {
            "run_id": run.run_dir.name if run.run_dir is not None else "",
            "profile": profile.name,
            "profile_path": profile.path,
            "label": label,
            "host": scrub_secrets(host) if host else None,  # no user:password@
            "started_at": iso(run.started_ts),
            "ended_at": None if ended is None else iso(ended),
            "started_ts": run.started_ts,
            "ended_ts": ended,
            "warmup_s": run.warmup_s,
            "planned_run_time_s": run.run_time_s,
            "interrupted": None if ended is None else ended - run.started_ts < run.run_time_s - 1.0 and not run.decided,
            "exit_code": None,
            "samples": samples,
            "dropped": run.store.dropped_series() if run.store is not None else {},
            "workers": workers,
            "latency_basis": profile.latency,
            "versions": {"suite": __version__, "locust": locust.__version__, "python": platform.python_version()},
            "settings": profile.settings(),
            "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
            "sla_endpoints": profile.sla.endpoints,
            "baseline": str(baseline) if baseline else None,
            "baseline_summary": baseline_summary,
            "aborted": run.aborted,
            "decided": run.decided,
            "generator": run.generator(ended),
        }
