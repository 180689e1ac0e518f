"""Wires the suite into a Locust process: options, start-up checks, the collector and the run lifecycle.

``register(environment)`` (called from the locustfile's init hook) attaches one :class:`Suite` as
``environment.trademate`` and its listeners. A run begins when the load shape starts a test (the profile
is read then, as the web UI may have changed it): its run directory is created with a first ``run.json``,
and a greenlet spills the sample buffer every few seconds (or sooner when it fills) to ``samples.parquet``
as a row group, the conversion and write done on a thread so the request path never waits on them.
Workers ship their samples to the master with each ``report_to_master``; the master spills them with its
own. The run ends when the test stops: from the web UI at ``test_stop``; headless at ``quitting``, after
the workers' final reports have arrived. Then the last rows are written, the samples read back, every
report written, the verdict printed, and the exit code set in one ``quitting`` listener that does nothing
on workers.
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
from trademate_load.collector import Collector, Spiller
from trademate_load.credentials import AccountPool, read_credentials
from trademate_load.profile import ConfigError, Profile, load_profile
from trademate_load.report.console import render_console, verdict_line
from trademate_load.rundir import iso, new_run_dir, point_latest, read_summary, render_reports, write_json
from trademate_load.samples import SampleStore, read_parquet
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
    """A run in progress: its profile, planned length and start; on the master, its directory and sample store."""

    profile: Profile
    run_time_s: float
    started_ts: float
    stopped_ts: float | None = None
    run_dir: Path | None = None
    store: SampleStore | None = None
    spiller: Spiller | None = None
    error: str | None = None

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
        """Read the profile (it may have changed in the web UI), create the run directory and start collecting."""
        profile = self.load_profile()
        if self.run is not None and self.run.stopped_ts is None and self.run.profile == profile:
            return self._restart_clock(self.run)  # a master resets the shape twice as a test starts
        if self.run is not None:
            self.end_run()
        override = getattr(self.environment.parsed_options, "run_time", None)
        self.collector.drain()
        run = self.run = ActiveRun(profile, float(override) if override else profile.run_time_s, time.time())
        logger.info(
            "TradeMate run: profile %s (%s model) for %.0f s (warm-up %.1f s)",
            profile.name,
            profile.model,
            run.run_time_s,
            run.warmup_s,
        )
        if not self.is_worker:
            self._open_run_dir(run)
        return run

    def _restart_clock(self, run: ActiveRun) -> ActiveRun:
        run.started_ts = time.time()
        self.collector.drain()
        if run.run_dir is not None and run.error is None:
            write_json(run.run_dir / "run.json", {**self.run_info(run, None, 0), "in_progress": True})
        return run

    def _open_run_dir(self, run: ActiveRun) -> None:
        """The run directory, a first run.json (so even an interrupted run has one) and the spilling greenlet."""
        try:
            run.run_dir = new_run_dir(self.report_dir, run.profile.name, run.started_ts)
            run.store = SampleStore(run.run_dir / "samples.parquet")
            info = self.run_info(run, None, 0)
            write_json(run.run_dir / "run.json", {**info, "in_progress": True})
        except OSError as exc:
            logger.error("could not create the run directory under %s: %s", self.report_dir, exc)
            run.error = str(exc)
            return
        run.spiller = Spiller(self.collector, run.store).start()

    def on_test_stop(self, **_kwargs) -> None:
        if self.run is not None and self.run.stopped_ts is None:
            self.run.stopped_ts = time.time()
        if not self.headless:
            self.end_run()

    def ship_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        """Worker side of ``report_to_master``: hand over every sample (and dropped count) since the last report."""
        if len(self.collector.buffer) or self.collector.buffer.dropped:
            data["trademate_samples"] = self.collector.drain().to_payload()

    def receive_from_worker(self, client_id: str, data: dict, **_kwargs) -> None:
        """Master side of ``worker_report``: keep the worker's samples with ours."""
        if "trademate_samples" in data:
            self.collector.buffer.extend_payload(data["trademate_samples"])

    def run_info(self, run: ActiveRun, ended: float | None, samples: int) -> dict[str, Any]:
        """run.json: what was run, against what, when, and every setting the reports are judged by."""
        profile = run.profile
        return {
            "run_id": run.run_dir.name if run.run_dir is not None else "",
            "profile": profile.name,
            "profile_path": profile.path,
            "host": self.environment.host,
            "started_at": iso(run.started_ts),
            "ended_at": None if ended is None else iso(ended),
            "started_ts": run.started_ts,
            "ended_ts": ended,
            "warmup_s": run.warmup_s,
            "planned_run_time_s": run.run_time_s,
            "interrupted": None if ended is None else ended - run.started_ts < run.run_time_s - 1.0,
            "exit_code": None,
            "samples": samples,
            "dropped": run.store.dropped_series() if run.store is not None else {},
            "latency_basis": profile.latency,
            "versions": {"suite": __version__, "locust": locust.__version__, "python": platform.python_version()},
            "settings": profile.settings(),
            "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
            "sla_endpoints": profile.sla.endpoints,
            "baseline": str(self.baseline_dir) if self.baseline_dir else None,
            "baseline_summary": self.baseline_summary,
        }

    def end_run(self) -> None:
        """Finish the run in progress, if any: the last samples, the run directory's reports, ``latest``."""
        run, self.run = self.run, None
        if run is None or self.is_worker:
            return
        if run.spiller is not None:
            run.spiller.stop()
            run.error = run.error or run.spiller.error
        ended = run.stopped_ts or time.time()
        try:
            if run.store is None or run.error is not None:
                raise OSError(run.error)
            run.store.write(self.collector.drain())
            frame = read_parquet(run.store.close())
            info = self.run_info(run, ended, run.store.rows)
            write_json(run.run_dir / "run.json", info)
            self.last_summary = render_reports(run.run_dir, frame, info)
            point_latest(run.run_dir)
        except OSError as exc:
            logger.error("could not write the run directory under %s: %s", self.report_dir, exc)
            self.last_summary = {"exit_code": EXIT_NO_DATA, "error": str(exc)}
            return
        logger.info("TradeMate run directory: %s", run.run_dir)
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
