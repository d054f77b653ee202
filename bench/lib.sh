# Shell functions shared by the bench/*.sh scripts; sourced (from the repo root) after `set -euo pipefail`.
# Messages name the script that sourced this file. Functions that use TMP, RESULTS or BUILD_DIR expect
# the script to have set them.

SCRIPT=$(basename "$0" .sh)
CORES=$(nproc)
TSX=(node --import tsx)
# How to start redswarm; build_redswarm points it at a compiled build.
REDSWARM_CMD=${REDSWARM_CMD:-node --import tsx src/cli.ts}

# The script's leading comment block: its usage.
usage() {
  awk 'NR == 1 { next } !/^#/ { exit } { print }' "$0"
}

# Reads the script's command line into variables: `--NAME VALUE` for each NAME of the first list, `--NAME` (sets
# 1) for each of the second, -h/--help prints the usage. The variable is NAME in upper case with - as _
# (--redis-cluster: REDIS_CLUSTER); its value before the call is the default.
parse_options() { # "names taking a value" "flag names" argument...
  local valued=" $1 " flags=" $2 " name var
  shift 2
  while [ $# -gt 0 ]; do
    name=${1#--}
    var=${name^^}
    var=${var//-/_}
    if [ "$1" = -h ] || [ "$1" = --help ]; then
      usage
      exit 0
    elif [ "$1" != "$name" ] && [[ $valued == *" $name "* ]]; then
      [ $# -ge 2 ] || { echo "$SCRIPT: $1 needs a value (see --help)" >&2; exit 2; }
      printf -v "$var" '%s' "$2"
      shift 2
    elif [ "$1" != "$name" ] && [[ $flags == *" $name "* ]]; then
      printf -v "$var" 1
      shift
    else
      echo "$SCRIPT: unknown argument $1 (see --help)" >&2
      exit 2
    fi
  done
}

# Exits with a message unless every argument is a whole number.
whole_numbers() { # value...
  local v
  for v in "$@"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "$SCRIPT: not a whole number: $v" >&2; exit 2; }
  done
}

# Runs the function named on exit, and on SIGINT or SIGTERM exits through it too.
on_exit() { # function
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# PIN_TRACKER and PIN_GEN: taskset prefixes putting the trackers on TRACKER_CPU (default 0) and the generators
# on GEN_CPU (default 1); on one core or without taskset both are empty and "$SCRIPT: <warning>" is printed.
pin_cores() { # warning
  if [ "$CORES" -ge 2 ] && command -v taskset >/dev/null; then
    TRACKER_CPU=${TRACKER_CPU:-0}
    GEN_CPU=${GEN_CPU:-1}
    PIN_TRACKER=(taskset -c "$TRACKER_CPU")
    PIN_GEN=(taskset -c "$GEN_CPU")
  else
    echo "$SCRIPT: $1" >&2
    PIN_TRACKER=()
    PIN_GEN=()
  fi
}

# A port free for both TCP and UDP on 127.0.0.1.
free_port() {
  node -e '
    const net = require("node:net"), dgram = require("node:dgram");
    (function tryOne(n) {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = s.address().port;
        const u = dgram.createSocket("udp4");
        u.once("error", () => { s.close(); u.close(); if (n > 0) tryOne(n - 1); else process.exit(1); });
        u.bind(port, "127.0.0.1", () => { console.log(port); u.close(); s.close(); });
      });
    })(20);'
}

# Stops processes this script started: SIGTERM, up to 2 s to exit, then SIGKILL. Empty arguments are skipped.
stop_pids() { # pid...
  local pid
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

# Runs the probe command until it succeeds, at most 60 s; fails with the tracker's log if the tracker exits or
# never answers.
wait_ready() { # name pid log address probe-command...
  local name=$1 pid=$2 log=$3 address=$4 deadline=$((SECONDS + 60))
  shift 4
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$SCRIPT: $name exited during startup; its log:" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    if "$@" 2>/dev/null; then
      return 0
    fi
  done
  echo "$SCRIPT: $name does not answer on $address; its log:" >&2
  tail -n 30 "$log" >&2
  return 1
}

# Compiles redswarm with tsc into a new directory .tmp/<prefix>.XXXXXX (BUILD_DIR; remove_build removes it)
# and points REDSWARM_CMD at the compiled cli.js.
build_redswarm() { # prefix
  mkdir -p .tmp
  BUILD_DIR=$(mktemp -d "$PWD/.tmp/$1.XXXXXX")
  echo "== compiling redswarm into $BUILD_DIR"
  # tsc emits even when it reports type errors; what matters is that cli.js is there.
  npx --no-install tsc -p tsconfig.json --outDir "$BUILD_DIR" --sourceMap false >"$TMP/tsc.log" 2>&1 || true
  [ -f "$BUILD_DIR/src/cli.js" ] || { cat "$TMP/tsc.log" >&2; echo "$SCRIPT: build failed" >&2; exit 1; }
  cp -r lua "$BUILD_DIR/"   # the Redis store's scripts, found relative to the compiled code as in dist/
  REDSWARM_CMD="node $BUILD_DIR/src/cli.js"
}

remove_build() {
  if [ -n "$BUILD_DIR" ]; then
    rm -rf "$BUILD_DIR"
    rmdir .tmp 2>/dev/null || true
  fi
}

# The heading of one phase against one tracker; if the tracker is gone, says so, records the phase as dead in
# RESULTS and returns 1.
phase_start() { # round phase tracker pid
  echo
  echo "-- round $1, $2, $3"
  if ! kill -0 "$4" 2>/dev/null; then
    echo "   $3 is not running any more"
    printf '%s\t%s\t%s\tdead\n' "$1" "$2" "$3" >>"$RESULTS"
    return 1
  fi
}

# After a generator run: shows its output, records its RESULT line (or "failed") in RESULTS, and shows the end
# of the tracker's log ($TMP/<tracker>.log) if the tracker died meanwhile.
phase_record() { # round phase tracker pid generator-exit-code output-file
  local round=$1 phase=$2 name=$3 pid=$4 rc=$5 out=$6 result
  sed 's/^/   /' "$out"
  result=$(grep '^RESULT ' "$out" | tail -n1 || true)
  if [ "$rc" != 0 ] || [ -z "$result" ]; then
    printf '%s\t%s\t%s\tfailed\n' "$round" "$phase" "$name" >>"$RESULTS"
  else
    printf '%s\t%s\t%s\t%s\n' "$round" "$phase" "$name" "${result#RESULT }" >>"$RESULTS"
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "   !! $name died during this phase; last lines of its log:"
    tail -n 20 "$TMP/$name.log" | sed 's/^/   /'
  fi
}
