#!/usr/bin/env bash
# Installs the Debian programs the test suite drives (real torrent clients, Redis) when they are missing.
# Runs as `pretest`; needs root for apt-get. Exits non-zero when something is missing and cannot be installed,
# so that a run never starts without what its tests need (outside CI, install them and run again).
set -euo pipefail

# package:command pairs
wanted=(
  aria2:aria2c
  transmission-cli:transmission-create
  qbittorrent-nox:qbittorrent-nox
  rtorrent:rtorrent
  iproute2:ip
  redis-server:redis-server
  redis-tools:redis-cli
  util-linux:unshare
  chromium:chromium
  openssl:openssl
)
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair#*:}" >/dev/null 2>&1 || missing+=("${pair%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test/install-deps.sh: missing ${missing[*]}, and installing needs root and apt-get" >&2
  exit 1
fi
echo "test/install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for pair in "${wanted[@]}"; do
  command -v "${pair#*:}" >/dev/null 2>&1 || { echo "test/install-deps.sh: ${pair%%:*} installed but ${pair#*:} not found" >&2; exit 1; }
done
