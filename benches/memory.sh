#!/usr/bin/env bash
# The memory targets (the served index within 2× the layers' FlatGeobuf size; the process's
# resident size within 1.5×), one run: the served index of each layer against the layer's
# FlatGeobuf file, on the embedded store holding the sample layers plus the 200k-polygon
# land-use layer. Two measures:
#  - index bytes: live heap of each layer's index, counted by tile-server/examples/index_memory.rs
#    (bytes requested, no allocator overhead);
#  - resident size: RSS of `cuulong serve` on that data dir minus RSS of one on an empty data
#    dir, against the sum of the FlatGeobuf files (allocator, fragmentation and loading
#    leftovers included).
#
#   bash benches/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
bench_build index_memory
BIG=$(big_layer 200000)

DATA=$FIX/memory-data
EMPTY=$FIX/memory-empty
rm -rf "$DATA" "$EMPTY" && mkdir -p "$EMPTY"
"$CUULONG" --data-dir "$DATA" import-manifest data-samples/samples.toml --quiet >/dev/null
"$CUULONG" --data-dir "$DATA" import "$BIG" --layer land_use_big --family land_use --quiet >/dev/null

echo "index bytes per layer (live heap) against its FlatGeobuf file:"
"$TARGET/release/examples/index_memory" "$DATA" | column -t
"$TARGET/release/examples/index_memory" "$DATA" | awk 'NR > 1 { f += $3; i += $4 } END {
  printf "all layers: FlatGeobuf %.1f MB, index %.1f MB, ratio %.2f\n", f / 1e6, i / 1e6, i / f }'

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
serve_rss() {
  "$CUULONG" --data-dir "$1" serve --bind "127.0.0.1:$2" --tile-cache-mb 0 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$2/ready" && break; sleep 0.2; done
  sleep 2
  rss_kb $pid
  kill $pid
  wait $pid 2>/dev/null || true
}
empty=$(serve_rss "$EMPTY" 18097)
full=$(serve_rss "$DATA" 18098)
fgb=$(du -cb "$DATA"/layers/*.fgb | awk 'END { print $1 }')
awk -v e="$empty" -v f="$full" -v g="$fgb" 'BEGIN {
  printf "resident size: serve empty %.1f MiB, with the layers %.1f MiB; difference %.1f MiB against %.1f MB of FlatGeobuf: ratio %.2f\n",
    e / 1024, f / 1024, (f - e) / 1024, g / 1e6, (f - e) * 1024 / g }'
