"""``python -m trademate_load``: run a profile, re-render a run directory, or validate a profile.

    python -m trademate_load run premium [--host URL --credentials FILE] [--run-time 30s] [--ui]
    python -m trademate_load report reports/<run-id> [--baseline reports/<earlier-id>]
    python -m trademate_load compare reports/<baseline-id> reports/<run-id>
    python -m trademate_load history [--report-dir reports] [--rebuild]
    python -m trademate_load validate profiles/premium.yaml
    python -m trademate_load plan premium [--run-time 30s]

Exit codes: 0 every SLA met, 1 an SLA breached, 2 invalid input, 3 could not measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from trademate_load import gate, history_publish
from trademate_load.config import ConfigError, parse_duration
from trademate_load.frame import SamplesFileError
from trademate_load.launcher import launch, main_line, run_verdict
from trademate_load.plan import plan_profile, render_plan
from trademate_load.profile import load_profile
from trademate_load.report.console import render_baseline, render_changes, render_console
from trademate_load.rundir import load_run, read_summary, render_reports
from trademate_load.verdict import EXIT_BREACH, EXIT_INVALID, EXIT_NO_DATA, EXIT_PASS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code is 2 as well; keep its one-line message
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def _port(text: str) -> int:
    """A TCP port, or 0 (off) for an empty value, as make passes an unset METRICS_PORT."""
    try:
        port = int(text) if text.strip() else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"METRICS_PORT={text!r}: expected a TCP port number") from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"METRICS_PORT={text!r}: expected a TCP port number (1-65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m trademate_load", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a profile (starts the reference API unless --host is given)")
    run.add_argument("profile", help="profile name under profiles/ or a path to a profile YAML")
    run.add_argument("--host", default="", help="external TradeMate API (http or https URL)")
    run.add_argument("--credentials", default="", help="CSV of users' tokens for --host")
    run.add_argument("--run-time", default="", help="override the profile's run time (30s, 2m)")
    run.add_argument("--report-dir", default="reports")
    run.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: one process)")
    run.add_argument(
        "--baseline",
        default="",
        help="an earlier run directory to gate regressions against; auto: the last passing valid run of the profile "
        "in the history (auto:PREFIX: whose label starts with PREFIX)",
    )
    run.add_argument("--label", default="", help="names the build under test in the history (RUN_LABEL)")
    run.add_argument("--ui", action="store_true", help="open the Locust web UI instead of running headless")
    run.add_argument("--web-port", type=int, default=8089)
    run.add_argument(
        "--metrics-port",
        type=_port,
        default=0,
        help="serve live SLA metrics for Prometheus on 127.0.0.1:PORT/metrics (empty or 0: off)",
    )
    report = commands.add_parser("report", help="rebuild summary.json, junit.xml and index.html of a run directory")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--baseline", type=Path, help="gate against this earlier run directory instead")
    compare = commands.add_parser("compare", help="compare a run with a baseline run; exit 1 on regression")
    compare.add_argument("baseline", type=Path, help="the earlier run directory")
    compare.add_argument("run_dir", type=Path, help="the run directory to judge")
    history = commands.add_parser(
        "history", help="write REPORT_DIR/index.html: trends, change points, daily compliance"
    )
    history.add_argument("--report-dir", type=Path, default=Path("reports"))
    history.add_argument("--rebuild", action="store_true", help="recreate history.jsonl from the run directories")
    validate = commands.add_parser("validate", help="check a profile and its SLA file")
    validate.add_argument("profile")
    plan = commands.add_parser("plan", help="how many requests and how long each check needs before it can pass")
    plan.add_argument("profile")
    plan.add_argument("--run-time", default="", help="judge this run time instead of the profile's (30s, 2m)")
    return parser


def _report(run_dir: Path, baseline: Path | None) -> int:
    try:
        frame, run = load_run(run_dir)
    except FileNotFoundError as exc:
        print(f"error: {run_dir}: missing {Path(exc.filename).name}", file=sys.stderr)
        return EXIT_INVALID
    if baseline is not None:
        run = {**run, "baseline": str(baseline), "baseline_summary": read_summary(baseline)}
    summary = render_reports(run_dir, frame, run)
    history_publish.after_run(run_dir, summary, run)
    print(render_console(summary))
    print(f"Rebuilt {run_dir}/index.html, summary.json and junit.xml from {len(frame)} samples")
    return summary["exit_code"]


def _compare(baseline_dir: Path, run_dir: Path) -> int:
    baseline, current = read_summary(baseline_dir), read_summary(run_dir)
    run_json = run_dir / "run.json"
    settings = json.loads(run_json.read_text()).get("settings", {}) if run_json.exists() else {}
    comparison = gate.compare(current, baseline, gate.tolerances_from(settings))
    print(render_baseline(comparison))
    return EXIT_BREACH if comparison["regressions"] else EXIT_PASS


def _history(report_dir: Path, rebuild: bool) -> int:
    if not report_dir.is_dir():
        print(f"error: {report_dir}: no such report directory", file=sys.stderr)
        return EXIT_INVALID
    published = history_publish.publish(report_dir, rebuild)
    for line in published.skipped:
        print(line, file=sys.stderr)
    print(render_changes(published.changes))
    print(f"Wrote {published.page}: {published.runs} runs, {published.probe_rounds} probe rounds")
    return EXIT_PASS


def _validate(ref: str) -> int:
    profile = load_profile(ref)
    tiers = ", ".join(f"{t}: {load.users} users at {load.rps:g} req/s" for t, load in profile.tiers.items())
    print(f"{profile.path}: ok (profile {profile.name}; {tiers}; SLA {profile.sla.path})")
    return EXIT_PASS


def _plan(ref: str, run_time: str) -> int:
    profile = load_profile(ref)
    seconds = parse_duration(run_time, "(command line)", "--run-time") if run_time else profile.run_time_s
    print(render_plan(profile, plan_profile(profile, seconds), seconds))
    return EXIT_PASS


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            started = time.time()
            code = launch(
                args.profile,
                baseline=args.baseline,
                host=args.host,
                credentials=args.credentials,
                ui=args.ui,
                run_time=args.run_time,
                report_dir=args.report_dir,
                workers=args.workers,
                web_port=args.web_port,
                metrics_port=args.metrics_port,
                label=args.label,
            )
            print(main_line(code, run_verdict(args.report_dir, started)), flush=True)
            return code
        if args.command == "report":
            return _report(args.run_dir, args.baseline)
        if args.command == "compare":
            return _compare(args.baseline, args.run_dir)
        if args.command == "history":
            return _history(args.report_dir, args.rebuild)
        if args.command == "plan":
            return _plan(args.profile, args.run_time)
        return _validate(args.profile)
    except (ConfigError, SamplesFileError) as exc:  # bad input: a profile, SLA file or run directory
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_DATA
