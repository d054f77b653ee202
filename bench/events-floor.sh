#!/usr/bin/env bash
# The floor under what swarm events cost Redis per announce (docs/performance.md, "Swarm events"): one local
# Redis node pinned to one core, redis-benchmark (pipelined, so the network hardly counts) calling functions
# that do only the events' part of an announce, Redis CPU (INFO cpu) per call:
#
#   args        a function that does nothing, with the announce's 2 keys and 1 argument, then with the 2 event
#               keys and 4 event arguments more (the arguments and keys alone)
#   hincrby     the swarm's sequence number alone (HINCRBY)
#   xadd v2     the event of schema version 2: HINCRBY, then XADD MAXLEN ~ of its 5 fields
#   xadd bare   the same without MAXLEN ~ (the trim's own cost)
#   xadd 3      a 3-field entry (`v`, `n`, and the info hash and kind packed into `a`) with 2 arguments fewer:
#               what packing the swarm into `a` would save
#   xadd only   that entry with no sequence write at all, called with 2 keys and 2 arguments more than the first
#               "args" line (version 3's event keys and arguments): the floor of an event appended in the swarm's
#               call if its sequence number cost nothing (folded into a write the announce makes anyway)
#
#   bash bench/events-floor.sh [--calls N] [--rounds R] [--redis-cpu C]
#
# Loopback only, bounded in count; the Redis node started here is stopped at the end.
set -euo pipefail

calls=200000 rounds=3 cpu=1
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --redis-cpu) cpu=$2; shift 2 ;;
    *) echo "usage: $0 [--calls N] [--rounds R] [--redis-cpu C]" >&2; exit 2 ;;
  esac
done

dir=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
taskset -c "$cpu" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
stop() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

redis-cli -p "$port" FUNCTION LOAD "#!lua name=floor
redis.register_function('noop', function(keys, args) return 1 end)
redis.register_function('hincrby', function(keys, args) return redis.call('HINCRBY', keys[1], 's', '1') end)
redis.register_function('xadd2', function(keys, args)
  local seq = redis.call('HINCRBY', keys[1], 's', '1')
  return redis.call('XADD', keys[2], 'MAXLEN', '~', args[1], '*', 'v', '2', 'ih', args[2], 'swarm', args[3],
    'n', string.format('%d %d %d', seq, 3, 7), 'a', args[4])
end)
redis.register_function('xadd_bare', function(keys, args)
  local seq = redis.call('HINCRBY', keys[1], 's', '1')
  return redis.call('XADD', keys[2], '*', 'v', '2', 'ih', args[2], 'swarm', args[3],
    'n', string.format('%d %d %d', seq, 3, 7), 'a', args[4])
end)
redis.register_function('xadd3', function(keys, args)
  local seq = redis.call('HINCRBY', keys[1], 's', '1')
  return redis.call('XADD', keys[2], 'MAXLEN', '~', args[1], '*', 'v', '3', 'n', string.format('%d %d %d', seq, 3, 7), 'a', args[2])
end)
redis.register_function('xadd_only', function(keys, args)
  return redis.call('XADD', keys[3], 'MAXLEN', '~', args[2], '*', 'v', '3', 'n', string.format('%d %d %d', 41, 3, 7), 'a', args[3])
end)" >/dev/null

ih=9864d29203bdece7434e9bd179721195e9339db8
facts="1796176493368 update udp 196.73.91.77:45164 1099511627776 65536 1000000 0 a1b2c3d4"
cpu_seconds() { redis-cli -p "$port" INFO cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f", s }'; }
measure() {
  local name=$1 before after
  shift
  before=$(cpu_seconds)
  redis-benchmark -p "$port" -n "$calls" -P 32 -c 4 -q "$@" >/dev/null
  after=$(cpu_seconds)
  printf '%-44s %6.2f µs/call\n' "$name" "$(echo "($after - $before) * 1000000 / $calls" | bc -l)"
}
for round in $(seq "$rounds"); do
  echo "round $round ($calls calls each, Redis CPU per call)"
  measure "args: 2 keys, 1 argument (events off)" FCALL noop 2 h{a} x{a} 100000
  measure "args: 4 keys, 5 arguments (events on)" FCALL noop 4 h{a} x{a} s{a} i{a} 100000 "$ih" bt 100000 "$facts"
  measure "hincrby" FCALL hincrby 2 h{a} x{a} 100000 "$ih" bt "$facts"
  measure "hincrby + xadd v2 (5 fields)" FCALL xadd2 2 h{a} x{a} 100000 "$ih" bt "$facts"
  measure "hincrby + xadd v2 without MAXLEN ~" FCALL xadd_bare 2 h{a} x{a} 100000 "$ih" bt "$facts"
  measure "hincrby + xadd of 3 fields, 2 arguments" FCALL xadd3 2 h{a} x{a} 100000 "$ih bt $facts"
  measure "xadd of 3 fields only, 4 keys, 2 arguments" FCALL xadd_only 4 h{a} x{a} s{a} i{a} 100000 100000 "$ih bt $facts"
done
