"""The suite in one Locust process, and the run lifecycle: a run begins when the load shape starts a test.

The profile is read then (the web UI may have changed it); on the master (or the local process) the run directory
is created with a first ``run.json``, and a greenlet spills the sample buffer every few seconds (or sooner when it
fills) to ``samples.parquet`` as a row group, the conversion and write done on a thread so the request path never
waits on them. The run ends when the test stops: from the web UI at ``test_stop`` (a master once each worker has
reported since, :mod:`trademate_load.distributed`); headless at ``quitting``, after the master has received every
connected worker's final report. Then the last rows are written, the samples read back, every report written, the
verdict printed, and the exit code set in one ``quitting`` listener that does nothing on workers.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from trademate_load import history_publish, locust_stats, plan
from trademate_load.active_run import ActiveRun
from trademate_load.collector import Collector, Spiller
from trademate_load.config import ConfigError
from trademate_load.credentials import AccountPool, read_credentials
from trademate_load.distributed import Distribution
from trademate_load.frame import read_parquet
from trademate_load.health import latest
from trademate_load.history import auto_baseline, parse_auto
from trademate_load.live import SETTLE_S, LiveBoard, LiveRun
from trademate_load.live_watch import LiveFeed
from trademate_load.monitor import HealthMonitor
from trademate_load.profile import Profile, load_profile
from trademate_load.report.console import could_not_measure_line, render_console, verdict_line
from trademate_load.rundir import new_run_dir, point_latest, render_reports, write_json
from trademate_load.store import SampleStore
from trademate_load.users import TIER_USERS
from trademate_load.verdict import EXIT_NO_DATA
from trademate_load.workers import Roster

logger = logging.getLogger(__name__)
USER_TIERS = {cls.__name__: tier for classes in TIER_USERS.values() for tier, cls in classes.items()}


class Suite:
    """The suite's state in one Locust process."""

    def __init__(self, environment: Environment):
        self.environment = environment
        options = environment.parsed_options
        self.report_dir = Path(options.report_dir)
        self.credentials_path = Path(options.credentials) if options.credentials else None
        self.baseline_auto = parse_auto(options.baseline)  # BASELINE=auto[:PREFIX]: picked as each run begins
        self.baseline_dir = Path(options.baseline) if options.baseline and self.baseline_auto is None else None
        self.baseline_summary: dict[str, Any] | None = None
        self.label = options.label
        self.pool: AccountPool | None = None
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.locust_stats = locust_stats.install(environment)  # Locust's statistics, fed from the collector
        pending = self.locust_stats.rows if self.locust_stats is not None else None
        self.collector = Collector(worker=runner.client_id if self.is_worker else "local", pending=pending)
        self.run: ActiveRun | None = None
        self._worker_profile: Profile | None = None
        self.last_summary: dict[str, Any] | None = None
        self.headless = bool(environment.parsed_options.headless)
        self.process = "master" if isinstance(runner, MasterRunner) else self.collector.worker
        self.health = HealthMonitor(self._users_by_tier)  # this process's health during each test
        self.distribution = Distribution(self)  # samples and health between workers and the master
        # live SLA figures, fed on the master or the local process
        self.live = LiveBoard(self.collector.buffer, self._latest_health)
        self.live_feed: LiveFeed | None = None

    def _latest_health(self) -> dict[str, dict]:
        """The last second of health of this process and of each worker (the live tab and /metrics)."""
        rows = {**self.distribution.latest_health, self.process: self.health.latest}
        return {process: latest(row) for process, row in rows.items() if row is not None}

    def _users_by_tier(self) -> dict[str, int]:
        """Users running in this process, per tier (a master runs none itself)."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            return {}
        counts: dict[str, int] = {}
        for name, count in runner.user_classes_count.items():
            tier = USER_TIERS.get(name)
            if tier is not None:
                counts[tier] = counts.get(tier, 0) + count
        return counts

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
        self.distribution.roster = Roster()
        run = self.run = ActiveRun(profile, float(override) if override else profile.run_time_s, time.time())
        logger.info(
            "TradeMate run: profile %s (%s model) for %.0f s (warm-up %.1f s)",
            profile.name,
            profile.model,
            run.run_time_s,
            run.warmup_s,
        )
        if not self.is_worker:
            short = plan.warning(profile, run.run_time_s)
            if short is not None:
                logger.warning("TradeMate: %s", short)
            if self.baseline_auto is not None:
                self.baseline_dir, self.baseline_summary = auto_baseline(
                    self.report_dir, profile.name, self.baseline_auto
                )
            self._open_run_dir(run)
        self._start_live(run)
        return run

    def _restart_clock(self, run: ActiveRun) -> ActiveRun:
        run.started_ts = time.time()
        self.collector.drain()
        self.distribution.roster = Roster()
        self._start_live(run)
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

    def _start_live(self, run: ActiveRun) -> None:
        """Live figures of the run from now on (master or local process): a fresh window and tallies, fed by a
        greenlet; a master's window ends a report interval further back, as workers ship samples that often."""
        if self.is_worker or not self._live_wanted(run.profile):
            return
        master = isinstance(self.environment.runner, MasterRunner)
        live_run = LiveRun(
            run_id=run.run_dir.name if run.run_dir is not None else "",
            profile=run.profile,
            started_ts=run.started_ts,
            run_time_s=run.run_time_s,
            settle_s=SETTLE_S + (WORKER_REPORT_INTERVAL if master else 0.0),
        )
        self.live.start(live_run)
        if self.live_feed is None:
            self.live_feed = LiveFeed(self.live, self._end_early).start()

    def _live_wanted(self, profile: Profile) -> bool:
        """Live figures are computed on the load generator's own event loop, where each update delays the requests
        waiting on it: only when something reads them (the web UI, METRICS_PORT, abort_on_fail, stop_when_decided)."""
        options = self.environment.parsed_options
        ends_early = bool(profile.abort_on_fail) or profile.stop_when_decided
        return self.environment.web_ui is not None or bool(options.metrics_port) or ends_early

    def _end_early(self, record: dict[str, Any]) -> None:
        """A check was decided failed (or, with stop_when_decided, every check settled): record which and when, and
        stop the run as its run time would."""
        run = self.run
        if run is None or run.stopped_ts is not None or run.aborted is not None or run.decided is not None:
            return
        if record["outcome"] == "fail":
            run.aborted = record
        else:
            run.decided = record
        self.stop_began()
        if self.headless:
            self.environment.runner.quit()
        else:
            self.environment.runner.stop()

    def stop_began(self) -> float | None:
        """The run in progress begins to stop now, unless it already did (its shape's end, an early end, or Locust's
        stopping event, whichever comes first): its end, for the summary's window, the live figures and the health
        monitor alike."""
        run = self.run
        if run is not None and run.stopped_ts is None:
            run.stopped_ts = time.time()
            self.live.ends_at(run.stopped_ts)
        return None if run is None else run.stopped_ts

    def on_test_stop(self, **_kwargs) -> None:
        if self.run is not None and self.run.stopped_ts is None:
            self.run.stopped_ts = time.time()
        if not self.headless:
            if isinstance(self.environment.runner, MasterRunner) and self.run is not None:
                gevent.spawn(self.distribution.end_run_after_reports, self.run, time.time(), self.end_run)
            else:
                self.end_run()

    def run_info(self, run: ActiveRun, ended: float | None, samples: int) -> dict[str, Any]:
        """run.json for ``run`` (see :meth:`ActiveRun.info`)."""
        workers = self.distribution.roster.as_list(run.started_ts)
        baseline = (self.baseline_dir, self.baseline_summary)
        return run.info(ended, samples, self.environment.host, workers, *baseline, label=self.label)

    def end_run(self) -> None:
        """Finish the run in progress, if any: the last samples, the run directory's reports, ``latest``."""
        run, self.run = self.run, None
        if run is None or self.is_worker:
            return
        if run.spiller is not None:
            run.spiller.stop()
            run.error = run.error or run.spiller.error
        ended = run.stopped_ts or time.time()
        self.live.finish(ended)  # the live figures' last rows, before the final drain takes them
        self.health.stop()
        run.keep_health(self.process, *self.health.take())
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
        history_publish.after_run(run.run_dir, self.last_summary, info)
        logger.info("TradeMate run directory: %s", run.run_dir)
        if self.last_summary["exit_code"] == EXIT_NO_DATA:
            print(could_not_measure_line(self.last_summary), file=sys.stderr, flush=True)
        if not self.headless:
            print(render_console(self.last_summary), flush=True)

    def on_quitting(self, environment: Environment, **_kwargs) -> None:
        if self.is_worker:  # its final report has gone; the log line lets a test count what it shipped
            logger.info(
                "TradeMate worker %s (pid %d) shipped %d samples",
                self.collector.worker,
                os.getpid(),
                self.distribution.shipped,
            )
            return
        if self.run is not None and isinstance(environment.runner, MasterRunner):
            self.distribution.collect_final_reports(environment.runner)
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
