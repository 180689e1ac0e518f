#!/usr/bin/env bash
# Install (Debian packages, when missing) and start the services the backend tests need, on loopback only:
# PostgreSQL 15 (database and role "trademate") and two Redis servers (shared tier on 6390, premium on 6391).
# Idempotent. Prints the environment the tests read; `eval "$(scripts/services.sh)"` exports it.
set -euo pipefail

PG_URL="postgresql://trademate:trademate@127.0.0.1:5432/trademate"
REDIS_SHARED_PORT=6390
REDIS_PREMIUM_PORT=6391

need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# PostgreSQL: the Debian cluster, listening on loopback only.
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  pg_createcluster 15 main >&2
  cluster="15 main"
fi
read -r pg_version pg_name <<<"$cluster"
conf_dir="/etc/postgresql/$pg_version/$pg_name"
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf_dir/postgresql.conf"
pg_ctlcluster "$pg_version" "$pg_name" start >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
  pg_isready -h 127.0.0.1 -p 5432 -q && break
  sleep 0.2
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'trademate') THEN
    CREATE ROLE trademate LOGIN PASSWORD 'trademate' CREATEDB;
  END IF;
END $$;
SQL
runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'trademate'" | grep -q 1 ||
  runuser -u postgres -- createdb -O trademate trademate >&2

# Redis: one server per tier, with the tier's eviction policy, no persistence.
start_redis() {
  local port=$1 policy=$2
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
      --maxmemory 256mb --maxmemory-policy "$policy" --logfile "/tmp/redis-$port.log" >&2
  fi
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis on port $port did not start" >&2
  return 1
}
start_redis "$REDIS_SHARED_PORT" allkeys-lru
start_redis "$REDIS_PREMIUM_PORT" allkeys-lfu

echo "export TRADEMATE_TEST_DATABASE_URL=$PG_URL"
echo "export TRADEMATE_TEST_REDIS_SHARED_URL=redis://127.0.0.1:$REDIS_SHARED_PORT/0"
echo "export TRADEMATE_TEST_REDIS_PREMIUM_URL=redis://127.0.0.1:$REDIS_PREMIUM_PORT/0"
