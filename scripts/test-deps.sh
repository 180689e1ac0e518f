#!/usr/bin/env bash
# What `make test` runs before pytest: make sure the tests find what they need outside .venv, so that a fresh machine
# skips nothing. As root with apt-get: installs the missing Debian packages (chromium for the browser tests,
# prometheus for promtool, postgresql, redis-server and nginx), then starts PostgreSQL and Redis on loopback through
# scripts/services.sh. Where it cannot, it prints one line per cause (on stderr) naming what will be skipped and how
# to get it, and the tests run all the same (skipped on a workstation, failed under CI).
# Prints on stdout the environment the tests read; `eval "$(scripts/test-deps.sh)"` exports it. Idempotent, and quick
# when everything is there: apt-get runs only for a missing package.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { echo "make test: $*" >&2; }

root=false
[ "$(id -u)" = 0 ] && root=true
apt=false
command -v apt-get >/dev/null && apt=true

has() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
# package, the command that shows it is there, what its absence skips
PACKAGES=(
  "chromium|chromium|the browser tests (tests/browser)"
  "prometheus|promtool|the promtool tests (tests/deploy/test_prometheus_rules.py, test_grafana_dashboard.py)"
  "postgresql|pg_ctlcluster|the PostgreSQL tests (tests/api_pg)"
  "redis-server|redis-server|the Redis tests (tests/api_redis)"
  "nginx|nginx|the nginx tests (tests/deploy/test_nginx.py, test_nginx_config.py)"
)
missing=()
for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r package command _ <<<"$entry"
  has "$command" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ] && $root && $apt; then
  say "installing ${missing[*]} (Debian packages the tests need)"
  if apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    missing=()
  else
    say "apt-get install ${missing[*]} failed"
  fi
fi
for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r package command skipped <<<"$entry"
  if ! has "$command"; then
    if $apt; then how="run make test as root, or apt-get install $package as root"; else how="install $package"; fi
    say "no $command: $skipped will be skipped; $how"
  fi
done
[ "$(nproc)" -ge 2 ] ||
  say "one core: the generator-starvation tests (tests/integration/test_generator.py) will be skipped; use two cores"

# The backends: given by the caller, already running (scripts/services.sh started them), or started now as root.
PG_URL="postgresql://trademate:trademate@127.0.0.1:5432/trademate"
REDIS_SHARED="redis://127.0.0.1:6390/0"
REDIS_PREMIUM="redis://127.0.0.1:6391/0"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${TRADEMATE_TEST_DATABASE_URL:-}" ] && [ -n "${TRADEMATE_TEST_REDIS_SHARED_URL:-}" ] &&
  [ -n "${TRADEMATE_TEST_REDIS_PREMIUM_URL:-}" ]; then
  exit 0 # the caller's own servers
fi
if $root && has pg_ctlcluster && has redis-server; then
  if env=$(scripts/services.sh); then
    echo "$env"
    exit 0
  fi
  say "scripts/services.sh failed: the PostgreSQL and Redis tests (tests/api_pg, tests/api_redis) will be skipped"
elif listening 5432 && listening 6390 && listening 6391; then
  echo "export TRADEMATE_TEST_DATABASE_URL=$PG_URL"
  echo "export TRADEMATE_TEST_REDIS_SHARED_URL=$REDIS_SHARED"
  echo "export TRADEMATE_TEST_REDIS_PREMIUM_URL=$REDIS_PREMIUM"
else
  say "PostgreSQL and Redis are not running: the backend tests (tests/api_pg, tests/api_redis) will be skipped;" \
    "run make test as root, or eval \"\$(scripts/services.sh)\" as root first"
fi
exit 0
