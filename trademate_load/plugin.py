"""Wires the suite into a Locust process: options, start-up checks, the collector and the run lifecycle.

``register(environment)`` (called from the locustfile's init hook) attaches one :class:`Suite` as
``environment.trademate`` and its listeners. A run begins when the load shape starts a test (the profile
is read then, as the web UI may have changed it). Workers ship their samples to the master with each
``report_to_master``. The run ends when the test stops: from the web UI at ``test_stop``; headless at
``quitting``, after the workers' final reports have arrived. Then the run directory is written, the
verdict printed, and the exit code set in one ``quitting`` listener that does nothing on workers.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import locust
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from trademate_load import __version__
from trademate_load.collector import Collector
from trademate_load.credentials import AccountPool, read_credentials
from trademate_load.profile import ConfigError, Profile, load_profile
from trademate_load.report.console import render_console, verdict_line
from trademate_load.rundir import iso, new_run_dir, read_summary, write_run
from trademate_load.sla import EXIT_INVALID, EXIT_NO_DATA

logger = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    """The suite's own command-line options (Locust's ``--profile`` selects the load profile)."""
    group = parser.add_argument_group("TradeMate SLA suite")
    group.add_argument(
        "--credentials",
        metavar="FILE",
        env_var="TRADEMATE_CREDENTIALS",
        default="",
        help="CSV of users' tokens (user_id,plan,tier,token) as the API's seeding step writes it",
    )
    group.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        env_var="TRADEMATE_BASELINE",
        default="",
        help="an earlier run directory: fail on regression against it (tolerance from the profile)",
    )
    group.add_argument(
        "--report-dir",
        metavar="DIR",
        env_var="TRADEMATE_REPORT_DIR",
        default="reports",
        help="where run directories are written (default: reports)",
    )


@dataclass
class ActiveRun:
    """A run in progress: its profile, planned length and start."""

    profile: Profile
    run_time_s: float
    started_ts: float
    stopped_ts: float | None = None

    @property
    def warmup_s(self) -> float:
        return self.profile.warmup_for(self.run_time_s)


class Suite:
    """The suite's state in one Locust process."""

    def __init__(self, environment: Environment):
        self.environment = environment
        options = environment.parsed_options
        self.report_dir = Path(options.report_dir)
        self.credentials_path = Path(options.credentials) if options.credentials else None
        self.baseline_dir = Path(options.baseline) if options.baseline else None
        self.baseline_summary: dict[str, Any] | None = None
        self.pool: AccountPool | None = None
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.collector = Collector(worker=runner.client_id if self.is_worker else "local")
        self.run: ActiveRun | None = None
        self._worker_profile: Profile | None = None
        self.last_summary: dict[str, Any] | None = None
        self.headless = bool(environment.parsed_options.headless)

    # --- start-up -------------------------------------------------------------------------------
    def load_profile(self, ref: str | None = None) -> Profile:
        """The profile named by ``ref`` or Locust's ``--profile``, checked against the credentials."""
        profile = load_profile(ref if ref is not None else self.environment.profile)
        self.load_accounts()
        for load in profile.tiers.values():
            self.pool.require(load.plans)
        return profile

    def load_accounts(self) -> None:
        if self.pool is not None:
            return
        if self.credentials_path is None:
            raise ConfigError("(command line)", "--credentials", "required: the CSV of users' tokens")
        self.pool = AccountPool(read_credentials(self.credentials_path), str(self.credentials_path))

    def profile_for_users(self) -> Profile:
        """The profile users follow: the active run's; on a worker (which runs no shape) Locust's --profile."""
        if self.run is not None:
            return self.run.profile
        if self._worker_profile is None:
            self._worker_profile = self.load_profile()
        return self._worker_profile

    # --- lifecycle --------------------------------------------------------------------------------
    def begin_run(self) -> ActiveRun:
        """Read the profile (it may have changed in the web UI) and start collecting afresh."""
        profile = self.load_profile()
        override = getattr(self.environment.parsed_options, "run_time", None)
        self.collector.drain()
        self.run = ActiveRun(profile, float(override) if override else profile.run_time_s, time.time())
        logger.info(
            "TradeMate run: profile %s for %.0f s (warm-up %.1f s)",
            profile.name,
            self.run.run_time_s,
            self.run.warmup_s,
        )
        return self.run

    def on_test_stop(self, **_kwargs) -> None:
        if self.run is not None and self.run.stopped_ts is None:
            self.run.stopped_ts = time.time()
        if not self.headless:
            self.end_run()

    def ship_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        """Worker side of ``report_to_master``: hand over every sample taken since the last report."""
        if len(self.collector.buffer):
            data["trademate_samples"] = self.collector.drain().to_payload()

    def receive_from_worker(self, client_id: str, data: dict, **_kwargs) -> None:
        """Master side of ``worker_report``: keep the worker's samples with ours."""
        if "trademate_samples" in data:
            self.collector.buffer.extend_payload(data["trademate_samples"])

    def run_info(self, run: ActiveRun, ended: float, samples: int) -> dict[str, Any]:
        """run.json: what was run, against what, when, and every setting the reports are judged by."""
        profile = run.profile
        return {
            "run_id": "",
            "profile": profile.name,
            "profile_path": profile.path,
            "host": self.environment.host,
            "started_at": iso(run.started_ts),
            "ended_at": iso(ended),
            "started_ts": run.started_ts,
            "ended_ts": ended,
            "warmup_s": run.warmup_s,
            "planned_run_time_s": run.run_time_s,
            "interrupted": ended - run.started_ts < run.run_time_s - 1.0,
            "exit_code": None,
            "samples": samples,
            "latency_basis": profile.latency,
            "versions": {"suite": __version__, "locust": locust.__version__, "python": platform.python_version()},
            "settings": profile.settings(),
            "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
            "sla_endpoints": profile.sla.endpoints,
            "baseline": str(self.baseline_dir) if self.baseline_dir else None,
            "baseline_summary": self.baseline_summary,
        }

    def end_run(self) -> None:
        """Write the run directory of the run in progress, if any."""
        run, self.run = self.run, None
        if run is None or self.is_worker:
            return
        ended = run.stopped_ts or time.time()
        frame = self.collector.drain().to_frame()
        info = self.run_info(run, ended, len(frame))
        try:
            run_dir = new_run_dir(self.report_dir, run.profile.name, run.started_ts)
            info["run_id"] = run_dir.name
            self.last_summary = write_run(run_dir, frame, info)
        except OSError as exc:
            logger.error("could not write the run directory under %s: %s", self.report_dir, exc)
            self.last_summary = {"exit_code": EXIT_NO_DATA, "error": str(exc)}
            return
        logger.info("TradeMate run directory: %s", run_dir)
        if not self.headless:
            print(render_console(self.last_summary), flush=True)

    def on_quitting(self, environment: Environment, **_kwargs) -> None:
        if self.is_worker:
            return
        self.end_run()
        if self.last_summary is not None:
            environment.process_exit_code = self.last_summary["exit_code"]

    def on_quit(self, exit_code: int, **_kwargs) -> None:
        """Headless: the verdict is the last thing printed, after Locust's own tables."""
        if self.is_worker or self.last_summary is None or not self.headless:
            return
        if "tiers" in self.last_summary:
            print("\n" + render_console(self.last_summary), flush=True)
        else:
            print(verdict_line(exit_code, self.last_summary.get("verdict")), flush=True)


def _refuse_bad_profile_in_web_ui(suite: Suite) -> None:
    """The start form's profile is validated before Locust starts the shape; a bad one is answered in the form."""
    from flask import jsonify, request

    def check_swarm():
        if request.method == "POST" and request.path.endswith("/swarm"):
            try:
                suite.load_profile(request.form.get("profile") or None)
            except ConfigError as exc:
                return jsonify({"success": False, "message": str(exc), "host": suite.environment.host})
        return None

    suite.environment.web_ui.app.before_request(check_swarm)


def register(environment: Environment) -> Suite:
    """Attach the suite to ``environment``; invalid input exits 2 with one line naming file and field."""
    suite = Suite(environment)
    environment.trademate = suite
    if not suite.is_worker:
        try:
            if suite.baseline_dir is not None:
                suite.baseline_summary = read_summary(suite.baseline_dir)
            suite.load_profile()
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_INVALID)
    environment.events.request.add_listener(suite.collector.on_request)
    environment.events.test_stop.add_listener(suite.on_test_stop)
    if suite.is_worker:
        environment.events.report_to_master.add_listener(suite.ship_to_master)
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(suite.receive_from_worker)
    environment.events.quitting.add_listener(suite.on_quitting)
    environment.events.quit.add_listener(suite.on_quit)
    if environment.web_ui is not None:
        _refuse_bad_profile_in_web_ui(suite)
    return suite
