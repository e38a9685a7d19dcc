#!/usr/bin/env bash
# README's run command. Installs what is missing, builds cuulong, imports the Bến Tre sample
# layers (data-samples/samples.toml) into the embedded store ./var/cuulong, and lists them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked
CUULONG=./target/release/cuulong
DATA_DIR=${CUULONG_DATA_DIR:-./var/cuulong}
unset DATABASE_URL

"$CUULONG" --data-dir "$DATA_DIR" import-manifest data-samples/samples.toml --quiet
"$CUULONG" --data-dir "$DATA_DIR" layers
