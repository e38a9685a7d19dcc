# Shared setup of the side-by-side bench scripts; sourced from the repository root.

# Installs what is missing and builds cuulong (plus the tile-server examples named, if any);
# sets TARGET, CUULONG and FIX (the fixtures folder).
bench_build() {
  bash scripts/install-deps.sh
  cargo build --release --locked -q
  if (($#)); then
    local examples=()
    for e in "$@"; do examples+=(--example "$e"); done
    cargo build --release --locked -q -p cuulong-tile-server "${examples[@]}"
  fi
  TARGET=${CARGO_TARGET_DIR:-target}
  CUULONG=$TARGET/release/cuulong
  FIX=target/bench-fixtures
  mkdir -p "$FIX"
}

ensure_wrk() {
  command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null
}

# Starts PostGIS (idempotent) and makes a fresh database NAME from cuulong's template;
# sets URL, ADMIN_URL and DB_URL.
fresh_db() {
  URL=$(bash scripts/pg-start.sh)
  ADMIN_URL=${URL/\/cuulong\?/\/postgres?}
  psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1 TEMPLATE cuulong_template"
  DB_URL=${URL/\/cuulong\?/\/$1?}
}

# The land-use layer of COUNT polygons (scripts/make_big_layer.py), made once: prints its path.
big_layer() {
  local path="$FIX/land_use_big_$1.gpkg"
  [ -f "$path" ] || /usr/bin/python3 scripts/make_big_layer.py "$1" "$path" >&2
  echo "$path"
}

# Runs wrk (-t${THREADS:-2}, $CONNS connections, $DURATION s, gzip accepted) cycling through the request
# paths of the file PATHS against BASE_URL; prints one row "NAME req/s p50 p99 non-2xx" and
# keeps the rate in $FIX/rps_NAME. Any non-2xx answer fails the run.
wrk_paths() { # NAME BASE_URL PATHS
  cat > "$FIX/$1.lua" <<LUA
local paths = {}
for line in io.lines("$3") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
LUA
  local out rps p50 p99 errs
  out=$(wrk -t"${THREADS:-2}" -c"$CONNS" -d"${DURATION}s" --latency -s "$FIX/$1.lua" "$2")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-34s %12s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "${errs:-0}"
  if [ -n "$errs" ] && [ "$errs" != 0 ]; then echo "non-2xx answers: the run does not count" >&2; exit 1; fi
  echo "$rps" > "$FIX/rps_$1"
}

# 3 000 tiles at z14, z15 and z16 (a third each) drawn at random (seed 17) inside the extent of
# the vector file SRC, written to OUT as "z/x/y" lines: the high-zoom list of the province-scale
# benches, the same for every server.
random_tiles() { # SRC OUT
  /usr/bin/python3 - "$1" "$2" <<'PY'
import math, random, sys
from osgeo import ogr
ds = ogr.Open(sys.argv[1])  # kept: the layer dies with its dataset
w, e, s, n = ds.GetLayer(0).GetExtent()
rng = random.Random(17)
def tile(lon, lat, z):
    k = 2 ** z
    return z, int((lon + 180) / 360 * k), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k)
with open(sys.argv[2], "w") as out:
    for i in range(3000):
        out.write("%d/%d/%d\n" % tile(rng.uniform(w, e), rng.uniform(s, n), 14 + i % 3))
PY
}
