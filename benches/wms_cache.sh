#!/usr/bin/env bash
# Tiled WMS with and without cuulong's render cache, one run each. The requests are what
# OpenLayers' TileWMS (or Leaflet's tileLayer.wms) sends while users pan and zoom over the
# parcels: 256×256 GetMaps on the WebMercatorQuad grid, TILES distinct tiles at z12–z15 over
# Bến Tre (default 400), asked in turn again and again — users coming back to the same places.
# cuulong serves the 200 000-parcel land-use layer from PostGIS-imported memory, once with the
# tile cache (--tile-cache-mb 256, which tiled GetMaps share) and once without (0); a 3-s
# warm-up precedes each measured run, so with the cache the figure is answering repeated tiles,
# which is what the cache is for. Any non-2xx answer fails the run. Prints both rates, their
# ratio, and the cache's hit and miss counters.
#
#   bash benches/wms_cache.sh [DURATION_S] [CONNECTIONS]   (defaults 20, 32)
#
# Environment: TILES (400), CUULONG_PORT (18183).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

DURATION=${1:-20}
CONNS=${2:-32}
TILES=${TILES:-400}
PORT=${CUULONG_PORT:-18183}

bench_build
ensure_wrk
fresh_db cuulong_wms_cache_bench
BIG=$(big_layer 200000)
"$CUULONG" --database-url "$DB_URL" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null

PATHS="$FIX/wms_cache_paths.txt"
python3 - "$PATHS" "$TILES" <<'PY'
import math, random, sys
out, count = sys.argv[1], int(sys.argv[2])
random.seed(11)
HALF = math.pi * 6378137.0
def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y
def bbox(z, x, y):
    span = 2 * HALF / 2 ** z
    return (-HALF + x * span, HALF - (y + 1) * span, -HALF + (x + 1) * span, HALF - y * span)
tiles = set()
while len(tiles) < count:
    z = random.choice([12, 13, 14, 15])
    tiles.add((z, *tile_of(random.uniform(106.05, 106.75), random.uniform(9.85, 10.30), z)))
with open(out, "w") as f:
    for z, x, y in sorted(tiles):
        f.write("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use_big&STYLES="
                "&CRS=EPSG:3857&BBOX=%.6f,%.6f,%.6f,%.6f&WIDTH=256&HEIGHT=256"
                "&FORMAT=image/png&TRANSPARENT=TRUE\n" % bbox(z, x, y))
print(f"{count} distinct tiles at z12-z15 -> {out}", file=sys.stderr)
PY

PID=""
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT
serve() { # NAME CACHE_MB
  "$CUULONG" --database-url "$DB_URL" serve --bind "127.0.0.1:$PORT" --tile-cache-mb "$2" \
    --no-snapshot --anonymous-rate-limit-per-minute 0 >"$FIX/wms_cache_$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" || { echo "cuulong did not get ready" >&2; exit 1; }
  DURATION=3 wrk_paths "wms_cache_warm_$1" "http://127.0.0.1:$PORT" "$PATHS" >/dev/null
  wrk_paths "wms_cache_$1" "http://127.0.0.1:$PORT" "$PATHS"
  if [ "$2" != 0 ]; then
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^cuulong_wms_cache_(hits|misses)_total' >&2
  fi
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}

printf '%-34s %12s %10s %10s %8s\n' run "req/s" p50 p99 non-2xx
serve cached 256
serve uncached 0
awk -v a="$(cat "$FIX/rps_wms_cache_cached")" -v b="$(cat "$FIX/rps_wms_cache_uncached")" \
  'BEGIN { printf "tiled WMS, %d tiles asked in turn: with the cache / without: %.1fx\n", '"$TILES"', a / b }'
