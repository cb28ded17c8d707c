#!/usr/bin/env bash
# Installs (once) a real browser for the dashboard test and prints `KEY=PATH` lines for it:
#   CHROMIUM=...      Debian's chromium
#   CHROMEDRIVER=...  Debian's chromium-driver (the WebDriver of that same chromium build)
#   PYTHON=...        the project's venv (scripts/python-env.sh), which carries selenium
# Nothing is downloaded but Debian packages and PyPI wheels; the .deb files are kept under
# ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}/apt so a reinstall needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${GONKA_TOOLS_DIR:-$HOME/.cache/gonka/tools}"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "browser-tools: installing Debian's chromium and chromium-driver" >&2
  mkdir -p "$TOOLS/apt/partial"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  apt=(-o "Dir::Cache::Archives=$TOOLS/apt" -y -qq --no-install-recommends)
  # Offline first (cached .deb files), else refresh the package lists and fetch.
  if ! $sudo apt-get install "${apt[@]}" --no-download chromium chromium-driver >&2 2>/dev/null; then
    $sudo apt-get update -qq >&2
    $sudo apt-get install "${apt[@]}" chromium chromium-driver >&2
  fi
fi

echo "CHROMIUM=$(command -v chromium)"
echo "CHROMEDRIVER=$(command -v chromedriver)"
echo "PYTHON=$(bash scripts/python-env.sh)"
