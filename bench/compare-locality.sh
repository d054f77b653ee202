#!/usr/bin/env bash
# The cost of locality mode (--locality on) on the embedded store, in one run: two redswarm processes of the same
# build, one with locality off and one on, take the same UDP load in turn (the order alternates by round); the
# table gives responses/s and the tracker's CPU µs per response of each, and their ratio.
#
#   bash bench/compare-locality.sh [--duration S] [--warmup S] [--rounds N] [--sources N] [--share F]
#
# The load comes from --sources loopback addresses (default 256: 16 per /24, bench/udp-load.ts
# --source-addresses), so that replies have same-address, same-/24 and far peers to choose from. Two phases:
# `spread` (100 000 Zipf-picked hashes: mostly small swarms, a few big) and `hot` (20 hashes: swarms of tens of
# thousands of peers, every locality reply through the prefix index). Loopback only, bounded in time; only the
# processes started here are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10 WARMUP=2 ROUNDS=2 SOURCES=256 SHARE=0.5 SEED=1
parse_options 'duration warmup rounds sources share' '' "$@"
whole_numbers "$DURATION" "$WARMUP" "$ROUNDS" "$SOURCES"

pin_cores "only $CORES core: running without pinning (figures will be poor)"
TMP=$(mktemp -d /tmp/redswarm-locality.XXXXXX)
OFF_PID=
ON_PID=
BUILD_DIR=
cleanup() {
  stop_pids "$OFF_PID" "$ON_PID"
  rm -rf "$TMP"
  remove_build
}
on_exit cleanup

"${TSX[@]}" bench/udp-load.ts --write-hashes "$TMP/spread.txt" --hashes 100000 --seed "$SEED"
"${TSX[@]}" bench/udp-load.ts --write-hashes "$TMP/hot.txt" --hashes 20 --seed "$SEED"
build_redswarm locality-build

start_tracker() { # name locality -> sets STARTED_PID, STARTED_PORT
  local port
  port=$(free_port)
  # shellcheck disable=SC2086 # REDSWARM_CMD is a command line
  "${PIN_TRACKER[@]}" $REDSWARM_CMD --host 127.0.0.1 --port "$port" --metrics-port 0 --log-level warn \
    --locality "$2" --locality-random-share "$SHARE" --announce-rate-limit 0 >"$TMP/$1.log" 2>&1 &
  STARTED_PID=$!
  STARTED_PORT=$port
  wait_ready "$1" "$STARTED_PID" "$TMP/$1.log" "127.0.0.1:$port" \
    "${TSX[@]}" bench/udp-load.ts --port "$port" --hashes-file "$TMP/hot.txt" --probe --probe-timeout 2
}
start_tracker locality-off off
OFF_PID=$STARTED_PID OFF_PORT=$STARTED_PORT
start_tracker locality-on on
ON_PID=$STARTED_PID ON_PORT=$STARTED_PORT

echo "== machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), node $(node --version)"
echo "== trackers pinned to cpu ${TRACKER_CPU:--}, generator to cpu ${GEN_CPU:--}; $DURATION s measured + $WARMUP s warm-up per phase;" \
  "$SOURCES source addresses; random share $SHARE"

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
run_phase() { # round phase tracker pid port
  local round=$1 phase=$2 name=$3 pid=$4 port=$5 out="$TMP/out.txt" rc=0
  phase_start "$round" "$phase" "$name" "$pid" || return 0
  "${PIN_GEN[@]}" "${TSX[@]}" bench/udp-load.ts --port "$port" --hashes-file "$TMP/$phase.txt" --seed "$SEED" \
    --duration "$DURATION" --warmup "$WARMUP" --cpu-pid "$pid" --source-addresses "$SOURCES" --sockets 64 --window 4 \
    >"$out" 2>&1 || rc=$?
  phase_record "$round" "$phase" "$name" "$pid" "$rc" "$out"
}

for round in $(seq 1 "$ROUNDS"); do
  for phase in spread hot; do
    if [ $((round % 2)) = 1 ]; then
      run_phase "$round" "$phase" locality-off "$OFF_PID" "$OFF_PORT"
      run_phase "$round" "$phase" locality-on "$ON_PID" "$ON_PORT"
    else
      run_phase "$round" "$phase" locality-on "$ON_PID" "$ON_PORT"
      run_phase "$round" "$phase" locality-off "$OFF_PID" "$OFF_PORT"
    fi
  done
done

echo
echo "== summary (median over $ROUNDS round(s)); on/off = locality on ÷ off"
node - "$RESULTS" <<'EOF'
const { readResults, picker, f, printTable } = require('./bench/compare-results.cjs');
const rows = readResults(process.argv[2]);
const pick = picker(rows);
const table = [['phase', 'off resp/s', 'on resp/s', 'on/off', 'off µs CPU/resp', 'on µs CPU/resp', 'on/off CPU', 'errors off', 'errors on']];
const errors = (phase, t) => rows.filter((r) => r.phase === phase && r.tracker === t).reduce((a, r) => a + (r.ok ? Number(r.kv.errors ?? 0) + Number(r.kv.timeouts ?? 0) : 1), 0);
for (const phase of [...new Set(rows.map((r) => r.phase))]) {
  const off = pick(phase, 'locality-off', 'rps'), on = pick(phase, 'locality-on', 'rps');
  const offc = pick(phase, 'locality-off', 'cpu_us_per_resp'), onc = pick(phase, 'locality-on', 'cpu_us_per_resp');
  table.push([phase, f(off), f(on), f(on / off, 2), f(offc, 2), f(onc, 2), f(onc / offc, 2), String(errors(phase, 'locality-off')), String(errors(phase, 'locality-on'))]);
}
printTable(table, []);
EOF
