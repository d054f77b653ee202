#!/bin/sh
# The compose stack's one-shot Redis Cluster bootstrap: waits for the nodes in $REDIS_NODES (host:port ...),
# creates the cluster with one replica per master if no node belongs to one yet, then waits until every node
# reports cluster_state:ok. Safe to run again: a formed cluster is only checked.
set -eu
nodes=$REDIS_NODES
first=${nodes%% *}

ask() { node=$1; shift; redis-cli -h "${node%:*}" -p "${node##*:}" "$@"; }

for node in $nodes; do
  tries=0
  until ask "$node" ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ $tries -lt 150 ] || { echo "redis-cluster-init: $node does not answer" >&2; exit 1; }
    sleep 0.2
  done
done

known=$(ask "$first" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "${known:-1}" -le 1 ]; then
  echo "redis-cluster-init: creating the cluster of $nodes"
  # shellcheck disable=SC2086
  redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes
else
  echo "redis-cluster-init: $first already knows $known nodes; checking the cluster"
fi

for node in $nodes; do
  tries=0
  until ask "$node" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
    tries=$((tries + 1))
    [ $tries -lt 300 ] || { echo "redis-cluster-init: $node never reached cluster_state:ok" >&2; exit 1; }
    sleep 0.2
  done
done
echo "redis-cluster-init: cluster_state:ok on every node"
