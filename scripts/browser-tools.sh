#!/usr/bin/env bash
# Installs (once) a real browser for the dashboard test and prints `KEY=PATH` lines for it:
#   CHROMIUM=...      Debian's chromium
#   CHROMEDRIVER=...  Debian's chromium-driver (the WebDriver of that same chromium build)
#   PYTHON=...        the project's venv (scripts/python-env.sh), which carries selenium
# Nothing is downloaded but Debian packages and PyPI wheels; the .deb files are kept under
# ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}/apt so a reinstall needs no network (scripts/apt-install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "browser-tools: installing Debian's chromium and chromium-driver" >&2
  bash scripts/apt-install.sh chromium chromium-driver
fi

echo "CHROMIUM=$(command -v chromium)"
echo "CHROMEDRIVER=$(command -v chromedriver)"
echo "PYTHON=$(bash scripts/python-env.sh)"
