#!/usr/bin/env bash
# Uncached vector tiles of the province's cadastre, cuulong against Martin, one run: COUNT
# synthetic parcels (default 2 000 000; scripts/make_parcels.py) imported into PostGIS by
# `cuulong import`; the same 3 000 tiles at z14–z16 (a third each, drawn at random inside the
# layer's extent), wrk 2 threads × 16 connections, 20 s, caches off.
#  - cuulong serve on that database (the layer in memory, the default);
#  - Martin 1.14 on the same rows, as its docs recommend: in the served CRS (a copy of the
#    table in EPSG:3857 with a GiST index, ANALYZEd), one worker per core (its default).
# Both send every parcel of a tile with all ten attributes (at z ≥ 13 cuulong drops nothing
# as sub-pixel). Non-2xx answers fail the run.
#
#   bash benches/parcels_vs_martin.sh [COUNT]
#
# Needs Martin (see benches/tiles_vs_martin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-2000000}
command -v martin >/dev/null || { echo "martin not installed (see benches/tiles_vs_martin.sh)" >&2; exit 1; }
source benches/lib.sh
bench_build
ensure_wrk
CONNS=${CONNS:-16}
DURATION=${DURATION:-20}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
SRC=$FIX/parcels_$COUNT.fgb
[ -f "$SRC" ] || /usr/bin/python3 scripts/make_parcels.py "$COUNT" "$SRC"
DB=cuulong_parcels_martin
fresh_db "$DB"
"$CUULONG" --database-url "$DB_URL" import "$SRC" --layer parcels --family land_use --quiet >/dev/null
TABLE=$(psql -X -tAc "SELECT table_name FROM cuulong.layers WHERE id = 'parcels'" "$DB_URL")
psql -X -q "$DB_URL" <<SQL
CREATE TABLE public.parcels_3857 AS
  SELECT * FROM cuulong_data."$TABLE";
ALTER TABLE public.parcels_3857
  ALTER COLUMN geom TYPE geometry(MultiPolygon, 3857) USING ST_Transform(ST_Multi(geom), 3857);
CREATE INDEX ON public.parcels_3857 USING gist (geom);
ANALYZE;
SQL
n=$(psql -X -tAc "SELECT count(*) FROM public.parcels_3857" "$DB_URL")
[ "$n" = "$COUNT" ] || { echo "the EPSG:3857 copy holds $n of $COUNT" >&2; exit 1; }

PATHS=$FIX/parcels_martin_tiles.txt
random_tiles "$SRC" "$PATHS"
sed 's|^|/tiles/parcels/|; s|$|.mvt|' "$PATHS" > "$FIX/parcels_cuulong_paths.txt"
sed 's|^|/parcels_3857/|' "$PATHS" > "$FIX/parcels_martin_paths.txt"

ready() { for _ in $(seq 1 900); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }
echo "server                              requests/s        p50        p99  non-2xx"
"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:18331 --tile-cache-mb 0 --no-snapshot \
  --anonymous-rate-limit-per-minute 0 >/dev/null 2>&1 &
c=$!
ready http://127.0.0.1:18331/ready
wrk_paths cuulong_parcels http://127.0.0.1:18331 "$FIX/parcels_cuulong_paths.txt"
# The same tile, both servers: both non-empty (the same parcels are there to send).
t=$(sed -n 2p "$PATHS")
cb=$(curl -s "http://127.0.0.1:18331/tiles/parcels/$t.mvt" | wc -c)
kill $c; wait $c 2>/dev/null || true

martin --listen-addresses 127.0.0.1:18332 --cache-size 0 "$DB_URL" >/dev/null 2>&1 &
m=$!
ready http://127.0.0.1:18332/catalog
wrk_paths martin_parcels http://127.0.0.1:18332 "$FIX/parcels_martin_paths.txt"
mb=$(curl -s "http://127.0.0.1:18332/parcels_3857/$t" | wc -c)
kill $m; wait $m 2>/dev/null || true

echo
echo "parcels vs Martin, $(date -u +%Y-%m-%dT%H:%MZ), one run: $COUNT parcels, 3 000 tiles z14–z16, caches off, wrk 2×$CONNS, ${DURATION} s"
echo "tile $t: cuulong $cb bytes, Martin $mb bytes (uncompressed)"
awk -v a="$(cat "$FIX/rps_cuulong_parcels")" -v b="$(cat "$FIX/rps_martin_parcels")" \
  'BEGIN { printf "cuulong %.1f tiles/s, Martin %.1f tiles/s: %.2fx\n", a, b, a / b }'
