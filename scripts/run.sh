#!/usr/bin/env bash
# README's run command. Installs what is missing, builds cuulong, imports the Bến Tre sample
# layers (data-samples/samples.toml) into the embedded store ./var/cuulong the first time, and
# serves them: web map at http://127.0.0.1:8080/map (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked
CUULONG=${CARGO_TARGET_DIR:-target}/release/cuulong
DATA_DIR=${CUULONG_DATA_DIR:-./var/cuulong}
BIND=${CUULONG_BIND:-127.0.0.1:8080}
unset DATABASE_URL

if [ "$("$CUULONG" --data-dir "$DATA_DIR" layers --json | tr -d '[:space:]')" = "[]" ]; then
  "$CUULONG" --data-dir "$DATA_DIR" import-manifest data-samples/samples.toml --quiet
fi
"$CUULONG" --data-dir "$DATA_DIR" layers
echo "cuulong: web map at http://$BIND/map" >&2
exec "$CUULONG" --data-dir "$DATA_DIR" serve --bind "$BIND"
