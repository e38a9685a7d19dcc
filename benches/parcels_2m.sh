#!/usr/bin/env bash
# Province scale, the starting point of issue "Province scale and beyond one machine": a synthetic
# cadastre of COUNT parcels (default 2 000 000; scripts/make_parcels.py) through today's code,
# one run:
#  1. import into PostGIS: `cuulong import` (validating, mapping codes, one transaction) against
#     `ogr2ogr -f PostgreSQL --config PG_USE_COPY YES -lco SPATIAL_INDEX=GIST` of the same file;
#  2. import into the embedded store;
#  3. time to ready (`/ready` 200) of `cuulong serve` on each store, the layer loaded whole;
#  4. resident size of each server minus that of one on an empty data dir, against the
#     layer's FlatGeobuf file.
# Failures are fatal: a short count in either table, a server not ready in 15 minutes.
#
#   bash benches/parcels_2m.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-2000000}
source benches/lib.sh
bench_build
SRC=$FIX/parcels_$COUNT.fgb
[ -f "$SRC" ] || /usr/bin/python3 scripts/make_parcels.py "$COUNT" "$SRC"
fgb_mb=$(awk -v b="$(stat -c %s "$SRC")" 'BEGIN { printf "%.1f", b / 1e6 }')

BENCH_DB=cuulong_parcels_bench
fresh_db "$BENCH_DB"
PG_DSN="PG:dbname=$BENCH_DB host=/var/run/postgresql port=${CUULONG_PG_PORT:-5439}"
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

t0=$(now)
ogr2ogr -f PostgreSQL "$PG_DSN" "$SRC" --config PG_USE_COPY YES -nln ogr_parcels \
  -overwrite -lco SPATIAL_INDEX=GIST -nlt PROMOTE_TO_MULTI
t1=$(now)
ogr_s=$(calc "$t1 - $t0")
n=$(psql -X -tA "$DB_URL" -c "SELECT count(*) FROM ogr_parcels")
[ "$n" = "$COUNT" ] || { echo "ogr2ogr stored $n of $COUNT" >&2; exit 1; }

t0=$(now)
"$CUULONG" --database-url "$DB_URL" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
t1=$(now)
pg_s=$(calc "$t1 - $t0")
n=$(psql -X -tA "$DB_URL" -c "SELECT feature_count FROM cuulong.layers WHERE id = 'parcels'")
[ "$n" = "$COUNT" ] || { echo "cuulong stored $n of $COUNT in PostGIS" >&2; exit 1; }

DATA=$FIX/parcels-data
EMPTY=$FIX/parcels-empty
rm -rf "$DATA" "$EMPTY" && mkdir -p "$EMPTY"
t0=$(now)
"$CUULONG" --data-dir "$DATA" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
t1=$(now)
emb_s=$(calc "$t1 - $t0")

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# Starts a server, prints "seconds-to-ready rss-kib"; args: port, store args…
serve_ready() {
  local port=$1; shift
  local t0 t1 pid
  t0=$(now)
  "$CUULONG" "$@" serve --bind "127.0.0.1:$port" --tile-cache-mb 0 --no-snapshot >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 4500); do curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/ready" || { echo "server not ready" >&2; kill $pid; exit 1; }
  t1=$(now)
  sleep 2
  echo "$(calc "$t1 - $t0") $(rss_kb $pid)"
  kill $pid
  wait $pid 2>/dev/null || true
}
read -r _ empty_kb < <(serve_ready 18301 --data-dir "$EMPTY")
read -r emb_ready emb_kb < <(serve_ready 18302 --data-dir "$DATA")
read -r pg_ready pg_kb < <(serve_ready 18303 --database-url "$DB_URL")
mb() { awk -v k="$1" -v e="$empty_kb" 'BEGIN { printf "%.0f", (k - e) / 1024 }'; }
ratio() { awk -v k="$1" -v e="$empty_kb" -v f="$fgb_mb" 'BEGIN { printf "%.2f", (k - e) / 1024 * 1.048576 / f }'; }

echo
echo "parcels, $(date -u +%Y-%m-%dT%H:%MZ), one run: $COUNT parcels, FlatGeobuf $fgb_mb MB"
printf '%-52s %s\n' "ogr2ogr into PostGIS (COPY, GiST)" "$ogr_s s"
printf '%-52s %s\n' "cuulong import into PostGIS (validated)" "$pg_s s ($(calc "$ogr_s / $pg_s")× ogr2ogr)"
printf '%-52s %s\n' "cuulong import into the embedded store" "$emb_s s"
printf '%-52s %s\n' "serve on the embedded store: ready after" "$emb_ready s, RSS +$(mb "$emb_kb") MiB ($(ratio "$emb_kb")× the FlatGeobuf)"
printf '%-52s %s\n' "serve on PostGIS: ready after" "$pg_ready s, RSS +$(mb "$pg_kb") MiB ($(ratio "$pg_kb")× the FlatGeobuf)"
