#!/usr/bin/env bash
# Salinity intelligence, one run, on PostGIS:
#  1. daily aggregates of a year of 15-minute readings (35 040 a station, simulated with gaps
#     and a sensor fault) for each of the nine salinity stations: count, min, max, mean and the
#     hours above each of the eight crop and livestock limits — cuulong's endpoint (wrk, one
#     client, the nine stations in turn) against the same figures in SQL with window functions
#     (lead() for the time each reading stands for; pgbench, one client, the nine in turn).
#     cuulong also answers when the maximum fell, the flagged count and the longest gap; the
#     SQL does not (it would only cost it more). The tidal-cycle aggregates (cuulong only: low
#     waters found from the series itself) are timed beside;
#  2. the latency from a reading that crosses the limits to its webhook at a local receiver
#     (alerts open at 30‰ and close at 0.1‰, every 0.5 s: eight limits, eight webhooks each),
#     while a client feeds 10 000 readings a second of background ingest (water level, through
#     CreateObservations) into the same server. Latency = the receiver's clock at arrival minus
#     the reading's phenomenon time, stamped when the client sent it (one machine, one clock).
#
#   bash benches/salinity.sh [DURATION_S]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
source benches/lib.sh
ensure_wrk
bench_build
fresh_db cuulong_salinity_bench
PORT=18191
HOOK_PORT=18192

"$CUULONG" --database-url "$DB_URL" import-manifest data-samples/samples.toml --quiet >/dev/null 2>&1
"$CUULONG" --database-url "$DB_URL" observations setup >/dev/null 2>&1
"$CUULONG" --database-url "$DB_URL" observations simulate --days 365 --seed 7 >/dev/null 2>&1
KEY=$("$CUULONG" --database-url "$DB_URL" keys create --name bench --agency bench --scope observations:write 2>/dev/null)

# The sample rules plus one webhook to the local receiver.
RULES=$FIX/salinity_rules.toml
cp data-samples/observations/salinity.toml "$RULES"
cat >> "$RULES" <<TOML
[[webhook]]
name = "bench"
url = "http://127.0.0.1:$HOOK_PORT/hook"
secret_env = "CUULONG_BENCH_WEBHOOK_SECRET"
TOML
export CUULONG_BENCH_WEBHOOK_SECRET=bench-secret
rm -f "$FIX/salinity_outbox.jsonl" "$FIX/hook_latencies.txt"
/usr/bin/python3 - "$HOOK_PORT" "$FIX/hook_latencies.txt" <<'PY' &
import http.server, json, sys, time, threading
port, out = int(sys.argv[1]), sys.argv[2]
from datetime import datetime
seen = set()
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.time()
        ev = json.loads(body)
        key = self.headers["Idempotency-Key"]
        with lock:
            if key not in seen:
                seen.add(key)
                t = datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()
                with open(out, "a") as f:
                    f.write(f"{ev['alert']['station']} {ev['type']} {now - t:.4f}\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
RECEIVER=$!
"$CUULONG" --database-url "$DB_URL" serve --bind 127.0.0.1:$PORT --tile-cache-mb 0 --no-snapshot \
  --anonymous-rate-limit-per-minute 0 --rate-limit-per-minute 0 \
  --salinity-rules "$RULES" --webhook-outbox "$FIX/salinity_outbox.jsonl" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER $RECEIVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.2; done

# --- 1. A year of daily aggregates per station.
TO=$(TZ=Asia/Ho_Chi_Minh date +%F)
FROM=$(TZ=Asia/Ho_Chi_Minh date -d "$TO - 364 days" +%F)
read -r -a STREAMS < <(curl -s "http://127.0.0.1:$PORT/sta/v1.1/Datastreams?\$filter=properties/observedProperty%20eq%20'salinity'&\$select=id" \
  | /usr/bin/python3 -c 'import json,sys; print(" ".join(str(v["@iot.id"]) for v in json.load(sys.stdin)["value"]))')
[ "${#STREAMS[@]}" = 9 ] || { echo "expected 9 salinity datastreams, got ${#STREAMS[@]}" >&2; exit 1; }
LIMITS=$(/usr/bin/python3 - <<'PY'
import tomllib
n = tomllib.load(open("data-samples/observations/network.toml", "rb"))
print(" ".join(f"{l['code']}:{l['limit']}" for l in n["limit"] if l["property"] == "salinity"))
PY
)
codes=$(for l in $LIMITS; do printf '%s,' "${l%%:*}"; done); codes=${codes%,}
: > "$FIX/agg_day.txt"; : > "$FIX/agg_tide.txt"
pg_files=()
filters=$(for l in $LIMITS; do printf ', coalesce(sum(held) FILTER (WHERE v > %s), 0)' "${l#*:}"; done)
for ds in "${STREAMS[@]}"; do
  echo "/api/observations/$ds/aggregates?period=day&from=$FROM&to=$TO&limits=$codes" >> "$FIX/agg_day.txt"
  echo "/api/observations/$ds/aggregates?period=tide&from=$FROM&to=$TO&limits=$codes" >> "$FIX/agg_tide.txt"
  cat > "$FIX/agg_$ds.pgbench" <<SQL
WITH r AS (SELECT phenomenon_time t, result v, lead(phenomenon_time) OVER (ORDER BY phenomenon_time) nxt
           FROM cuulong.observations
           WHERE datastream_id = $ds AND quality = 0
             AND phenomenon_time >= '${FROM}T00:00:00+07:00' AND phenomenon_time < '${TO}T00:00:00+07:00'),
     d AS (SELECT *, date_trunc('day', t AT TIME ZONE 'Asia/Ho_Chi_Minh') AS day FROM r),
     h AS (SELECT *, extract(epoch FROM least(coalesce(nxt - t, interval '1 hour'), interval '1 hour',
                  ((day + interval '1 day') AT TIME ZONE 'Asia/Ho_Chi_Minh') - t))::float8 / 3600 AS held FROM d)
SELECT day, count(*), min(v), max(v), avg(v)$filters FROM h GROUP BY day ORDER BY day;
SQL
  pg_files+=(-f "$FIX/agg_$ds.pgbench")
done
# Same answer first: days with readings and their maxima, for the first station.
ds=${STREAMS[0]}
ours=$(curl -s "http://127.0.0.1:$PORT$(head -1 "$FIX/agg_day.txt")" | /usr/bin/python3 -c '
import json,sys
b=[x for x in json.load(sys.stdin)["buckets"] if x["count"]]
print(len(b), round(sum(x["max"] for x in b), 6), round(sum(x["hours_above"]["lua"] for x in b), 6))')
theirs=$(psql -X -tA "$DB_URL" -f "$FIX/agg_$ds.pgbench" | /usr/bin/python3 -c '
import sys
rows=[l.split("|") for l in sys.stdin.read().split("\n") if l]
print(len(rows), round(sum(float(r[3]) for r in rows), 6), round(sum(float(r[7]) for r in rows), 6))')
[ "$ours" = "$theirs" ] || { echo "aggregates differ: cuulong $ours, SQL $theirs" >&2; exit 1; }
days=${ours%% *}
CONNS=1 THREADS=1
day_row=$(wrk_paths salinity_daily_year "http://127.0.0.1:$PORT" "$FIX/agg_day.txt")
tide_row=$(wrk_paths salinity_tidal_year "http://127.0.0.1:$PORT" "$FIX/agg_tide.txt")
pg_day=$(pgbench -n -c1 -j1 -T "$DURATION" "${pg_files[@]}" "$DB_URL" 2>&1 | awk '/^latency average/ {print $4; exit}')

# --- 2. Crossing → webhook, under 10 000 readings/s of background ingest.
CROSS_DS=$(curl -s "http://127.0.0.1:$PORT/sta/v1.1/Datastreams?\$filter=properties/station%20eq%20'BT09'%20and%20properties/observedProperty%20eq%20'salinity'&\$select=id" \
  | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["value"][0]["@iot.id"])')
BG=$(curl -s "http://127.0.0.1:$PORT/sta/v1.1/Datastreams?\$filter=properties/observedProperty%20eq%20'water_level'&\$select=id" \
  | /usr/bin/python3 -c 'import json,sys; print(",".join(str(v["@iot.id"]) for v in json.load(sys.stdin)["value"]))')
: > "$FIX/hook_latencies.txt"
load=$(/usr/bin/python3 - "$PORT" "$KEY" "$CROSS_DS" "$BG" "$((DURATION * 3))" <<'PY'
import http.client, json, sys, threading, time
from datetime import datetime, timezone, timedelta
port, key, cross, bg, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")], int(sys.argv[5])
hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
stop = time.time() + secs
errors, sent, took = [], [0], []
lock = threading.Lock()
def post(c, body):
    t = time.time()
    c.request("POST", "/sta/v1.1/CreateObservations", body=json.dumps(body).encode(), headers=hdr)
    r = c.getresponse()
    took.append(time.time() - t)
    links = json.loads(r.read())
    if r.status != 201 or any(l.startswith("error") for l in links):
        errors.append(r.status)
    return len(links)
def background(k):
    # 1 000 readings a batch, 5 batches a second a thread, two threads: 10 000 a second of
    # new readings (as live loggers send them: each newer than the last of its datastream,
    # 1 ms apart, starting an hour ago, so none is in the future by the end).
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    i = 0
    next_at = time.time()
    while time.time() < stop:
        rows = []
        for _ in range(1000):
            ds = bg[i % len(bg)]
            t = t0 + timedelta(milliseconds=2 * (i // len(bg)) + k)
            rows.append((ds, t.isoformat(timespec="milliseconds").replace("+00:00", "Z"), (i % 200) / 100))
            i += 1
        by = {}
        for ds, t, v in rows:
            by.setdefault(ds, []).append([t, v])
        # post() first: `sent[0] += post(…)` would read sent[0] before the request and lose
        # the other thread's additions made meanwhile.
        n = post(c, [{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"], "dataArray": a} for ds, a in by.items()])
        with lock:
            sent[0] += n
        next_at += 0.2
        time.sleep(max(0, next_at - time.time()))
def crossings():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    time.sleep(1)
    while time.time() < stop - 2:
        v = 30.0 if n % 2 == 0 else 0.1
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        post(c, [{"Datastream": {"@iot.id": cross}, "components": ["phenomenonTime", "result"], "dataArray": [[now, v]]}])
        n += 1
        time.sleep(0.5)
    print(n, file=sys.stderr)
threads = [threading.Thread(target=background, args=(k,)) for k in range(2)] + [threading.Thread(target=crossings)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit(f"ingest: {len(errors)} failures, first {errors[:3]}")
took.sort()
print(f"background posts: {len(took)}, p50 {took[len(took) // 2] * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms", file=sys.stderr)
print(f"{sent[0] / (time.time() - t0):.0f}")
PY
)
sleep 3
hook=$(/usr/bin/python3 - "$FIX/hook_latencies.txt" <<'PY'
import statistics, sys
lat = sorted(float(l.split()[2]) for l in open(sys.argv[1]) if l.split()[0] == "BT09")
if len(lat) < 50:
    sys.exit(f"only {len(lat)} webhooks arrived")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(lat)} {statistics.median(lat) * 1000:.0f} {q(0.99) * 1000:.0f} {lat[-1] * 1000:.0f}")
PY
)
read -r hooks h50 h99 hmax <<< "$hook"
# The load asked for must have been the load served.
[ "$load" -ge 9500 ] || { echo "background ingest reached $load readings/s, not 10 000" >&2; exit 1; }
pending=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1=="cuulong_webhook_pending" {print $2}')

echo
echo "salinity, $(date -u +%Y-%m-%dT%H:%MZ), one run"
echo "a year ($FROM to $TO, $days days with readings) of daily aggregates per station, 8 limits:"
echo "  cuulong (wrk -c1: req/s p50 p99 non-2xx): $day_row"
echo "  SQL window functions (pgbench -c1, the same 9 stations): ${pg_day} ms average"
echo "  cuulong per tidal cycle (cuulong only):   $tide_row"
echo "crossing → webhook at a local receiver, under ${load} readings/s of background ingest:"
echo "  $hooks webhooks: p50 ${h50} ms, p99 ${h99} ms, max ${hmax} ms; pending at the end: ${pending}"
