#!/usr/bin/env bash
# OGC API – Tiles side by side, one run: cuulong (cache off) against tipg (PyPI: Starlette +
# asyncpg + PostGIS ST_AsMVT, its grids from morecantile; 2 uvicorn workers, one per core) on
# the same PostGIS table — the 200 000-polygon land-use layer imported by cuulong — and the same
# tile lists in WebMercatorQuad (z8–z16) and the VN-2000 grid (levels 0–8; cuulong's TMS JSON
# registered in tipg's morecantile), up to 40 tiles a level inside the layer's limits, same load
# generator (wrk). Non-2xx answers fail the run. Differences in content are reported: tipg
# clips at the tile edge (cuulong keeps a 64/4096 buffer) and carries VN-2000 with PROJ's own
# choice of operation (cuulong with the pinned EPSG:6960 pipeline).
#
#   bash benches/tiles_vs_tipg.sh [DURATION_S] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNS=${2:-32}
source benches/lib.sh
ensure_wrk
bench_build
BIG=$(big_layer 200000)
DB=cuulong_tipg_bench
fresh_db "$DB"
"$CUULONG" --database-url "$DB_URL" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null
TABLE=$(psql -X -tAc "SELECT table_name FROM cuulong.layers WHERE id='land_use_big'" "$DB_URL")
# tipg reads through its own role over TCP; PostGIS 3.3 has no row for EPSG:9210 (PROJ knows it).
psql -X -q "$DB_URL" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tipg_bench') THEN
    CREATE ROLE tipg_bench LOGIN PASSWORD 'tipg-bench';
  END IF;
END \$\$;
GRANT USAGE ON SCHEMA cuulong_data TO tipg_bench;
GRANT SELECT ON ALL TABLES IN SCHEMA cuulong_data TO tipg_bench;
INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text, srtext)
VALUES (9210, 'EPSG', 9210, '+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs', '')
ON CONFLICT DO NOTHING;
ANALYZE;
SQL

VENV=$(cd "$FIX" && pwd)/tipg-venv
[ -x "$VENV/bin/uvicorn" ] || { /usr/bin/python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check tipg==1.6.1 uvicorn==0.54.0; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18096 --tile-cache-mb 0 --no-snapshot --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:18096/ready
curl -sf http://127.0.0.1:18096/tileMatrixSets/VN2000TM3BenTreQuad > "$FIX/vn2000_tms.json"
cat > "$FIX/tipg_app.py" <<'PY'
"""tipg with cuulong's VN-2000 grid registered in morecantile before tipg imports it."""
import json, os
import morecantile
vn = morecantile.TileMatrixSet.model_validate(json.load(open(os.environ["CUULONG_VN_TMS"])))
morecantile.tms = morecantile.tms.register({vn.id: vn})
from tipg.main import app  # noqa: E402,F401
PY
PORT=${CUULONG_PG_PORT:-5439}
(cd "$FIX" && CUULONG_VN_TMS="$PWD/vn2000_tms.json" \
  DATABASE_URL="postgresql://tipg_bench:tipg-bench@127.0.0.1:$PORT/$DB" \
  TIPG_DB_SCHEMAS='["cuulong_data"]' TIPG_MAX_FEATURES_PER_TILE=1000000 \
  exec "$VENV/bin/uvicorn" tipg_app:app --port 18097 --workers 2 --log-level warning) & PIDS+=($!)
wait_http http://127.0.0.1:18097/collections

# Tile lists from cuulong's tileset limits; tipg's paths are {z}/{x}/{y} (x = column).
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  curl -sf "http://127.0.0.1:18096/collections/land_use_big/tiles/$grid" > "$FIX/tipg_tileset_$grid.json"
done
python3 - "$FIX" "$TABLE" <<'PY'
import json, random, sys
fix, table = sys.argv[1], sys.argv[2]
random.seed(7)
for grid, levels in (("WebMercatorQuad", range(8, 17)), ("VN2000TM3BenTreQuad", range(0, 9))):
    limits = {l["tileMatrix"]: l for l in json.load(open(f"{fix}/tipg_tileset_{grid}.json"))["tileMatrixSetLimits"]}
    ours, theirs = [], []
    for z in levels:
        l = limits[str(z)]
        cells = [(r, c) for r in range(l["minTileRow"], l["maxTileRow"] + 1)
                 for c in range(l["minTileCol"], l["maxTileCol"] + 1)]
        random.shuffle(cells)
        for r, c in cells[:40]:
            ours.append(f"/collections/land_use_big/tiles/{grid}/{z}/{r}/{c}")
            theirs.append(f"/collections/cuulong_data.{table}/tiles/{grid}/{z}/{c}/{r}")
    open(f"{fix}/tipg_paths_cuulong_{grid}.txt", "w").write("".join(p + "\n" for p in ours))
    open(f"{fix}/tipg_paths_tipg_{grid}.txt", "w").write("".join(p + "\n" for p in theirs))
PY

printf '%-34s %12s %10s %10s %8s\n' "server/grid (wrk -t2 -c$CONNS -d${DURATION}s)" "requests/s" "p50" "p99" "non-2xx"
# cuulong first: tipg keeps working on requests wrk has given up on, which would take CPU
# from whatever runs next; between tipg's runs it gets time to finish them.
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  wrk_paths "tipg_cuulong_$grid" http://127.0.0.1:18096 "$FIX/tipg_paths_cuulong_$grid.txt"
done
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  wrk_paths "tipg_tipg_$grid" http://127.0.0.1:18097 "$FIX/tipg_paths_tipg_$grid.txt"
  sleep 15
done
for grid in WebMercatorQuad VN2000TM3BenTreQuad; do
  awk -v a="$(cat "$FIX/rps_tipg_cuulong_$grid")" -v b="$(cat "$FIX/rps_tipg_tipg_$grid")" -v g="$grid" \
    'BEGIN { printf "ratio cuulong/tipg, %s: %.1fx\n", g, a / b }'
done

# Content: features per tile at Web Mercator z >= 14 and VN-2000 level >= 6 (same ground size).
python3 - "$FIX" <<'PY'
import subprocess, sys, urllib.request
fix = sys.argv[1]
sys.path.insert(0, "")
def count(url):
    data = urllib.request.urlopen(url).read()
    if not data:
        return 0
    out = subprocess.run([".tools/venv/bin/python", "-c",
        "import sys, mapbox_vector_tile as m; t = m.decode(sys.stdin.buffer.read()); print(sum(len(l['features']) for l in t.values()))"],
        input=data, capture_output=True, check=True)
    return int(out.stdout)
for grid, deep in (("WebMercatorQuad", 14), ("VN2000TM3BenTreQuad", 6)):
    ours = [l.strip() for l in open(f"{fix}/tipg_paths_cuulong_{grid}.txt")]
    theirs = [l.strip() for l in open(f"{fix}/tipg_paths_tipg_{grid}.txt")]
    # The level is the third segment from the end (…/{level}/{row}/{col}).
    pairs = [(a, b) for a, b in zip(ours, theirs) if int(a.split("/")[-3]) >= deep]
    a = sum(count("http://127.0.0.1:18096" + p) for p, _ in pairs)
    b = sum(count("http://127.0.0.1:18097" + q) for _, q in pairs)
    print(f"{grid}: {len(pairs)} deep tiles, features cuulong {a}, tipg {b} ({100 * (a - b) / max(b, 1):+.1f} %: cuulong's 64/4096 buffer)")
PY
