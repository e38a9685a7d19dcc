#!/usr/bin/env bash
# Observations, one run, side by side on the same partitioned table (cuulong.observations,
# primary key (datastream_id, phenomenon_time), monthly partitions) in the same database:
#  1. backfill: `cuulong observations import` of 1 000 000 readings from CSV (station code,
#     time with zone, value), validated, into PostGIS;
#  2. the physical limit: PostgreSQL `COPY` of the same rows into the emptied table;
#  3. HTTP: the same rows as SensorThings CreateObservations (DataArray, 5 000 a request, two
#     client threads with keep-alive) into a running server, stored durably before each answer;
#  4. MQTT: 200 000 readings published at QoS 1 to mosquitto (four mosquitto_pub processes,
#     one datastream topic each) and taken by the server's subscription, timed until the
#     server has stored and acknowledged all of them;
#  5. the latest-values tile (salinity_latest, tile cache off) against the equivalent SQL
#     (ST_AsMVT over each datastream's latest reading through the primary key), one client;
#  6. one year of 15-minute readings of one datastream (35 040) as SensorThings JSON
#     ($select=phenomenonTime,result) against json_agg of the same rows, one client.
#
#   bash benches/observations.sh [DURATION_S]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
source benches/lib.sh
ensure_wrk
bench_build
fresh_db cuulong_obs_bench
PORT=18190
MQTT_PORT=18883
"$CUULONG" --database-url "$DB_URL" observations setup >/dev/null 2>&1

# --- 1 000 000 readings: BT01 salinity one year (2025) at 15 minutes, the rest 15 datastreams
#     from 2024 on.
CSV=$FIX/obs_1m.csv
/usr/bin/python3 - "$CSV" <<'PY'
import math, random, sys
from datetime import datetime, timedelta, timezone
random.seed(1)
streams = [(f"BT0{i}", "salinity") for i in range(1, 10)] + [(f"BT0{i}", "water_level") for i in range(1, 8)]
step = timedelta(minutes=15)
with open(sys.argv[1], "w") as f:
    f.write("station,property,time,value\n")
    total = 0
    for k, (code, prop) in enumerate(streams):
        n = 35040 if k == 0 else (1_000_000 - 35040) // 15 + (1 if k <= (1_000_000 - 35040) % 15 else 0)
        t = datetime(2025 if k == 0 else 2024, 1, 1, tzinfo=timezone.utc)
        for i in range(n):
            h = i / 4
            tide = math.sin(h / 12.42 * 2 * math.pi + k)
            v = 8 + 6 * tide + random.uniform(-0.3, 0.3) if prop == "salinity" else 1.1 * tide
            f.write(f"{code},{prop},{(t + i * step).isoformat()},{round(max(v, 0.05) if prop == 'salinity' else v, 3)}\n")
            total += 1
print(total, file=sys.stderr)
PY

# 1. Backfill through the importer.
backfill=$("$CUULONG" --database-url "$DB_URL" observations import "$CSV" --quiet 2>/dev/null)
backfill_s=$(echo "$backfill" | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["seconds"], 2))')
stored=$(psql -X -tA "$DB_URL" -c "SELECT count(*) FROM cuulong.observations")
[ "$stored" = 1000000 ] || { echo "backfill stored $stored rows, not 1000000" >&2; exit 1; }

# 2. COPY of the same rows into the emptied table (partitions exist: as for the others).
psql -X -q "$DB_URL" -c "\\copy (SELECT datastream_id, to_char(phenomenon_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), result, quality FROM cuulong.observations ORDER BY datastream_id, phenomenon_time) TO '$FIX/obs_copy.csv' CSV"
psql -X -q "$DB_URL" -c "TRUNCATE cuulong.observations"
t0=$(date +%s.%N)
psql -X -q "$DB_URL" -c "\\copy cuulong.observations (datastream_id, phenomenon_time, result, quality) FROM '$FIX/obs_copy.csv' CSV"
t1=$(date +%s.%N)
copy_s=$(echo "$t1 - $t0" | bc -l)

# 3. HTTP CreateObservations into a running server, table emptied again.
psql -X -q "$DB_URL" -c "TRUNCATE cuulong.observations"
KEY=$("$CUULONG" --database-url "$DB_URL" keys create --name bench --agency bench --scope observations:write 2>/dev/null)
cat > "$FIX/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
CONF
mosquitto -c "$FIX/mosquitto.conf" >/dev/null 2>&1 &
BROKER=$!
"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:$PORT --tile-cache-mb 0 --no-snapshot \
  --anonymous-rate-limit-per-minute 0 --rate-limit-per-minute 0 \
  --mqtt-url mqtt://127.0.0.1:$MQTT_PORT --mqtt-key "$KEY" --mqtt-client-id cuulong-bench >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER $BROKER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.2; done
http=$(/usr/bin/python3 - "$FIX/obs_copy.csv" "$PORT" "$KEY" <<'PY'
import csv, http.client, json, sys, threading, time
path, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for ds, t, v, q in csv.reader(open(path)):
    rows.setdefault(int(ds), []).append([t, float(v)])
bodies = []
for ds, rs in rows.items():
    for i in range(0, len(rs), 5000):
        chunk = rs[i:i + 5000]
        bodies.append(json.dumps([{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                                   "dataArray@iot.count": len(chunk), "dataArray": chunk}]).encode())
errors, done = [], [0]
def work(mine):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for b in mine:
        c.request("POST", "/sta/v1.1/CreateObservations", body=b,
                  headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
        r = c.getresponse()
        links = json.loads(r.read())
        if r.status != 201:
            errors.append(r.status)
        bad = [l for l in links if l.startswith("error")]
        errors.extend(bad)
        done[0] += len(links) - len(bad)
threads = [threading.Thread(target=work, args=(bodies[i::2],)) for i in range(2)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
secs = time.time() - t0
if errors:
    sys.exit(f"HTTP ingest: {len(errors)} failures, first {errors[:3]}")
print(f"{done[0]} {secs:.3f}")
PY
)
http_n=${http% *}; http_s=${http#* }
stored=$(psql -X -tA "$DB_URL" -c "SELECT count(*) FROM cuulong.observations")
[ "$stored" = 1000000 ] && [ "$http_n" = 1000000 ] || { echo "HTTP ingest stored $stored ($http_n acknowledged)" >&2; exit 1; }

# 4. MQTT: 200 000 readings of 2023 on four datastreams, published at QoS 1.
for ds in 1 3 5 7; do
  /usr/bin/python3 - "$ds" > "$FIX/mqtt_$ds.txt" <<'PY'
import sys
from datetime import datetime, timedelta, timezone
t = datetime(2023, 1, 1, tzinfo=timezone.utc)
for i in range(50000):
    print('{"phenomenonTime":"%s","result":%.3f}' % ((t + timedelta(minutes=5 * i)).isoformat(), 5 + (i % 100) / 10))
PY
done
before=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1=="cuulong_mqtt_messages_total" {print $2}')
t0=$(date +%s.%N)
pubs=()
for ds in 1 3 5 7; do
  mosquitto_pub -p $MQTT_PORT -q 1 -t "v1.1/Datastreams($ds)/Observations" -l < "$FIX/mqtt_$ds.txt" &
  pubs+=($!)
done
for p in "${pubs[@]}"; do wait "$p"; done
while :; do
  n=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1=="cuulong_mqtt_messages_total" {print $2}')
  [ "$((n - before))" -ge 200000 ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
mqtt_s=$(echo "$t1 - $t0" | bc -l)
stored=$(psql -X -tA "$DB_URL" -c "SELECT count(*) FROM cuulong.observations WHERE phenomenon_time < '2024-01-01'")
[ "$stored" = 200000 ] || { echo "MQTT stored $stored of 200000" >&2; exit 1; }

# 5. The latest-values tile: cuulong (cache off) vs ST_AsMVT over each datastream's latest
#    reading of the same stations (the index-only path a DBA would write).
read -r Z X Y < <(/usr/bin/python3 -c 'import math; z=8; lon,lat=106.45,10.05; n=2**z; print(z, int((lon+180)/360*n), int((1-math.log(math.tan(math.radians(lat))+1/math.cos(math.radians(lat)))/math.pi)/2*n))')
echo "/tiles/salinity_latest/$Z/$X/$Y.mvt" > "$FIX/latest_tile.txt"
features=$(curl -s "http://127.0.0.1:$PORT/collections/salinity_latest/items" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["numberMatched"])')
psql -X -q "$DB_URL" <<SQL
DROP TABLE IF EXISTS bench_stations;
CREATE TABLE bench_stations AS
SELECT (d->>'id')::int AS datastream_id, t->>'code' AS code, (t->>'lon')::float8 AS lon, (t->>'lat')::float8 AS lat
FROM cuulong.sta_catalog c, jsonb_array_elements(c.body->'datastreams') d, jsonb_array_elements(c.body->'things') t,
     jsonb_array_elements(c.body->'properties') p
WHERE (t->>'id')::int = (d->>'thing')::int AND (p->>'id')::int = (d->>'property')::int AND p->>'code' = 'salinity'
  AND d->>'access' = 'open';
ANALYZE bench_stations;
SQL
cat > "$FIX/latest_tile.pgbench" <<SQL
SELECT ST_AsMVT(t, 'salinity_latest') FROM (
  SELECT s.code AS station_code, o.result AS value, o.phenomenon_time AS observed_at,
         ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), 3857), ST_TileEnvelope($Z, $X, $Y)) AS geom
  FROM bench_stations s
  CROSS JOIN LATERAL (SELECT result, phenomenon_time FROM cuulong.observations o
                      WHERE o.datastream_id = s.datastream_id ORDER BY phenomenon_time DESC LIMIT 1) o) t;
SQL
sql_rows=$(psql -X -tA "$DB_URL" -c "SELECT count(*) FROM bench_stations")
[ "$sql_rows" = "$features" ] || { echo "stations differ: SQL $sql_rows, cuulong $features" >&2; exit 1; }
CONNS=1 THREADS=1
tile_row=$(wrk_paths obs_latest_tile "http://127.0.0.1:$PORT" "$FIX/latest_tile.txt")
pg_tile=$(pgbench -n -c1 -j1 -T "$DURATION" -f "$FIX/latest_tile.pgbench" "$DB_URL" 2>&1 | awk '/latency average/ {print $4}')

# 6. One year of 15-minute readings of one datastream (BT01 salinity: 35 040) as JSON.
DS=$(curl -s "http://127.0.0.1:$PORT/sta/v1.1/Datastreams?\$filter=properties/station%20eq%20'BT01'%20and%20properties/observedProperty%20eq%20'salinity'&\$select=id" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["value"][0]["@iot.id"])')
YEAR="/sta/v1.1/Datastreams($DS)/Observations?\$filter=year(phenomenonTime)%20eq%202025&\$select=phenomenonTime,result&\$top=35040"
n=$(curl -s "http://127.0.0.1:$PORT$YEAR" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["value"]))')
[ "$n" = 35040 ] || { echo "the year holds $n readings, not 35040" >&2; exit 1; }
echo "$YEAR" > "$FIX/year.txt"
cat > "$FIX/year.pgbench" <<SQL
SELECT json_agg(json_build_object('phenomenonTime', phenomenon_time, 'result', result) ORDER BY phenomenon_time)
FROM cuulong.observations WHERE datastream_id = $DS AND phenomenon_time >= '2025-01-01Z' AND phenomenon_time < '2026-01-01Z';
SQL
year_row=$(wrk_paths obs_year_json "http://127.0.0.1:$PORT" "$FIX/year.txt")
pg_year=$(pgbench -n -c1 -j1 -T "$DURATION" -f "$FIX/year.pgbench" "$DB_URL" 2>&1 | awk '/latency average/ {print $4}')

rate() { echo "$1 / $2" | bc -l | awk '{printf "%.0f", $1}'; }
copy_rps=$(rate 1000000 "$copy_s"); http_rps=$(rate 1000000 "$http_s"); mqtt_rps=$(rate 200000 "$mqtt_s")
echo
echo "observations, $(date -u +%Y-%m-%dT%H:%MZ), one run"
printf '%-46s %s\n' "backfill 1 000 000 from CSV (import, validated)" "$backfill_s s ($(rate 1000000 "$backfill_s") rows/s)"
printf '%-46s %s\n' "COPY of the same rows (physical limit)" "$(printf %.2f "$copy_s") s ($copy_rps rows/s)"
printf '%-46s %s\n' "HTTP CreateObservations, same rows" "$(printf %.2f "$http_s") s ($http_rps obs/s, $(echo "100 * $http_rps / $copy_rps" | bc) % of COPY)"
printf '%-46s %s\n' "MQTT QoS 1 via mosquitto, 200 000" "$(printf %.2f "$mqtt_s") s ($mqtt_rps obs/s)"
echo "latest-values tile ($features stations), cuulong (wrk -c1: req/s p50 p99) vs SQL (pgbench avg):"
echo "  $tile_row"
echo "  ST_AsMVT over the latest reading per datastream: ${pg_tile} ms average"
echo "one year (35 040 readings) as JSON, cuulong vs json_agg:"
echo "  $year_row"
echo "  json_agg of the same rows: ${pg_year} ms average"
