#!/usr/bin/env bash
# Vector tiles of one layer in two grids from the same index, one run: the VN-2000 grid
# (VN2000TM3BenTreQuad, every feature carried into EPSG:9210 by the pinned pipeline) against
# WebMercatorQuad (the XYZ path), cache off, the 200 000-polygon land-use layer, levels of
# the same ground resolution (VN level l ≈ Web Mercator zoom l + 8 at Bến Tre's latitude:
# 640/2^l m against 611/2^(z-8) m a pixel), up to 40 tiles a level inside the layer's limits
# as each tileset reports them, same load generator (wrk). Non-2xx answers fail the run.
#
#   bash benches/tiles_grids.sh [DURATION_S] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNS=${2:-32}
source benches/lib.sh
ensure_wrk
bench_build
BIG=$(big_layer 200000)
DATA=$FIX/grids_store
rm -rf "$DATA"
"$CUULONG" --data-dir "$DATA" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null

PORT=18090
"$CUULONG" --data-dir "$DATA" serve --bind 127.0.0.1:$PORT --tile-cache-mb 0 --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null http://127.0.0.1:$PORT/ready && break; sleep 0.2; done

# Tile lists from each tileset's own limits (deterministic sample).
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  curl -sf "http://127.0.0.1:$PORT/collections/land_use_big/tiles/$grid" > "$FIX/tileset_$grid.json"
done
python3 - "$FIX" <<'PY'
import json, random, sys
fix = sys.argv[1]
random.seed(7)
for grid, levels in (("WebMercatorQuad", range(8, 17)), ("VN2000TM3BenTreQuad", range(0, 9))):
    limits = {l["tileMatrix"]: l for l in json.load(open(f"{fix}/tileset_{grid}.json"))["tileMatrixSetLimits"]}
    out = []
    for z in levels:
        l = limits[str(z)]
        cells = [(r, c) for r in range(l["minTileRow"], l["maxTileRow"] + 1)
                 for c in range(l["minTileCol"], l["maxTileCol"] + 1)]
        random.shuffle(cells)
        out += [f"/collections/land_use_big/tiles/{grid}/{z}/{r}/{c}" for r, c in cells[:40]]
    open(f"{fix}/grid_paths_{grid}.txt", "w").write("".join(p + "\n" for p in out))
    print(f"{grid}: {len(out)} tiles", file=sys.stderr)
PY

printf '%-34s %12s %10s %10s %8s\n' "grid (wrk -t2 -c$CONNS -d${DURATION}s)" "requests/s" "p50" "p99" "non-2xx"
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  wrk_paths "grid_$grid" "http://127.0.0.1:$PORT" "$FIX/grid_paths_$grid.txt"
done
awk -v a="$(cat "$FIX/rps_grid_VN2000TM3BenTreQuad")" -v b="$(cat "$FIX/rps_grid_WebMercatorQuad")" \
  'BEGIN { printf "VN-2000 / Web Mercator throughput: %.0f%%\n", 100 * a / b }'
