#!/usr/bin/env bash
# Runs the same WebSocket (WebTorrent) announce load against redswarm and the `bittorrent-tracker` npm Server,
# back to back in one run, and prints responses/s, the ratio redswarm/bittorrent-tracker and each tracker's CPU
# time per response.
#
#   bash bench/compare-ws.sh [--duration S] [--warmup S] [--rounds N] [--phases LIST] [--build]
#
# Phases (default webtorrent,announce-only,popular), each run with bench/ws-load.ts:
#   webtorrent     200 browsers, each in 4 of 10 000 torrents (Zipf), announcing with 5 offers of 500 B,
#                  answering every offer relayed to them: the whole signaling path
#   announce-only  the same browsers announcing without offers: the tracker's own work per announce; also run
#                  against bench/ws-floor.ts (uWebSockets.js answering without parsing anything), the CPU per
#                  reply below which no tracker can go on this machine
#   popular        1000 browsers in one torrent, with offers and answers: one big swarm
#
# --build compiles redswarm with tsc into a temporary directory under .tmp/ and runs the compiled JS.
#
# Environment:
#   REDSWARM_CMD   how to start redswarm; --host/--port/--log-level are appended
#                  (default: "node --import tsx src/cli.ts"; built: "node <dir>/src/cli.js")
#   LOAD_ARGS      extra arguments for bench/ws-load.ts, for every phase
#   TRACKER_CPU    core both trackers are pinned to (default 0)
#   GEN_CPU        core(s) the load generator is pinned to (default 1)
#
# Everything is on 127.0.0.1, bounded in time, and only the PIDs started here are stopped.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10
WARMUP=3
ROUNDS=1
PHASES=webtorrent,announce-only,popular
BUILD=0
parse_options 'duration warmup rounds phases' build "$@"
whole_numbers "$DURATION" "$WARMUP" "$ROUNDS"

LOAD_ARGS=${LOAD_ARGS:-}

pin_cores "$CORES core(s) or no taskset: running without pinning (figures will be poor)"

TMP=$(mktemp -d /tmp/redswarm-compare-ws.XXXXXX)
BT_PID=
RS_PID=
FLOOR_PID=
BUILD_DIR=
cleanup() {
  stop_pids "$BT_PID" "$RS_PID" "$FLOOR_PID"
  rm -rf "$TMP"
  remove_build
}
on_exit cleanup

# Wait until a tracker answers a WebSocket scrape, at most 60 s.
wait_ws_ready() { # name pid port log
  wait_ready "$1" "$2" "$4" "ws://127.0.0.1:$3" "${TSX[@]}" bench/ws-load.ts --port "$3" --probe --probe-timeout 2
}

if [ "$BUILD" = 1 ]; then
  build_redswarm compare-ws-build
fi

BT_PORT=$(free_port)
"${PIN_TRACKER[@]}" "${TSX[@]}" bench/bittorrent-tracker-ws.ts --port "$BT_PORT" >"$TMP/bittorrent-tracker.log" 2>&1 &
BT_PID=$!
wait_ws_ready bittorrent-tracker "$BT_PID" "$BT_PORT" "$TMP/bittorrent-tracker.log"
echo "== bittorrent-tracker $(node -p 'require("./node_modules/bittorrent-tracker/package.json").version'): pid $BT_PID, ws://127.0.0.1:$BT_PORT"

RS_PORT=$(free_port)
# shellcheck disable=SC2086 # REDSWARM_CMD is a command line
"${PIN_TRACKER[@]}" $REDSWARM_CMD --host 127.0.0.1 --port "$RS_PORT" --metrics-port 0 --log-level warn >"$TMP/redswarm.log" 2>&1 &
RS_PID=$!
wait_ws_ready redswarm "$RS_PID" "$RS_PORT" "$TMP/redswarm.log"
echo "== redswarm: pid $RS_PID ($(tr '\0' ' ' </proc/"$RS_PID"/cmdline)), ws://127.0.0.1:$RS_PORT"

FLOOR_PORT=$(free_port)
"${PIN_TRACKER[@]}" "${TSX[@]}" bench/ws-floor.ts --port "$FLOOR_PORT" >"$TMP/floor.log" 2>&1 &
FLOOR_PID=$!
wait_ws_ready floor "$FLOOR_PID" "$FLOOR_PORT" "$TMP/floor.log"
echo "== floor (bench/ws-floor.ts): pid $FLOOR_PID, ws://127.0.0.1:$FLOOR_PORT"

echo "== machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), node $(node --version)"
echo "== trackers pinned to cpu ${TRACKER_CPU:--}, generator to cpu ${GEN_CPU:--}; $DURATION s measured + $WARMUP s warm-up per phase"

RESULTS="$TMP/results.tsv"
: >"$RESULTS"

phase_args() {
  case "$1" in
    webtorrent) echo "--connections 200 --hashes 10000 --swarms-per-connection 4 --offers 5 --answer 1" ;;
    announce-only) echo "--connections 200 --hashes 10000 --swarms-per-connection 4 --offers 0" ;;
    popular) echo "--connections 1000 --hashes 1 --offers 5 --answer 1" ;;
    *) echo "compare-ws: unknown phase $1" >&2; exit 2 ;;
  esac
}

run_phase() { # round phase tracker pid port
  local round=$1 phase=$2 name=$3 pid=$4 port=$5 out="$TMP/out.txt" rc=0 args
  args=$(phase_args "$phase")
  phase_start "$round" "$phase" "$name" "$pid" || return 0
  # shellcheck disable=SC2086
  "${PIN_GEN[@]}" "${TSX[@]}" bench/ws-load.ts --port "$port" --duration "$DURATION" --warmup "$WARMUP" \
    --cpu-pid "$pid" --label "$name" $args $LOAD_ARGS >"$out" 2>&1 || rc=$?
  phase_record "$round" "$phase" "$name" "$pid" "$rc" "$out"
}

IFS=',' read -r -a PHASE_LIST <<<"$PHASES"
for round in $(seq 1 "$ROUNDS"); do
  for phase in "${PHASE_LIST[@]}"; do
    if [ $((round % 2)) = 1 ]; then
      run_phase "$round" "$phase" bittorrent-tracker "$BT_PID" "$BT_PORT"
      run_phase "$round" "$phase" redswarm "$RS_PID" "$RS_PORT"
    else
      run_phase "$round" "$phase" redswarm "$RS_PID" "$RS_PORT"
      run_phase "$round" "$phase" bittorrent-tracker "$BT_PID" "$BT_PORT"
    fi
    if [ "$phase" = announce-only ]; then
      run_phase "$round" "$phase" floor "$FLOOR_PID" "$FLOOR_PORT"
    fi
  done
done

echo
echo "== summary (median over $ROUNDS round(s)); rs/bt = redswarm ÷ bittorrent-tracker"
node - "$RESULTS" <<'EOF'
const { readResults, picker, f, printTable } = require('./bench/compare-results.cjs');
const rows = readResults(process.argv[2]);
const pick = picker(rows);
const errors = (phase, tracker) => {
  const mine = rows.filter((r) => r.phase === phase && r.tracker === tracker);
  const bad = mine.filter((r) => !r.ok).length;
  return bad ? `${bad} run(s) failed` : String(mine.reduce((a, r) => a + Number(r.kv.errors ?? 0), 0));
};
const head = ['phase', 'bt resp/s', 'rs resp/s', 'rs/bt', 'bt µs CPU/resp', 'rs µs CPU/resp', 'floor µs CPU/resp', 'bt/rs CPU', 'kernel% bt/rs', 'bt CPU%', 'rs CPU%', 'gen CPU% bt/rs', 'relays/resp', 'errors bt', 'errors rs'];
const table = [head];
const notes = [];
for (const phase of [...new Set(rows.map((r) => r.phase))]) {
  const bt = pick(phase, 'bittorrent-tracker', 'rps'), rs = pick(phase, 'redswarm', 'rps');
  const btc = pick(phase, 'bittorrent-tracker', 'cpu_us_per_resp'), rsc = pick(phase, 'redswarm', 'cpu_us_per_resp');
  const util = (t) => 100 * pick(phase, t, 'tracker_cpu_s') / pick(phase, t, 'elapsed');
  const gen = (t) => 100 * pick(phase, t, 'gen_cpu_s') / pick(phase, t, 'elapsed');
  const relays = (pick(phase, 'redswarm', 'offers') + pick(phase, 'redswarm', 'answers')) / pick(phase, 'redswarm', 'responses');
  const kernel = (t) => 100 * pick(phase, t, 'kernel_share');
  table.push([phase, f(bt), f(rs), f(rs / bt, 2), f(btc, 1), f(rsc, 1), f(pick(phase, 'floor', 'cpu_us_per_resp'), 1), f(btc / rsc, 2), `${f(kernel('bittorrent-tracker'))}/${f(kernel('redswarm'))}`, f(util('bittorrent-tracker')), f(util('redswarm')), `${f(gen('bittorrent-tracker'))}/${f(gen('redswarm'))}`, f(relays, 1), errors(phase, 'bittorrent-tracker'), errors(phase, 'redswarm')]);
  for (const t of ['bittorrent-tracker', 'redswarm']) {
    const u = util(t), g = gen(t);
    if (!(u < 90)) continue;
    if (g >= 90) notes.push(`${phase}: ${t} used ${f(u)}% of its core, the generator ${f(g)}% of its own: the generator set the pace (compare CPU/response)`);
    else notes.push(`${phase}: neither ${t} (${f(u)}%) nor the generator (${f(g)}%) filled its core: other load or latency-bound; trust CPU/response`);
  }
}
printTable(table, notes);
console.log('\n"bt/rs CPU" = bittorrent-tracker CPU per response ÷ redswarm CPU per response: the one-core throughput ratio when both are saturated.');
console.log('"relays/resp" = offers and answers the generator received per announce reply (each one a message the tracker relayed).');
console.log('"kernel%" = share of the tracker\'s CPU spent in the kernel (TCP on loopback), which no tracker code can avoid.');
console.log('"floor" = bench/ws-floor.ts, uWebSockets.js answering every message without parsing it: no tracker goes below it.');
EOF
