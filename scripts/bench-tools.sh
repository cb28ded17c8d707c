#!/usr/bin/env bash
# Installs (once) what the load harness of benches/load needs beyond the workspace's own
# binaries: Debian's wrk (the load generator of compare.sh and memory.sh). Nothing is downloaded
# but Debian packages; the .deb files are kept under ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}/apt
# so a reinstall needs no network. Prints `WRK=PATH`.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${GONKA_TOOLS_DIR:-$HOME/.cache/gonka/tools}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-tools: installing Debian's wrk" >&2
  mkdir -p "$TOOLS/apt/partial"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  apt=(-o "Dir::Cache::Archives=$TOOLS/apt" -y -qq --no-install-recommends)
  # Offline first (cached .deb files), else refresh the package lists and fetch.
  if ! $sudo apt-get install "${apt[@]}" --no-download wrk >&2 2>/dev/null; then
    $sudo apt-get update -qq >&2
    $sudo apt-get install "${apt[@]}" wrk >&2
  fi
fi

echo "WRK=$(command -v wrk)"
