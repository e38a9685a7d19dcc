#!/usr/bin/env bash
# Vector tiles side by side, one run: cuulong (cache off) against Martin (cache off) serving
# the same PostGIS tables — the 200k-polygon land-use layer plus the provincial roads — with
# the same tile list (z8–z16 over Bến Tre) and the same load generator (wrk); then cuulong with
# its cache on against a bare axum route returning the same bytes.
#
#   bash benches/tiles_vs_martin.sh [DURATION_S] [CONNECTIONS]
#
# Needs Martin: cargo install martin@1.14.0 --locked --no-default-features --features \
#   fonts,mbtiles,metrics,passthrough,pmtiles,postgres,sprites,styles,webui,geojson,mlt
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNS=${2:-32}
command -v martin >/dev/null || { echo "martin not installed (see the header of this script)" >&2; exit 1; }
source benches/lib.sh
ensure_wrk
bench_build bare_route
BARE=$TARGET/release/examples/bare_route
BIG=$(big_layer 200000)
DB=cuulong_tiles_bench
fresh_db "$DB"
"$CUULONG" --database-url "$DB_URL" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null
"$CUULONG" --database-url "$DB_URL" import data-samples/transport/provincial_roads_synthetic.gpkg \
  --layer provincial_roads --family transport --quiet >/dev/null
psql -X -q "$DB_URL" -c "ANALYZE"

# The tile list: per zoom 8..16, up to 40 tiles inside the province's bbox (deterministic).
PATHS=$FIX/tile_paths.txt
python3 - "$PATHS" <<'PY'
import math, random, sys
random.seed(7)
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    r = math.radians(lat)
    y = int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
    return x, y
out = []
for z in range(8, 17):
    x0, y1 = tile(106.05, 9.85, z)
    x1, y0 = tile(106.75, 10.30, z)
    cells = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    random.shuffle(cells)
    out += [(z, x, y) for x, y in cells[:40]]
open(sys.argv[1], "w").write("".join(f"{z}/{x}/{y}\n" for z, x, y in out))
PY
echo "tile list: $(wc -l < "$PATHS") tiles, z8–z16" >&2

# The high zooms alone, where both servers send the same features (cuulong drops sub-pixel
# features at z ≤ 12 and Martin does not, so low-zoom tiles differ in content).
PATHS_HI=$FIX/tile_paths_z14.txt
grep -E '^1[4-6]/' "$PATHS" > "$PATHS_HI"

lua_for() { # prefix suffix [paths file] > script
  cat <<LUA
local paths = {}
for line in io.lines("${3:-$PATHS}") do paths[#paths + 1] = "$1" .. line .. "$2" end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
LUA
}

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

run_wrk() { # name url script
  local out
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$3" "$2")
  local rps p50 p99 errs
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-36s %12s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "${errs:-0}"
  echo "$rps"  > "$FIX/rps_$1"
}

printf '%-36s %12s %10s %10s %8s\n' "server (wrk -t2 -c$CONNS -d${DURATION}s)" "requests/s" "p50" "p99" "non-2xx"

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18080 --tile-cache-mb 0 --no-snapshot --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:18080/ready
lua_for "/tiles/land_use_big,provincial_roads/" ".mvt" > "$FIX/cuulong.lua"
lua_for "/tiles/land_use_big,provincial_roads/" ".mvt" "$PATHS_HI" > "$FIX/cuulong_hi.lua"
run_wrk cuulong_nocache http://127.0.0.1:18080 "$FIX/cuulong.lua"
run_wrk cuulong_nocache_z14_16 http://127.0.0.1:18080 "$FIX/cuulong_hi.lua"
kill "${PIDS[-1]}"

BIGT=$(psql -X -tAc "SELECT table_name FROM cuulong.layers WHERE id='land_use_big'" "$DB_URL")
ROADT=$(psql -X -tAc "SELECT table_name FROM cuulong.layers WHERE id='provincial_roads'" "$DB_URL")
martin --listen-addresses 127.0.0.1:18081 --cache-size 0 "postgres://$(id -un)@localhost:${CUULONG_PG_PORT:-5439}/$DB?host=/var/run/postgresql" >/dev/null 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:18081/catalog
lua_for "/$BIGT,$ROADT/" "" > "$FIX/martin.lua"
lua_for "/$BIGT,$ROADT/" "" "$PATHS_HI" > "$FIX/martin_hi.lua"
run_wrk martin_nocache http://127.0.0.1:18081 "$FIX/martin.lua"
run_wrk martin_nocache_z14_16 http://127.0.0.1:18081 "$FIX/martin_hi.lua"
kill "${PIDS[-1]}"

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18082 --tile-cache-mb 512 --no-snapshot --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:18082/ready
# Warm the cache and keep the bytes for the bare route.
rm -rf "$FIX/bare" && mkdir -p "$FIX/bare"
while read -r t; do
  curl -s -H 'Accept-Encoding: gzip' -o "$FIX/bare/${t//\//_}.mvt.gz" "http://127.0.0.1:18082/tiles/land_use_big,provincial_roads/$t.mvt"
done < "$PATHS"
find "$FIX/bare" -size 0 -delete
run_wrk cuulong_cached http://127.0.0.1:18082 "$FIX/cuulong.lua"
kill "${PIDS[-1]}"

"$BARE" 127.0.0.1:18083 "$FIX/bare" >/dev/null 2>&1 & PIDS+=($!)
sleep 1
run_wrk bare_axum_route http://127.0.0.1:18083 "$FIX/cuulong.lua"

r() { cat "$FIX/rps_$1"; }
awk -v a="$(r cuulong_nocache)" -v b="$(r martin_nocache)" 'BEGIN { printf "ratio cuulong/martin, caches off, z8-z16: %.2fx\n", a / b }'
awk -v a="$(r cuulong_nocache_z14_16)" -v b="$(r martin_nocache_z14_16)" 'BEGIN { printf "ratio cuulong/martin, caches off, z14-z16: %.2fx\n", a / b }'
awk -v a="$(r cuulong_cached)" -v b="$(r bare_axum_route)" 'BEGIN { printf "ratio cuulong cached / bare route: %.0f%%\n", 100 * a / b }'
