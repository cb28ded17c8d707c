#!/usr/bin/env bash
# The web dashboard (/dashboard on the admin listener) in a real browser: Debian's chromium driven
# by Selenium through Debian's chromium-driver (scripts/browser-tools.sh, cached), against a devnet
# of the real binary with an admin token, an API key, the model-aware policy and PoC epochs. Requests go through the public
# API so that traces exist; then gonka-gateway/tests/python/dashboard_browser.py checks that every
# tab renders real data with no console error, and that nodes added, disabled, enabled and deleted
# from the page show so through the admin API. Every wait is bounded.
# GONKA_DASHBOARD_SCREENSHOT=docs/dashboard.png also saves a screenshot of the page there.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

eval "$(bash scripts/browser-tools.sh)"
export CHROMIUM CHROMEDRIVER
cargo build --locked -q -p gonka-gateway --bin gonka-gateway
bin="${CARGO_TARGET_DIR:-$root/target}/debug/gonka-gateway"

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

read -r public admin poc < <("$PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
token="dash-$RANDOM$RANDOM"
key="sk-dashboard-$RANDOM$RANDOM"
echo "$key" >"$work/keys"

# PoC epochs of 60 s: generate 5 s, wind-down 1 s, validate 4 s, then 50 s of inference, so the
# first validated epoch (its participants, weights, outcomes) shows within seconds.
GONKA_ADMIN_TOKEN="$token" "$bin" devnet \
  --public-listen "127.0.0.1:$public" --admin-listen "127.0.0.1:$admin" \
  --poc-listen "127.0.0.1:$poc" --api-keys-file "$work/keys" \
  --data-dir "$work/devnet" --policy model-aware \
  --poc --epoch-length 60s --poc-generate 5s --poc-wind-down 1s --poc-validate 4s \
  --poc-seq-len 16 \
  >"$work/devnet.log" 2>&1 &
pid=$!

# Wait (bounded: 120 s) for the devnet to report every node ready.
for _ in $(seq 1 600); do
  if grep -q "gonka devnet ready" "$work/devnet.log"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/devnet.log" >&2; echo "devnet exited" >&2; exit 1; fi
  sleep 0.2
done
grep -q "gonka devnet ready" "$work/devnet.log" || { tail -50 "$work/devnet.log" >&2; echo "devnet not ready in 120 s" >&2; exit 1; }

status=0
GONKA_PUBLIC_URL="http://127.0.0.1:$public" GONKA_ADMIN_URL="http://127.0.0.1:$admin" \
  GONKA_ADMIN_TOKEN="$token" GONKA_API_KEY="$key" GONKA_POLICY=model-aware \
  timeout 240 "$PYTHON" gonka-gateway/tests/python/dashboard_browser.py || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- devnet log (last 60 lines)" >&2
  tail -60 "$work/devnet.log" >&2
fi
exit "$status"
