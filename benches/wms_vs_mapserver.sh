#!/usr/bin/env bash
# WMS GetMap throughput side by side, one run: cuulong's /wms against MapServer 8 (Debian's
# mapserv as FastCGI children under spawn-fcgi, behind nginx) on two cases, each at 256×256 and
# 1024×768, EPSG:3857 PNG, the same colours:
#   parcels — the 200k-polygon land-use layer (polygons 20–60 m across, coloured by lu_code) plus
#             the provincial roads, one 2-px line per class; cuulong is given styles that draw
#             just that (target/bench-fixtures/wms_styles), and runs a second time with its
#             default styles (land-use outlines and labels, road casings, bridges, labels),
#             reported as cuulong-styled;
#   dense   — 200 000 squares of 240 m on a 300 m grid (scripts/make_dense_grid.py): ~2 px at z10,
#             so both servers must fill and outline every one (fill #B8B8B8 at 55 %, outline
#             #6E6E6E; cuulong's outline is 0.5–0.9 px by zoom, MapServer's 0.7 px).
# cuulong imports the layers into a dedicated PostGIS database and serves them from memory
# (tile cache off, default threads). MapServer reads the same features as its documentation
# recommends for speed: Shapefiles in EPSG:3857 (the served CRS, no reprojection per request)
# with a `shptree` quadtree index each, exported from cuulong's tables with ogr2ogr;
# FCGI_CHILDREN FastCGI children (default: one per core). Deterministic request lists of
# REQUESTS views per case and size (default 10 000, so no view repeats within a run): 256×256
# views at the scale of z9–z15 tiles (parcels) or z10–z14 (dense), 1024×768 4:3 views 1.5–80 km wide (parcels)
# or at z10–z14 scales (dense); same load generator (wrk -t2, a Lua script walking the list);
# a non-200 or non-PNG answer fails the bench.
#
#   bash benches/wms_vs_mapserver.sh [--peer-only] [DURATION_S] [CONNECTIONS]   (defaults 20, 32)
#
# --peer-only (or PEER_ONLY=1) skips building and starting cuulong and runs the MapServer half
# only (an existing target/release/cuulong still does the import). One sample PNG per server,
# case and size is kept in target/bench-fixtures/wms_{cuulong,mapserver}_{case}_{256,1024}.png.
# Environment: FCGI_CHILDREN (nproc), REQUESTS (10000), CASES ("parcels dense"), WARMUP_S (3,
# 0 = none), WRK_TIMEOUT_S (60), CUULONG_PORT (18180), MS_PORT (18181, nginx), FCGI_PORT (18182),
# CUULONG_PG_PORT (5439).
# Needs (installed with apt-get when missing): mapserver-bin cgi-mapserver nginx-light spawn-fcgi wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

PEER_ONLY=${PEER_ONLY:-0}
ARGS=()
for a in "$@"; do
  case $a in
    --peer-only) PEER_ONLY=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$a") ;;
  esac
done
DURATION=${ARGS[0]:-20}
CONNS=${ARGS[1]:-32}
FCGI_CHILDREN=${FCGI_CHILDREN:-$(nproc)}
REQUESTS=${REQUESTS:-10000}
CASES=${CASES:-parcels dense}
WARMUP_S=${WARMUP_S:-3}
WRK_TIMEOUT_S=${WRK_TIMEOUT_S:-60}
CUULONG_PORT=${CUULONG_PORT:-18180}
MS_PORT=${MS_PORT:-18181}
FCGI_PORT=${FCGI_PORT:-18182}
declare -A LAYERS=([parcels]=land_use_big,provincial_roads [dense]=dense_grid)

# --- tools -------------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v mapserv >/dev/null || need+=(mapserver-bin cgi-mapserver)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v spawn-fcgi >/dev/null || need+=(spawn-fcgi)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TARGET=${CARGO_TARGET_DIR:-target}
CUULONG=$TARGET/release/cuulong
if [ "$PEER_ONLY" = 1 ]; then
  [ -x "$CUULONG" ] || { echo "--peer-only needs an existing $CUULONG for the import" >&2; exit 1; }
  URL=$(bash scripts/pg-start.sh)
else
  bash scripts/install-deps.sh
  URL=$(bash scripts/pg-start.sh)
  cargo build --release --locked -q
fi

# --- data: one database, imported by cuulong, read by both ------------------------------------
FIX=target/bench-fixtures
mkdir -p "$FIX"
BIG="$FIX/land_use_big_200000.gpkg"
[ -f "$BIG" ] || /usr/bin/python3 scripts/make_big_layer.py 200000 "$BIG" >&2

DB=cuulong_wms_bench
ADMIN_URL=${URL/\/cuulong\?/\/postgres?}
psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE cuulong_template" 2>&1 |
  grep -v 'does not exist, skipping' >&2 || true
DB_URL=${URL/\/cuulong\?/\/$DB?}
"$CUULONG" --database-url "$DB_URL" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null
"$CUULONG" --database-url "$DB_URL" import data-samples/transport/provincial_roads_synthetic.gpkg \
  --layer provincial_roads --family transport --quiet >/dev/null
DENSE="$FIX/dense_grid_200000.gpkg"
[ -f "$DENSE" ] || /usr/bin/python3 scripts/make_dense_grid.py "$DENSE"
"$CUULONG" --database-url "$DB_URL" import "$DENSE" --layer dense_grid --quiet >/dev/null
psql -X -q "$DB_URL" -c "ANALYZE"

# The current table of each layer (cuulong_data.l_<id>_v<N>), from the catalogue.
table_of() {
  local t
  t=$(psql -X -tA "$DB_URL" -c "SELECT table_name FROM cuulong.layers WHERE id = '$1' AND to_regclass('cuulong_data.' || quote_ident(table_name)) IS NOT NULL")
  [ -n "$t" ] || { echo "no table for layer $1 in cuulong.layers" >&2; exit 1; }
  echo "$t"
}
BIGT=$(table_of land_use_big)
ROADT=$(table_of provincial_roads)
DENSET=$(table_of dense_grid)
echo "tables: cuulong_data.$BIGT, cuulong_data.$ROADT, cuulong_data.$DENSET" >&2

# MapServer's copies: the same rows as Shapefiles in EPSG:3857 with a quadtree index (shptree).
SHP=$(mkdir -p "$FIX/wms_shp" && realpath "$FIX/wms_shp")
PG_OGR="PG:host=/var/run/postgresql port=${CUULONG_PG_PORT:-5439} dbname=$DB user=$(id -un)"
for spec in "land_use_big:$BIGT:lu_code" "provincial_roads:$ROADT:road_class" "dense_grid:$DENSET:fid AS cell"; do
  IFS=: read -r name table cols <<< "$spec"
  rm -f "$SHP/$name".*
  ogr2ogr -q -f "ESRI Shapefile" -t_srs EPSG:3857 -nln "$name" "$SHP/$name.shp" "$PG_OGR" \
    -sql "SELECT $cols, geom FROM cuulong_data.$table ORDER BY fid"
  shptree "$SHP/$name.shp" >/dev/null
done
echo "shapefiles (EPSG:3857, shptree): $(ls "$SHP"/*.qix | wc -l) indexes in $SHP" >&2

# --- request lists (deterministic) -------------------------------------------------------------
python3 - "$FIX" "$REQUESTS" "${LAYERS[parcels]}" "${LAYERS[dense]}" <<'PY'
import math, random, sys
fix, count, parcel_layers, dense_layers = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
random.seed(7)
R = 6378137.0
HALF = math.pi * R                      # 20037508.34…
LON0, LON1, LAT0, LAT1 = 106.05, 106.75, 9.85, 10.30
def mx(lon): return math.radians(lon) * R
def my(lat): return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * R
def query(layers, b, w, h):
    return ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=%s&STYLES=&CRS=EPSG:3857"
            "&BBOX=%.2f,%.2f,%.2f,%.2f&WIDTH=%d&HEIGHT=%d&FORMAT=image/png&TRANSPARENT=FALSE"
            % (layers, *b, w, h))
def squares(layers, zooms, box):
    """count 256×256 views at the scale of the zooms in turn (z: a 256-pixel tile of zoom z),
    centred at random inside box, rounded to the metre: no view repeats."""
    x0, x1, y0, y1 = box
    out = []
    while len(out) < count:
        size = 2 * HALF / 2 ** zooms[len(out) % len(zooms)]
        cx, cy = round(pick(x0, x1, size)), round(pick(y0, y1, size))
        out.append(query(layers, (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), 256, 256))
    return out
def view(cx, cy, w):
    h = w * 3 / 4
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
def pick(lo, hi, extent):
    return random.uniform(lo + extent / 2, hi - extent / 2) if extent < hi - lo else (lo + hi) / 2
# Parcels, 256×256: zooms cycling 14, 15, 9, 10, … (the first, the sample, z14).
X0, X1, Y0, Y1 = mx(LON0), mx(LON1), my(LAT0), my(LAT1)
parcels_256 = squares(parcel_layers, [14, 15, 9, 10, 11, 12, 13], (X0, X1, Y0, Y1))
# Parcels, 1024×768: 4:3 views, width log-uniform 1.5–80 km, inside the province where they
# fit; the first (the sample) is 8 km wide over Bến Tre town.
parcels_1024 = [query(parcel_layers, view(mx(106.375), my(10.24), 8000), 1024, 768)]
while len(parcels_1024) < count:
    w = math.exp(random.uniform(math.log(1500), math.log(80000)))
    parcels_1024.append(query(parcel_layers, view(pick(X0, X1, w), pick(Y0, Y1, w * 3 / 4), w), 1024, 768))
# Dense grid (150 km × 120 km around lon 106.40, lat 10.075): 256×256 views at z10–z14 scales
# inside it (the first, the sample, z10); 1024×768 views at the scale of a zoom uniform in 10–14
# (the first z10).
CX, CY = mx(106.40), my(10.075)
GX0, GX1, GY0, GY1 = CX - 75000, CX + 75000, CY - 60000, CY + 60000
dense_256 = squares(dense_layers, [10, 11, 12, 13, 14], (GX0, GX1, GY0, GY1))
dense_1024 = []
while len(dense_1024) < count:
    z = 10 if not dense_1024 else random.uniform(10, 14)
    w = 1024 * 2 * HALF / 2 ** z / 256
    dense_1024.append(query(dense_layers, view(pick(GX0, GX1, w), pick(GY0, GY1, w * 3 / 4), w), 1024, 768))
for name, lines in [("parcels_256", parcels_256), ("parcels_1024", parcels_1024),
                    ("dense_256", dense_256), ("dense_1024", dense_1024)]:
    open(f"{fix}/wms_{name}.txt", "w").write("".join(q + "\n" for q in lines))
    print(f"{name}: {len(lines)} requests, {len(set(lines))} distinct", file=sys.stderr)
PY

# wrk script: walks PREFIX..line over FILE (thread k from k/2 of the way in); counts responses that are not 200 image/png; prints
# one machine-readable line: RESULT requests/s p50_ms p99_ms non2xx socket_errors not_png.
lua_for() { # prefix file > script
  cat <<LUA
local paths = {}
for line in io.lines("$2") do paths[#paths + 1] = "$1" .. line end
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("id", #threads - 1) end
-- Each thread walks its own part of the list, so no view is asked twice within a run.
function init(args) i = id * math.floor(#paths / 2); bad = 0 end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  local ct = headers["Content-Type"] or headers["content-type"] or ""
  if status ~= 200 or string.sub(ct, 1, 9) ~= "image/png" then bad = bad + 1 end
end
function done(summary, latency, requests)
  local notpng = 0
  for _, t in ipairs(threads) do notpng = notpng + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %.2f %.2f %.2f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout, notpng))
end
LUA
}

# --- process control ---------------------------------------------------------------------------
W=$(mkdir -p "$FIX/wms_mapserver" && realpath "$FIX/wms_mapserver")
CUULONG_PID=""
stop_cuulong() {
  [ -n "$CUULONG_PID" ] || return 0
  kill "$CUULONG_PID" 2>/dev/null || true
  wait "$CUULONG_PID" 2>/dev/null || true
  CUULONG_PID=""
}
stop_mapserver() { # as ../shared/recipes/mapserver-peer.sh: nginx master, then the children, by PID
  local p pids
  pids=$( { cat "$W/nginx.pid" 2>/dev/null; echo; cat "$W/spawn.pid" 2>/dev/null; } | grep -E '^[0-9]+$' || true)
  [ -n "$pids" ] || return 0
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  # mapserv 8 in FastCGI mode may treat SIGTERM as "finish after the next request": escalate.
  sleep 1
  for p in $pids; do
    if [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  rm -f "$W/nginx.pid" "$W/spawn.pid"
}
cleanup() { stop_cuulong; stop_mapserver; }
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_mapserver   # leftovers of an interrupted run

wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

check_png() { # name url out.png: one GetMap, must be HTTP 200 image/png with a PNG signature
  local meta sig
  meta=$(curl -s -o "$3" -w '%{http_code} %{content_type}' "$2") || true
  sig=$(head -c 8 "$3" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  if [[ $meta != "200 image/png"* ]] || [ "$sig" != 89504e470d0a1a0a ]; then
    echo "FAIL $1: expected HTTP 200 image/png, got '$meta' for $2" >&2
    head -c 800 "$3" >&2 2>/dev/null; echo >&2
    rm -f "$3"
    exit 1
  fi
  echo "$1: $(wc -c < "$3") bytes of PNG -> $3" >&2
}

ROWS=()
run_wrk() { # case size server base-url lua
  local out res
  if [ "$WARMUP_S" != 0 ]; then wrk -t2 -c"$CONNS" -d"${WARMUP_S}s" --timeout "${WRK_TIMEOUT_S}s" -s "$5" "$4" >/dev/null; fi
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout "${WRK_TIMEOUT_S}s" -s "$5" "$4")
  res=$(awk '$1 == "RESULT"' <<< "$out")
  [ -n "$res" ] || { echo "wrk gave no result for $3 $1 $2:" >&2; echo "$out" >&2; exit 1; }
  # shellcheck disable=SC2086 # RESULT's fields, split on purpose
  set -- "$1" "$2" "$3" $res
  ROWS+=("$1 $2 $3 $5 $6 $7 $8 $9 ${10}")
  printf '%-8s | %-5s | %-14s | %10s | %9s | %9s | non-2xx %s, socket errors %s, not PNG %s\n' "$1" "$2" "$3" "$5" "$6" "$7" "$8" "$9" "${10}" >&2
}

run_cases() { # server base-url path-prefix: a sample PNG checked, then wrk, per case and size
  local case size list
  for case in $CASES; do
    for size in 256 1024; do
      list="$FIX/wms_${case}_$size.txt"
      check_png "$1 $case $size" "$2$3$(head -n1 "$list")" "$FIX/wms_$1_${case}_$size.png"
      lua_for "$3" "$list" > "$FIX/wms_$1_${case}_$size.lua"
      run_wrk "$case" "$size" "$1" "$2" "$FIX/wms_$1_${case}_$size.lua"
    done
  done
}

# --- cuulong -----------------------------------------------------------------------------------
# The same features on both sides: cuulong's styles with the parcels case reduced to what the
# mapfile below draws — the land-use fills in their colours (no outline, no labels) and one
# round-capped 2-px line per provincial road class in the colours of provincial_roads-line (no
# casing, bridge, dash or label). The dense case's generic style is drawn as it is. A second
# cuulong run with the default styles (everything above) is reported beside it.
SAME="$FIX/wms_styles"
rm -rf "$SAME" && cp -r styles "$SAME"
python3 - "$SAME" <<'PY'
import json, sys
d = sys.argv[1]
lu = json.load(open(f"{d}/land_use.json", encoding="utf-8"))
lu["layers"] = [l for l in lu["layers"] if l["id"] == "land_use-fill"]
assert len(lu["layers"]) == 1, "land_use.json: no land_use-fill layer"
json.dump(lu, open(f"{d}/land_use.json", "w", encoding="utf-8"), ensure_ascii=False)
tr = json.load(open(f"{d}/transport.json", encoding="utf-8"))
kept = []
for l in tr["layers"]:
    if l.get("source-layer") != "provincial_roads":
        kept.append(l)
    elif l["id"] == "provincial_roads-line":
        l.pop("minzoom", None)
        l.pop("maxzoom", None)
        l["layout"] = {"line-cap": "round", "line-join": "round"}
        l["paint"] = {"line-color": l["paint"]["line-color"], "line-width": 2}
        kept.append(l)
tr["layers"] = kept
assert sum(l.get("source-layer") == "provincial_roads" for l in kept) == 1, "transport.json: no provincial_roads-line"
json.dump(tr, open(f"{d}/transport.json", "w", encoding="utf-8"), ensure_ascii=False)
PY
start_cuulong() { # styles-dir
  "$CUULONG" --database-url "$DB_URL" serve --bind "127.0.0.1:$CUULONG_PORT" --tile-cache-mb 0 --no-snapshot \
    --anonymous-rate-limit-per-minute 0 --styles-dir "$1" >"$FIX/wms_cuulong.log" 2>&1 &
  CUULONG_PID=$!
  wait_http "http://127.0.0.1:$CUULONG_PORT/ready"
}
if [ "$PEER_ONLY" != 1 ]; then
  start_cuulong "$SAME"
  run_cases cuulong "http://127.0.0.1:$CUULONG_PORT" /wms?
  stop_cuulong
  if [[ " $CASES " == *" parcels "* ]]; then
    start_cuulong styles
    CASES=parcels run_cases cuulong-styled "http://127.0.0.1:$CUULONG_PORT" /wms?
    stop_cuulong
  fi
fi

# --- MapServer: mapfile generated from the tables and cuulong's styles -------------------------
# One CLASS per colour of a MapLibre ["match", ["get", F], label-or-list, "#RRGGBB", …, default]
# paint expression, then the default; a layer filter of the same form (["match", ["get", F],
# labels, false, true]) becomes a first class without a style, so those features draw nothing.
classes() { # style.json layer-id paint-property fill|line [width-px]
  python3 - "$@" <<'PY'
import json, re, sys
path, lid, prop, kind = sys.argv[1:5]
width = sys.argv[5] if len(sys.argv) > 5 else "2"
layer = next((l for l in json.load(open(path, encoding="utf-8"))["layers"] if l["id"] == lid), None)
if layer is None:
    sys.exit(f"{path}: no layer {lid}")
def match(e, what):
    ok = (isinstance(e, list) and len(e) >= 5 and len(e) % 2 == 1 and e[0] == "match"
          and isinstance(e[1], list) and len(e[1]) == 2 and e[1][0] == "get")
    if not ok:
        sys.exit(f"{path} {lid} {what}: expected [\"match\", [\"get\", field], label, value, …, default], got {e!r}")
    labels = [l if isinstance(l, list) else [l] for l in e[2:-1:2]]
    return e[1][1], list(zip(labels, e[3:-1:2])), e[-1]
def colour(c):
    if not (isinstance(c, str) and re.fullmatch(r"#[0-9A-Fa-f]{6}", c)):
        sys.exit(f"{path} {lid} {prop}: colour {c!r} is not #RRGGBB")
    return c.upper()
def ident(v):
    if not re.fullmatch(r"[A-Za-z0-9_]+", str(v)):
        sys.exit(f"{path} {lid}: label {v!r} needs quoting this script does not do")
    return str(v)
field, pairs, default = match(layer["paint"][prop], prop)
out = [f'    CLASSITEM "{field}"']
if "filter" in layer:
    ffield, fpairs, fdefault = match(layer["filter"], "filter")
    if ffield != field or fdefault is not True or any(not isinstance(v, bool) for _, v in fpairs):
        sys.exit(f"{path} {lid}: unsupported filter {layer['filter']!r}")
    hidden = [ident(l) for ls, v in fpairs if v is False for l in ls]
    if hidden:
        out += ["    CLASS", '      NAME "filtered out"', "      EXPRESSION {%s}" % ",".join(hidden), "    END"]
style = {
    "fill": lambda c: f'STYLE COLOR "{c}" END',
    "line": lambda c: f'STYLE COLOR "{c}" WIDTH {width} LINECAP ROUND LINEJOIN ROUND END',
}[kind]
for labels, c in pairs:
    names = ",".join(ident(l) for l in labels)
    out += ["    CLASS", f'      NAME "{names}"', "      EXPRESSION {%s}" % names, f"      {style(colour(c))}", "    END"]
out += ["    CLASS", '      NAME "default"', f"      {style(colour(default))}", "    END"]
print("\n".join(out))
PY
}

LU_CLASSES=$(classes styles/land_use.json land_use-fill fill-color fill)
ROAD_CLASSES=$(classes styles/transport.json provincial_roads-line line-color line 2)
mkdir -p "$W/logs"
cat > "$W/mapserver.conf" <<CONF
CONFIG
  ENV
    MS_MAP_PATTERN "^$W"
    MS_MAPFILE "$W/wms.map"
    MS_ERRORFILE "$W/logs/ms_error.txt"
  END
  MAPS
    WMSBENCH "$W/wms.map"
  END
END
CONF
cat > "$W/wms.map" <<MAPFILE
MAP
  NAME "cuulong_wms_bench"
  # Bến Tre, EPSG:3857
  EXTENT 11805432 1101938 11883356 1152817
  SIZE 1024 768
  UNITS METERS
  IMAGECOLOR 255 255 255
  IMAGETYPE "png"
  PROJECTION "init=epsg:3857" END
  OUTPUTFORMAT
    NAME "png"
    DRIVER AGG/PNG
    MIMETYPE "image/png"
    IMAGEMODE RGB
    EXTENSION "png"
  END
  WEB
    METADATA
      "wms_title" "cuulong WMS benchmark peer"
      "wms_onlineresource" "http://127.0.0.1:$MS_PORT/mapserv?"
      "wms_srs" "EPSG:3857 EPSG:4326 CRS:84"
      "wms_getmap_formatlist" "image/png"
      "wms_enable_request" "*"
    END
  END
  LAYER
    NAME "land_use_big"
    TYPE POLYGON
    STATUS ON
    DATA "$SHP/land_use_big"
    PROJECTION "init=epsg:3857" END
    METADATA "wms_title" "land_use_big" END
$LU_CLASSES
  END
  LAYER
    NAME "provincial_roads"
    TYPE LINE
    STATUS ON
    DATA "$SHP/provincial_roads"
    PROJECTION "init=epsg:3857" END
    METADATA "wms_title" "provincial_roads" END
$ROAD_CLASSES
  END
  LAYER
    NAME "dense_grid"
    TYPE POLYGON
    STATUS ON
    DATA "$SHP/dense_grid"
    PROJECTION "init=epsg:3857" END
    METADATA "wms_title" "dense_grid" END
    CLASS
      NAME "cell"
      # styles/generic.json: fill #B8B8B8 at opacity 0.55, outline #6E6E6E
      STYLE COLOR "#B8B8B8" OPACITY 55 END
      STYLE OUTLINECOLOR "#6E6E6E" WIDTH 0.7 END
    END
  END
END
MAPFILE
cat > "$W/nginx.conf" <<NGX
worker_processes 1;
pid $W/nginx.pid;
error_log $W/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/tmp_body; fastcgi_temp_path $W/tmp_fcgi; proxy_temp_path $W/tmp_proxy;
  uwsgi_temp_path $W/tmp_uwsgi; scgi_temp_path $W/tmp_scgi;
  server {
    listen 127.0.0.1:$MS_PORT;
    location ~ ^/mapserv(?<pinfo>/.*)?\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_NAME /mapserv;
      fastcgi_param PATH_INFO \$pinfo;
      fastcgi_param MAPSERVER_CONFIG_FILE $W/mapserver.conf;
      fastcgi_buffer_size 64k;
      fastcgi_buffers 32 64k;
      fastcgi_read_timeout 300s;
      fastcgi_pass 127.0.0.1:$FCGI_PORT;
    }
  }
}
NGX
MAPSERVER_CONFIG_FILE="$W/mapserver.conf" spawn-fcgi -a 127.0.0.1 -p "$FCGI_PORT" -F "$FCGI_CHILDREN" \
  -P "$W/spawn.pid" -- "$(command -v mapserv)" >/dev/null
"$NGINX" -p "$W" -c "$W/nginx.conf"
wait_http "http://127.0.0.1:$MS_PORT/mapserv?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"
run_cases mapserver "http://127.0.0.1:$MS_PORT" /mapserv?
stop_mapserver

# --- table ---------------------------------------------------------------------------------------
echo
echo "WMS GetMap, wrk -t2 -c$CONNS -d${DURATION}s, $REQUESTS views per list; MapServer $FCGI_CHILDREN FastCGI children on Shapefiles (EPSG:3857, shptree); $(nproc) cores"
printf '%-8s | %-8s | %-14s | %10s | %9s | %9s | %s\n' case size server "req/s" "p50 ms" "p99 ms" "errors (non-2xx/socket/not PNG)"
bad=0
for r in "${ROWS[@]}"; do
  read -r case size server rps p50 p99 n2 se np <<< "$r"
  label=$size; [ "$size" = 256 ] && label=256x256; [ "$size" = 1024 ] && label=1024x768
  printf '%-8s | %-8s | %-14s | %10s | %9s | %9s | %s/%s/%s\n' "$case" "$label" "$server" "$rps" "$p50" "$p99" "$n2" "$se" "$np"
  [ "$((n2 + se + np))" = 0 ] || bad=1
done
if [ "$PEER_ONLY" != 1 ]; then
  for case in $CASES; do
    for size in 256 1024; do
      a=""; b=""; full=""
      for r in "${ROWS[@]}"; do
        read -r c sz server rps _ <<< "$r"
        [ "$c" = "$case" ] && [ "$sz" = "$size" ] || continue
        case $server in
          cuulong) a=$rps ;;
          cuulong-styled) full=$rps ;;
          *) b=$rps ;;
        esac
      done
      awk -v c="$case" -v s="$size" -v a="$a" -v b="$b" 'BEGIN { printf "ratio cuulong/MapServer, %s %s: %.2fx\n", c, s, a / b }'
      if [ -n "$full" ]; then
        awk -v c="$case" -v s="$size" -v a="$full" -v b="$b" 'BEGIN { printf "  cuulong with its default styles (outlines, labels, casings) / MapServer, %s %s: %.2fx\n", c, s, a / b }'
      fi
    done
  done
fi
[ "$bad" = 0 ] || { echo "some requests failed (see the errors column)" >&2; exit 1; }
