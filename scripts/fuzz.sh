#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (default 60 s each), seeded with the
# project's own inputs (styles, mapping files, sample DBF bytes). A crash fails the run and
# leaves its input in fuzz/artifacts/TARGET/ — add it as a regression test once fixed.
# Runs on the stable toolchain (no sanitizer: `-s none`), so nightly is not needed.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || {
  echo "cuulong: installing cargo-fuzz (crates.io)" >&2
  cargo install cargo-fuzz --locked --version 0.13.2 >&2
}
# Its own target dir (instrumented build), beside the main one when CI keeps that outside.
FUZZ_TARGET=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
export CARGO_TARGET_DIR=$FUZZ_TARGET

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus"/{style,mapping,tcvn3,mvt_clip,cql2,features_query,wms_kvp,layer_lists,tile_requests,admin_time}
i=0
for f in styles/*.json; do
  { printf '\x0b'; cat "$f"; } > "$corpus/style/seed$i"; i=$((i + 1))
done
i=0
while IFS= read -r f; do
  { printf '\x01'; cat "$f"; printf '\0LUC\nphù sa\nQL 60\n'; } > "$corpus/mapping/seed$i"; i=$((i + 1))
done < <(find data-samples -name '*.toml' | sort)
i=0
while IFS= read -r f; do
  head -c 4096 "$f" > "$corpus/tcvn3/seed$i"; i=$((i + 1))
done < <(find data-samples -name '*.dbf' | sort)
printf 'seed' > "$corpus/mvt_clip/seed0"
# The server's network-facing parsers: requests as clients send them.
i=0
for f in "lu_code = 'LUC' AND area_m2 > 50000" \
         "lu_code IN ('LUC','ONT') OR NOT (area_m2 BETWEEN 1 AND 2)" \
         "S_INTERSECTS(geometry, POLYGON((106.2 10.1, 106.3 10.1, 106.3 10.2, 106.2 10.1)))" \
         "S_DWITHIN(geometry, POINT(106.25 10.15), 500) AND surveyed > DATE('2020-03-01')" \
         "lu_code LIKE 'L%' AND area_m2 * 2 + 1 >= 100000 AND surveyed IS NOT NULL"; do
  printf '%s' "$f" > "$corpus/cql2/seed$i"; i=$((i + 1))
done
i=0
for q in "bbox=106.2,10.1,106.3,10.2&limit=5&offset=2" "crs=http://www.opengis.net/def/crs/EPSG/0/9210&bbox-crs=EPSG:4326&bbox=10.1,106.2,10.2,106.3" \
         "datetime=2020-01-01/2020-06-30&lu_code=LUC&f=json" "filter=lu_code='LUC'&filter-lang=cql2-text&limit=1" "f=html&limit=10000&offset=0"; do
  printf '%s' "$q" > "$corpus/features_query/seed$i"; i=$((i + 1))
done
i=0
for q in "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use,roads&STYLES=&CRS=EPSG:4326&BBOX=10.1,106.2,10.2,106.3&WIDTH=32&HEIGHT=32&FORMAT=image/png" \
         "SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&SRS=EPSG:3857&BBOX=11822000,1128000,11835000,1141000&WIDTH=16&HEIGHT=16&X=3&Y=4&INFO_FORMAT=application/json&FEATURE_COUNT=5" \
         "SERVICE=WMS&REQUEST=GetCapabilities" "SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=land_use&FORMAT=image/png" \
         "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nowhere&CRS=EPSG:9210&BBOX=1,2,3,4&WIDTH=60&HEIGHT=60&FORMAT=image/jpeg&EXCEPTIONS=INIMAGE"; do
  printf '%s' "$q" > "$corpus/wms_kvp/seed$i"; i=$((i + 1))
done
i=0
for q in '\x00SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=land_use&STYLE=&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=5&TILEROW=9&TILECOL=20&FORMAT=image/png' \
         '\x00SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=land_use&STYLE=&FORMAT=image/png&TILEMATRIXSET=WorldCRS84Quad&TILEMATRIX=9&TILEROW=227&TILECOL=813&I=10&J=200&INFOFORMAT=text/plain' \
         '\x00SERVICE=WMTS&REQUEST=GetCapabilities' '\x01land_use/default/WebMercatorQuad/10/482/814.png' \
         '\x02land_use/tiles/VN2000TM3BenTreQuad/3/2/5' '\x02land_use/map/tiles/WorldCRS84Quad/8/113/406' \
         '\x02soil/tiles/WebMercatorQuad' '\x02roads/tiles'; do
  printf "$q" > "$corpus/tile_requests/seed$i"; i=$((i + 1))
done
i=0
for l in "land_use" "land_use,roads,admin_communes" "roads,roads,land_use" "a,b,c"; do
  printf '%s' "$l" > "$corpus/layer_lists/seed$i"; i=$((i + 1))
done
i=0
for f in data-samples/admin/*lineage.csv; do
  head -c 4096 "$f" > "$corpus/admin_time/seed$i"; i=$((i + 1))
done
for q in "2025-07-01" "2020-01-01T12:00:00Z" "current" "Xã Tân Thạch" "28810"; do
  printf '%s' "$q" > "$corpus/admin_time/seed$i"; i=$((i + 1))
done
mkdir -p "$corpus/sta_query"
i=0
for q in 'Observations?$filter=result gt 2 and year(phenomenonTime) eq 2026&$orderby=result desc&$top=5' \
         'Things(1)?$expand=Datastreams($select=name;$expand=Observations($top=2;$orderby=phenomenonTime desc)),Locations' \
         "Locations?\$filter=st_within(location, geography'POLYGON((106 9, 107 9, 107 11, 106 11, 106 9))')" \
         'Datastreams(1)/Observations?$resultFormat=dataArray&$select=phenomenonTime,result&$count=true' \
         'Things/$ref?$skip=2' 'Things(1)/name/$value'; do
  printf '%s' "$q" > "$corpus/sta_query/seed$i"; i=$((i + 1))
done

cd fuzz
cargo fuzz build -s none 2>&1 | { grep -vE "^ +Compiling" || true; } >&2
for target in mapping tcvn3 mvt_clip style cql2 features_query wms_kvp layer_lists tile_requests admin_time sta_query; do
  echo "cuulong: fuzzing $target for ${SECONDS_EACH}s" >&2
  cargo fuzz run -s none "$target" "$corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E 'stat::number_of_executed_units|Done|ERROR|panicked|SUMMARY' >&2
done
echo "cuulong: every fuzz target ran ${SECONDS_EACH}s without a crash" >&2
