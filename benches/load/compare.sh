#!/usr/bin/env bash
# Side-by-side load harness: the same fast mock OpenAI workers behind, in turn, nothing (direct to
# one worker: the ceiling), gonka-gateway, vllm-router and sglang-router (round-robin), loaded by
# wrk at fixed concurrency for a fixed duration, streaming and not; then gonka with each
# per-request feature switched on, and gonka on 1 and 2 worker threads. The router runs pinned to
# its own core(s), the workers and wrk on the others (taskset). Everything is measured REPEAT
# times (rounds). Writes benches/load/RESULTS.md and benches/load/results.png. Everything on
# 127.0.0.1; every process started here is stopped on exit (trap).
# Bounded: about REPEAT × (systems × 4 + scaling × 2) × (DURATION + ~3 s) + features × 2 ×
# (PAIR_ROUNDS × (PAIR_DURATION + ~1 s) + ~10 s) plus build/install time (defaults: 2 rounds × 20
# runs of 10 s and 12 paired rows of 5 × 5 s, ~17 minutes).
#
# Usage: benches/load/compare.sh [options]
#   --workers N          mock workers (default 4)
#   --duration S         seconds per run (default 10)
#   --concurrency "A B"  connection counts of the router comparison (default "64 256")
#   --systems "..."      subset of: direct gonka vllm-router sglang-router (default all)
#   --features "..."     gonka feature rows, subset of: traces otel tokens keys model-aware all
#                        (default all of them; "none" for none)
#   --feature-concurrency "C"  connection counts of the feature and scaling rows (default "256")
#   --feature-method M   paired (default): each feature row runs at the same time as a plain
#                        gonka on the same core, each loaded by its own wrk with half the
#                        connections (pair.sh), PAIR_ROUNDS rounds of PAIR_DURATION s, once after
#                        the rounds; the rise is the median of the rounds' CPU-per-request ratios.
#                        Steady to a few % on a shared machine. sequential: the plain gonka, then
#                        each feature, one after the other in every round (±20 % on a shared VM)
#   --pair-rounds N      rounds of each paired feature row (default 5)
#   --pair-duration S    seconds per paired round (default 5)
#   --scaling "..."      gonka worker-thread counts, each pinned to as many cores (default "1 2";
#                        "none" for none)
#   --repeat N           rounds; every row is measured once per round (default 2)
#   --router-cpus LIST   cores of the router (taskset list, default 0)
#   --load-cpus LIST     cores of the workers, wrk and OTLP sink (default: every other core)
#   --no-pin             no taskset at all
#   --latency-ms MS      mock worker latency before each answer (default 1)
#   --out DIR            where RESULTS.md and results.png go (default benches/load)
#   --bin-dir DIR        take gonka-gateway, mock-worker and otlp-sink from DIR instead of
#                        building them
set -euo pipefail
SELF="$(realpath "$0")"
cd "$(dirname "$0")/../.."
ROOT="$PWD"
HERE="$ROOT/benches/load"

WORKERS=4
DURATION=10
CONCURRENCY="64 256"
SYSTEMS="direct gonka vllm-router sglang-router"
ALL_FEATURES="traces otel tokens keys model-aware all"
FEATURES="$ALL_FEATURES"
FEATURE_CONCURRENCY="256"
SCALING="1 2"
FEATURE_METHOD=paired
PAIR_ROUNDS=5
PAIR_DURATION=5
REPEAT=2
ROUTER_CPUS=0
LOAD_CPUS=""
PIN=1
LATENCY_MS=1
OUT="$HERE"
BIN_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --systems) SYSTEMS="$2"; shift 2 ;;
    --features) FEATURES="$2"; shift 2 ;;
    --feature-concurrency) FEATURE_CONCURRENCY="$2"; shift 2 ;;
    --feature-method) FEATURE_METHOD="$2"; shift 2 ;;
    --pair-rounds) PAIR_ROUNDS="$2"; shift 2 ;;
    --pair-duration) PAIR_DURATION="$2"; shift 2 ;;
    --scaling) SCALING="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --router-cpus) ROUTER_CPUS="$2"; shift 2 ;;
    --load-cpus) LOAD_CPUS="$2"; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --latency-ms) LATENCY_MS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,29p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$FEATURES" = none ] && FEATURES=""
[ "$SCALING" = none ] && SCALING=""
case "$FEATURE_METHOD" in paired|sequential) ;; *) echo "compare.sh: --feature-method is paired or sequential" >&2; exit 2 ;; esac
case "$PAIR_ROUNDS$PAIR_DURATION" in ''|*[!0-9]*) echo "compare.sh: --pair-rounds and --pair-duration take whole numbers" >&2; exit 2 ;; esac
case "$WORKERS$DURATION$REPEAT" in *[!0-9]*) echo "compare.sh: --workers, --duration, --repeat take whole numbers" >&2; exit 2 ;; esac
[ "$REPEAT" -ge 1 ] && [ "$REPEAT" -le 10 ] || { echo "compare.sh: --repeat between 1 and 10" >&2; exit 2; }
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] || { echo "compare.sh: --duration between 1 and 120 s" >&2; exit 2; }
for f in $FEATURES; do
  case " $ALL_FEATURES " in *" $f "*) ;; *) echo "compare.sh: unknown feature $f (one of: $ALL_FEATURES)" >&2; exit 2 ;; esac
done
for t in $SCALING; do
  case "$t" in ''|*[!0-9]*) echo "compare.sh: --scaling takes thread counts" >&2; exit 2 ;; esac
done

MODEL="Qwen/Qwen3-32B-FP8"
API_KEY="bench-key-0123456789abcdef"
RUN="$HERE/.run/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN" "$OUT"
RESULTS="$RUN/results.jsonl"
: > "$RESULTS"
log() { echo "compare.sh: $*" >&2; }

# ---- cleanup: every process we start is recorded in PIDS (lib.sh) ----------------------------
# shellcheck source=benches/load/lib.sh
. "$HERE/lib.sh"

# ---- core layout -----------------------------------------------------------------------------
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
  [ "$PIN" = 1 ] && log "one core only: no pinning"
  PIN=0
fi
# Expands a taskset list ("0", "0-1", "0,2") into core numbers.
expand_cpus() {
  local part a b
  for part in ${1//,/ }; do
    case "$part" in
      *-*) a=${part%-*}; b=${part#*-}; seq "$a" "$b" ;;
      *) echo "$part" ;;
    esac
  done
}
if [ "$PIN" = 1 ]; then
  if [ -z "$LOAD_CPUS" ]; then
    router_set=" $(expand_cpus "$ROUTER_CPUS" | tr '\n' ' ') "
    others=()
    for c in $(seq 0 $((NCPU - 1))); do
      case "$router_set" in *" $c "*) ;; *) others+=("$c") ;; esac
    done
    [ "${#others[@]}" -gt 0 ] || { log "--router-cpus $ROUTER_CPUS leaves no core for the load"; exit 2; }
    LOAD_CPUS=$(IFS=,; echo "${others[*]}")
  fi
  LAYOUT="router on core(s) $ROUTER_CPUS, workers + wrk + OTLP sink on core(s) $LOAD_CPUS (taskset)"
  on_load() { exec taskset -c "$LOAD_CPUS" "$@"; }
else
  LAYOUT="no pinning: router, workers and wrk share all $NCPU cores"
  on_load() { exec "$@"; }
fi
# on_load only runs in the background (`on_load CMD &`, a subshell): its `exec` makes `$!` the
# process itself, so the cleanup stops it (a subshell killed alone left its child running).
# The first N cores of the machine, as a taskset list (the scaling rows).
first_cpus() { if [ "$1" -le 1 ]; then echo 0; else echo "0-$(($1 - 1))"; fi; }
log "$LAYOUT"

# ---- tools -----------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || bash "$ROOT/scripts/bench-tools.sh" >/dev/null
if [ -z "$BIN_DIR" ]; then
  log "building release binaries"
  cargo build --release --locked -q -p gonka-gateway -p gonka-benches --bins
  BIN_DIR="$ROOT/target/release"
fi
GATEWAY="$BIN_DIR/gonka-gateway"
MOCK="$BIN_DIR/mock-worker"
SINK="$BIN_DIR/otlp-sink"
for b in "$GATEWAY" "$MOCK" "$SINK"; do [ -x "$b" ] || { log "no $b"; exit 1; }; done

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

# Waits (bounded) until a chat completion through $1 answers 200 ($3: API key, optional).
wait_ready() {
  local base="$1" name="$2" key="${3:-}" auth=()
  [ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
  for _ in $(seq 1 300); do
    if curl -fsS -m 2 -o /dev/null -H 'Content-Type: application/json' "${auth[@]}" \
         -d "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
         "$base/v1/chat/completions" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$name never answered a chat completion at $base; see $RUN"; return 1
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
echo "layout: $LAYOUT" >> "$COMMANDS"

# ---- workers and the OTLP sink ---------------------------------------------------------------
echo "workers: $MOCK --listen 127.0.0.1:<port> --latency-ms $LATENCY_MS --model $MODEL (x$WORKERS)" >> "$COMMANDS"
WORKER_URLS=()
WORKER_PORTS=()
for i in $(seq 1 "$WORKERS"); do
  port=$(free_port)
  on_load "$MOCK" --listen "127.0.0.1:$port" --latency-ms "$LATENCY_MS" --model "$MODEL" \
    > "$RUN/worker-$i.log" 2>&1 &
  PIDS+=($!)
  WORKER_PORTS+=("$port")
  WORKER_URLS+=("http://127.0.0.1:$port")
done
for url in "${WORKER_URLS[@]}"; do wait_ready "$url" worker; done
log "$WORKERS mock workers up: ${WORKER_URLS[*]}"

SINK_URL=""
case " $FEATURES " in *" otel "*|*" all "*)
  port=$(free_port)
  echo "otlp sink: $SINK --listen 127.0.0.1:$port" >> "$COMMANDS"
  on_load "$SINK" --listen "127.0.0.1:$port" > "$RUN/otlp-sink.log" 2>&1 &
  PIDS+=($!)
  SINK_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fsS -m 1 -o /dev/null "$SINK_URL/counts" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -m 2 -o /dev/null "$SINK_URL/counts" || { log "the OTLP sink did not start; see $RUN/otlp-sink.log"; exit 1; }
  ;;
esac
# Request traces stored so far in the SQLite database $1 (0 without one).
traces_stored() {
  [ -n "${1:-}" ] && [ -f "$1" ] || { echo 0; return; }
  "$VENV/bin/python" -c 'import sqlite3,sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=5).execute("select count(*) from request_traces").fetchone()[0])' "$1" 2>/dev/null || echo 0
}
sink_spans() {
  [ -n "$SINK_URL" ] || { echo 0; return; }
  curl -fsS -m 5 "$SINK_URL/counts" 2>/dev/null | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["spans"])' 2>/dev/null || echo 0
}
printf '%s\n' "$API_KEY" > "$RUN/api-keys.txt"

# ---- one measured run ------------------------------------------------------------------------
TICKS=$(getconf CLK_TCK)
ROUND=0
# measure SYSTEM BASE PID MODE CONNS EXTRA_JSON, with WRK_ENV (array of NAME=VALUE) and, for a
# gonka row, GONKA_KEY (API key to read /metrics with) set by the caller.
measure() {
  local system="$1" base="$2" pid="$3" mode="$4" conns="$5" extra="$6"
  local stream=0; [ "$mode" = stream ] && stream=1
  local before after out spans0 spans1 tok0=0 tok1=0 tr0 tr1
  before=$( [ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
  spans0=$(sink_spans)
  tr0=$(traces_stored "${TRACES_DB:-}")
  [ "${GONKA_ROW:-0}" = 1 ] && tok0=$(gonka_tokens "$base" "${GONKA_KEY:-}")
  out="$RUN/wrk-r$ROUND-$system-$mode-$conns.txt"
  echo "load: ${WRK_ENV[*]:-} STREAM=$stream MODEL=$MODEL wrk -t2 -c$conns -d${DURATION}s --timeout 10s --latency -s benches/load/chat.lua $base" >> "$COMMANDS"
  local pin=()
  [ "$PIN" = 1 ] && pin=(taskset -c "$LOAD_CPUS")
  env "${WRK_ENV[@]}" STREAM=$stream MODEL="$MODEL" timeout $((DURATION + 30)) \
    "${pin[@]}" wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s --latency \
    -s "$HERE/chat.lua" "$base" > "$out" 2>&1 || true
  after=$( [ -n "$pid" ] && cpu_ticks "$pid" || echo 0)
  spans1=$(sink_spans)
  # Traces are written off the request path: give the writer a moment to catch up.
  [ -n "${TRACES_DB:-}" ] && sleep 1
  tr1=$(traces_stored "${TRACES_DB:-}")
  [ "${GONKA_ROW:-0}" = 1 ] && tok1=$(gonka_tokens "$base" "${GONKA_KEY:-}")
  local rss=0; [ -n "$pid" ] && rss=$(peak_rss_kb "$pid")
  extra=$("$VENV/bin/python" -c 'import json,sys; e=json.loads(sys.argv[1]); e.update(round=int(sys.argv[2]), spans_exported=int(sys.argv[3]), tokens_counted=int(sys.argv[4]), traces_stored=int(sys.argv[5])); print(json.dumps(e))' \
    "$extra" "$ROUND" $((spans1 - spans0)) $((tok1 - tok0)) $((tr1 - tr0)))
  "$VENV/bin/python" "$HERE/parse_wrk.py" "$out" --system "$system" --mode "$mode" \
    --connections "$conns" --duration "$DURATION" --cpu-ticks $((after - before)) \
    --clk-tck "$TICKS" --rss-kb "$rss" --measured-process "$([ -n "$pid" ] && echo yes || echo no)" \
    --extra "$extra" >> "$RESULTS"
  log "round $ROUND: $(tail -n1 "$RESULTS")"
}

# ---- systems ---------------------------------------------------------------------------------
start() { # name, then the command; records it and its pid in SYS_PID
  local name="$1"; shift
  echo "$name: $*" >> "$COMMANDS"
  "$@" > "$RUN/$name-r$ROUND.log" 2>&1 &
  SYS_PID=$!
  PIDS+=("$SYS_PID")
}

# run_gonka ROW GROUP CPUS THREADS CONCURRENCY, with GONKA_ARGS (extra gateway flags), WRK_ENV and
# GONKA_KEY set by the caller: starts a gateway in front of the workers, measures it (plain and
# stream at each connection count), stops it.
run_gonka() {
  local row="$1" group="$2" cpus="$3" threads="$4" conc="$5"
  local pub adm poc batch n p i mode conns threads_env=()
  pub=$(free_port); adm=$(free_port); poc=$(free_port)
  [ -n "$threads" ] && threads_env=(TOKIO_WORKER_THREADS="$threads")
  local pin=()
  if [ "$PIN" = 1 ]; then pin=(taskset -c "$cpus"); else cpus="all (not pinned)"; fi
  start "$row" env RUST_LOG="${GONKA_BENCH_RUST_LOG:-warn}" "${threads_env[@]}" "${pin[@]}" "$GATEWAY" \
    --public-listen "127.0.0.1:$pub" --admin-listen "127.0.0.1:$adm" --poc-listen "127.0.0.1:$poc" \
    --health-interval 1s --queue-timeout 10s "${GONKA_ARGS[@]}"
  batch=$(worker_batch "$MODEL" "${WORKER_PORTS[@]}")
  for _ in $(seq 1 100); do curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$adm/admin/v1/nodes" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -m 5 -o /dev/null -H 'Content-Type: application/json' -d "$batch" "http://127.0.0.1:$adm/admin/v1/nodes/batch"
  if ! wait_ready "http://127.0.0.1:$pub" "$row" "$GONKA_KEY"; then
    echo "{\"system\":\"$row\",\"round\":$ROUND,\"error\":\"did not start or answer; see its log\"}" >> "$RESULTS"
    stop_pid "$SYS_PID"; return 0
  fi
  # Every node must be routable, not only the first one that passed a health check.
  for _ in $(seq 1 100); do
    n=$(curl -fsS -m 2 "http://127.0.0.1:$adm/admin/v1/nodes" | grep -o '"current_status":"INFERENCE"' | wc -l || true)
    [ "$n" -ge "$WORKERS" ] && break; sleep 0.1
  done
  sleep 1.5
  local extra
  extra=$(printf '{"group":"%s","cpus":"%s","threads":"%s","flags":"%s"}' "$group" "$cpus" "${threads:-default}" "${GONKA_ARGS[*]:-} ${WRK_ENV[*]:-}" | sed 's/ *"}$/"}/')
  for mode in plain stream; do
    for conns in $conc; do GONKA_ROW=1 measure "$row" "http://127.0.0.1:$pub" "$SYS_PID" "$mode" "$conns" "$extra"; done
  done
  stop_pid "$SYS_PID"
}

DB_SEQ=0
# The gateway flags (GONKA_ARGS) and client settings (WRK_ENV, GONKA_KEY) of one feature row;
# $1: features joined by "+", or "plain".
feature_setup() {
  local f db="memory:" traces=off policy=round-robin extra=()
  WRK_ENV=()
  GONKA_KEY=""
  TRACES_DB=""
  for f in ${1//+/ }; do
    case "$f" in
      plain) ;;
      # Traces are written into the registry database; SQLite is the default --database.
      traces) traces=on; DB_SEQ=$((DB_SEQ + 1)); TRACES_DB="$RUN/traces-$DB_SEQ.db"; db="sqlite://$TRACES_DB" ;;
      otel) extra+=(--otlp-endpoint "$SINK_URL"); WRK_ENV+=(TRACEPARENT=1) ;;
      # Token counting has no switch in the gateway: it reads every successful answer's usage. The
      # row makes streams carry a usage event (stream_options.include_usage), as JSON answers
      # always do, so streamed tokens are counted too.
      tokens) WRK_ENV+=(USAGE=1) ;;
      keys) extra+=(--api-keys-file "$RUN/api-keys.txt"); WRK_ENV+=(API_KEY="$API_KEY"); GONKA_KEY="$API_KEY" ;;
      model-aware) policy=model-aware ;;
      *) log "unknown feature $f"; exit 2 ;;
    esac
  done
  GONKA_ARGS=(--database "$db" --traces "$traces" --policy "$policy" "${extra[@]}")
}

run_round() {
  local system f t row
  for system in $SYSTEMS; do
    case "$system" in
      direct)
        echo "direct: wrk straight to ${WORKER_URLS[0]} (one worker)" >> "$COMMANDS"
        WRK_ENV=(); TRACES_DB=""
        for mode in plain stream; do
          for conns in $CONCURRENCY; do measure direct "${WORKER_URLS[0]}" "" "$mode" "$conns" '{"group":"system"}'; done
        done
        ;;
      gonka)
        feature_setup plain
        run_gonka gonka system "$ROUTER_CPUS" "" "$CONCURRENCY"
        ;;
      vllm-router|sglang-router)
        local port prom cmd level
        port=$(free_port); prom=$(free_port)
        if [ "$system" = sglang-router ]; then
          cmd=("$VENV/bin/sglang-router" launch); level="${PEER_LOG_LEVEL:-warn}"
        else
          cmd=("$VENV/bin/vllm-router"); level="${PEER_LOG_LEVEL:-warning}"
        fi
        local pin=()
        [ "$PIN" = 1 ] && pin=(taskset -c "$ROUTER_CPUS")
        start "$system" "${pin[@]}" "${cmd[@]}" --host 127.0.0.1 --port "$port" --policy round_robin \
          --worker-urls "${WORKER_URLS[@]}" --prometheus-host 127.0.0.1 --prometheus-port "$prom" \
          --log-level "$level"
        WRK_ENV=(); TRACES_DB=""
        if wait_ready "http://127.0.0.1:$port" "$system"; then
          sleep 1
          for mode in plain stream; do
            for conns in $CONCURRENCY; do measure "$system" "http://127.0.0.1:$port" "$SYS_PID" "$mode" "$conns" '{"group":"system"}'; done
          done
        else
          echo "{\"system\":\"$system\",\"round\":$ROUND,\"error\":\"did not start or answer offline; see its log\"}" >> "$RESULTS"
        fi
        stop_pid "$SYS_PID"
        ;;
      *) log "unknown system $system"; exit 2 ;;
    esac
  done
  if [ -n "$FEATURES" ] && [ "$FEATURE_METHOD" = sequential ]; then
    # The plain gateway again at the feature rows' load, next to them: the base of their % rise.
    feature_setup plain
    run_gonka "gonka" feature "$ROUTER_CPUS" "" "$FEATURE_CONCURRENCY"
    for f in $FEATURES; do
      if [ "$f" = all ]; then feature_setup "traces+otel+tokens+keys+model-aware"; else feature_setup "$f"; fi
      run_gonka "gonka+$f" feature "$ROUTER_CPUS" "" "$FEATURE_CONCURRENCY"
    done
  fi
  for t in $SCALING; do
    if [ "$t" -gt "$NCPU" ]; then log "skipping $t threads: only $NCPU cores"; continue; fi
    feature_setup plain
    row="gonka-${t}t"
    run_gonka "$row" scaling "$(first_cpus "$t")" "$t" "$FEATURE_CONCURRENCY"
  done
}

for ROUND in $(seq 1 "$REPEAT"); do
  log "round $ROUND of $REPEAT"
  run_round
done

# ---- paired feature rows ---------------------------------------------------------------------
# Each feature against a plain gonka running at the same time on the same core (pair.sh), so
# whatever slows the machine slows both alike; half the connections each.
if [ -n "$FEATURES" ] && [ "$FEATURE_METHOD" = paired ]; then
  if [ "$PIN" = 1 ] && [ "$ROUTER_CPUS$LOAD_CPUS" != 01 ]; then
    log "paired feature rows pin to cores 0 (gateways) and 1 (load), whatever --router-cpus says"
  fi
  feature_setup plain
  BASE_ARGS="${GONKA_ARGS[*]}"
  for conns in $FEATURE_CONCURRENCY; do
    for f in $FEATURES; do
      if [ "$f" = all ]; then feature_setup "traces+otel+tokens+keys+model-aware"; else feature_setup "$f"; fi
      for mode in plain stream; do
        log "paired: gonka+$f against gonka, $mode, $((conns / 2)) connections each"
        spans0=$(sink_spans); tr0=$(traces_stored "${TRACES_DB:-}")
        echo "paired gonka+$f ($mode): benches/load/pair.sh --a-args \"$BASE_ARGS\" --b-args \"${GONKA_ARGS[*]}\" --b-wrk-env \"${WRK_ENV[*]:-}\" --mode $mode --connections $((conns / 2)) --rounds $PAIR_ROUNDS --duration $PAIR_DURATION" >> "$COMMANDS"
        if ! bash "$HERE/pair.sh" --a-bin "$GATEWAY" --b-bin "$GATEWAY" --bin-dir "$BIN_DIR" \
            --a-args "$BASE_ARGS" --b-args "${GONKA_ARGS[*]}" --b-wrk-env "${WRK_ENV[*]:-}" \
            --mode "$mode" --connections $((conns / 2)) --rounds "$PAIR_ROUNDS" --duration "$PAIR_DURATION" \
            --json "$RESULTS" --label "gonka+$f" > "$RUN/pair-$f-$mode-$conns.log" 2>&1; then
          log "paired gonka+$f $mode failed; see $RUN/pair-$f-$mode-$conns.log"
          echo "{\"system\":\"gonka+$f\",\"mode\":\"$mode\",\"connections\":$((conns / 2)),\"error\":\"paired run failed; see its log\"}" >> "$RESULTS"
        fi
        tail -1 "$RUN/pair-$f-$mode-$conns.log" >&2
        # What the feature row did besides its requests: spans the sink got (only B exports),
        # traces stored in B's database (written off the request path: a moment to catch up).
        [ -n "${TRACES_DB:-}" ] && sleep 1
        spans1=$(sink_spans); tr1=$(traces_stored "${TRACES_DB:-}")
        printf '{"group": "paired-seen", "system": "gonka+%s", "mode": "%s", "connections": %d, "spans_exported": %d, "traces_stored": %d}\n' \
          "$f" "$mode" $((conns / 2)) $((spans1 - spans0)) $((tr1 - tr0)) >> "$RESULTS"
      done
    done
  done
fi

# ---- report ----------------------------------------------------------------------------------
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain -- Cargo.lock gonka-core gonka-admin gonka-gateway benches/src 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
[ -z "$DIRTY" ] || COMMIT="$COMMIT plus uncommitted changes to ${DIRTY% }"
"$VENV/bin/python" "$HERE/report.py" "$RESULTS" --commands "$COMMANDS" --out "$OUT" \
  --workers "$WORKERS" --duration "$DURATION" --latency-ms "$LATENCY_MS" --repeat "$REPEAT" \
  --layout "$LAYOUT" --commit "$COMMIT"
log "wrote $OUT/RESULTS.md and $OUT/results.png (raw: $RUN)"
