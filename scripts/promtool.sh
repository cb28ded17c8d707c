#!/usr/bin/env bash
# Prints the path of a working `promtool` (Prometheus' rule checker), fetching it first when
# needed: Debian's `prometheus` package is downloaded with `apt-get download` and unpacked (not
# installed: no service, no root needed once the package lists exist), ~19 MB, cached in
# $GONKA_CACHE (default ~/.cache/gonka).
#
#   PROMTOOL="$(bash scripts/promtool.sh)"
#
# Env: PROMTOOL (a binary to use as is, if it runs), GONKA_CACHE. Progress goes to stderr; only
# the path goes to stdout.
set -euo pipefail

if [ -n "${PROMTOOL:-}" ] && "$PROMTOOL" --version >/dev/null 2>&1; then
  echo "$PROMTOOL"; exit 0
fi
CACHE="${GONKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gonka}"
DIR="$CACHE/promtool"
BIN="$DIR/usr/bin/promtool"
log() { echo "[promtool.sh] $*" >&2; }

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi
if command -v promtool >/dev/null 2>&1 && promtool --version >/dev/null 2>&1; then
  command -v promtool; exit 0
fi
command -v apt-get >/dev/null || { log "needs apt-get (Debian/Ubuntu) or PROMTOOL=/path/to/promtool"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fetch() { (cd "$work" && apt-get download prometheus >&2); }
if ! fetch; then
  log "package lists missing or stale: apt-get update"
  if [ "$(id -u)" = 0 ]; then apt-get update >&2; else sudo apt-get update >&2; fi
  fetch
fi
rm -rf "$DIR"
mkdir -p "$DIR"
dpkg-deb -x "$work"/prometheus_*.deb "$DIR"
# Only promtool is kept.
find "$DIR" -type f ! -path "$BIN" -delete
"$BIN" --version >&2
echo "$BIN"
