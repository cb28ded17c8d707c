# Shared by compare.sh, memory.sh and pair.sh (sourced, not run): every process a script starts
# is recorded in PIDS and stopped when it exits (SIGTERM, then SIGKILL after 5 s); the batch body
# that registers the mock workers with a gateway.

PIDS=()
# Stops process $1: SIGTERM, then SIGKILL if it is still there after 5 s.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && stop_pid "$pid"; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the admin batch body (POST /admin/v1/nodes/batch) registering one node `w<i>` serving
# model $1 for each mock-worker port that follows (inference and management on the same port).
worker_batch() {
  local model="$1" i=0 p batch="["
  shift
  for p in "$@"; do
    i=$((i + 1))
    [ "$i" -gt 1 ] && batch+=","
    batch+="{\"id\":\"w$i\",\"host\":\"127.0.0.1\",\"inference_port\":$p,\"poc_port\":$p,\"max_concurrent\":4096,\"models\":{\"$model\":{\"args\":[]}}}"
  done
  echo "$batch]"
}

# The API_KEY=... value of a space-separated wrk environment ($1), or nothing.
api_key_of() {
  case " $1 " in *" API_KEY="*) echo " $1 " | sed 's/.* API_KEY=\([^ ]*\) .*/\1/' ;; esac
}

# Completion tokens the gateway at $1 counted so far (gonka_gateway_tokens_total, read from its
# /metrics); $2: the API key to read it with, if any.
gonka_tokens() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  curl -fsS -m 5 "${auth[@]}" "$1/metrics" 2>/dev/null \
    | awk '/^gonka_gateway_tokens_total\{/ && /kind="completion"/ {s += $NF} END {printf "%d\n", s}'
}
