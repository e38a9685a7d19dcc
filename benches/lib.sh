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
