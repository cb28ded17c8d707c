#!/usr/bin/env bash
# Fuzzes the admin API against its own OpenAPI document with schemathesis (an independent fuzzer,
# pinned in scripts/python-requirements.txt): a real gonka-admin on loopback with a temporary
# SQLite database and a token; every check schemathesis has (no 5xx, status codes, content types,
# response headers and bodies conform to the document, negative data rejected, auth enforced, ...),
# examples + coverage + fuzzing + stateful phases, bounded in examples and time.
# GONKA_FUZZ_MAX_EXAMPLES and GONKA_FUZZ_MAX_TIME (seconds) tune the bounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
python="$(bash scripts/python-env.sh)"
st="$(dirname "$python")/schemathesis"
cargo build --locked -q -p gonka-admin --bin gonka-admin
bin="${CARGO_TARGET_DIR:-$root/target}/debug/gonka-admin"

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
token="fuzz-$RANDOM$RANDOM"
GONKA_ADMIN_TOKEN="$token" "$bin" --listen "127.0.0.1:$port" --database "sqlite://$work/admin.db" \
  >"$work/server.log" 2>&1 &
pid=$!

# Wait (bounded) until the server answers.
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$base/admin/v1/openapi.json"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/server.log"; echo "gonka-admin exited" >&2; exit 1; fi
  sleep 0.1
done

# The fuzzer sends Host: 127.0.0.1:<port>, which the cross-site check accepts (an IP address);
# it sends no Origin. Every request carries the token (-H also applies to loading the schema).
status=0
"$st" --config-file scripts/schemathesis.toml run "$base/admin/v1/openapi.json" \
  --url "$base" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${GONKA_FUZZ_MAX_EXAMPLES:-50}" \
  --max-time "${GONKA_FUZZ_MAX_TIME:-100}" \
  --workers 1 \
  --seed 15 \
  --request-timeout 10 \
  --suppress-health-check too_slow \
  --report junit --report-dir "$root/target/schemathesis" \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- gonka-admin log (last 50 lines)" >&2
  tail -50 "$work/server.log" >&2
fi
exit "$status"
