#!/usr/bin/env bash
# Runs the same UDP and HTTP announce load against opentracker and redswarm, back to back
# in one run, and prints responses/s, the ratio redswarm/opentracker and each tracker's CPU
# time per response.
#
#   bash bench/compare-opentracker.sh [--duration S] [--warmup S] [--rounds N] [--phases LIST]
#                                     [--hashes N] [--build] [--only-opentracker]
#                                     [--store memory|redis-cluster]
#
# --store redis-cluster runs redswarm on a local 3-master Redis Cluster (deploy/redis-cluster.sh,
# no replicas) pinned to the generators' core, so the tracker's core and CPU figures are its own.
#
# --build compiles redswarm with tsc into a temporary directory under .tmp/ and runs the
# compiled JS (what `node dist/src/cli.js` runs), instead of running the TS through tsx.
#
# Environment:
#   REDSWARM_CMD   how to start redswarm; --host/--port/--log-level are appended
#                  (default: "node --import tsx src/cli.ts"; built: "node dist/src/cli.js")
#   UDP_ARGS       extra arguments for bench/udp-load.ts (e.g. "--scrape 0 --sockets 16")
#   HTTP_ARGS      extra arguments for bench/http-load.ts (e.g. "--connections 128 --no-check")
#   TRACKER_CPU    core the trackers are pinned to (default 0)
#   GEN_CPU        core(s) the load generators are pinned to (default 1)
#
# Phases (default udp,http,http-close): "udp" = BEP 15 announces + 10% scrapes;
# "http" = HTTP announces with keep-alive; "http-close" = the same with "Connection: close".
# Each phase runs against opentracker and then redswarm (the order alternates between rounds).
#
# Everything is on 127.0.0.1, bounded in time, and only the PIDs started here are killed.
# Needs the Debian packages opentracker and wrk. Debian's opentracker is built whitelist-only
# and IPv4-only: the bench's info hashes are written to its whitelist.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=10
WARMUP=2
ROUNDS=1
HASHES=100000
SEED=1
PHASES=udp,http,http-close
ONLY_OPENTRACKER=0
BUILD=0
STORE=memory
parse_options 'duration warmup rounds hashes seed phases store' 'only-opentracker build' "$@"
case "$STORE" in memory|redis-cluster) ;; *) echo "compare-opentracker: --store memory or redis-cluster" >&2; exit 2 ;; esac
whole_numbers "$DURATION" "$WARMUP" "$ROUNDS" "$HASHES" "$SEED"

UDP_ARGS=${UDP_ARGS:-}
HTTP_ARGS=${HTTP_ARGS:-}

for bin in opentracker wrk taskset; do
  command -v "$bin" >/dev/null || { echo "compare-opentracker: $bin not found (apt-get install -y opentracker wrk)" >&2; exit 1; }
done

pin_cores "only $CORES core: running without pinning (figures will be poor)"

TMP=$(mktemp -d /tmp/redswarm-compare.XXXXXX)
# opentracker chroots into this directory and drops to user nobody: it must be able to read it.
chmod 755 "$TMP"
OT_PID=
RS_PID=
BUILD_DIR=
cleanup() {
  stop_pids "$OT_PID" "$RS_PID"
  [ -d "$TMP/redis" ] && bash deploy/redis-cluster.sh stop "$TMP/redis"
  rm -rf "$TMP"
  remove_build
}
on_exit cleanup

# Wait until a tracker answers a UDP announce for the last bench hash (for opentracker that
# also proves that the whitelist has been loaded), at most 60 s.
wait_udp_ready() { # name pid port log
  wait_ready "$1" "$2" "$4" "127.0.0.1:$3" \
    "${TSX[@]}" bench/udp-load.ts --port "$3" --hashes-file "$TMP/whitelist.txt" --probe --probe-timeout 2
}

echo "== preparing: $HASHES info hashes (seed $SEED)"
"${TSX[@]}" bench/udp-load.ts --write-hashes "$TMP/whitelist.txt" --hashes "$HASHES" --seed "$SEED"
chmod 644 "$TMP/whitelist.txt"

OT_PORT=$(free_port)
"${PIN_TRACKER[@]}" opentracker -i 127.0.0.1 -p "$OT_PORT" -P "$OT_PORT" -d "$TMP" -w whitelist.txt >"$TMP/opentracker.log" 2>&1 &
OT_PID=$!
wait_udp_ready opentracker "$OT_PID" "$OT_PORT" "$TMP/opentracker.log"
echo "== opentracker: pid $OT_PID, 127.0.0.1:$OT_PORT (tcp+udp)"

if [ "$ONLY_OPENTRACKER" = 0 ]; then
  if [ "$BUILD" = 1 ]; then
    build_redswarm compare-build
  fi
  STORE_ARGS=()
  if [ "$STORE" = redis-cluster ]; then
    nodes=$("${PIN_GEN[@]}" bash deploy/redis-cluster.sh start "$TMP/redis" --replicas 0 | tail -n1)
    echo "== redis cluster (3 masters, pinned with the generators): $nodes"
    STORE_ARGS=(--redis-cluster "$nodes")
  fi
  RS_PORT=$(free_port)
  # shellcheck disable=SC2086 # REDSWARM_CMD is a command line
  "${PIN_TRACKER[@]}" $REDSWARM_CMD --host 127.0.0.1 --port "$RS_PORT" --metrics-port 0 --log-level warn "${STORE_ARGS[@]}" >"$TMP/redswarm.log" 2>&1 &
  RS_PID=$!
  wait_udp_ready redswarm "$RS_PID" "$RS_PORT" "$TMP/redswarm.log"
  kids=$(cat /proc/"$RS_PID"/task/*/children 2>/dev/null | tr -s ' \n' ' ')
  echo "== redswarm: pid $RS_PID ($(tr '\0' ' ' </proc/"$RS_PID"/cmdline)), 127.0.0.1:$RS_PORT${kids:+, child processes: $kids (their CPU is counted too)}"
fi

echo "== machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), node $(node --version)," \
  "opentracker $(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo '?'), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "== trackers pinned to cpu ${TRACKER_CPU:--}, generators to cpu ${GEN_CPU:--}; $DURATION s measured + $WARMUP s warm-up per phase"

RESULTS="$TMP/results.tsv"
: >"$RESULTS"

run_phase() { # round phase tracker pid port
  local round=$1 phase=$2 name=$3 pid=$4 port=$5 out="$TMP/out.txt" rc=0
  phase_start "$round" "$phase" "$name" "$pid" || return 0
  case "$phase" in
    udp)
      # shellcheck disable=SC2086
      "${PIN_GEN[@]}" "${TSX[@]}" bench/udp-load.ts --port "$port" --hashes-file "$TMP/whitelist.txt" --seed "$SEED" \
        --duration "$DURATION" --warmup "$WARMUP" --cpu-pid "$pid" $UDP_ARGS >"$out" 2>&1 || rc=$?
      ;;
    http|http-close)
      local close=()
      [ "$phase" = http-close ] && close=(--close)
      # shellcheck disable=SC2086
      "${PIN_GEN[@]}" "${TSX[@]}" bench/http-load.ts --port "$port" --hashes-file "$TMP/whitelist.txt" --seed "$SEED" \
        --duration "$DURATION" --warmup "$WARMUP" --cpu-pid "$pid" --label "$name" "${close[@]}" $HTTP_ARGS >"$out" 2>&1 || rc=$?
      ;;
    *) echo "compare-opentracker: unknown phase $phase" >&2; exit 2 ;;
  esac
  phase_record "$round" "$phase" "$name" "$pid" "$rc" "$out"
}

IFS=',' read -r -a PHASE_LIST <<<"$PHASES"
for round in $(seq 1 "$ROUNDS"); do
  for phase in "${PHASE_LIST[@]}"; do
    if [ "$ONLY_OPENTRACKER" = 1 ]; then
      run_phase "$round" "$phase" opentracker "$OT_PID" "$OT_PORT"
    elif [ $((round % 2)) = 1 ]; then
      run_phase "$round" "$phase" opentracker "$OT_PID" "$OT_PORT"
      run_phase "$round" "$phase" redswarm "$RS_PID" "$RS_PORT"
    else
      run_phase "$round" "$phase" redswarm "$RS_PID" "$RS_PORT"
      run_phase "$round" "$phase" opentracker "$OT_PID" "$OT_PORT"
    fi
  done
done

if [ -n "$RS_PID" ] && [ -s "$TMP/redswarm.log" ]; then
  echo
  echo "== redswarm log (warn and above), last lines:"
  tail -n 10 "$TMP/redswarm.log" | sed 's/^/   /'
fi

echo
echo "== summary (median over $ROUNDS round(s)); rs/ot = redswarm ÷ opentracker"
node - "$RESULTS" <<'EOF'
const { readResults, picker, f, printTable } = require('./bench/compare-results.cjs');
const rows = readResults(process.argv[2]);
const pick = picker(rows);
const sum = (phase, tracker, key) => rows.filter((r) => r.ok && r.phase === phase && r.tracker === tracker).reduce((a, r) => a + Number(r.kv[key] ?? 0), 0);
const failed = (phase, tracker) => rows.filter((r) => !r.ok && r.phase === phase && r.tracker === tracker).length;
const names = { udp: 'UDP announce (+10% scrape)', http: 'HTTP announce, keep-alive', 'http-close': 'HTTP announce, Connection: close' };
const head = ['phase', 'ot resp/s', 'rs resp/s', 'rs/ot', 'ot µs CPU/resp', 'rs µs CPU/resp', 'ot/rs CPU', 'ot CPU%', 'rs CPU%', 'gen CPU% ot/rs', 'errors ot', 'errors rs'];
const table = [head];
const notes = [];
for (const phase of [...new Set(rows.map((r) => r.phase))]) {
  const ot = pick(phase, 'opentracker', 'rps'), rs = pick(phase, 'redswarm', 'rps');
  const otc = pick(phase, 'opentracker', 'cpu_us_per_resp'), rsc = pick(phase, 'redswarm', 'cpu_us_per_resp');
  const util = (t) => 100 * pick(phase, t, 'tracker_cpu_s') / pick(phase, t, 'elapsed');
  const ran = (t) => rows.some((r) => r.phase === phase && r.tracker === t);
  const errs = (t) => (!ran(t) ? '-' : failed(phase, t) ? `${failed(phase, t)} run(s) failed` : String(sum(phase, t, 'errors') + sum(phase, t, 'timeouts') + sum(phase, t, 'bad')));
  const gen = (t) => 100 * pick(phase, t, 'gen_cpu_s') / pick(phase, t, 'elapsed');
  table.push([names[phase] ?? phase, f(ot), f(rs), f(rs / ot, 2), f(otc, 2), f(rsc, 2), f(otc / rsc, 2), f(util('opentracker')), f(util('redswarm')), `${f(gen('opentracker'))}/${f(gen('redswarm'))}`, errs('opentracker'), errs('redswarm')]);
  if (phase.startsWith('http') && rows.some((r) => r.phase === phase && r.tracker === 'opentracker' && r.kv.server_closes === '1')) {
    notes.push(`${phase}: opentracker closed the connection after every reply (no keep-alive possible; wrk reconnects, its read errors are not counted as errors)`);
  }
  for (const t of ['opentracker', 'redswarm']) {
    const u = util(t);
    const g = 100 * pick(phase, t, 'gen_cpu_s') / pick(phase, t, 'elapsed');
    if (!(u < 90)) continue;
    if (g >= 90) notes.push(`${phase}: ${t} used ${f(u)}% of its core, the generator ${f(g)}% of its own: the generator set the pace (its responses/s understate ${t}; compare CPU/response)`);
    else notes.push(`${phase}: neither ${t} (${f(u)}%) nor the generator (${f(g)}%) filled its core: other load on the machine or latency-bound; trust CPU/response over responses/s`);
  }
}
printTable(table, notes);
console.log('\n"ot/rs CPU" = opentracker CPU per response ÷ redswarm CPU per response: the one-core throughput ratio to expect when both are saturated (>1 favours redswarm).');
EOF
