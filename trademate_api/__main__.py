"""Command line: `python -m trademate_api --host H --port P --credentials FILE` seeds and serves the API."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from .cache_redis import redis_urls_from_env
from .faults import ENV_RULES, ENV_SEED, FaultSpecError, load_plan
from .pg import is_postgres_url
from .server import serve, temporary_database
from .settings import PREMIUM, SHARED, TIER_POLICIES, Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trademate_api", description="Run the TradeMate reference API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    parser.add_argument("--credentials", type=Path, required=True, help="CSV file to write: user_id,plan,tier,token")
    parser.add_argument("--users-per-plan", type=int, default=200, help="seeded users per plan (default 200)")
    parser.add_argument("--db", type=Path, help="SQLite file, re-seeded at start and kept (default: temporary)")
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    pg_help = "PostgreSQL URL (postgresql://...) to seed and serve from instead of SQLite (or DATABASE_URL)"
    parser.add_argument("--database-url", metavar="URL", help=pg_help)
    for tier, policy in TIER_POLICIES.items():
        help_text = f"period of the {tier} tier's view refresh in seconds (default {policy.view_refresh_s:g})"
        parser.add_argument(f"--refresh-{tier}-s", type=float, metavar="S", help=help_text)
    fault_help = f"a fault to inject, e.g. 'latency=fixed(5ms)'; repeatable; or {ENV_RULES} (see faults.py)"
    parser.add_argument("--fault", action="append", default=[], metavar="RULE", help=fault_help)
    parser.add_argument("--fault-seed", type=int, help=f"seed of the faults' draws (or {ENV_SEED}; default random)")
    prefix_help = "namespace of the Redis keys, trademate:PREFIX:tier:... (or TRADEMATE_CACHE_PREFIX; default api)"
    parser.add_argument("--cache-prefix", default=os.environ.get("TRADEMATE_CACHE_PREFIX", "api"), help=prefix_help)
    warm_help = "cache N users' documents, spread over the plans, at start (or TRADEMATE_API_WARM_USERS; default 0)"
    warm_default = os.environ.get("TRADEMATE_API_WARM_USERS", "0")
    parser.add_argument("--warm-users", type=int, default=warm_default, metavar="N", help=warm_help)
    profile_help = "profile the serving process and write pstats to FILE when it stops (or TRADEMATE_API_PROFILE)"
    profile_default = os.environ.get("TRADEMATE_API_PROFILE") or None
    parser.add_argument("--profile-output", type=Path, default=profile_default, metavar="FILE", help=profile_help)
    args = parser.parse_args(argv)
    if args.users_per_plan < 1:
        parser.error("--users-per-plan must be at least 1")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.db is not None and args.database_url is not None:
        parser.error("give --db (SQLite) or --database-url (PostgreSQL), not both")
    if args.db is None and args.database_url is None:  # an explicit --db wins over DATABASE_URL
        args.database_url = os.environ.get("DATABASE_URL") or None
    if args.database_url is not None and not is_postgres_url(args.database_url):
        parser.error("--database-url (or DATABASE_URL) must be a postgresql:// URL")
    if any(period is not None and period <= 0 for period in (args.refresh_shared_s, args.refresh_premium_s)):
        parser.error("--refresh-shared-s and --refresh-premium-s must be positive")
    if args.warm_users < 0:
        parser.error("--warm-users must be at least 0")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", args.cache_prefix):
        parser.error("--cache-prefix must be 1 to 64 letters, digits, '_', '.' or '-'")
    try:
        args.redis_urls = redis_urls_from_env(os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        faults = load_plan(args.fault, os.environ, args.fault_seed)
    except FaultSpecError as exc:
        print(f"trademate_api: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    temporary = args.db is None and args.database_url is None
    settings = Settings(
        db_path=temporary_database() if temporary else args.db,
        host=args.host,
        port=args.port,
        credentials=args.credentials,
        users_per_plan=args.users_per_plan,
        log_level=args.log_level,
        redis_urls=args.redis_urls,
        cache_prefix=args.cache_prefix,
        warm_users=args.warm_users,
        profile_output=args.profile_output,
        faults=faults,
        database_url=args.database_url,
        tiers=tier_policies(args),
    )
    try:
        return serve(settings, temporary_db=temporary)
    except OSError as exc:  # the port is taken, a path is not writable
        print(f"trademate_api: {exc}", file=sys.stderr)
        return 1


def tier_policies(args: argparse.Namespace) -> MappingProxyType:
    """The tier policies, with any view refresh period given on the command line."""
    periods = {SHARED: args.refresh_shared_s, PREMIUM: args.refresh_premium_s}
    return MappingProxyType(
        {
            tier: policy if periods[tier] is None else replace(policy, view_refresh_s=periods[tier])
            for tier, policy in TIER_POLICIES.items()
        }
    )


if __name__ == "__main__":
    sys.exit(main())
