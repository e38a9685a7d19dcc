#!/usr/bin/env bash
# The database side of a replica set, for the tests, the benches and docs/deploy.md: a PostGIS
# primary (cluster "cuulong_primary", port 5441, made by pg-start.sh) and a hot streaming
# standby of it (cluster "cuulong_standby", port 5442, cloned with `pg_basebackup -R`, so it
# follows the primary over streaming replication and answers read-only queries). Idempotent.
#
#   bash scripts/replica-set.sh                 start both (creating them the first time);
#                                               prints "PRIMARY_URL STANDBY_URL"
#   bash scripts/replica-set.sh stop-standby    stop the standby (a standby going away)
#   bash scripts/replica-set.sh start-standby   start it again (it catches up from the WAL)
#
# Like pg-start.sh, tuned for tests (fsync off): keep nothing there you cannot re-import.
set -euo pipefail
cd "$(dirname "$0")/.."

PRIMARY_PORT=${CUULONG_PRIMARY_PORT:-5441}
STANDBY_PORT=${CUULONG_STANDBY_PORT:-5442}
PRIMARY=cuulong_primary
STANDBY=cuulong_standby
SOCKET_DIR=/var/run/postgresql
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
log() { echo "cuulong-replica-set: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@";
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@";
  else sudo -u postgres "$@"; fi
}
# "online", or "online,recovery" for a standby.
online() { pg_lsclusters -h | awk -v v="$VERSION" -v c="$1" '$1==v && $2==c {print $4}' | grep -q '^online'; }
wait_ready() {
  for _ in $(seq 1 150); do pg_isready -q -h "$SOCKET_DIR" -p "$1" && return 0; sleep 0.2; done
  log "PostgreSQL on port $1 did not become ready"; return 1
}
start_standby() {
  if ! online "$STANDBY"; then
    for attempt in 1 2 3 4 5; do
      as_root pg_ctlcluster "$VERSION" "$STANDBY" start >&2 && break
      [ "$attempt" = 5 ] && { log "could not start the standby"; exit 1; }
      sleep 1
    done
  fi
  wait_ready "$STANDBY_PORT"
}

case "${1:-start}" in
  stop-standby)
    if online "$STANDBY"; then as_root pg_ctlcluster "$VERSION" "$STANDBY" stop -m fast >&2; fi
    exit 0 ;;
  start-standby)
    start_standby
    exit 0 ;;
  start) ;;
  *) log "unknown command '$1'"; exit 2 ;;
esac

url=$(CUULONG_PG_PORT=$PRIMARY_PORT CUULONG_PG_CLUSTER=$PRIMARY bash scripts/pg-start.sh)
# Enough WAL kept for a standby stopped a while (a test, a maintenance window) to catch up.
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "ALTER SYSTEM SET wal_keep_size = '1GB'" -c "SELECT pg_reload_conf()" >/dev/null

if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$VERSION/$STANDBY"; then
  log "creating the standby: cluster $VERSION/$STANDBY on port $STANDBY_PORT, cloned from port $PRIMARY_PORT"
  as_root pg_createcluster "$VERSION" "$STANDBY" -p "$STANDBY_PORT" \
    -o listen_addresses=localhost -o fsync=off -o hot_standby=on -o max_connections=200 \
    -o shared_buffers=128MB >/dev/null
  data=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$STANDBY" '$1==v && $2==c {print $6}')
  if online "$STANDBY"; then as_root pg_ctlcluster "$VERSION" "$STANDBY" stop >&2; fi
  as_root find "$data" -mindepth 1 -delete
  # -R writes standby.signal and primary_conninfo: the clone starts as a streaming standby.
  as_postgres pg_basebackup -h "$SOCKET_DIR" -p "$PRIMARY_PORT" -D "$data" -R -X stream -c fast >&2
fi
start_standby
echo "$url ${url/:$PRIMARY_PORT\//:$STANDBY_PORT/}"
