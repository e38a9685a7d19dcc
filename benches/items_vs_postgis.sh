#!/usr/bin/env bash
# OGC API – Features items with a bbox, side by side, one run: cuulong's
# GET /collections/land_use_big/items?bbox=…&limit=1000 (in-memory R-tree, GeoJSON over HTTP)
# against the same page from PostGIS as one prepared statement returning a GeoJSON
# FeatureCollection built with ST_AsGeoJSON (pgbench -M prepared, no HTTP), on the same
# 200 000-polygon table, random 0.02° boxes inside Bến Tre, same number of clients.
# Reports features/s (requests/s × features per page).
#
#   bash benches/items_vs_postgis.sh [DURATION_S] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CLIENTS=${2:-8}
source benches/lib.sh
ensure_wrk
bench_build
BIG=$(big_layer 200000)
fresh_db cuulong_items_bench
"$CUULONG" --database-url "$DB_URL" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null
psql -X -q "$DB_URL" -c "ANALYZE"
TABLE=$(psql -X -tA "$DB_URL" -c "SELECT table_name FROM cuulong.layers WHERE id = 'land_use_big'")

# Features per page for a fixed box, to turn requests/s into features/s (both sides return it).
BOX="106.30,10.10,106.32,10.12"
per_page=$(psql -X -tA "$DB_URL" -c "SELECT least(count(*), 1000) FROM cuulong_data.$TABLE WHERE ST_Intersects(geom, ST_MakeEnvelope($BOX, 4326))")

cat > "$FIX/items.pgbench" <<PGB
\set x random(0, 680000)
\set y random(0, 430000)
\set lon 106.05 + :x / 1000000.0
\set lat 9.85 + :y / 1000000.0
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f), '[]'::json))::text
FROM (SELECT ST_AsGeoJSON(t.*, 'geom', 9)::json AS f FROM cuulong_data.$TABLE t
      WHERE ST_Intersects(t.geom, ST_MakeEnvelope(:lon, :lat, :lon + 0.02, :lat + 0.02, 4326))
      ORDER BY t.fid LIMIT 1000) q;
PGB
pg=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" -f "$FIX/items.pgbench" "$DB_URL" 2>/dev/null)
pg_tps=$(echo "$pg" | awk '/^tps/ {print $3; exit}')
pg_lat=$(echo "$pg" | awk '/latency average/ {print $4; exit}')

"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18093 --no-snapshot --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null http://127.0.0.1:18093/ready && break; sleep 0.2; done
got=$(curl -s "http://127.0.0.1:18093/collections/land_use_big/items?bbox=$BOX&limit=1000" | python3 -c "import json,sys; print(json.load(sys.stdin)['numberReturned'])")
[ "$got" = "$per_page" ] || { echo "cuulong returned $got features for the test box, PostGIS $per_page" >&2; exit 1; }
cat > "$FIX/items.lua" <<'LUA'
math.randomseed(7)
request = function()
  local lon = 106.05 + math.random() * 0.68
  local lat = 9.85 + math.random() * 0.43
  return wrk.format("GET", string.format("/collections/land_use_big/items?bbox=%.6f,%.6f,%.6f,%.6f&limit=1000", lon, lat, lon + 0.02, lat + 0.02))
end
LUA
out=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --latency -s "$FIX/items.lua" http://127.0.0.1:18093)
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1=="50%" {print $2}')
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; exit 1; fi
printf '%-52s %10s %s\n' "items, bbox 0.02°, limit 1000, $CLIENTS clients, ${DURATION}s" "pages/s" "latency"
printf '%-52s %10s p50 %s, p99 %s\n' "cuulong GET /collections/…/items (HTTP, GeoJSON)" "$rps" "$p50" "$p99"
printf '%-52s %10s avg %s ms\n' "PostGIS prepared ST_AsGeoJSON page (pgbench)" "$pg_tps" "$pg_lat"
echo "(the test box holds $per_page features; boxes are random, pages are compared, both sides return the same features)"
awk -v a="$rps" -v b="$pg_tps" 'BEGIN { printf "ratio cuulong / PostGIS: %.1fx\n", a / b }'
