#!/usr/bin/env bash
# "What is here?" side by side, one run, random points inside Bến Tre's bbox, the same ten
# sample layers in the same database:
#  1. the engines, one core each, no protocol: cuulong's point_hits over its in-memory R-trees
#     (tile-server/examples/point_engine.rs) against PostGIS running the same prepared
#     ST_Intersects query in a PL/pgSQL loop inside the server;
#  2. over the wire: GET /query/point (HTTP + JSON with every attribute) against the prepared
#     query through pgbench -M prepared (Unix socket, layer + fid only), same client count;
#  3. the wire's ceiling: a bare axum route answering every request with one typical
#     /query/point body (tile-server/examples/bare_route.rs) — no server can beat it here.
#
#   bash benches/query_point_vs_postgis.sh [DURATION_S] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CLIENTS=${2:-32}
source benches/lib.sh
ensure_wrk
bench_build point_engine bare_route
fresh_db cuulong_query_bench
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
# 1. The engines, one core each.
engine=$("$TARGET/release/examples/point_engine" "$DB_URL" 300000)
engine_qps=$(echo "$engine" | awk '{for (i = 1; i < NF; i++) if ($i == "queries_per_s") print $(i + 1)}')
engine_hits=$(echo "$engine" | awk '{for (i = 1; i < NF; i++) if ($i == "hits") h = $(i + 1); else if ($i == "queries") q = $(i + 1); printf "%.2f", h / q}')
SQLV=$(psql -X -tA "$DB_URL" -c "SELECT string_agg(format('SELECT %L AS layer, fid FROM cuulong_data.%I WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(q_lon, q_lat), 4326))', id, table_name), ' UNION ALL ') FROM cuulong.layers")
cat > "$FIX/point_engine.sql" <<SQL
DO \$\$
DECLARE
  queries int := 20000; hits bigint := 0; t0 timestamptz; secs float8;
  q_lon float8; q_lat float8; r record;
BEGIN
  PERFORM setseed(0.5);
  t0 := clock_timestamp();
  FOR i IN 1..queries LOOP
    q_lon := 106.05 + random() * 0.7;
    q_lat := 9.85 + random() * 0.45;
    FOR r IN $SQLV LOOP
      hits := hits + 1;
    END LOOP;
  END LOOP;
  secs := extract(epoch FROM clock_timestamp() - t0);
  RAISE NOTICE 'queries % hits % queries_per_s %', queries, hits, round(queries / secs);
END
\$\$;
SQL
pg_engine=$(psql -X -q "$DB_URL" -f "$FIX/point_engine.sql" 2>&1)
pg_engine_qps=$(echo "$pg_engine" | awk '{for (i = 1; i < NF; i++) if ($i == "queries_per_s") print $(i + 1)}')
pg_engine_hits=$(echo "$pg_engine" | awk '{for (i = 1; i < NF; i++) if ($i == "hits") h = $(i + 1); else if ($i == "queries") q = $(i + 1); printf "%.2f", h / q}')

# 2. Over the wire.
pg=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" -f "$FIX/point.pgbench" "$DB_URL" 2>/dev/null)
pg_tps=$(echo "$pg" | awk '/^tps/ {print $3; exit}')
pg_lat=$(echo "$pg" | awk '/latency average/ {print $4; exit}')

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18090 --no-snapshot --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 &
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

# 3. The wire's ceiling: the median-sized answer of 51 random points, served by a bare route.
rm -rf "$FIX/bare-point" && mkdir -p "$FIX/bare-point"
for i in $(seq 1 51); do
  lon=$(awk -v s="$i" 'BEGIN { srand(s); printf "%.6f", 106.05 + rand() * 0.7 }')
  lat=$(awk -v s="$i" 'BEGIN { srand(s + 100); printf "%.6f", 9.85 + rand() * 0.45 }')
  curl -sf -o "$FIX/bare-point/$i.json" "http://127.0.0.1:18090/query/point?lon=$lon&lat=$lat"
done
median=$(ls -S "$FIX"/bare-point/*.json | sed -n 26p)
cp "$median" "$FIX/bare-point/point.json"
kill $PID
"$TARGET/release/examples/bare_route" 127.0.0.1:18091 "$FIX/bare-point" >/dev/null 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:18091/query/point" && break; sleep 0.1; done
bare=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --latency -s "$FIX/point.lua" http://127.0.0.1:18091)
bare_rps=$(echo "$bare" | awk '/Requests\/sec/ {print $2}')

printf '%-52s %12s %s\n' "1. engines, one core each, no protocol" "queries/s" "hits/query"
printf '%-52s %12s %s\n' "cuulong point_hits (in-memory R-trees)" "$engine_qps" "$engine_hits"
printf '%-52s %12s %s\n' "PostGIS prepared ST_Intersects (PL/pgSQL loop)" "$pg_engine_qps" "$pg_engine_hits"
awk -v a="$engine_qps" -v b="$pg_engine_qps" 'BEGIN { printf "ratio engines cuulong / PostGIS: %.1fx\n\n", a / b }'
printf '%-52s %12s %s\n' "2. over the wire, $CLIENTS clients, ${DURATION}s" "queries/s" "latency"
printf '%-52s %12s p50 %s, p99 %s\n' "cuulong GET /query/point (HTTP, JSON)" "$rps" "$p50" "$p99"
printf '%-52s %12s avg %s ms\n' "PostGIS prepared ST_Intersects (pgbench)" "$pg_tps" "$pg_lat"
awk -v a="$rps" -v b="$pg_tps" 'BEGIN { printf "ratio cuulong / PostGIS: %.1fx\n\n", a / b }'
printf '%-52s %12s (%s bytes)\n' "3. bare axum route, one fixed answer" "$bare_rps" "$(stat -c %s "$FIX/bare-point/point.json")"
awk -v a="$bare_rps" -v b="$pg_tps" -v c="$rps" 'BEGIN { printf "ceiling over the wire: %.1fx PostGIS; cuulong reaches %.0f%% of it\n", a / b, 100 * c / a }'
