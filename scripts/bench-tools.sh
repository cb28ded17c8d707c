#!/usr/bin/env bash
# Installs (once) what the load harness of benches/load needs beyond the workspace's own
# binaries: Debian's wrk (the load generator of compare.sh and memory.sh). Nothing is downloaded
# but Debian packages; the .deb files are kept under ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}/apt
# so a reinstall needs no network (scripts/apt-install.sh). Prints `WRK=PATH`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-tools: installing Debian's wrk" >&2
  bash scripts/apt-install.sh wrk
fi

echo "WRK=$(command -v wrk)"
