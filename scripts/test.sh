#!/usr/bin/env bash
# README's test command. Installs what is missing (Debian: GDAL, PROJ, PostgreSQL + PostGIS,
# clang, nginx), starts a local PostGIS (scripts/pg-start.sh; tests/replicas.rs starts its own
# primary and standby with scripts/replica-set.sh), then checks formatting and lints and runs
# every test — unit tests and integration tests against real PostGIS and real files.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/install-test-tools.sh
# Real clients the tests drive: GDAL (Debian), Python and Node tools (.tools/).
export PATH="$PWD/.tools/venv/bin:$PWD/.tools/node/node_modules/.bin:$PATH"
CUULONG_TEST_DATABASE_URL=$(bash scripts/pg-start.sh)
export CUULONG_TEST_DATABASE_URL
case "$CUULONG_TEST_DATABASE_URL" in
  postgres://*) ;;
  *) echo "cuulong: scripts/pg-start.sh printed '$CUULONG_TEST_DATABASE_URL', not a database URL" >&2; exit 1 ;;
esac
echo "cuulong: tests use PostGIS at $CUULONG_TEST_DATABASE_URL" >&2

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Fuzz targets (fuzz/): each runs a bounded time; a crash fails the run.
bash scripts/fuzz.sh "${CUULONG_FUZZ_SECONDS:-60}"
