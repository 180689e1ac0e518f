"""SLA validation probe: measure each tier's endpoints with a light client and judge them with the suite's SLA engine.

    python scripts/sla_validation.py --iterations 100 --output results.json          # starts the reference API
    python scripts/sla_validation.py --host https://staging.example.com --credentials creds.csv --output r.json
    python scripts/sla_validation.py --host URL --credentials FILE --interval 60      # monitor until Ctrl-C

Each round sends --iterations requests to every endpoint of every tier (what the suite's users send), prints a
table (pass / FAIL / inconclusive per tier and endpoint) and writes --output as JSON (schema trademate-load/probe/1).
Exit codes: 0 every SLA met (or inconclusive, unless --strict), 1 an SLA breached, 2 invalid input (arguments,
SLA file, credentials file), 3 could not measure (target unreachable). With several rounds: 1 if any round
breached, else 3 if any could not measure, else 0. The logic lives in trademate_load/probe.py (sending a round),
probe_rounds.py (judging and recording it) and probe_console.py (the table).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trademate_load import probe, probe_console, probe_rounds  # noqa: E402
from trademate_load.config import ConfigError, read_yaml  # noqa: E402
from trademate_load.credentials import read_credentials  # noqa: E402
from trademate_load.launcher import LaunchError, check_host, reference_api  # noqa: E402
from trademate_load.profile import PROFILES_DIR  # noqa: E402
from trademate_load.rundir import report_dir_problem  # noqa: E402
from trademate_load.sla_spec import parse_sla  # noqa: E402
from trademate_load.verdict import EXIT_INVALID, EXIT_NO_DATA  # noqa: E402

PROG = "scripts/sla_validation.py"


class InvalidInput(Exception):
    """A bad argument: one line naming it, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise InvalidInput(message)


def _positive(kind: type, optional: bool = False):
    """An argparse type: a number above 0; with ``optional`` an empty string (an unset make variable) is None."""

    def parse(text: str):
        if optional and text.strip() == "":
            return None
        what = "a whole number" if kind is int else "a number"
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} above 0, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected {what} above 0, got {text!r}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="", help="TradeMate API URL (unset or empty: start the reference API)")
    parser.add_argument("--credentials", default="", help="with --host: CSV user_id,plan,tier,token")
    parser.add_argument("--iterations", type=_positive(int), default=100, help="requests per tier and endpoint")
    parser.add_argument("--concurrency", type=_positive(int, True), default=1, help="threads sending (default 1)")
    parser.add_argument("--interval", type=_positive(float, True), help="seconds between round starts: monitor")
    parser.add_argument("--count", type=_positive(int, True), help="rounds to run (default 1; with --interval: no end)")
    parser.add_argument("--output", default="", help="write the latest round's result here as JSON")
    parser.add_argument(
        "--report-dir", default="", help="keep each round there as a run directory, added to its history (REPORT_DIR)"
    )
    parser.add_argument("--label", default="", help="names the build under test in the history (RUN_LABEL)")
    parser.add_argument("--sla", default="", help=f"SLA file (default {PROFILES_DIR / 'sla.yaml'})")
    parser.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--read-only", action="store_true", help="GET endpoints only: place no orders")
    parser.add_argument("--strict", action="store_true", help="inconclusive checks count as a breach")
    args = parser.parse_args(argv)
    args.concurrency = args.concurrency or 1
    if args.credentials and not args.host:
        raise InvalidInput("--credentials: only with --host (the reference API brings its own users)")
    if args.host and not args.credentials:
        raise InvalidInput("--credentials: required with --host (a CSV user_id,plan,tier,token)")
    return args


def write_output(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` as JSON in one step; ConfigError names it when it cannot be written."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot write: {exc.strerror or exc}") from None


def check_output(path: Path) -> None:
    """Refuse an --output that cannot be written before measuring anything."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot create its directory: {exc.strerror or exc}") from None
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise ConfigError(path, "(file)", "cannot write here")


def _stop_on_sigterm() -> None:
    """SIGTERM ends the probe as Ctrl-C does, so a reference API it started is stopped too."""

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def target(stack: ExitStack, args: argparse.Namespace) -> tuple[str, Path]:
    """(URL, credentials file) of the API to probe: --host, or the reference API started for this probe."""
    if args.host:
        return check_host(args.host), Path(args.credentials)
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trademate-probe-")))
    return stack.enter_context(reference_api(workdir))


def run(args: argparse.Namespace) -> int:
    sla_path = Path(args.sla) if args.sla else PROFILES_DIR / "sla.yaml"
    sla = parse_sla(read_yaml(sla_path), sla_path)
    if args.output:
        check_output(Path(args.output))
    if args.report_dir and (problem := report_dir_problem(Path(args.report_dir))) is not None:
        raise LaunchError(problem, EXIT_NO_DATA)  # as a run: nothing is measured that could not be kept
    history: list[dict] = []
    with ExitStack() as stack:
        host, credentials = target(stack, args)
        accounts = probe.tier_accounts(read_credentials(credentials), sla)
        if not accounts:
            raise ConfigError(credentials, "tier", f"no account of a tier {sla_path} has thresholds for")
        for tier in (t for t in sla.tiers if t not in accounts):
            print(f"note: {credentials} has no account of tier {tier}: not probed", file=sys.stderr, flush=True)
        settings = probe.ProbeSettings(
            host=host,
            iterations=args.iterations,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            read_only=args.read_only,
            strict=args.strict,
            sla_path=str(sla_path),
            report_dir=args.report_dir,
            label=args.label,
        )
        count = args.count or (None if args.interval else 1)
        try:
            for res in probe_rounds.rounds(settings, sla, accounts, args.interval or 0.0, count):
                print(probe_console.render_table(res), flush=True)
                data = probe_rounds.with_history(res, history, list(accounts))
                if args.output:
                    write_output(Path(args.output), data)
        except KeyboardInterrupt:
            print(f"Interrupted after {len(history)} complete round(s)", file=sys.stderr, flush=True)
    code = probe_rounds.overall_exit([h["exit_code"] for h in history])
    if len(history) > 1:
        print(probe_console.rounds_line(history), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    _stop_on_sigterm()
    try:
        return run(parse_args(argv))
    except InvalidInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted before a round was complete", file=sys.stderr)
        return EXIT_NO_DATA


if __name__ == "__main__":
    sys.exit(main())
