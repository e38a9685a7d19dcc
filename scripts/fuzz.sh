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
mkdir -p "$corpus"/{style,mapping,tcvn3,mvt_clip}
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

cd fuzz
cargo fuzz build -s none 2>&1 | { grep -vE "^ +Compiling" || true; } >&2
for target in mapping tcvn3 mvt_clip style; do
  echo "cuulong: fuzzing $target for ${SECONDS_EACH}s" >&2
  cargo fuzz run -s none "$target" "$corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E 'stat::number_of_executed_units|Done|ERROR|panicked|SUMMARY' >&2
done
echo "cuulong: every fuzz target ran ${SECONDS_EACH}s without a crash" >&2
