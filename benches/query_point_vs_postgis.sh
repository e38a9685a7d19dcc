#!/usr/bin/env bash
# "What is here?" side by side, one run: cuulong's GET /query/point (in-memory R-trees) against
# the same question asked of PostGIS as a prepared ST_Intersects query over the same ten sample
# layers (pgbench -M prepared), same number of clients, random points inside Bến Tre's bbox.
#
#   bash benches/query_point_vs_postgis.sh [DURATION_S] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CLIENTS=${2:-32}
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
bash scripts/install-deps.sh
URL=$(bash scripts/pg-start.sh)
cargo build --release --locked -q
CUULONG=${CARGO_TARGET_DIR:-target}/release/cuulong
FIX=target/bench-fixtures
mkdir -p "$FIX"

DB=cuulong_query_bench
ADMIN_URL=${URL/\/cuulong\?/\/postgres?}
psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE cuulong_template"
DB_URL=${URL/\/cuulong\?/\/$DB?}
"$CUULONG" --database-url "$DB_URL" import-manifest data-samples/samples.toml --quiet >/dev/null
psql -X -q "$DB_URL" -c "ANALYZE"

# The PostGIS side: one prepared statement over every layer table.
SQL=$(psql -X -tA "$DB_URL" -c "SELECT string_agg(format('SELECT %L AS layer, fid FROM cuulong_data.%I WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))', id, table_name), ' UNION ALL ') FROM cuulong.layers")
cat > "$FIX/point.pgbench" <<PGB
\set x random(0, 700000)
\set y random(0, 450000)
\set lon 106.05 + :x / 1000000.0
\set lat 9.85 + :y / 1000000.0
$SQL;
PGB
pg=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" -f "$FIX/point.pgbench" "$DB_URL" 2>/dev/null)
pg_tps=$(echo "$pg" | awk '/^tps/ {print $3; exit}')
pg_lat=$(echo "$pg" | awk '/latency average/ {print $4; exit}')

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18090 --no-snapshot >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -sf -o /dev/null http://127.0.0.1:18090/ready && break; sleep 0.2; done
cat > "$FIX/point.lua" <<'LUA'
math.randomseed(7)
request = function()
  local lon = 106.05 + math.random() * 0.7
  local lat = 9.85 + math.random() * 0.45
  return wrk.format("GET", string.format("/query/point?lon=%.6f&lat=%.6f", lon, lat))
end
LUA
out=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --latency -s "$FIX/point.lua" http://127.0.0.1:18090)
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1=="50%" {print $2}')
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
printf '%-44s %12s %s\n' "point query, $CLIENTS clients, ${DURATION}s" "queries/s" "latency"
printf '%-44s %12s p50 %s, p99 %s\n' "cuulong GET /query/point" "$rps" "$p50" "$p99"
printf '%-44s %12s avg %s ms\n' "PostGIS prepared ST_Intersects (pgbench)" "$pg_tps" "$pg_lat"
awk -v a="$rps" -v b="$pg_tps" 'BEGIN { printf "ratio cuulong / PostGIS: %.1fx\n", a / b }'
