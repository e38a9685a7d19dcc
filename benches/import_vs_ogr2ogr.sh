#!/usr/bin/env bash
# Import throughput, side by side in one run: `cuulong import` (validating, mapping to the
# land_use family, reprojecting, all-or-nothing swap) against
# `ogr2ogr -f PostgreSQL --config PG_USE_COPY YES` on the same 200k-polygon GeoPackage into the
# same PostGIS database. Two sources: already in EPSG:4326, and in VN-2000 / TM-3 (EPSG:9210),
# which both tools reproject to EPSG:4326. Prints the median of RUNS runs and the ratio.
#
#   bash benches/import_vs_ogr2ogr.sh [COUNT] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-200000}
RUNS=${2:-3}

source benches/lib.sh
bench_build
SRC4326=$(big_layer "$COUNT")
SRCTM3="$FIX/land_use_big_${COUNT}_tm3.gpkg"
if [ ! -f "$SRCTM3" ]; then
  # Same features in VN-2000 / TM-3 105-45, reprojected with the pinned EPSG:6960 pipeline.
  ogr2ogr -f GPKG "$SRCTM3" "$SRC4326" -s_srs EPSG:4326 -t_srs EPSG:9210 -ct "+proj=pipeline \
+step +proj=axisswap +order=2,1 +step +proj=unitconvert +xy_in=deg +xy_out=rad \
+step +proj=cart +ellps=WGS84 +step +inv +proj=helmert +x=-191.90441429 +y=-39.30318279 \
+z=-111.45032835 +rx=-0.00928836 +ry=0.01975479 +rz=-0.00427372 +s=0.252906278 \
+convention=coordinate_frame +step +inv +proj=cart +ellps=WGS84 \
+step +proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84"
fi

BENCH_DB=cuulong_bench
fresh_db "$BENCH_DB"
PG_DSN="PG:dbname=$BENCH_DB host=/var/run/postgresql port=${CUULONG_PG_PORT:-5439}"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_ogr() { # src extra-args...
  local src=$1; shift
  ogr2ogr -f PostgreSQL "$PG_DSN" "$src" --config PG_USE_COPY YES -nln ogr_land_use \
    -overwrite -lco SPATIAL_INDEX=GIST -nlt PROMOTE_TO_MULTI "$@"
}
run_cuulong() {
  "$CUULONG" --database-url "$DB_URL" import "$1" --layer land_use_big --family land_use --quiet >/dev/null
}

printf '%-34s %10s %12s\n' "case (median of $RUNS)" "seconds" "features/s"
for src in "$SRC4326" "$SRCTM3"; do
  name=$(basename "$src" .gpkg)
  extra=()
  [ "$src" = "$SRCTM3" ] && extra=(-t_srs EPSG:4326)
  o_times=(); c_times=()
  for _ in $(seq "$RUNS"); do
    t0=$(now); run_ogr "$src" "${extra[@]}"; t1=$(now)
    o_times+=("$(calc "$t1 - $t0")")
    t0=$(now); run_cuulong "$src"; t1=$(now)
    c_times+=("$(calc "$t1 - $t0")")
  done
  o=$(printf '%s\n' "${o_times[@]}" | median)
  c=$(printf '%s\n' "${c_times[@]}" | median)
  printf '%-34s %10.2f %12.0f\n' "ogr2ogr PG_USE_COPY $name" "$o" "$(calc "$COUNT / $o")"
  printf '%-34s %10.2f %12.0f\n' "cuulong import $name" "$c" "$(calc "$COUNT / $c")"
  printf '%-34s %10.2fx\n' "ratio cuulong / ogr2ogr" "$(calc "$o / $c")"
done
echo "check: cuulong's table holds $(psql -X -tAc "SELECT feature_count FROM cuulong.layers WHERE id = 'land_use_big'" "$DB_URL") features; ogr2ogr's $(psql -X -tAc "SELECT count(*) FROM ogr_land_use" "$DB_URL") rows"
