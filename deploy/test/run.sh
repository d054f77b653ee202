#!/usr/bin/env bash
# Tests what deploy/ ships, on this machine, as an operator would use it, then removes everything it made.
#
#   bash deploy/test/run.sh          (root: it installs podman & co. with apt-get when missing; .ci/run calls it)
#
#  1. systemd: `systemd-analyze verify` of deploy/systemd/redswarm.service.
#  2. Files that cannot run here, against their schemas: the Kubernetes base (`kubectl kustomize`, then the
#     OpenAPI schemas of kubernetes-models, strict), the compose file (Compose Specification schema), Grafana's
#     provisioning; every redswarm.toml shipped, by the tracker's own config loader.
#  3. Images: a Debian bookworm minbase made with debootstrap plus this machine's node and npm (no registry can be
#     pulled from here), passed as BASE_IMAGE; Redis 7.0 and Prometheus from Debian on it; the redswarm image from
#     deploy/Containerfile (its build fails unless uWebSockets.js' native addon loads). Prometheus configs: promtool.
#  4. The image on the host's network: configuration from a mounted file and REDSWARM_* variables, read-only root,
#     non-root; HEALTHCHECK; announces over HTTP, UDP and WebSocket; SIGHUP reloads; SIGTERM drains, exit 0.
#  5. deploy/compose/compose.yaml (Redis Cluster 3+3, two instances with two workers each, Prometheus; not
#     Grafana: no image of it can be made here): a peer announced to instance 1 is returned by instance 2 over
#     HTTP and UDP, connection IDs of one are accepted by the other, a WebTorrent offer crosses both ways,
#     Prometheus scrapes both and evaluates every dashboard query; an instance with workers drains on SIGTERM.
#     The Kubernetes base's Deployment, run by `podman kube play` (ConfigMap, Secret, securityContext as shipped),
#     joins that cluster as a third instance and passes the same cross-instance checks.
#  6. Upgrading: an image of the previous version (the commit before the last change of lua/, or
#     DEPLOY_TEST_OLD_REV) and the new one on the same Redis Cluster, both answering, function libraries side by side.
#
# Everything listens on 127.0.0.1 (ports picked free), every wait is bounded, and the exit trap removes the
# containers, volumes and images it made (by name), in a podman storage of its own under a temporary directory.
# Under CI=true a missing prerequisite fails with its reason; elsewhere it is skipped with the reason printed.
# Ends with `deploy: N passed, N failed, N skipped`; exits 1 if anything failed.
#
# Environment: DEPLOY_TEST_OLD_REV=<rev> (the version of step 6); DEPLOY_TEST_BASE_TAR=<file> (a cache of the
# debootstrap root for runs by hand: made if missing, used if present; never under CI); DEPLOY_TEST_KEEP=1 (leave it
# all running and print how to remove it).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ID=$$
NAME=rsdeploytest$ID          # compose project, container and image names start with it
WORK=$(mktemp -d "/var/tmp/$NAME.XXXXXX")
LOG=$WORK/log
mkdir -p "$LOG" "$WORK/tmp"
STARTED=$SECONDS

passed=0 failed=0 skipped=0
summary=()
say() { printf '[deploy %3ds] %s\n' $((SECONDS - STARTED)) "$*"; }
pass() { passed=$((passed + 1)); summary+=("ok   $1"); say "ok   $1"; }
fail() { failed=$((failed + 1)); summary+=("FAIL $1"); say "FAIL $1"; }
skip() { skipped=$((skipped + 1)); summary+=("skip $1"); say "skip $1"; }
# A prerequisite that is missing: a failure under CI (where .ci/run installs everything), a skip elsewhere.
missing() { if [ "${CI:-}" = true ]; then fail "$1: prerequisite missing under CI=true: $2"; else skip "$1: $2"; fi; }

# Runs a command with its output in $LOG/<step>.log; on failure shows the end of it.
run() {
  local step=$1; shift
  if "$@" >>"$LOG/$step.log" 2>&1; then return 0; fi
  say "  failed: $*"
  tail -n 40 "$LOG/$step.log" | sed 's/^/    | /'
  return 1
}

# A step: `step "what it checks" function args…`; its duration goes into the summary.
step() {
  local what=$1; shift
  local start=$SECONDS
  say "── $what"
  if "$@"; then pass "$what ($((SECONDS - start)) s)"; return 0; fi
  fail "$what ($((SECONDS - start)) s)"
  return 1
}

finish() {
  local code=$?
  trap - EXIT INT TERM
  if ! declare -F cleanup >/dev/null; then
    rm -rf "$WORK"   # stopped before anything was made
  elif [ "${DEPLOY_TEST_KEEP:-}" = 1 ]; then
    say "DEPLOY_TEST_KEEP=1: left running. Remove with: DOCKER_HOST=$DOCKER_HOST docker-compose -p $NAME -f deploy/compose/compose.yaml down -v;"
    say "  CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF podman rm -af; podman rmi -af; kill ${service_pid:-}; rm -rf $WORK"
  else
    cleanup
  fi
  echo
  printf '%s\n' "${summary[@]}"
  echo "deploy: $passed passed, $failed failed, $skipped skipped ($((SECONDS - STARTED)) s)"
  [ "$failed" = 0 ] && [ "$code" = 0 ] && exit 0
  exit 1
}
trap finish EXIT
trap 'say "interrupted"; exit 1' INT TERM

# ---------------------------------------------------------------------------------------------------------------
# Prerequisites

if [ "$(id -u)" != 0 ]; then
  missing "deployment tests" "root (podman, debootstrap and apt-get need it)"
  exit 0
fi

# package:command
wanted=(podman:podman runc:runc catatonit:catatonit debootstrap:debootstrap docker-compose:docker-compose
  systemd:systemd-analyze iproute2:ss git:git)
absent=()
for pair in "${wanted[@]}"; do command -v "${pair#*:}" >/dev/null 2>&1 || absent+=("${pair%%:*}"); done
if [ ${#absent[@]} -gt 0 ]; then
  say "installing ${absent[*]} (apt-get)"
  if ! command -v apt-get >/dev/null || ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${absent[@]}"; } >"$LOG/apt.log" 2>&1; then
    tail -n 20 "$LOG/apt.log" >&2
    missing "deployment tests" "could not install ${absent[*]} with apt-get"
    exit 0
  fi
fi
# kubectl (with kustomize) is on this kind of machine; Debian's kubernetes-client is the fallback.
if ! command -v kubectl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >>"$LOG/apt.log" 2>&1 || true
fi

# podman as it works here (../shared/README.md): runc (crun fails on these cgroups), no default ulimits (the
# host's hard limits are lower than podman's defaults), storage and temporary files of this run only.
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf TMPDIR=$WORK/tmp
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export DOCKER_HOST=unix://$WORK/podman.sock   # docker-compose talks to podman's Docker-compatible API

BASE=localhost/$NAME-base:node20
TOOLS=localhost/$NAME-tools:latest
IMAGE=localhost/redswarm:$NAME
OLD_IMAGE=localhost/redswarm:$NAME-old
SINGLE=$NAME-single
OLD=$NAME-old
images=() containers=() service_pid='' compose_up=0 kube_played=0
kube_network_before=0
podman network exists podman-default-kube-network 2>/dev/null && kube_network_before=1

cleanup() {
  say "cleaning up"
  if [ "$failed" != 0 ] && [ -f "$CONTAINERS_STORAGE_CONF" ]; then   # the containers' logs, for the failure's story
    mkdir -p "$LOG/containers"
    for c in $(podman ps -a --format '{{.Names}}' 2>/dev/null); do podman logs "$c" >"$LOG/containers/$c.log" 2>&1; done
  fi
  if [ $compose_up = 1 ]; then
    docker-compose -p "$NAME" -f deploy/compose/compose.yaml down -v -t 25 >>"$LOG/cleanup.log" 2>&1 ||
      { say "docker-compose down failed; what it left is removed below"; tail -n 5 "$LOG/cleanup.log" | sed 's/^/    | /'; }
  fi
  if command -v podman >/dev/null && [ -f "$CONTAINERS_STORAGE_CONF" ]; then
    if [ $kube_played = 1 ]; then
      podman kube down "$WORK/kube/play.yaml" >>"$LOG/cleanup.log" 2>&1
      podman secret rm redswarm-udp-secret >>"$LOG/cleanup.log" 2>&1
      podman volume ls -q | grep '^redswarm-config-' | xargs -r podman volume rm -f >>"$LOG/cleanup.log" 2>&1
    fi
    # `podman kube play` makes a network definition (kept outside the storage) when there is none yet.
    if [ "$kube_network_before" = 0 ] && podman network exists podman-default-kube-network 2>/dev/null; then
      podman network rm podman-default-kube-network >>"$LOG/cleanup.log" 2>&1
    fi
    for c in "${containers[@]}"; do podman rm -f -t 5 "$c" >>"$LOG/cleanup.log" 2>&1; done
    # Whatever compose left (by its project label), then the images this run built or imported, by name.
    podman ps -aq --filter "label=com.docker.compose.project=$NAME" | xargs -r podman rm -f -t 5 >>"$LOG/cleanup.log" 2>&1
    podman volume ls -q --filter "label=com.docker.compose.project=$NAME" | xargs -r podman volume rm -f >>"$LOG/cleanup.log" 2>&1
    for ((i = ${#images[@]} - 1; i >= 0; i--)); do podman rmi -f "${images[i]}" >>"$LOG/cleanup.log" 2>&1; done
    podman image prune -af >>"$LOG/cleanup.log" 2>&1   # the build stages' untagged layers, in this run's storage
    left=$(podman ps -aq | wc -l) leftimages=$(podman images -aq | wc -l)
    [ "$left$leftimages" = 00 ] || say "left in this run's storage: $left containers, $leftimages images (removed with it)"
  fi
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
  if [ "$failed" != 0 ] && [ -d "$LOG" ]; then
    mkdir -p "$ROOT/.tmp" && rm -rf "$ROOT/.tmp/deploy-test-logs" && cp -r "$LOG" "$ROOT/.tmp/deploy-test-logs" &&
      say "logs kept in .tmp/deploy-test-logs"
  fi
  # The storage's own mounts (overlay keeps its directory mounted private), then the directory.
  findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r target; do umount -l "$target" 2>/dev/null; done
  rm -rf "$WORK"
}

# ---------------------------------------------------------------------------------------------------------------
# Free ports on 127.0.0.1: one block of 18 whose Redis cluster-bus twins (+10000) are free too, TCP and UDP.

port_busy() { ss -Htuan "sport = :$1" | grep -q .; }
for _ in $(seq 200); do
  P=$((12000 + RANDOM % 7000))
  ok=1
  for i in $(seq 0 17); do port_busy $((P + i)) && { ok=0; break; }; done
  for i in $(seq 0 5); do port_busy $((P + 10000 + i)) && { ok=0; break; }; done
  [ $ok = 1 ] && break
done
[ $ok = 1 ] || { fail "no free block of ports on 127.0.0.1"; exit 1; }
REDIS_PORTS=($P $((P + 1)) $((P + 2)) $((P + 3)) $((P + 4)) $((P + 5)))
TRACKER_1=$((P + 6)) TRACKER_2=$((P + 7)) METRICS_1=$((P + 8)) METRICS_2=$((P + 9)) PROMETHEUS=$((P + 10))
SINGLE_PORT=$((P + 11)) SINGLE_METRICS=$((P + 12)) OLD_PORT=$((P + 13)) OLD_METRICS=$((P + 14))
KUBE_PORT=$((P + 15)) KUBE_METRICS=$((P + 16))
say "work dir $WORK, ports $P-$((P + 17)) and $((P + 10000))-$((P + 10005))"

checks() { node --import tsx deploy/test/checks.ts "$@"; }

# ---------------------------------------------------------------------------------------------------------------
# 1. systemd

check_systemd() {
  run systemd systemd-analyze verify deploy/systemd/redswarm.service || return 1
  # verify prints warnings without failing: none is wanted.
  if [ -s "$LOG/systemd.log" ]; then sed 's/^/    | /' "$LOG/systemd.log"; return 1; fi
}
step "systemd: systemd-analyze verify deploy/systemd/redswarm.service" check_systemd

# ---------------------------------------------------------------------------------------------------------------
# 2. Schemas

step "deploy/test type-checks (tsc)" run typecheck node node_modules/typescript/bin/tsc -p deploy/test/tsconfig.json

validators_ready=0
step "schema validators from npm (deploy/test/validators)" \
  run validators npm ci --prefix deploy/test/validators --ignore-scripts --no-audit --no-fund && validators_ready=1
validate() { node deploy/test/validators/validate.mjs "$@"; }

check_kubernetes() {
  run kubernetes kubectl kustomize deploy/kubernetes -o "$WORK/kubernetes.yaml" || return 1
  run kubernetes validate k8s "$WORK/kubernetes.yaml" || return 1
  sed -n 's/^ok /    /p' "$LOG/kubernetes.log"
}
check_compose_schema() {
  run compose-schema validate compose deploy/compose/compose.yaml || return 1
  run compose-schema validate grafana deploy/compose/grafana/provisioning || return 1
  # docker-compose's own parse of it (interpolation, merge keys, its schema), with every variable unset.
  run compose-schema docker-compose -f deploy/compose/compose.yaml config -q
}
# Every redswarm.toml shipped loads in the tracker's own loader (unknown keys and bad values are errors).
check_toml() {
  local files=(deploy/container/redswarm.toml deploy/compose/redswarm.toml)
  [ -f "$WORK/k8s-redswarm.toml" ] && files+=("$WORK/k8s-redswarm.toml")
  run toml node --import tsx --input-type=module -e "
    import { loadConfig } from './src/config/index.ts';
    for (const file of process.argv.slice(1)) {
      const invocation = loadConfig(['--config', file], {});
      console.log('ok', file, invocation.kind === 'run' ? 'workers=' + invocation.config.workers : invocation.kind);
    }" "${files[@]}" || return 1
  [ ${#files[@]} = 3 ] || { say "  the Kubernetes ConfigMap's redswarm.toml was not extracted"; return 1; }
}
if [ $validators_ready = 1 ]; then
  if command -v kubectl >/dev/null 2>&1; then
    step "kubernetes: kustomize build, OpenAPI schemas (strict), references between the objects" check_kubernetes
  else
    missing "kubernetes manifests" "kubectl (kustomize) is not installed and Debian's kubernetes-client did not install"
  fi
  step "compose: Compose Specification schema, docker-compose config, Grafana provisioning" check_compose_schema
else
  fail "kubernetes and compose schemas: not run (no validators)"
fi
step "redswarm.toml of the image, compose and Kubernetes load in the tracker's config loader" check_toml

# ---------------------------------------------------------------------------------------------------------------
# 3. Images

make_base() {
  local root=$WORK/rootfs mirror
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  if [ -n "${DEPLOY_TEST_BASE_TAR:-}" ] && [ "${CI:-}" != true ] && [ -s "$DEPLOY_TEST_BASE_TAR" ]; then
    say "  debootstrap root from the cache $DEPLOY_TEST_BASE_TAR"
    mkdir -p "$root" && tar -C "$root" -xf "$DEPLOY_TEST_BASE_TAR" || return 1
  else
    say "  debootstrap --variant=minbase bookworm ($mirror)"
    run base debootstrap --variant=minbase bookworm "$root" "$mirror" || return 1
    if [ -n "${DEPLOY_TEST_BASE_TAR:-}" ] && [ "${CI:-}" != true ]; then tar -C "$root" -cf "$DEPLOY_TEST_BASE_TAR" .; fi
  fi
  # This machine's Node and npm where the official node images have them. npm trusts what this machine trusts
  # (its CA bundle and npm's cafile setting): the machine reaches the npm registry through its own egress proxy.
  local node_bin npm_dir
  node_bin=$(readlink -f "$(command -v node)")
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/etc"
  cp "$node_bin" "$root/usr/local/bin/node" && cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm" || return 1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$root/usr/local/etc/npmrc"
  fi
  images+=("$BASE")
  tar -C "$root" -c . | run base podman import --change 'CMD ["node"]' - "$BASE" || return 1
  rm -rf "$root"
  run base podman run --rm --network none "$BASE" node -e 'console.log("node", process.version, "in the base image")' &&
    sed -n 's/^node /    node /p' "$LOG/base.log"
}

make_tools() {
  images+=("$TOOLS")
  run tools podman build --isolation chroot --network host --build-arg "BASE_IMAGE=$BASE" \
    -f deploy/test/tools.Containerfile -t "$TOOLS" deploy/test || return 1
  # Both Prometheus configurations shipped, checked by Prometheus' own promtool.
  for config in deploy/prometheus.yml deploy/compose/prometheus.yml; do
    run tools podman run --rm --network none -v "$ROOT/$config:/p.yml:ro" "$TOOLS" promtool check config /p.yml || return 1
  done
}

# build_image TAG CONTEXT: deploy/Containerfile on CONTEXT, with the local base.
build_image() {
  local tag=$1 context=$2 logname=$3
  images+=("$tag")
  run "$logname" podman build --format docker --isolation chroot --network host --layers \
    --build-arg "BASE_IMAGE=$BASE" --label "redswarm.deploy-test=$NAME" \
    -f "$context/deploy/Containerfile" --ignorefile "$context/deploy/Containerfile.dockerignore" -t "$tag" "$context" || return 1
  grep -h '^uWebSockets.js native addon loads' "$LOG/$logname.log" | sed 's/^/    /'
}

report_size() {
  local base_bytes image_bytes
  base_bytes=$(podman image inspect "$BASE" --format '{{.Size}}') image_bytes=$(podman image inspect "$IMAGE" --format '{{.Size}}')
  say "  image size: $((image_bytes / 1000000)) MB, of which the local base $((base_bytes / 1000000)) MB and redswarm's layers $(((image_bytes - base_bytes) / 1000000)) MB"
}

images_ready=0
if step "base image: debootstrap minbase bookworm + this machine's node $(node -v)" make_base &&
  step "tools image (Debian redis-server, prometheus); promtool check config of the Prometheus configs" make_tools &&
  step "redswarm image from deploy/Containerfile (native uWebSockets.js checked in the build)" build_image "$IMAGE" "$ROOT" image; then
  images_ready=1
  report_size
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. The image on its own

container_exit_code() { podman inspect "$1" --format '{{.State.ExitCode}}'; }
wait_log() { # container pattern seconds [count]
  local deadline=$((SECONDS + $3)) count=${4:-1}
  until [ "$(podman logs "$1" 2>&1 | grep -c "$2")" -ge "$count" ]; do
    [ $SECONDS -lt $deadline ] || { say "  not $count × \"$2\" in the logs of $1 within $3 s"; podman logs "$1" 2>&1 | tail -n 20 | sed 's/^/    | /'; return 1; }
    sleep 0.5
  done
}

check_single() {
  # The file sets the tracker port and a metrics port that the environment overrides (env > file).
  cat >"$WORK/single.toml" <<EOF
[network]
host = ["127.0.0.1"]
port = $SINGLE_PORT
[operations]
metrics-host = "127.0.0.1"
metrics-port = 1
shutdown-timeout = 5
EOF
  chmod 644 "$WORK/single.toml"
  containers+=("$SINGLE")
  run single podman run -d --name "$SINGLE" --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
    -v "$WORK/single.toml:/etc/redswarm/redswarm.toml:ro" -e "REDSWARM_METRICS_PORT=$SINGLE_METRICS" "$IMAGE" || return 1
  wait_log "$SINGLE" '"msg":"listening"' 30 || return 1
  run single checks single "$SINGLE_PORT" "$SINGLE_METRICS" || return 1
  sed -n 's/^ok /    /p' "$LOG/single.log"
  if podman logs "$SINGLE" 2>&1 | grep -q 'native addon did not load'; then say "  uWebSockets.js runs on its JS fallback"; return 1; fi
  local uid
  uid=$(podman exec "$SINGLE" id -u) && [ "$uid" = 10001 ] || { say "  runs as uid '$uid', not 10001"; return 1; }
  run single podman exec "$SINGLE" node --input-type=module -e \
    "const { usingNativeUws } = await import('/app/dist/src/server/uws.js'); process.exit(usingNativeUws() ? 0 : 1)" ||
    { say "  usingNativeUws() is false in the running container"; return 1; }
  # HEALTHCHECK: the image's command, run now (podman schedules it with systemd timers, absent here).
  run single podman healthcheck run "$SINGLE" || { say "  the HEALTHCHECK failed"; return 1; }
  say "    non-root (uid 10001), read-only root, native uWebSockets.js, HEALTHCHECK healthy"
  podman kill --signal HUP "$SINGLE" >/dev/null && wait_log "$SINGLE" '"msg":"configuration reloaded"' 10 || return 1
  say "    SIGHUP: configuration reloaded"
  local start=$SECONDS
  run single podman stop -t 30 "$SINGLE" || return 1
  local code
  code=$(container_exit_code "$SINGLE")
  podman logs "$SINGLE" 2>&1 | grep -q '"msg":"stopped"' || { say "  no \"stopped\" in the log after SIGTERM"; return 1; }
  [ "$code" = 0 ] || { say "  exit code $code after SIGTERM"; podman logs "$SINGLE" 2>&1 | tail -n 10 | sed 's/^/    | /'; return 1; }
  say "    SIGTERM: drained and exited 0 in $((SECONDS - start)) s"
}
if [ $images_ready = 1 ]; then
  step "image on the host network: file + env config, HTTP/UDP/WebSocket announces, HEALTHCHECK, SIGHUP, SIGTERM exit 0" check_single
fi

# ---------------------------------------------------------------------------------------------------------------
# 5. The compose stack

start_service() {
  podman system service --time=0 "$DOCKER_HOST" >"$LOG/podman-service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 100); do [ -S "$WORK/podman.sock" ] && return 0; sleep 0.1; done
  say "  podman's API socket did not appear"
  return 1
}

check_compose() {
  start_service || return 1
  export REDSWARM_IMAGE=$IMAGE REDIS_IMAGE=$TOOLS PROMETHEUS_IMAGE=$TOOLS TRACKER_HOST=127.0.0.1
  export TRACKER_1_PORT=$TRACKER_1 TRACKER_2_PORT=$TRACKER_2 METRICS_1_PORT=$METRICS_1 METRICS_2_PORT=$METRICS_2
  export PROMETHEUS_PORT=$PROMETHEUS PROMETHEUS_CONFIG=$WORK/prometheus.yml REDSWARM_WORKERS=2
  for i in 1 2 3 4 5 6; do export "REDIS_PORT_$i=${REDIS_PORTS[i - 1]}"; done
  # The shipped Prometheus configuration with this run's ports.
  sed -e "s/127.0.0.1:9469/127.0.0.1:$METRICS_1/; s/127.0.0.1:9470/127.0.0.1:$METRICS_2/" deploy/compose/prometheus.yml >"$PROMETHEUS_CONFIG"
  chmod 644 "$PROMETHEUS_CONFIG"
  compose_up=1
  # Everything but Grafana (no image of it can be made here).
  run compose timeout 240 docker-compose -p "$NAME" -f deploy/compose/compose.yaml up -d --no-build \
    redis-1 redis-2 redis-3 redis-4 redis-5 redis-6 redis-cluster-init udp-secret redswarm-1 redswarm-2 prometheus || return 1
  for one in redis-cluster-init udp-secret; do
    [ "$(container_exit_code "${NAME}_${one}_1")" = 0 ] || { say "  $one did not exit 0"; podman logs "${NAME}_${one}_1" 2>&1 | tail | sed 's/^/    | /'; return 1; }
  done
  # Both workers of each instance listen (the primary's /readyz answers before they do).
  wait_log "${NAME}_redswarm-1_1" '"msg":"worker ready"' 60 2 && wait_log "${NAME}_redswarm-2_1" '"msg":"worker ready"' 60 2 || return 1
  say "    two instances, each a primary with 2 workers"
  run compose checks cross "$TRACKER_1" "$TRACKER_2" "$METRICS_1" "$METRICS_2" || return 1
  sed -n 's/^ok /    /p; s/^note /    note: /p' "$LOG/compose.log"
}

check_prometheus() {
  run prometheus checks prometheus "$PROMETHEUS" "$METRICS_1" "$METRICS_2" || return 1
  sed -n 's/^ok /    /p' "$LOG/prometheus.log"
}

check_compose_drain() {
  local start=$SECONDS
  run drain podman stop -t 30 "${NAME}_redswarm-2_1" || return 1
  local code
  code=$(container_exit_code "${NAME}_redswarm-2_1")
  [ "$code" = 0 ] || { say "  exit code $code"; podman logs "${NAME}_redswarm-2_1" 2>&1 | tail -n 10 | sed 's/^/    | /'; return 1; }
  say "    redswarm-2 (primary + 2 workers) drained and exited 0 in $((SECONDS - start)) s; redswarm-1 still ready:"
  run drain checks ready "$METRICS_1" 5 && sed -n 's/^ok /    /p' "$LOG/drain.log" | tail -n 1
}

compose_ready=0
if [ $images_ready = 1 ]; then
  if step "compose: Redis Cluster 3+3, 2 instances x 2 workers; HTTP, UDP, connection IDs and WebTorrent offers cross instances" check_compose; then
    compose_ready=1
    step "compose: Prometheus has both instances up and evaluates the dashboard's queries" check_prometheus
  fi
fi

# ---------------------------------------------------------------------------------------------------------------
# 5b. The Kubernetes base's pod, run by `podman kube play`, as a third instance on the compose stack's cluster

check_kube_play() {
  local dir=$WORK/kube secret
  mkdir -p "$dir" && cp -r deploy/kubernetes "$dir/base" || return 1
  secret=$(podman exec "${NAME}_redswarm-1_1" cat /run/redswarm/udp-secret) || return 1
  # The base as shipped, with this run's image and a configuration file for the compose stack's cluster and
  # free loopback ports, on the host's network. The overlay drops the containerPorts: podman 4.3 would publish
  # them, which needs a bridge. (Of the probes, podman 4.3 runs liveness only, as a curl the image does not have.)
  cat >"$dir/redswarm.toml" <<EOF
[network]
host = ["127.0.0.1"]
port = $KUBE_PORT
[store]
redis-cluster = ["127.0.0.1:${REDIS_PORTS[0]}", "127.0.0.1:${REDIS_PORTS[1]}"]
[operations]
workers = 2
metrics-host = "127.0.0.1"
metrics-port = $KUBE_METRICS
shutdown-timeout = 15
EOF
  cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [base]
configMapGenerator:
  - name: redswarm-config
    behavior: replace
    files: [redswarm.toml]
images:
  - name: localhost/redswarm
    newName: ${IMAGE%:*}
    newTag: ${IMAGE##*:}
patches:
  - target: {kind: Deployment, name: redswarm}
    patch: |
      - {op: remove, path: /spec/template/spec/containers/0/ports}
      - {op: replace, path: /spec/replicas, value: 1}
EOF
  run kube kubectl kustomize "$dir" -o "$dir/play.yaml" || return 1
  # podman 4.3 reads a secretKeyRef from a podman secret holding {"key": base64}; in a cluster the Secret is
  # created by hand (deploy/kubernetes/kustomization.yaml).
  printf '{"udp-secret":"%s"}' "$(printf %s "$secret" | base64 -w0)" >"$dir/secret.json"
  run kube podman secret create redswarm-udp-secret "$dir/secret.json" || return 1
  kube_played=1
  run kube timeout 120 podman kube play --network host "$dir/play.yaml" || return 1
  local container
  container=$(podman ps -a --format '{{.Names}}' | grep -- '-redswarm$' | head -n 1)
  [ -n "$container" ] || { say "  no container from the Deployment"; return 1; }
  wait_log "$container" '"msg":"worker ready"' 60 2 || return 1
  [ "$(podman exec "$container" id -u)" = 10001 ] || { say "  not uid 10001"; return 1; }
  if podman exec "$container" touch /probe 2>/dev/null; then say "  the root filesystem is writable"; return 1; fi
  say "    pod running: uid 10001, read-only root, configuration from the ConfigMap, UDP secret from the Secret"
  run kube checks cross "$KUBE_PORT" "$TRACKER_1" "$KUBE_METRICS" "$METRICS_1" || return 1
  sed -n 's/^ok /    /p; s/^note /    note: /p' "$LOG/kube.log" | grep -v readyz
  local pod start=$SECONDS
  pod=$(podman pod ps --format '{{.Name}}' | head -n 1)
  run kube podman pod stop -t 30 "$pod" || return 1
  [ "$(container_exit_code "$container")" = 0 ] || { say "  exit code $(container_exit_code "$container") after SIGTERM"; return 1; }
  say "    SIGTERM: the pod's tracker drained and exited 0 in $((SECONDS - start)) s"
  run kube podman kube down "$dir/play.yaml" && run kube podman secret rm redswarm-udp-secret || return 1
  podman volume ls -q | grep '^redswarm-config-' | xargs -r podman volume rm -f >>"$LOG/kube.log" 2>&1
  kube_played=0
}

# ---------------------------------------------------------------------------------------------------------------
# 6. Upgrading: the previous version and this one on one Redis Cluster

check_upgrade() {
  local rev=${DEPLOY_TEST_OLD_REV:-}
  if [ -z "$rev" ]; then
    local last
    last=$(git log -1 --format=%H -- lua/) && rev=$(git rev-parse --verify -q "$last^") || {
      say "  no commit before the last change of lua/ in this clone (shallow?): set DEPLOY_TEST_OLD_REV"; return 1; }
  fi
  say "  previous version: $(git log -1 --format='%h %s' "$rev" | cut -c1-100)"
  local old=$WORK/old
  mkdir -p "$old"
  git archive "$rev" | tar -x -C "$old" || return 1
  # This Containerfile builds the old sources (it only needs package*.json, tsconfig.json, src/ and lua/).
  mkdir -p "$old/deploy" && cp -r deploy/Containerfile deploy/Containerfile.dockerignore deploy/container "$old/deploy/"
  build_image "$OLD_IMAGE" "$old" old-image || return 1
  local libraries=2
  git diff --quiet "$rev" -- lua/ && libraries=1
  local secret
  secret=$(podman exec "${NAME}_redswarm-1_1" cat /run/redswarm/udp-secret) || return 1
  containers+=("$OLD")
  run upgrade podman run -d --name "$OLD" --network host \
    -e REDSWARM_HOST=127.0.0.1 -e "REDSWARM_PORT=$OLD_PORT" -e REDSWARM_METRICS_HOST=127.0.0.1 -e "REDSWARM_METRICS_PORT=$OLD_METRICS" \
    -e "REDSWARM_REDIS_CLUSTER=127.0.0.1:${REDIS_PORTS[0]},127.0.0.1:${REDIS_PORTS[1]}" -e REDSWARM_WORKERS=2 -e "REDSWARM_UDP_SECRET=$secret" \
    "$OLD_IMAGE" || return 1
  run upgrade checks ready "$OLD_METRICS" 60 && wait_log "$OLD" '"msg":"worker ready"' 60 2 || return 1
  run upgrade checks upgrade "$OLD_PORT" "$TRACKER_1" "${REDIS_PORTS[0]}" "$libraries" || return 1
  sed -n 's/^ok /    /p; s/^note /    note: /p' "$LOG/upgrade.log"
  run upgrade podman stop -t 30 "$OLD" || return 1
  [ "$(container_exit_code "$OLD")" = 0 ] || { say "  the previous version did not exit 0 on SIGTERM"; return 1; }
  run upgrade checks ready "$METRICS_1" 5 || return 1
  say "    the previous version drained and exited 0; the new one stays ready"
}
if [ $compose_ready = 1 ]; then
  if command -v kubectl >/dev/null 2>&1; then
    step "kubernetes: the base's Deployment under podman kube play joins the compose cluster; peers, IDs, offers cross" check_kube_play
  else
    missing "kubernetes pod (podman kube play)" "kubectl (kustomize) is not installed"
  fi
  step "upgrading: previous version's image and this one share the Redis Cluster, both answer" check_upgrade
  step "compose: an instance with workers drains on SIGTERM and exits 0" check_compose_drain
fi

exit 0
