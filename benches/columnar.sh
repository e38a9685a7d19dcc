#!/usr/bin/env bash
# Columnar layers, before and after, one run: the binary of revision BASE (default 52249ec, the
# last commit with a `Vec<Value>` per feature) against the working tree's, on the same embedded
# data dir holding the synthetic cadastre of COUNT parcels (default 2 000 000;
# scripts/make_parcels.py), the layer held in memory by both. Each binary is started twice,
# alternating (base, new, base, new), and for each start:
#  - time to ready and resident size after it (RssAnon: the heap), against the layer's
#    FlatGeobuf file in the data dir;
#  - uncached vector tiles/s at z14–z16 (the 3 000 tiles of benches/sources.sh);
#  - WMS GetMap 256×256 at z14–z16 scales (3 000 views, same centres), cuulong's default style.
# A sample tile and map must be the same bytes from every start (else the run fails).
# wrk 2 threads × 8 connections, 20 s each, tile cache off. Medians of the two starts, and
# new / base. Non-2xx answers fail the run.
#
#   bash benches/columnar.sh [COUNT] [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-2000000}
BASE=${2:-52249ec}
source benches/lib.sh
bench_build
ensure_wrk
CONNS=${CONNS:-8}
DURATION=${DURATION:-20}

# The base binary, built from a worktree of BASE into its own target dir.
BASE_DIR=$FIX/columnar-base-src
BASE_TARGET=${CARGO_TARGET_DIR:-target}-columnar-base
rm -rf "$BASE_DIR"
git worktree prune
git worktree add -f --detach "$BASE_DIR" "$BASE" >/dev/null
# Seeded with this build's dependencies (only the workspace's crates are rebuilt).
[ -d "$BASE_TARGET/release" ] || { mkdir -p "$BASE_TARGET" && cp -a "${CARGO_TARGET_DIR:-target}/release" "$BASE_TARGET/"; }
(cd "$BASE_DIR" && CARGO_TARGET_DIR=$BASE_TARGET cargo build --release --locked -q)
OLD=$BASE_TARGET/release/cuulong

SRC=$FIX/parcels_$COUNT.fgb
[ -f "$SRC" ] || /usr/bin/python3 scripts/make_parcels.py "$COUNT" "$SRC"
DATA=$FIX/columnar-data
rm -rf "$DATA"
"$CUULONG" --data-dir "$DATA" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
fgb=$(du -cb "$DATA"/layers/*.fgb | awk 'END { print $1 }')

random_tiles "$SRC" "$FIX/tiles_zxy.txt"
TILES=$FIX/columnar_tiles.txt
MAPS=$FIX/columnar_maps.txt
sed 's|^|/tiles/parcels/|; s|$|.mvt|' "$FIX/tiles_zxy.txt" > "$TILES"
# The same centres as 256×256 GetMaps at the tile's scale (the tile's own box).
python3 - "$FIX/tiles_zxy.txt" > "$MAPS" <<'PY'
import math, sys
HALF = 20037508.342789244
for line in open(sys.argv[1]):
    z, x, y = map(int, line.split("/"))
    size = 2 * HALF / 2 ** z
    x0, y1 = -HALF + x * size, HALF - y * size
    print("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:3857"
          "&BBOX=%.2f,%.2f,%.2f,%.2f&WIDTH=256&HEIGHT=256&FORMAT=image/png" % (x0, y1 - size, x0 + size, y1))
PY

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
kib() { awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status"; }
# The base binary reads its default styles from its source tree: kept until the end.
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$BASE_DIR"' EXIT

# One start of BIN: "ready_s rss_anon_mib tiles_per_s maps_per_s" into $FIX/columnar_NAME.
run() { # NAME BIN PORT
  local name=$1 bin=$2 port=$3 t0 t1 pid anon
  t0=$(now)
  "$bin" --data-dir "$DATA" serve --bind "127.0.0.1:$port" --tile-cache-mb 0 --no-snapshot \
    --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 4500); do curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/ready" || { echo "$name: server not ready" >&2; exit 1; }
  t1=$(now)
  sleep 2
  anon=$(kib $pid RssAnon)
  # A sample of what is sent, compared across binaries below: the same bytes, or no figures.
  curl -sf -o "$FIX/columnar_$name.mvt" "http://127.0.0.1:$port$(sed -n 2p "$TILES")"
  curl -sf -o "$FIX/columnar_$name.png" "http://127.0.0.1:$port$(sed -n 2p "$MAPS")"
  wrk_paths "${name}_tiles" "http://127.0.0.1:$port" "$TILES" >&2
  wrk_paths "${name}_maps" "http://127.0.0.1:$port" "$MAPS" >&2
  echo "$(calc "$t1 - $t0") $((anon / 1024)) $(cat "$FIX/rps_${name}_tiles") $(cat "$FIX/rps_${name}_maps")" \
    > "$FIX/columnar_$name"
  kill $pid
  wait $pid 2>/dev/null || true
}
run base1 "$OLD" 18321
run new1 "$CUULONG" 18322
run base2 "$OLD" 18323
run new2 "$CUULONG" 18324
for n in base2 new1 new2; do
  for ext in mvt png; do
    cmp -s "$FIX/columnar_base1.$ext" "$FIX/columnar_$n.$ext" \
      || { echo "$n sent other bytes than base1 ($ext): the run does not count" >&2; exit 1; }
  done
done

echo
echo "columnar layers, $(date -u +%Y-%m-%dT%H:%MZ), one run: $COUNT parcels in memory, FlatGeobuf $((fgb / 1048576)) MiB; base $BASE vs $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
printf '%-6s %8s %10s %8s %10s %10s\n' binary "ready s" "RSS MiB" "× fgb" "tiles/s" "maps/s"
for n in base1 base2 new1 new2; do
  read -r ready anon tiles maps < "$FIX/columnar_$n"
  printf '%-6s %8s %10s %8s %10s %10s\n' "$n" "$ready" "$anon" "$(calc "$anon * 1048576 / $fgb")" "$tiles" "$maps"
done
# Median of two = their mean.
awk -v fgb="$fgb" '
  FNR == 1 { k = FILENAME ~ /new/ ? "new" : "base"; n[k]++; r[k] += $1; m[k] += $2; t[k] += $3; w[k] += $4 }
  END {
    printf "medians: base ready %.2f s, RSS %.0f MiB (%.2f×), %.1f tiles/s, %.1f maps/s\n", r["base"]/2, m["base"]/2, m["base"]/2*1048576/fgb, t["base"]/2, w["base"]/2
    printf "         new  ready %.2f s, RSS %.0f MiB (%.2f×), %.1f tiles/s, %.1f maps/s\n", r["new"]/2, m["new"]/2, m["new"]/2*1048576/fgb, t["new"]/2, w["new"]/2
    printf "new / base: RSS %.2f, tiles/s %.3f, maps/s %.3f\n", m["new"]/m["base"], t["new"]/t["base"], w["new"]/w["base"]
  }' "$FIX"/columnar_base1 "$FIX"/columnar_base2 "$FIX"/columnar_new1 "$FIX"/columnar_new2
