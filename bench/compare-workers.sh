#!/usr/bin/env bash
# Throughput of redswarm on the Redis store with 1 and then 2 workers, in one run: the same UDP load (and HTTP
# keep-alive load) against each, with the trackers' CPU per response (all worker processes summed) and the
# Redis masters' CPU per response next to it, so scaling beyond this machine's 2 cores can be projected.
#
#   bash bench/compare-workers.sh [--duration S] [--warmup S] [--workers "1 2"] [--phases udp,http]
#
# Nothing is pinned: with 2 workers the tracker needs both cores, which the generator and Redis share too.
# Everything is on 127.0.0.1, bounded in time, and only the processes started here are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10 WARMUP=2 WORKERS="1 2" PHASES=udp,http
parse_options 'duration warmup workers phases' '' "$@"

TMP=$(mktemp -d /tmp/redswarm-workers.XXXXXX)
RS_PID=
cleanup() {
  [ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null && wait "$RS_PID" 2>/dev/null || true
  bash deploy/redis-cluster.sh stop "$TMP/redis"
  rm -rf "$TMP" "$BUILD"
}
BUILD=$(mktemp -d "$PWD/.tmp-workers-build.XXXXXX")
on_exit cleanup

npx --no-install tsc -p tsconfig.json --outDir "$BUILD" --sourceMap false >/dev/null 2>&1 || true
[ -f "$BUILD/src/cli.js" ] || { echo "compare-workers: build failed" >&2; exit 1; }
cp -r lua "$BUILD/"
NODES=$(bash deploy/redis-cluster.sh start "$TMP/redis" --replicas 0 | tail -n1)
PORTS=$(echo "$NODES" | tr ',' '\n' | cut -d: -f2)
redis_cpu() { # summed used_cpu_user + used_cpu_sys of the masters, seconds
  local total=0 port
  for port in $PORTS; do
    total=$(redis-cli -p "$port" info cpu | awk -F: -v t="$total" '/^used_cpu_(user|sys):/ {t += $2} END {print t}')
  done
  echo "$total"
}
node --import tsx bench/udp-load.ts --write-hashes "$TMP/hashes.txt" --hashes 100000 >/dev/null

echo "== Redis Cluster $NODES (3 masters); $DURATION s measured + $WARMUP s warm-up per phase; $(nproc) cores"
printf '%s\n' "workers phase resp/s tracker_us_cpu_per_resp redis_us_cpu_per_resp" >"$TMP/table"
for workers in $WORKERS; do
  PORT=$(free_port)
  node "$BUILD/src/cli.js" --host 127.0.0.1 --port "$PORT" --redis-cluster "$NODES" --workers "$workers" \
    --metrics-port 0 --log-level warn >"$TMP/redswarm-$workers.log" 2>&1 &
  RS_PID=$!
  for _ in $(seq 100); do
    node --import tsx bench/udp-load.ts --port "$PORT" --hashes-file "$TMP/hashes.txt" --probe --probe-timeout 1 2>/dev/null && break
    sleep 0.2
  done
  IFS=',' read -r -a phases <<<"$PHASES"
  for phase in "${phases[@]}"; do
    before=$(redis_cpu)
    if [ "$phase" = udp ]; then
      out=$(node --import tsx bench/udp-load.ts --port "$PORT" --hashes-file "$TMP/hashes.txt" --duration "$DURATION" \
        --warmup "$WARMUP" --cpu-pid "$RS_PID" --procs 1 2>&1 | tail -n1)
    else
      out=$(node --import tsx bench/http-load.ts --port "$PORT" --hashes-file "$TMP/hashes.txt" --duration "$DURATION" \
        --warmup "$WARMUP" --cpu-pid "$RS_PID" 2>&1 | tail -n1)
    fi
    after=$(redis_cpu)
    echo "-- $workers worker(s), $phase: $out"
    rps=$(echo "$out" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')
    responses=$(echo "$out" | sed -n 's/.* responses=\([0-9]*\).*/\1/p')
    tracker=$(echo "$out" | sed -n 's/.* cpu_us_per_resp=\([0-9.]*\).*/\1/p')
    redis=$(awk -v a="$after" -v b="$before" -v n="$responses" 'BEGIN { if (n > 0) printf "%.1f", (a - b) * 1e6 / n; else print "-" }')
    printf '%s\n' "$workers $phase $rps $tracker $redis" >>"$TMP/table"
  done
  kill "$RS_PID"; wait "$RS_PID" 2>/dev/null || true; RS_PID=
done
echo
echo "== summary (Redis CPU includes its work for the warm-up too: compare rows, not absolutes)"
column -t "$TMP/table"
