#!/usr/bin/env bash
# Paired A/B of two gonka-gateway variants (two builds, or one build with different flags or
# environment), measured AT THE SAME TIME: both gateways pinned to the same core, each loaded by
# its own wrk (on the other core) for the same seconds, in front of the same mock workers. Whatever
# slows the machine during a run (other tenants of the VM, frequency, cache) slows both alike, so
# the ratio of their CPU per request is far steadier than that of two runs one after the other
# (compare.sh's rows vary by ±25 % from run to run on a shared 2-vCPU machine; this ratio by a few
# %). Prints one line per round and the median ratio B ÷ A of CPU per request (below 1: B is
# cheaper). Everything on 127.0.0.1; every process started here is stopped on exit (trap).
# Bounded: ROUNDS × (DURATION + ~2 s) plus start-up.
#
# Usage: benches/load/pair.sh [options]
#   --a-bin PATH / --b-bin PATH    gateway binaries (default target/release/gonka-gateway for both)
#   --a-env "K=V ..." / --b-env    extra environment of each gateway
#   --a-args "..." / --b-args      flags of each gateway (default: --database memory:
#                                  --traces off --policy round-robin)
#   --mode plain|stream            (default plain)
#   --connections N                wrk connections per gateway (default 128)
#   --duration S                   seconds per round (default 5)
#   --rounds N                     (default 5)
#   --wrk-env "K=V ..."            extra environment of both wrk (chat.lua's API_KEY, TRACEPARENT)
#   --a-wrk-env / --b-wrk-env      extra environment of one side's wrk only (e.g. USAGE=1)
#   --bin-dir DIR                  mock-worker from DIR (default target/release; built if missing)
#   --json FILE                    also append one JSON line per round to FILE (A's and B's req/s
#                                  and CPU ms per request, the ratio), tagged with --label, and a
#                                  last line with B's requests and the completion tokens B counted
#                                  over the rounds (its /metrics), so a feature is seen at work
#   --label NAME                   the rows' "system" in --json (default "b")
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
HERE="$ROOT/benches/load"

A_BIN="$ROOT/target/release/gonka-gateway"; B_BIN="$A_BIN"
DEFAULT_ARGS="--database memory: --traces off --policy round-robin"
A_ENV=""; B_ENV=""; A_ARGS="$DEFAULT_ARGS"; B_ARGS="$DEFAULT_ARGS"; WRK_ENV=""; A_WRK=""; B_WRK=""
MODE=plain; CONNS=128; DURATION=5; ROUNDS=5; BIN_DIR="$ROOT/target/release"
MODEL="Qwen/Qwen3-32B-FP8"; WORKERS=4; JSON=""; LABEL="b"
while [ $# -gt 0 ]; do
  case "$1" in
    --a-bin) A_BIN="$2"; shift 2 ;;
    --b-bin) B_BIN="$2"; shift 2 ;;
    --a-env) A_ENV="$2"; shift 2 ;;
    --b-env) B_ENV="$2"; shift 2 ;;
    --a-args) A_ARGS="$2"; shift 2 ;;
    --b-args) B_ARGS="$2"; shift 2 ;;
    --mode) MODE="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --wrk-env) WRK_ENV="$2"; shift 2 ;;
    --a-wrk-env) A_WRK="$2"; shift 2 ;;
    --b-wrk-env) B_WRK="$2"; shift 2 ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --json) JSON="$2"; shift 2 ;;
    --label) LABEL="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pair.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$MODE" in plain|stream) ;; *) echo "pair.sh: --mode is plain or stream" >&2; exit 2 ;; esac
log() { echo "pair.sh: $*" >&2; }
RUN="$HERE/.run/pair"
rm -rf "$RUN"; mkdir -p "$RUN"

# ---- cleanup: every process we start is recorded in PIDS (lib.sh) ----------------------------
# shellcheck source=benches/load/lib.sh
. "$HERE/lib.sh"

[ "$(nproc)" -ge 2 ] || { log "needs 2 cores (gateways on one, load on the other)"; exit 2; }
command -v wrk >/dev/null 2>&1 || bash "$ROOT/scripts/bench-tools.sh" >/dev/null
if [ ! -x "$BIN_DIR/mock-worker" ]; then
  log "building mock-worker"
  cargo build --release --locked -q -p gonka-benches --bin mock-worker
fi
for b in "$A_BIN" "$B_BIN"; do [ -x "$b" ] || { log "no gateway binary at $b"; exit 2; }; done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# ---- workers on core 1 -------------------------------------------------------------------------
PORTS=()
for i in $(seq 1 "$WORKERS"); do
  p=$(free_port)
  taskset -c 1 "$BIN_DIR/mock-worker" --listen "127.0.0.1:$p" --latency-ms 1 --model "$MODEL" \
    > "$RUN/worker-$i.log" 2>&1 &
  PIDS+=($!); PORTS+=("$p")
done

# ---- the two gateways on core 0 ----------------------------------------------------------------
batch=$(worker_batch "$MODEL" "${PORTS[@]}")
start_gateway() { # name bin env args wrk-env; sets GW_PID GW_URL
  local name="$1" bin="$2" env_list="$3" args="$4" wrk_env="$5" pub adm poc
  pub=$(free_port); adm=$(free_port); poc=$(free_port)
  # shellcheck disable=SC2086 # the environment and flags are split on spaces on purpose
  env RUST_LOG=warn $env_list taskset -c 0 "$bin" --health-interval 1s --queue-timeout 10s $args \
    --public-listen "127.0.0.1:$pub" --admin-listen "127.0.0.1:$adm" --poc-listen "127.0.0.1:$poc" \
    > "$RUN/$name.log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID"); GW_URL="http://127.0.0.1:$pub"
  for _ in $(seq 1 100); do curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$adm/admin/v1/nodes" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -m 5 -o /dev/null -H 'Content-Type: application/json' -d "$batch" "http://127.0.0.1:$adm/admin/v1/nodes/batch" \
    || { log "gateway $name did not take the workers; see $RUN/$name.log"; exit 1; }
  local auth=() key
  key=$(api_key_of "$wrk_env")
  [ -z "$key" ] || auth=(-H "Authorization: Bearer $key")
  for _ in $(seq 1 300); do
    curl -fsS -m 2 -o /dev/null -H 'Content-Type: application/json' "${auth[@]}" \
      -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
      "$GW_URL/v1/chat/completions" 2>/dev/null && return 0
    sleep 0.1
  done
  log "gateway $name never answered; see $RUN/$name.log"; exit 1
}
start_gateway a "$A_BIN" "$A_ENV" "$A_ARGS" "$WRK_ENV $A_WRK"; A_PID=$GW_PID; A_URL=$GW_URL
start_gateway b "$B_BIN" "$B_ENV" "$B_ARGS" "$WRK_ENV $B_WRK"; B_PID=$GW_PID; B_URL=$GW_URL
sleep 2
log "A: $A_BIN $A_ENV $A_ARGS"
log "B: $B_BIN $B_ENV $B_ARGS"
[ -z "$WRK_ENV$A_WRK$B_WRK" ] || log "wrk: both: $WRK_ENV; A: $A_WRK; B: $B_WRK"
log "$MODE, $CONNS connections each, $DURATION s × $ROUNDS rounds; gateways on core 0, load on core 1"

# Requests wrk completed, from its summary line "N requests in ...".
requests() { awk '/requests in/ {print $1; exit}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $NF; exit}' "$1"; }
stream=0; [ "$MODE" = stream ] && stream=1
ratios=()
b_requests=0
B_KEY=$(api_key_of "$WRK_ENV $B_WRK")
b_tokens0=$(gonka_tokens "$B_URL" "$B_KEY")
printf '%-6s %12s %12s %14s %14s %8s\n' round "A req/s" "B req/s" "A ms CPU/req" "B ms CPU/req" "B ÷ A"
for r in $(seq 1 "$ROUNDS"); do
  a0=$(cpu_ticks "$A_PID"); b0=$(cpu_ticks "$B_PID")
  # shellcheck disable=SC2086
  env $WRK_ENV $A_WRK STREAM=$stream MODEL="$MODEL" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    --timeout 10s -s "$HERE/chat.lua" "$A_URL" > "$RUN/wrk-a-$r.txt" 2>&1 &
  wa=$!
  # shellcheck disable=SC2086
  env $WRK_ENV $B_WRK STREAM=$stream MODEL="$MODEL" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    --timeout 10s -s "$HERE/chat.lua" "$B_URL" > "$RUN/wrk-b-$r.txt" 2>&1 &
  wb=$!
  wait "$wa" "$wb" || true
  a1=$(cpu_ticks "$A_PID"); b1=$(cpu_ticks "$B_PID")
  na=$(requests "$RUN/wrk-a-$r.txt"); nb=$(requests "$RUN/wrk-b-$r.txt")
  [ -n "$na" ] && [ -n "$nb" ] && [ "$na" -gt 0 ] && [ "$nb" -gt 0 ] \
    || { log "round $r: wrk reported no requests; see $RUN/wrk-*-$r.txt"; exit 1; }
  for f in "$RUN/wrk-a-$r.txt" "$RUN/wrk-b-$r.txt"; do
    [ -z "$(non2xx "$f")" ] || log "round $r: $(basename "$f") has non-2xx answers: $(non2xx "$f")"
  done
  line=$(python3 - "$na" "$nb" $((a1 - a0)) $((b1 - b0)) "$(getconf CLK_TCK)" "$DURATION" \
    "$JSON" "$LABEL" "$MODE" "$CONNS" "$r" <<'PY'
import json, sys
na, nb, ta, tb, tck, dur = (float(x) for x in sys.argv[1:7])
out, label, mode, conns, rnd = sys.argv[7:]
ca, cb = ta / tck * 1000 / na, tb / tck * 1000 / nb
print(f"{na/dur:12,.0f} {nb/dur:12,.0f} {ca:14.4f} {cb:14.4f} {cb/ca:8.3f}")
if out:
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps({"group": "paired", "system": label, "mode": mode,
                            "connections": int(conns), "round": int(rnd),
                            "base_rps": na / dur, "rps": nb / dur, "base_cpu_ms": ca,
                            "cpu_ms": cb, "ratio": cb / ca}) + "\n")
PY
)
  b_requests=$((b_requests + nb))
  printf '%-6s %s\n' "$r" "$line"
  ratios+=("$(echo "$line" | awk '{print $NF}')")
done
if [ -n "$JSON" ]; then
  b_tokens1=$(gonka_tokens "$B_URL" "$B_KEY")
  printf '{"group": "paired-total", "system": "%s", "mode": "%s", "connections": %d, "requests": %d, "tokens_counted": %d}\n' \
    "$LABEL" "$MODE" "$CONNS" "$b_requests" $((${b_tokens1:-0} - ${b_tokens0:-0})) >> "$JSON"
fi
python3 - "${ratios[@]}" <<'PY'
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
print(f"median B ÷ A CPU per request: {statistics.median(r):.3f} (min {r[0]:.3f}, max {r[-1]:.3f}, {len(r)} rounds)")
PY
