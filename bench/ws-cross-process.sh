#!/usr/bin/env bash
# What relaying WebRTC signals between two redswarm processes costs (RedisSignalRouter: an SPUBLISH on the
# receiving process's sharded channel, a JSON decode there) over relaying them within one process. Two redswarm
# processes on one Redis Cluster, both pinned to one core, each loaded by its own bench/ws-load.ts on the other
# core (the relay load of compare-wt.sh: 200 browsers each, 5 of 100 swarms, 5 offers of 700 B, all answered):
#
#   local   the two generators announce in disjoint swarms (--seed 1 and 2): every signal stays in its process
#   remote  both announce in the same swarms: about half the offers and answers go to the other process
#
# Prints per phase the trackers' CPU per announce (both processes, generators' windows), the relays and the
# share of them that crossed processes (the trackers' redswarm_ws_offers_relayed_total{route="remote"}), and
# Redis' CPU when REDIS_PIDS lists its processes; then (remote - local CPU) ÷ relays across processes, the
# trackers' extra CPU per message relayed through Redis (Redis' own in its column).
#
#   bash bench/ws-cross-process.sh --redis-cluster host:port,… [--duration S] [--warmup S] [--rounds N]
#
# The Redis Cluster must be empty of other work. Loopback only, bounded in time; only the PIDs started here are
# stopped. Environment: REDSWARM_CMD (default "node --import tsx src/cli.ts"), REDIS_PIDS, TRACKER_CPU, GEN_CPU.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10
WARMUP=3
ROUNDS=2
REDIS_CLUSTER=
parse_options 'duration warmup rounds redis-cluster' '' "$@"
[ -n "$REDIS_CLUSTER" ] || { echo "ws-cross-process: --redis-cluster is required" >&2; exit 2; }
whole_numbers "$DURATION" "$WARMUP" "$ROUNDS"

pin_cores "$CORES core(s) or no taskset: running without pinning (figures will be poor)"

TMP=$(mktemp -d /tmp/redswarm-ws-cross.XXXXXX)
PIDS=()
cleanup() {
  stop_pids "${PIDS[@]}"
  rm -rf "$TMP"
}
on_exit cleanup

declare -A PID PORT METRICS
for t in a b; do
  PORT[$t]=$(free_port)
  METRICS[$t]=$(free_port)
  # shellcheck disable=SC2086 # REDSWARM_CMD is a command line
  "${PIN_TRACKER[@]}" $REDSWARM_CMD --host 127.0.0.1 --port "${PORT[$t]}" --metrics-port "${METRICS[$t]}" --log-level warn \
    --announce-rate-limit 0 --ws-max-sockets-per-ip 0 --redis-cluster "$REDIS_CLUSTER" --workers 1 >"$TMP/$t.log" 2>&1 &
  PID[$t]=$!
  PIDS+=("${PID[$t]}")
  wait_ready "redswarm $t" "${PID[$t]}" "$TMP/$t.log" "ws://127.0.0.1:${PORT[$t]}" "${TSX[@]}" bench/ws-load.ts --port "${PORT[$t]}" --probe --probe-timeout 2
  echo "== redswarm $t: pid ${PID[$t]}, ws://127.0.0.1:${PORT[$t]}"
done

# Signals both trackers relayed so far, local and remote (offers and answers).
relayed() { # route
  local total=0 n
  for t in a b; do
    n=$(curl -sf "http://127.0.0.1:${METRICS[$t]}/metrics" | awk -v r="route=\"$1\"" '/^redswarm_ws_offers_relayed_total/ && index($0, r) { s += $NF } END { printf "%d", s }')
    total=$((total + n))
  done
  echo "$total"
}
# CPU ticks of the REDIS_PIDS processes.
redis_ticks() {
  local total=0 pid
  for pid in ${REDIS_PIDS:-}; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$total"
}

RESULTS="$TMP/results.tsv"
RELAY_ARGS="--connections 200 --hashes 100 --zipf 0 --swarms-per-connection 5 --offers 5 --sdp-bytes 700 --answer 1 --stopped 0"
for round in $(seq 1 "$ROUNDS"); do
  phases=(local remote)
  [ $((round % 2)) = 1 ] || phases=(remote local)
  for phase in "${phases[@]}"; do
    echo "-- round $round, $phase"
    seed_b=2
    [ "$phase" = local ] || seed_b=1
    local0=$(relayed local) remote0=$(relayed remote) ticks0=$(redis_ticks)
    # shellcheck disable=SC2086
    "${PIN_GEN[@]}" "${TSX[@]}" bench/ws-load.ts --port "${PORT[a]}" --seed 1 --first-generator 0 --duration "$DURATION" \
      --warmup "$WARMUP" --cpu-pid "${PID[a]}" --label a $RELAY_ARGS >"$TMP/a.out" 2>&1 &
    gen_a=$!
    # shellcheck disable=SC2086
    "${PIN_GEN[@]}" "${TSX[@]}" bench/ws-load.ts --port "${PORT[b]}" --seed "$seed_b" --first-generator 1 --duration "$DURATION" \
      --warmup "$WARMUP" --cpu-pid "${PID[b]}" --label b $RELAY_ARGS >"$TMP/b.out" 2>&1 &
    gen_b=$!
    wait "$gen_a" "$gen_b" || { echo "ws-cross-process: a generator failed:" >&2; tail -n 20 "$TMP/a.out" "$TMP/b.out" >&2; exit 1; }
    local1=$(relayed local) remote1=$(relayed remote) ticks1=$(redis_ticks)
    for t in a b; do sed 's/^/   /' "$TMP/$t.out" | grep -E 'responses:|relayed:|errors:|tracker:'; done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$phase" "$((local1 - local0))" "$((remote1 - remote0))" \
      "$((ticks1 - ticks0))" "$(grep '^RESULT' "$TMP/a.out")" "$(grep '^RESULT' "$TMP/b.out")" >>"$RESULTS"
  done
done

echo
echo "== summary (median over $ROUNDS round(s)); Redis CPU from REDIS_PIDS (${REDIS_PIDS:-not given})"
node - "$RESULTS" "$(getconf CLK_TCK)" "$(( WARMUP + DURATION ))" "$DURATION" <<'EOF'
const fs = require('node:fs');
const { f, printTable } = require('./bench/compare-results.cjs');
const [file, tck, span, window] = process.argv.slice(2).map((a, i) => (i ? Number(a) : a));
const kv = (line) => Object.fromEntries(line.split(' ').slice(1).map((p) => p.split('=')));
const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
  const [round, phase, local, remote, ticks, a, b] = l.split('\t');
  const [ra, rb] = [kv(a), kv(b)];
  const responses = +ra.responses + +rb.responses;
  const relays = +ra.offers + +ra.answers + +rb.offers + +rb.answers;
  const share = +remote / (+local + +remote);
  // Redis' ticks cover warmup and window: scaled to the window.
  const redisUs = ((+ticks / tck) * 1e6 * (window / span)) / responses;
  return { round, phase, responses, relays, share, cpu: ((+ra.tracker_cpu_s + +rb.tracker_cpu_s) * 1e6) / responses, redisUs,
    errors: +ra.errors + +rb.errors };
});
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pick = (phase, key) => median(rows.filter((r) => r.phase === phase).map((r) => r[key]));
const table = [['phase', 'announces', 'µs CPU/announce (2 trackers)', 'relays/announce', 'across processes', 'Redis µs CPU/announce', 'errors']];
for (const phase of ['local', 'remote']) {
  table.push([phase, f(pick(phase, 'responses')), f(pick(phase, 'cpu'), 1), f(pick(phase, 'relays') / pick(phase, 'responses'), 1),
    `${f(100 * pick(phase, 'share'))}%`, f(pick(phase, 'redisUs'), 1), f(pick(phase, 'errors'))]);
}
printTable(table, []);
const across = (pick('remote', 'relays') / pick('remote', 'responses')) * pick('remote', 'share') - (pick('local', 'relays') / pick('local', 'responses')) * pick('local', 'share');
const extra = pick('remote', 'cpu') - pick('local', 'cpu');
console.log(`\nper message relayed across processes: ${f(extra / across, 1)} µs of tracker CPU (sender and receiver together)` +
  `${Number.isFinite(pick('remote', 'redisUs')) && process.env.REDIS_PIDS ? `, ${f((pick('remote', 'redisUs') - pick('local', 'redisUs')) / across, 1)} µs of Redis CPU` : ''}`);
EOF
