#!/usr/bin/env bash
# Installs the Debian programs the test suite drives (real torrent clients, Redis) when they are missing.
# Runs as `pretest`; needs root for apt-get, otherwise it only says what is missing.
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
)
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair#*:}" >/dev/null 2>&1 || missing+=("${pair%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test/install-deps.sh: missing ${missing[*]} (needs root and apt-get); tests that drive them will fail" >&2
  exit 0
fi
echo "test/install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
