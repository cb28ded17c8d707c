#!/usr/bin/env bash
# Side-by-side load harness: the same fast mock OpenAI workers behind, in turn, nothing (direct to
# one worker: the ceiling), gonka-gateway, vllm-router and sglang-router (round-robin), loaded by
# wrk at fixed concurrency for a fixed duration, streaming and not. Writes benches/load/RESULTS.md
# and benches/load/results.png. Everything on 127.0.0.1; every process started here is stopped on
# exit (trap). Bounded: about (systems × 4 runs × (DURATION + a few s)) plus build/install time.
#
# Usage: benches/load/compare.sh [options]
#   --workers N        mock workers (default 4)
#   --duration S       seconds per run (default 10)
#   --concurrency "A B"  connection counts (default "32 256")
#   --systems "..."    subset of: direct gonka vllm-router sglang-router (default all)
#   --latency-ms MS    mock worker latency before each answer (default 1)
#   --out DIR          where RESULTS.md and results.png go (default benches/load)
#   --bin-dir DIR      take gonka-gateway and mock-worker from DIR instead of building them
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
HERE="$ROOT/benches/load"

WORKERS=4
DURATION=10
CONCURRENCY="32 256"
SYSTEMS="direct gonka vllm-router sglang-router"
LATENCY_MS=1
OUT="$HERE"
BIN_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --systems) SYSTEMS="$2"; shift 2 ;;
    --latency-ms) LATENCY_MS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

MODEL="Qwen/Qwen3-32B-FP8"
RUN="$HERE/.run/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN" "$OUT"
RESULTS="$RUN/results.jsonl"
: > "$RESULTS"
log() { echo "compare.sh: $*" >&2; }

# ---- cleanup: every process we start is recorded in PIDS -------------------------------------
PIDS=()
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

# ---- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
fi
if [ -z "$BIN_DIR" ]; then
  log "building release binaries"
  cargo build --release --locked -q -p gonka-gateway -p gonka-benches --bins
  BIN_DIR="$ROOT/target/release"
fi
GATEWAY="$BIN_DIR/gonka-gateway"
MOCK="$BIN_DIR/mock-worker"

VENV="$HERE/.venv"
needs_peers=0
case " $SYSTEMS " in *" vllm-router "*|*" sglang-router "*) needs_peers=1 ;; esac
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
if ! "$VENV/bin/python" -c "import matplotlib" 2>/dev/null \
   || { [ "$needs_peers" = 1 ] && ! "$VENV/bin/python" -c "import vllm_router, sglang_router" 2>/dev/null; }; then
  log "installing vllm-router, sglang-router and matplotlib into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    vllm-router==0.1.17 sglang-router==0.3.2 matplotlib >&2
fi
# The peers must not reach the internet: no hub downloads, no telemetry.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
  DO_NOT_TRACK=1 NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (bounded) until `curl` of a chat completion through $1 answers 200.
wait_ready() {
  local base="$1" name="$2" i
  for i in $(seq 1 300); do
    if curl -fsS -m 2 -o /dev/null -H 'Content-Type: application/json' \
         -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
         "$base/v1/chat/completions" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$name never answered a chat completion at $base; see $RUN/$name.log"; return 1
}

# CPU ticks (utime+stime) of a process and all its descendants.
cpu_ticks() {
  local total=0 pid
  for pid in $(tree_pids "$1"); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")))
  done
  echo "$total"
}
tree_pids() {
  local pid="$1" child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree_pids "$child"; done
}
# Peak resident memory (VmHWM, kB) of a process tree, summed.
peak_rss_kb() {
  local total=0 pid v
  for pid in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

COMMANDS="$RUN/commands.txt"
: > "$COMMANDS"

# ---- workers ---------------------------------------------------------------------------------
echo "workers: $MOCK --listen 127.0.0.1:<port> --latency-ms $LATENCY_MS --model $MODEL (x$WORKERS)" >> "$COMMANDS"
WORKER_URLS=()
WORKER_PORTS=()
for i in $(seq 1 "$WORKERS"); do
  port=$(free_port)
  "$MOCK" --listen "127.0.0.1:$port" --latency-ms "$LATENCY_MS" --model "$MODEL" \
    > "$RUN/worker-$i.log" 2>&1 &
  PIDS+=($!)
  WORKER_PORTS+=("$port")
  WORKER_URLS+=("http://127.0.0.1:$port")
done
for url in "${WORKER_URLS[@]}"; do wait_ready "$url" worker; done
log "$WORKERS mock workers up: ${WORKER_URLS[*]}"

# ---- one measured run ------------------------------------------------------------------------
TICKS=$(getconf CLK_TCK)
measure() {
  local system="$1" base="$2" pid="$3" mode="$4" conns="$5"
  local stream=0; [ "$mode" = stream ] && stream=1
  local before after out
  before=$( [ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
  out="$RUN/wrk-$system-$mode-$conns.txt"
  echo "load: STREAM=$stream MODEL=$MODEL wrk -t2 -c$conns -d${DURATION}s --timeout 10s --latency -s benches/load/chat.lua $base" >> "$COMMANDS"
  STREAM=$stream MODEL="$MODEL" wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s --latency \
    -s "$HERE/chat.lua" "$base" > "$out" 2>&1 || true
  after=$( [ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
  local rss=0; [ -n "$pid" ] && rss=$(peak_rss_kb "$pid")
  "$VENV/bin/python" "$HERE/parse_wrk.py" "$out" --system "$system" --mode "$mode" \
    --connections "$conns" --duration "$DURATION" --cpu-ticks $((after - before)) \
    --clk-tck "$TICKS" --rss-kb "$rss" --measured-process "$([ -n "$pid" ] && echo yes || echo no)" \
    >> "$RESULTS"
  log "$(tail -n1 "$RESULTS")"
}
run_all() {
  local system="$1" base="$2" pid="$3" mode conns
  for mode in plain stream; do
    for conns in $CONCURRENCY; do measure "$system" "$base" "$pid" "$mode" "$conns"; done
  done
}

# ---- systems ---------------------------------------------------------------------------------
start() { # name, then the command; records it and its pid in SYS_PID
  local name="$1"; shift
  echo "$name: $*" >> "$COMMANDS"
  "$@" > "$RUN/$name.log" 2>&1 &
  SYS_PID=$!
  PIDS+=("$SYS_PID")
}

for system in $SYSTEMS; do
  case "$system" in
    direct)
      echo "direct: wrk straight to ${WORKER_URLS[0]} (one worker)" >> "$COMMANDS"
      run_all direct "${WORKER_URLS[0]}" ""
      ;;
    gonka)
      pub=$(free_port); adm=$(free_port); poc=$(free_port)
      start gonka env RUST_LOG="${GONKA_BENCH_RUST_LOG:-warn}" "$GATEWAY" --database memory: \
        --public-listen "127.0.0.1:$pub" --admin-listen "127.0.0.1:$adm" --poc-listen "127.0.0.1:$poc" \
        --policy round-robin --health-interval 1s --queue-timeout 10s
      batch="["
      for i in $(seq 1 "$WORKERS"); do
        p=${WORKER_PORTS[$((i-1))]}
        batch+="{\"id\":\"w$i\",\"host\":\"127.0.0.1\",\"inference_port\":$p,\"poc_port\":$p,\"max_concurrent\":4096,\"models\":{\"$MODEL\":{\"args\":[]}}}"
        [ "$i" -lt "$WORKERS" ] && batch+=","
      done
      batch+="]"
      for _ in $(seq 1 100); do curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$adm/admin/v1/nodes" 2>/dev/null && break; sleep 0.1; done
      curl -fsS -m 5 -o /dev/null -H 'Content-Type: application/json' -d "$batch" "http://127.0.0.1:$adm/admin/v1/nodes/batch"
      wait_ready "http://127.0.0.1:$pub" gonka
      # Every node must be routable, not only the first one that passed a health check.
      for _ in $(seq 1 100); do
        n=$(curl -fsS -m 2 "http://127.0.0.1:$adm/admin/v1/nodes" | grep -o '"current_status":"INFERENCE"' | wc -l || true)
        [ "$n" -ge "$WORKERS" ] && break; sleep 0.1
      done
      sleep 1.5
      run_all gonka "http://127.0.0.1:$pub" "$SYS_PID"
      stop_pid "$SYS_PID"
      ;;
    vllm-router|sglang-router)
      port=$(free_port); prom=$(free_port)
      if [ "$system" = sglang-router ]; then
        cmd=("$VENV/bin/sglang-router" launch); level="${PEER_LOG_LEVEL:-warn}"
      else
        cmd=("$VENV/bin/vllm-router"); level="${PEER_LOG_LEVEL:-warning}"
      fi
      start "$system" "${cmd[@]}" --host 127.0.0.1 --port "$port" --policy round_robin \
        --worker-urls "${WORKER_URLS[@]}" --prometheus-host 127.0.0.1 --prometheus-port "$prom" \
        --log-level "$level"
      if wait_ready "http://127.0.0.1:$port" "$system"; then
        sleep 1
        run_all "$system" "http://127.0.0.1:$port" "$SYS_PID"
      else
        echo "{\"system\":\"$system\",\"error\":\"did not start or answer offline; see its log\"}" >> "$RESULTS"
      fi
      stop_pid "$SYS_PID"
      ;;
    *) log "unknown system $system"; exit 2 ;;
  esac
done

# ---- report ----------------------------------------------------------------------------------
"$VENV/bin/python" "$HERE/report.py" "$RESULTS" --commands "$COMMANDS" --out "$OUT" \
  --workers "$WORKERS" --duration "$DURATION" --latency-ms "$LATENCY_MS" \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "wrote $OUT/RESULTS.md and $OUT/results.png (raw: $RUN)"
