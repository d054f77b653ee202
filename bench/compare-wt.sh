#!/usr/bin/env bash
# redswarm's WebSocket tracker against wt-tracker (Novage, TypeScript on uWebSockets.js: built from its public
# source by bench/wt-tracker-build.sh) and the `bittorrent-tracker` npm Server, under identical loads in one
# run, each tracker pinned to one core and the generator to the other. Prints, per tracker:
#
#   relay   CPU µs per announce with its offers and answers: 200 browsers, each in 5 of 100 swarms (uniform),
#           5 offers of 700 B per announce, every relayed offer answered (bench/ws-load.ts; tracker CPU time ÷
#           announce replies). ws-load.ts fills its own core below what the trackers take, so a tracker that
#           is not busy also pays for waking up for a few messages at a time; --generator c runs the same load
#           from bench/ws-load.c (compiled here with gcc), which leaves every tracker its core's bottleneck.
#           --paired: each other tracker takes its load at the same time as wt-tracker (a generator each, both
#           trackers on the trackers' core, each pinned there with about half of it), so that both figures of a
#           round come from one window: this machine's speed moves by up to 1.6x from minute to minute, which
#           rounds one after the other take as differences between trackers
#   idle    memory per connected browser and CPU while idle: as many connections as the open-file limits allow
#           (~19,500 here), each announcing in 5 of 100 swarms, then idle (bench/ws-idle.ts, on a fresh
#           tracker process: RSS after - RSS before, ÷ connections; each RSS read after full garbage
#           collections the bench asks for through the tracker's inspector, node --inspect), --rounds times.
#           --paired: each other tracker idles at the same time as a fresh wt-tracker (a generator each), so
#           that both take their pings and collections in one window. --heap-stats: also what grew in each
#           of V8's heap spaces, per connection. --timeline S: also the idle CPU of each S-second slice
#
#   bash bench/compare-wt.sh [--duration S] [--warmup S] [--rounds N] [--phases relay,idle] [--idle S]
#                            [--trackers LIST] [--build] [--redis-cluster host:port,…] [--announce-cache MS]
#                            [--generator node|c] [--paired] [--heap-stats] [--timeline S]
#
# --trackers: any of redswarm,wt-tracker,bittorrent-tracker (default all three); with --redis-cluster also
#   redswarm-redis (redswarm on that Redis Cluster, which must be empty of other work; one process, --workers 1,
#   as the others: bench/ws-cross-process.sh measures relays between processes) in the relay phase, and with
#   --announce-cache MS also redswarm-redis-cache (the same with --redis-announce-cache MS);
#   ws-floor (bench/ws-floor.ts: uWebSockets.js keeping no state, the floor under any tracker here) and
#   ws-floor-relay (the same with --relay: the socket work of the relay load and nothing else) on request.
# --build: run redswarm (and ws-floor) compiled by tsc (as deployed) instead of through tsx.
# Environment: REDSWARM_CMD (default "node --import tsx src/cli.ts"), WT_TRACKER_DIR (a wt-tracker already
#   built by bench/wt-tracker-build.sh; default: built into a scratch directory now), TRACKER_CPU, GEN_CPU;
#   BASELINE_CMD: another redswarm (e.g. "node DIR/src/cli.js", an earlier commit compiled), tracker
#   `baseline`, to compare a change side by side; REDIS_PIDS (with --generator c): the Redis Cluster's
#   processes, whose CPU per announce the redswarm-redis rows then show.
# Every tracker runs with its own defaults except: redswarm's per-address limits off (--announce-rate-limit 0
# --ws-max-sockets-per-ip 0: the whole load comes from 127.0.0.x), wt-tracker's announceInterval 120 (its 20 s
# default drops idle peers during the idle phase) and compression off (no client here negotiates it anyway).
# Loopback only, bounded in time; only the PIDs started here are stopped.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10
WARMUP=3
ROUNDS=1
IDLE=20
PHASES=relay,idle
TRACKERS=redswarm,wt-tracker,bittorrent-tracker
BUILD=0
REDIS_CLUSTER=
GENERATOR=node
PAIRED=0
HEAP_STATS=0
ANNOUNCE_CACHE=
TIMELINE=0
parse_options 'duration warmup rounds idle phases trackers redis-cluster announce-cache generator timeline' 'build paired heap-stats' "$@"
[ "$PAIRED" = 0 ] || [[ ",$TRACKERS," == *,wt-tracker,* ]] || { echo "compare-wt: --paired needs wt-tracker among the trackers" >&2; exit 2; }
whole_numbers "$DURATION" "$WARMUP" "$ROUNDS" "$IDLE"
[ -z "$REDIS_CLUSTER" ] || TRACKERS="$TRACKERS,redswarm-redis"
[ -z "$ANNOUNCE_CACHE" ] || [ -n "$REDIS_CLUSTER" ] || { echo "compare-wt: --announce-cache needs --redis-cluster" >&2; exit 2; }
[ -z "$ANNOUNCE_CACHE" ] || TRACKERS="$TRACKERS,redswarm-redis-cache"

pin_cores "$CORES core(s) or no taskset: running without pinning (figures will be poor)"

TMP=$(mktemp -d /tmp/redswarm-compare-wt.XXXXXX)
BUILD_DIR=
PIDS=()
cleanup() {
  stop_pids "${PIDS[@]}"
  rm -rf "$TMP"
  remove_build
}
on_exit cleanup

[ "$BUILD" = 1 ] && build_redswarm compare-wt-build
case "$GENERATOR" in
  node) RELAY_GEN=("${TSX[@]}" bench/ws-load.ts) ;;
  c)
    command -v gcc >/dev/null || { echo "compare-wt: --generator c needs gcc (apt-get install -y gcc)" >&2; exit 2; }
    gcc -O2 -o "$TMP/ws-load-c" bench/ws-load.c
    RELAY_GEN=("$TMP/ws-load-c")
    ;;
  *) echo "compare-wt: --generator is node or c" >&2; exit 2 ;;
esac
WT_DIR=${WT_TRACKER_DIR:-}
if [ -z "$WT_DIR" ] && [[ ",$TRACKERS," == *,wt-tracker,* ]]; then
  WT_DIR=$TMP/wt-tracker
  echo "== building wt-tracker into $WT_DIR"
  bash bench/wt-tracker-build.sh "$WT_DIR" | sed 's/^/   /'
fi

# Starts tracker $1 on a free port, pinned; sets STARTED_PID and STARTED_PORT and waits until it answers. With
# $2 = inspect, its node also listens for the inspector on another free port, STARTED_INSPECT_PORT (NODE_OPTIONS,
# which its tsx loader accepts too).
start_tracker() { # name [inspect]
  local name=$1 port log="$TMP/$1.log" inspect=
  port=$(free_port)
  if [ "${2:-}" = inspect ]; then
    STARTED_INSPECT_PORT=$port
    while [ "$STARTED_INSPECT_PORT" = "$port" ]; do STARTED_INSPECT_PORT=$(free_port); done
    inspect="--inspect=127.0.0.1:$STARTED_INSPECT_PORT"
  fi
  case "$name" in
    redswarm|redswarm-redis|redswarm-redis-cache|baseline)
      local store=() cmd=$REDSWARM_CMD
      [ "$name" != redswarm-redis ] || store=(--redis-cluster "$REDIS_CLUSTER" --workers 1)
      [ "$name" != redswarm-redis-cache ] || store=(--redis-cluster "$REDIS_CLUSTER" --workers 1 --redis-announce-cache "$ANNOUNCE_CACHE")
      [ "$name" != baseline ] || cmd=${BASELINE_CMD:?compare-wt: tracker baseline needs BASELINE_CMD}
      # shellcheck disable=SC2086 # a command line
      NODE_OPTIONS="$inspect" "${PIN_TRACKER[@]}" $cmd --host 127.0.0.1 --port "$port" --metrics-port 0 --log-level warn \
        --announce-rate-limit 0 --ws-max-sockets-per-ip 0 "${store[@]}" >"$log" 2>&1 &
      ;;
    wt-tracker)
      printf '{"servers":[{"server":{"port":%s,"host":"127.0.0.1"},"websockets":{"path":"/*","maxPayloadLength":65536,"idleTimeout":240,"compression":0,"maxConnections":0}}],"tracker":{"maxOffers":20,"announceInterval":120}}\n' "$port" >"$TMP/wt.json"
      (cd "$TMP" && NODE_OPTIONS="$inspect" exec "${PIN_TRACKER[@]}" node "$WT_DIR/lib/run-tracker.js" "$TMP/wt.json") >"$log" 2>&1 &
      ;;
    bittorrent-tracker)
      NODE_OPTIONS="$inspect" "${PIN_TRACKER[@]}" "${TSX[@]}" bench/bittorrent-tracker-ws.ts --port "$port" >"$log" 2>&1 &
      ;;
    ws-floor|ws-floor-relay)
      local relay=() floor=("${TSX[@]}" bench/ws-floor.ts)
      [ "$name" = ws-floor ] || relay=(--relay --sdp-bytes 700)
      [ "$BUILD" = 0 ] || floor=(node "$BUILD_DIR/bench/ws-floor.js") # compiled as redswarm is: no loader beside it
      NODE_OPTIONS="$inspect" "${PIN_TRACKER[@]}" "${floor[@]}" --port "$port" "${relay[@]}" >"$log" 2>&1 &
      ;;
    *) echo "compare-wt: unknown tracker $name" >&2; exit 2 ;;
  esac
  STARTED_PID=$!
  STARTED_PORT=$port
  PIDS+=("$STARTED_PID")
  wait_ready "$name" "$STARTED_PID" "$log" "ws://127.0.0.1:$port" "${TSX[@]}" bench/ws-load.ts --port "$port" --probe --probe-timeout 2
  echo "== $name: pid $STARTED_PID, ws://127.0.0.1:$port"
}

echo "== machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), node $(node --version), open files $(ulimit -Sn)/$(ulimit -Hn), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bittorrent-tracker $(node -p 'require("./node_modules/bittorrent-tracker/package.json").version'); trackers on cpu ${TRACKER_CPU:--}, generator ($GENERATOR) on cpu ${GEN_CPU:--}"

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
IFS=',' read -r -a TRACKER_LIST <<<"$TRACKERS"
IFS=',' read -r -a PHASE_LIST <<<"$PHASES"
RELAY_ARGS="--connections 200 --hashes 100 --zipf 0 --swarms-per-connection 5 --offers 5 --sdp-bytes 700 --answer 1 --stopped 0"
# The relay load against tracker $1, its output in $2; more generator options after.
relay_load() { # tracker output-file [option...]
  local t=$1 out=$2
  shift 2
  # shellcheck disable=SC2086
  "${PIN_GEN[@]}" "${RELAY_GEN[@]}" --port "${RELAY_PORT[$t]}" --duration "$DURATION" --warmup "$WARMUP" \
    --cpu-pid "${RELAY_PID[$t]}" --label "$t" "$@" $RELAY_ARGS >"$out" 2>&1
}

# The idle load against a tracker started with its inspector: idle_load name port pid inspect-port output-file.
idle_load() {
  "${PIN_GEN[@]}" "${TSX[@]}" bench/ws-idle.ts --port "$2" --cpu-pid "$3" --idle "$IDLE" --label "$1" --inspect-port "$4" \
    --timeline "$TIMELINE" "${HEAP_ARGS[@]}" >"$5" 2>&1
}
HEAP_ARGS=()
[ "$HEAP_STATS" = 0 ] || HEAP_ARGS=(--heap-stats)

for phase in "${PHASE_LIST[@]}"; do
  case "$phase" in
    relay)
      declare -A RELAY_PID RELAY_PORT
      for t in "${TRACKER_LIST[@]}"; do
        start_tracker "$t"
        RELAY_PID[$t]=$STARTED_PID
        RELAY_PORT[$t]=$STARTED_PORT
      done
      for round in $(seq 1 "$ROUNDS"); do
        # Alternate the order between rounds, so that no tracker always runs first.
        order=("${TRACKER_LIST[@]}")
        [ $((round % 2)) = 1 ] || order=($(printf '%s\n' "${TRACKER_LIST[@]}" | tac))
        for t in "${order[@]}"; do
          [ "$PAIRED" = 0 ] || [ "$t" != wt-tracker ] || continue # with each of the others
          phase_start "$round" relay "$t" "${RELAY_PID[$t]}" || continue
          redis=()
          [[ "$t" != redswarm-redis* ]] || [ "$GENERATOR" != c ] || [ -z "${REDIS_PIDS:-}" ] || redis=(--redis-pids "$REDIS_PIDS")
          if [ "$PAIRED" = 1 ]; then
            relay_load wt-tracker "$TMP/with.txt" --seed 2 &
            with=$!
          fi
          rc=0
          relay_load "$t" "$TMP/out.txt" "${redis[@]}" || rc=$?
          phase_record "$round" relay "$t" "${RELAY_PID[$t]}" "$rc" "$TMP/out.txt"
          if [ "$PAIRED" = 1 ]; then
            rc=0
            wait "$with" || rc=$?
            echo "   at the same time, wt-tracker:"
            phase_record "$round" "relay-with-$t" wt-tracker "${RELAY_PID[wt-tracker]}" "$rc" "$TMP/with.txt"
          fi
        done
      done
      for t in "${TRACKER_LIST[@]}"; do stop_pids "${RELAY_PID[$t]}"; done
      ;;
    idle)
      for round in $(seq 1 "$ROUNDS"); do
        for t in "${TRACKER_LIST[@]}"; do
          [[ "$t" != redswarm-redis* ]] && [ "$t" != ws-floor-relay ] || continue # relay-phase only
          [ "$PAIRED" = 0 ] || [ "$t" != wt-tracker ] || continue # with each of the others
          start_tracker "$t" inspect
          pid=$STARTED_PID port=$STARTED_PORT inspect_port=$STARTED_INSPECT_PORT
          phase_start "$round" idle "$t" "$pid" || continue
          if [ "$PAIRED" = 1 ]; then
            start_tracker wt-tracker inspect
            with_pid=$STARTED_PID
            idle_load wt-tracker "$STARTED_PORT" "$STARTED_PID" "$STARTED_INSPECT_PORT" "$TMP/with.txt" &
            with=$!
          fi
          rc=0
          idle_load "$t" "$port" "$pid" "$inspect_port" "$TMP/out.txt" || rc=$?
          phase_record "$round" idle "$t" "$pid" "$rc" "$TMP/out.txt"
          stop_pids "$pid"
          if [ "$PAIRED" = 1 ]; then
            rc=0
            wait "$with" || rc=$?
            echo "   at the same time, wt-tracker:"
            phase_record "$round" "idle-with-$t" wt-tracker "$with_pid" "$rc" "$TMP/with.txt"
            stop_pids "$with_pid"
          fi
        done
      done
      ;;
    *) echo "compare-wt: unknown phase $phase" >&2; exit 2 ;;
  esac
done

echo
echo "== summary (median over $ROUNDS round(s)); x/wt = the tracker's figure ÷ wt-tracker's"
node - "$RESULTS" "$TRACKERS" <<'EOF'
const { readResults, picker, median, f, printTable } = require('./bench/compare-results.cjs');
const rows = readResults(process.argv[2]);
const trackers = process.argv[3].split(',');
const paired = rows.some((r) => r.phase.startsWith('relay-with-'));
const pick = picker(rows);
const table = [['tracker', 'µs CPU/announce', 'x/wt', 'x/wt per round', 'Redis µs/announce', 'relays/announce', 'kernel%', 'errors', 'connections', 'KiB/connection', 'x/wt', 'idle CPU %', 'x/wt']];
const wt = (phase, key) => pick(phase, 'wt-tracker', key);
const relayCpu = (t, round, phase = 'relay') => Number(rows.find((r) => r.ok && r.phase === phase && r.tracker === t && r.round === round)?.kv.cpu_us_per_resp);
// A relay figure, the median over rounds; paired, wt-tracker's over all its windows.
const relayPick = (t, key) =>
  t === 'wt-tracker' && paired ? median(rows.filter((r) => r.ok && r.phase.startsWith('relay-with-')).map((r) => Number(r.kv[key]))) : pick('relay', t, key);
// wt-tracker's figure of the same round: from the same window when paired.
const wtCpu = (t, round) => (paired ? relayCpu('wt-tracker', round, `relay-with-${t}`) : relayCpu('wt-tracker', round));
const rounds = [...new Set(rows.filter((r) => r.phase === 'relay').map((r) => r.round))];
// Idle figures likewise: paired, wt-tracker's from the window it shared with the tracker, in the same round.
const pairedIdle = rows.some((r) => r.phase.startsWith('idle-with-'));
const idleRow = (t, round, phase = 'idle') => rows.find((r) => r.ok && r.phase === phase && r.tracker === t && r.round === round);
const idlePick = (t, key) =>
  t === 'wt-tracker' && pairedIdle ? median(rows.filter((r) => r.ok && r.phase.startsWith('idle-with-')).map((r) => Number(r.kv[key]))) : pick('idle', t, key);
const idleRatio = (t, key) => {
  if (!pairedIdle || t === 'wt-tracker') return idlePick(t, key) / idlePick('wt-tracker', key);
  const idleRounds = [...new Set(rows.filter((r) => r.phase === 'idle' && r.tracker === t).map((r) => r.round))];
  return median(idleRounds.map((round) => Number(idleRow(t, round)?.kv[key]) / Number(idleRow('wt-tracker', round, `idle-with-${t}`)?.kv[key])));
};
for (const t of trackers) {
  const cpu = relayPick(t, 'cpu_us_per_resp');
  const ratios = rounds.map((round) => relayCpu(t, round) / wtCpu(t, round));
  const perRound = ratios.map((x) => f(x, 2)).join(' ');
  const relays = (relayPick(t, 'offers') + relayPick(t, 'answers')) / relayPick(t, 'responses');
  const failed = rows.filter((r) => r.tracker === t && !r.ok).length;
  const errors = failed ? `${failed} run(s) failed` : f(relayPick(t, 'errors') + idlePick(t, 'closes'));
  const kib = idlePick(t, 'bytes_per_conn') / 1024;
  const idle = idlePick(t, 'idle_cpu_pct');
  const ratio = paired ? (t === 'wt-tracker' ? 1 : median(ratios)) : cpu / wt('relay', 'cpu_us_per_resp');
  table.push([t, f(cpu, 1), f(ratio, 2), perRound, f(pick('relay', t, 'redis_cpu_us_per_resp'), 1), f(relays, 1), f(100 * relayPick(t, 'kernel_share')), errors,
    f(idlePick(t, 'connections')), f(kib, 2), f(idleRatio(t, 'bytes_per_conn'), 2), f(idle, 2), f(idleRatio(t, 'idle_cpu_pct'), 2)]);
}
printTable(table, []);
console.log('\n"x/wt per round" = the tracker\'s figure ÷ wt-tracker\'s in the same round (rounds alternate the order); with --paired,');
console.log('  wt-tracker\'s of the same window, and "x/wt" their median; wt-tracker\'s own row: the median over all its windows.');
console.log('"relays/announce" = offers and answers the generator received per announce reply (each a message the tracker relayed).');
console.log('"KiB/connection" = (tracker RSS with every browser connected and idle - RSS before any) ÷ connections, each RSS after full collections.');
EOF
