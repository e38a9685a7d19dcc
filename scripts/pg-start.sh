#!/usr/bin/env bash
# Starts a local PostgreSQL + PostGIS for cuulong's tests and benchmarks, creating it the first
# time: a dedicated cluster "cuulong" on port 5439 (so it never touches another cluster), a
# superuser role for the calling user, a database "cuulong" and a template database
# "cuulong_template" with PostGIS (tests clone it). Idempotent. Prints the DATABASE_URL.
#
# The cluster is tuned for tests (fsync off): do not keep data there that you cannot re-import.
set -euo pipefail

PORT=${CUULONG_PG_PORT:-5439}
CLUSTER=${CUULONG_PG_CLUSTER:-cuulong}
SOCKET_DIR=/var/run/postgresql

log() { echo "cuulong-pg: $*" >&2; }

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  log "PostgreSQL is not installed; run scripts/install-deps.sh first"
  exit 1
fi
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@";
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@";
  else sudo -u postgres "$@"; fi
}

if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$VERSION/$CLUSTER"; then
  log "creating PostgreSQL $VERSION cluster '$CLUSTER' on port $PORT"
  as_root pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" \
    -o listen_addresses=localhost -o fsync=off -o synchronous_commit=off \
    -o full_page_writes=off -o max_connections=200 -o shared_buffers=256MB >/dev/null
fi
status=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')
if [ "$status" != "online" ]; then
  log "starting cluster $VERSION/$CLUSTER"
  # pg_ctlcluster prints to stdout (e.g. "Removed stale pid file." after an unclean stop), and
  # only the URL may go there: callers capture it.
  # Retried: right after an unclean stop the old postmaster's socket lock can outlive it briefly.
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    as_root pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 && break
    [ "$attempt" = 10 ] && { log "could not start cluster $VERSION/$CLUSTER"; exit 1; }
    sleep 1
  done
fi
for _ in $(seq 1 100); do
  pg_isready -q -h "$SOCKET_DIR" -p "$PORT" && break
  sleep 0.2
done
pg_isready -q -h "$SOCKET_DIR" -p "$PORT" || { log "PostgreSQL did not become ready"; exit 1; }

ME=$(id -un)
psql_pg() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -d postgres "$@"; }
if [ "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ME'")" != "1" ]; then
  psql_pg -c "CREATE ROLE \"$ME\" SUPERUSER LOGIN" >&2
fi
for db in cuulong_template cuulong; do
  if [ "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
    psql_pg -c "CREATE DATABASE \"$db\" OWNER \"$ME\"" >&2
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -d "$db" \
      -c "CREATE EXTENSION IF NOT EXISTS postgis" >&2
  fi
done
psql_pg -c "ALTER DATABASE cuulong_template WITH IS_TEMPLATE true" >/dev/null
echo "postgres://$ME@localhost:$PORT/cuulong?host=$SOCKET_DIR"
