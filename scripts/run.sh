#!/usr/bin/env bash
# README's run command. Installs what is missing, builds cuulong, imports the Bến Tre sample
# layers (data-samples/samples.toml) into the embedded store ./var/cuulong the first time, sets
# up the observation network with simulated readings, and serves them: web map at
# http://127.0.0.1:8080/map, live stations fed by the simulator (Ctrl-C stops both).
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
# The observation network (stations, datastreams), and the first time 7 days of simulated
# readings (synthetic, labelled so) and a key for the simulator to feed the live map with.
"$CUULONG" --data-dir "$DATA_DIR" observations setup data-samples/observations/network.toml
KEY_FILE="$DATA_DIR/simulator.key"
if [ ! -s "$KEY_FILE" ]; then
  "$CUULONG" --data-dir "$DATA_DIR" observations simulate --days 7
  (umask 077; "$CUULONG" --data-dir "$DATA_DIR" keys create --name "simulator-$(date +%s)" \
    --agency "cuulong (mô phỏng / simulator)" --scope observations:write > "$KEY_FILE")
fi
echo "cuulong: web map at http://$BIND/map" >&2
"$CUULONG" --data-dir "$DATA_DIR" serve --bind "$BIND" \
  --salinity-rules data-samples/observations/salinity.toml &
SERVER=$!
# Live readings every 10 s through the SensorThings API, while the server runs.
"$CUULONG" --data-dir "$DATA_DIR" observations simulate --days 0 --url "http://$BIND" \
  --key "$KEY_FILE" --follow --every-seconds 10 &
SIMULATOR=$!
trap 'kill "$SIMULATOR" "$SERVER" 2>/dev/null || true' EXIT INT TERM
wait "$SERVER"
