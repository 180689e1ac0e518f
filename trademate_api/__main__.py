"""Command line: `python -m trademate_api --host H --port P --credentials FILE` seeds and serves the API."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .server import serve, temporary_database
from .settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trademate_api", description="Run the TradeMate reference API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    parser.add_argument("--credentials", type=Path, required=True, help="CSV file to write: user_id,plan,tier,token")
    parser.add_argument("--users-per-plan", type=int, default=200, help="seeded users per plan (default 200)")
    parser.add_argument("--db", type=Path, help="SQLite file, re-seeded at start and kept (default: temporary)")
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    args = parser.parse_args(argv)
    if args.users_per_plan < 1:
        parser.error("--users-per-plan must be at least 1")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    temporary = args.db is None
    settings = Settings(
        db_path=temporary_database() if temporary else args.db,
        host=args.host,
        port=args.port,
        credentials=args.credentials,
        users_per_plan=args.users_per_plan,
        log_level=args.log_level,
    )
    try:
        return serve(settings, temporary_db=temporary)
    except OSError as exc:  # the port is taken, a path is not writable
        print(f"trademate_api: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
