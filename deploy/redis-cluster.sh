#!/usr/bin/env bash
# Starts or stops a local Redis Cluster on loopback: 3 masters + 3 replicas (or 1 plain node), each with its
# own directory, on free ports below the ephemeral range (the cluster bus uses port + 10000).
#
#   deploy/redis-cluster.sh start DIR [--masters 3] [--replicas 1] [--base-port P] [--single]
#                                     [-- extra redis-server args, e.g. --hash-max-listpack-entries 1024]
#   deploy/redis-cluster.sh stop DIR
#
# `start` prints the seed nodes (host:port,host:port,...) on its last line once every node reports
# cluster_state:ok; with --single it starts one non-cluster node and prints host:port. `stop` ends exactly
# the processes whose pid files are under DIR. Nodes run with cluster-require-full-coverage no, so that the
# slots of healthy masters keep serving while a failed master's slots are uncovered (docs/scaling.md).
set -euo pipefail

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1 dir=$2
shift 2

stop() {
  local pids=()
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pids+=("$(cat "$pidfile")")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

port_busy() { ss -Hltn "sport = :$1" | grep -q . ; }

if [ "$action" = stop ]; then stop; exit 0; fi
[ "$action" = start ] || usage

masters=3 replicas=1 base=0 single=0 extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --masters) masters=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    --single) single=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
  echo "redis-server/redis-cli missing: apt-get install -y redis-server redis-tools" >&2; exit 1; }

count=$(( single ? 1 : masters * (1 + replicas) ))
if [ "$base" = 0 ]; then
  # A random block of ports whose cluster-bus twins (+10000) are free too, all below 32768.
  for _ in $(seq 100); do
    base=$(( 7000 + RANDOM % 12000 ))
    ok=1
    for i in $(seq 0 $((count - 1))); do
      if port_busy $((base + i)) || port_busy $((base + i + 10000)); then ok=0; break; fi
    done
    [ $ok = 1 ] && break
  done
  [ $ok = 1 ] || { echo "no free block of $count ports" >&2; exit 1; }
fi

mkdir -p "$dir"
nodes=()
for i in $(seq 0 $((count - 1))); do
  port=$((base + i))
  node_dir="$dir/$port"
  mkdir -p "$node_dir"
  cluster_args=()
  [ $single = 1 ] || cluster_args=(--cluster-enabled yes --cluster-config-file nodes.conf
    --cluster-node-timeout 3000 --cluster-announce-ip 127.0.0.1 --cluster-require-full-coverage no)
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --daemonize yes \
    --dir "$node_dir" --pidfile "$node_dir/redis.pid" --logfile "$node_dir/redis.log" \
    --save '' --appendonly no "${cluster_args[@]}" "${extra[@]}"
  nodes+=("127.0.0.1:$port")
done

for node in "${nodes[@]}"; do
  for _ in $(seq 100); do
    redis-cli -p "${node##*:}" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
done

if [ $single = 1 ]; then
  echo "${nodes[0]}"
  exit 0
fi

redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 || {
  cat "$dir/create.log" >&2; stop; exit 1; }
for node in "${nodes[@]}"; do
  for _ in $(seq 200); do
    redis-cli -p "${node##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
    sleep 0.05
  done
  redis-cli -p "${node##*:}" cluster info | grep -q 'cluster_state:ok' || {
    echo "$node never reached cluster_state:ok" >&2; stop; exit 1; }
done
(IFS=,; echo "${nodes[*]}")
