#!/usr/bin/env bash
# Installs the Debian packages named as arguments (with no recommends), for the project's tool
# scripts (browser-tools.sh, bench-tools.sh). The .deb files are kept under
# ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}/apt: the cached files are tried first (no network), and
# only when that fails are the package lists refreshed and the packages fetched. Uses sudo -n when
# not root. Progress goes to standard error.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/apt-install.sh PACKAGE..." >&2; exit 2; }

TOOLS="${GONKA_TOOLS_DIR:-$HOME/.cache/gonka/tools}"
mkdir -p "$TOOLS/apt/partial"
export DEBIAN_FRONTEND=noninteractive
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
apt=(-o "Dir::Cache::Archives=$TOOLS/apt" -y -qq --no-install-recommends)
if ! $sudo apt-get install "${apt[@]}" --no-download "$@" >&2 2>/dev/null; then
  $sudo apt-get update -qq >&2
  $sudo apt-get install "${apt[@]}" "$@" >&2
fi
