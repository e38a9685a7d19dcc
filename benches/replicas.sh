#!/usr/bin/env bash
# Two replicas behind nginx against one server, same machine, one run (issue "Province scale
# and beyond one machine"): COUNT synthetic parcels (default 200 000) imported into the
# primary of scripts/replica-set.sh; then, with the same 3 000 tiles z14–z16 (cache off, wrk
# 2 threads × 16 connections, 20 s):
#  1. one `cuulong serve` on the primary, direct;
#  2. two replicas (`--standby-url`, reading from the standby) behind nginx
#     (docs/deploy.md's settings);
#  3. the same as 2 while replica A is SIGKILLed at 5 s and started again at 10 s:
#     requests/s, and failed requests at the load balancer (non-2xx and socket errors).
# Both replicas share this machine's two cores with nginx and wrk: the ratio measures the
# overhead of the set and its failover, not the capacity of two machines.
#
#   bash benches/replicas.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-200000}
source benches/lib.sh
bench_build
ensure_wrk
CONNS=${CONNS:-16}
DURATION=${DURATION:-20}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

read -r PRIMARY STANDBY < <(bash scripts/replica-set.sh)
DB=cuulong_replicas_bench
admin=${PRIMARY/\/cuulong\?/\/postgres?}
psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE cuulong_template"
P=${PRIMARY/\/cuulong\?/\/$DB?}
S=${STANDBY/\/cuulong\?/\/$DB?}
SRC=$FIX/parcels_$COUNT.fgb
[ -f "$SRC" ] || /usr/bin/python3 scripts/make_parcels.py "$COUNT" "$SRC"
"$CUULONG" --database-url "$P" import "$SRC" --layer parcels --family land_use --quiet >/dev/null

PATHS=$FIX/replicas_paths.txt
random_tiles "$SRC" "$FIX/tiles_zxy.txt"
sed 's|^|/tiles/parcels/|; s|$|.mvt|' "$FIX/tiles_zxy.txt" > "$PATHS"

serve() { # PORT extra args…
  local port=$1; shift
  "$CUULONG" --database-url "$P" serve --bind "127.0.0.1:$port" --tile-cache-mb 0 \
    --anonymous-rate-limit-per-minute 0 --no-snapshot "$@" >/dev/null 2>&1 &
  echo $!
}
ready() { for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$1/ready" && return 0; sleep 0.2; done; echo "port $1 not ready" >&2; exit 1; }

single=$(serve 18321); ready 18321
wrk_paths single "http://127.0.0.1:18321" "$PATHS"
kill "$single"; wait "$single" 2>/dev/null || true

A=18322; B=18323; LB=18324
a=$(serve $A --standby-url "$S"); b=$(serve $B --standby-url "$S"); ready $A; ready $B
NG=$FIX/nginx-replicas
rm -rf "$NG" && mkdir -p "$NG"
cat > "$NG/nginx.conf" <<CONF
worker_processes 2;
error_log $PWD/$NG/error.log warn;
pid $PWD/$NG/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $PWD/$NG/body; proxy_temp_path $PWD/$NG/proxy;
  fastcgi_temp_path $PWD/$NG/fcgi; uwsgi_temp_path $PWD/$NG/uwsgi; scgi_temp_path $PWD/$NG/scgi;
  upstream cuulong {
    server 127.0.0.1:$A max_fails=1 fail_timeout=1s;
    server 127.0.0.1:$B max_fails=1 fail_timeout=1s;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$LB;
    location / {
      proxy_pass http://cuulong;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 1s;
    }
  }
}
CONF
/usr/sbin/nginx -p "$PWD/$NG" -c "$PWD/$NG/nginx.conf" -g 'daemon off;' &
ready $LB
wrk_paths two_replicas "http://127.0.0.1:$LB" "$PATHS"

# The same with replica A killed at 5 s and back at 10 s; failures counted, not fatal here.
out=$FIX/replicas_kill.txt
wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$FIX/two_replicas.lua" "http://127.0.0.1:$LB" > "$out" &
w=$!
sleep 5; kill -9 "$a"; wait "$a" 2>/dev/null || true
sleep 5; a=$(serve $A --standby-url "$S"); ready $A
wait $w
kill_rps=$(awk '/Requests\/sec/ {print $2}' "$out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
sockerr=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out"); sockerr=${sockerr:-0}
total=$(awk '/requests in/ {print $1}' "$out")

echo
echo "replicas, $(date -u +%Y-%m-%dT%H:%MZ), one run: $COUNT parcels, 3 000 tiles z14–z16, cache off, wrk 2×$CONNS, ${DURATION} s"
printf '%-58s %10s\n' "one server on the primary, direct" "$(cat "$FIX/rps_single") req/s"
printf '%-58s %10s\n' "two replicas (standby reads) behind nginx" "$(cat "$FIX/rps_two_replicas") req/s"
printf '%-58s %10s\n' "the same, replica A SIGKILLed at 5 s, back at 10 s" "$kill_rps req/s; $total requests, $non2xx non-2xx, $sockerr socket errors"
[ "$non2xx" = 0 ] && [ "$sockerr" = 0 ] || { echo "failed requests during the failover" >&2; exit 1; }
