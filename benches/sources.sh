#!/usr/bin/env bash
# The same tile list from each layer source, one run, side by side: the synthetic cadastre of
# COUNT parcels (default 2 000 000; scripts/make_parcels.py) on the embedded store, served
#  - in memory (the LayerIndex: R-trees and zoom bands on the heap), and
#  - mapped from its FlatGeobuf file (`--index-memory-mb 64`: the layer does not fit, so it is
#    searched through the file's own packed Hilbert R-tree and decoded per request);
#  - read from PostGIS per request (the same import into PostGIS, `--index-memory-mb 64`:
#    spatial SQL on the table's GiST index, rows drawn by the same kernels).
# For each: time to ready, resident memory after the run (anonymous = heap; file = mapped
# pages of the layer file, which the kernel may drop and re-read), uncached tiles/s at
# z14–z16 (3 000 tiles drawn at random inside the layer's extent, the same list for both,
# tile cache off, wrk 2 threads × 8 connections, 20 s). Non-2xx answers fail the run.
#
#   bash benches/sources.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-2000000}
source benches/lib.sh
bench_build
ensure_wrk
CONNS=${CONNS:-8}
DURATION=${DURATION:-20}
SRC=$FIX/parcels_$COUNT.fgb
[ -f "$SRC" ] || /usr/bin/python3 scripts/make_parcels.py "$COUNT" "$SRC"
fgb_mb=$(awk -v b="$(stat -c %s "$SRC")" 'BEGIN { printf "%.1f", b / 1e6 }')
DATA=$FIX/sources-data
rm -rf "$DATA"
"$CUULONG" --data-dir "$DATA" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
fresh_db cuulong_sources_bench
"$CUULONG" --database-url "$DB_URL" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
psql -X -q "$DB_URL" -c "ANALYZE"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
kib() { awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status"; }

PATHS=$FIX/sources_paths.txt
random_tiles "$SRC" "$FIX/tiles_zxy.txt"
sed 's|^|/tiles/parcels/|; s|$|.mvt|' "$FIX/tiles_zxy.txt" > "$PATHS"

# Servers still running when the script stops (a failed run) are stopped with it.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
rows=()
run() { # NAME PORT STORE-FLAG STORE extra serve args…
  local name=$1 port=$2 flag=$3 store=$4; shift 4
  local t0 t1 pid
  t0=$(now)
  "$CUULONG" "$flag" "$store" serve --bind "127.0.0.1:$port" --tile-cache-mb 0 --no-snapshot \
    --anonymous-rate-limit-per-minute 0 "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 4500); do curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/ready" || { echo "$name: server not ready" >&2; kill $pid; exit 1; }
  t1=$(now)
  local served
  served=$(curl -sf "http://127.0.0.1:$port/metrics" | awk -F'"' '/^cuulong_layer_source\{layer="parcels"/ { print $4 }')
  wrk_paths "$name" "http://127.0.0.1:$port" "$PATHS" >&2
  local anon file
  anon=$(kib $pid RssAnon); file=$(kib $pid RssFile)
  rows+=("$(printf '%-10s %-11s %8s s %10s MiB %9s MiB %10s' "$name" "$served" "$(calc "$t1 - $t0")" \
    "$((anon / 1024))" "$((file / 1024))" "$(cat "$FIX/rps_$name")")")
  kill $pid
  wait $pid 2>/dev/null || true
}
run memory 18311 --data-dir "$DATA"
run mapped 18312 --data-dir "$DATA" --index-memory-mb 64
run postgis 18313 --database-url "$DB_URL" --index-memory-mb 64

echo
echo "sources, $(date -u +%Y-%m-%dT%H:%MZ), one run: $COUNT parcels, FlatGeobuf $fgb_mb MB, 3 000 tiles z14–z16, cache off"
printf '%-10s %-11s %10s %14s %13s %10s\n' "source" "served from" "ready" "RSS anon" "RSS file" "tiles/s"
printf '%s\n' "${rows[@]}"
