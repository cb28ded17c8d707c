#!/usr/bin/env bash
# Resident memory of gonka-gateway with a large fleet (target in docs/architecture.md: ≤ 50 MB with 1,000
# registered nodes). Starts `fake-fleet` (N healthy fake ML nodes, one process, loopback port pairs)
# and `gonka-gateway --database memory:` on 127.0.0.1:0 ports, reads the gateway's VmRSS/VmHWM with
# 0 nodes (baseline), registers the N nodes through POST /admin/v1/nodes/batch, waits until all are
# healthy in /metrics, reads again, sends a bounded wrk burst (non-streaming then streaming) so the
# pool, stats and upstream connection pools are exercised, and reads again. The fleet counts the
# completions each node answered (GET /fleet/counts): the report says how many of the N nodes the
# burst reached, and the target (≤ 50 MB after a burst to every node) passes only if it reached all
# of them. Writes MEMORY.md.
# Every process started here is stopped on exit (trap); every wait is bounded.
#
# Usage: benches/load/memory.sh [options]
#   --nodes N          fake ML nodes to register (default 1000)
#   --burst S          seconds of each wrk burst, non-streaming and streaming (default 5; 10 s total)
#   --connections C    wrk connections (default 64)
#   --policy P         gateway routing policy (default round-robin: the burst touches every node)
#   --out FILE         report file (default benches/load/MEMORY.md)
#   --bin-dir DIR      take gonka-gateway and fake-fleet from DIR instead of building them
#   --gateway-args A   extra gonka-gateway arguments, split on spaces (e.g. "--traces off")
#   --database URL     the gateway's --database (default memory:; e.g. sqlite://DIR/gw.db)
#   --settle S         seconds after the burst before the settled reading (default 8: the
#                      gateway's 4 s upstream idle timeout, its sweep, and a margin)
set -euo pipefail
SELF="$(realpath "$0")"
cd "$(dirname "$0")/../.."
ROOT="$PWD"
HERE="$ROOT/benches/load"

NODES=1000
BURST=5
CONNECTIONS=64
POLICY=round-robin
OUT="$HERE/MEMORY.md"
BIN_DIR=""
GATEWAY_ARGS=""
DATABASE="memory:"
SETTLE=8
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --burst) BURST="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --policy) POLICY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --gateway-args) GATEWAY_ARGS="$2"; shift 2 ;;
    --database) DATABASE="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "memory.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$NODES$BURST$CONNECTIONS" in *[!0-9]*) echo "memory.sh: --nodes, --burst, --connections take whole numbers" >&2; exit 2 ;; esac
[ "$BURST" -le 30 ] || { echo "memory.sh: --burst at most 30 s" >&2; exit 2; }

MODEL="Qwen/Qwen3-32B-FP8"
TARGET_MB=50
RUN="$HERE/.run/memory-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN"
log() { echo "memory.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- cleanup: every process we start is recorded in PIDS (lib.sh) ----------------------------
# shellcheck source=benches/load/lib.sh
. "$HERE/lib.sh"

# 1,000 nodes are 2,000 listening sockets in the fleet plus as many connections on both sides.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
[ "$(ulimit -n)" -ge $((NODES * 4 + 256)) ] || die "open-file limit $(ulimit -n) is too low for $NODES nodes"

# ---- binaries --------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || bash "$ROOT/scripts/bench-tools.sh" >/dev/null || die "cannot install wrk"
if [ -z "$BIN_DIR" ]; then
  log "building release binaries"
  cargo build --release --locked -q -p gonka-gateway -p gonka-benches --bins
  BIN_DIR="$ROOT/target/release"
fi
GATEWAY="$BIN_DIR/gonka-gateway"
FLEET="$BIN_DIR/fake-fleet"
[ -x "$GATEWAY" ] && [ -x "$FLEET" ] || die "no gonka-gateway / fake-fleet in $BIN_DIR"

# Waits (bounded: $2 tenths of a second) until file $1 has a line matching $3.
wait_line() {
  local file="$1" tenths="$2" pattern="$3"
  for _ in $(seq 1 "$tenths"); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# One reading of the gateway: VmRSS VmHWM RssAnon RssFile Threads open-fds (kB or counts).
reading() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || die "the gateway exited; see $RUN/gateway.log"
  echo "$(status_kb "$pid" VmRSS) $(status_kb "$pid" VmHWM) $(status_kb "$pid" RssAnon)" \
       "$(status_kb "$pid" RssFile) $(status_kb "$pid" Threads) $(ls "/proc/$pid/fd" | wc -l)"
}
healthy_nodes() {
  curl -fsS -m 5 "$PUBLIC/metrics" 2>/dev/null | grep -c '^gonka_gateway_node_healthy{.*} 1$' || true
}

# ---- fleet -----------------------------------------------------------------------------------
log "starting fake-fleet with $NODES nodes"
"$FLEET" --nodes "$NODES" --model "$MODEL" --max-concurrent 64 --batch-file "$RUN/batch.json" \
  > "$RUN/fleet.out" 2> "$RUN/fleet.log" &
FLEET_PID=$!
PIDS+=("$FLEET_PID")
wait_line "$RUN/fleet.out" 300 '"nodes"' || die "fake-fleet did not bind its ports in 30 s; see $RUN/fleet.log"

# ---- gateway ---------------------------------------------------------------------------------
log "starting gonka-gateway --database $DATABASE --policy $POLICY $GATEWAY_ARGS"
# shellcheck disable=SC2086 # the extra arguments are split on spaces on purpose
RUST_LOG="${GONKA_BENCH_RUST_LOG:-warn}" "$GATEWAY" --database "$DATABASE" --policy "$POLICY" $GATEWAY_ARGS \
  --public-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --poc-listen 127.0.0.1:0 \
  > "$RUN/gateway.out" 2> "$RUN/gateway.log" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_line "$RUN/gateway.out" 300 'gonka-gateway listening:' || die "the gateway did not start in 30 s; see $RUN/gateway.log"
PUBLIC=$(sed -n 's/.*public \(http:\/\/[0-9.:]*\).*/\1/p' "$RUN/gateway.out" | head -1)
ADMIN=$(sed -n 's/.*admin \(http:\/\/[0-9.:]*\).*/\1/p' "$RUN/gateway.out" | head -1)
[ -n "$PUBLIC" ] && [ -n "$ADMIN" ] || die "cannot read the gateway's addresses from $RUN/gateway.out"
for _ in $(seq 1 100); do curl -fsS -m 1 -o /dev/null "$ADMIN/admin/v1/nodes" 2>/dev/null && break; sleep 0.1; done
curl -fsS -m 5 -o /dev/null "$PUBLIC/metrics" || die "the gateway's /metrics does not answer"
sleep 2
read -r B_RSS B_HWM B_ANON B_FILE B_THR B_FD <<< "$(reading "$GW_PID")"
log "baseline (0 nodes): VmRSS ${B_RSS} kB, VmHWM ${B_HWM} kB"

# ---- register and wait until routable --------------------------------------------------------
code=$(curl -sS -m 60 -o "$RUN/batch.answer" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "@$RUN/batch.json" "$ADMIN/admin/v1/nodes/batch")
[ "$code" = 201 ] || die "batch registration answered $code: $(head -c 500 "$RUN/batch.answer")"
t0=$(date +%s)
healthy=0
for _ in $(seq 1 240); do
  healthy=$(healthy_nodes)
  [ "$healthy" -ge "$NODES" ] && break
  sleep 0.5
done
[ "$healthy" -ge "$NODES" ] || die "only $healthy of $NODES nodes became healthy within 120 s"
ROUTABLE_S=$(( $(date +%s) - t0 ))
models=$(curl -fsS -m 5 "$PUBLIC/v1/models")
case "$models" in *"$MODEL"*) ;; *) die "/v1/models does not list $MODEL: $models" ;; esac
log "$NODES nodes healthy after ${ROUTABLE_S} s; waiting one more health interval (6 s)"
sleep 6
read -r R_RSS R_HWM R_ANON R_FILE R_THR R_FD <<< "$(reading "$GW_PID")"
log "registered, idle: VmRSS ${R_RSS} kB, VmHWM ${R_HWM} kB"
# The gateway's established TCP connections, by the kind of port at the other end.
conn_kinds() {
  ss -Htnp state established 2>/dev/null | grep "pid=$GW_PID," | awk '{print $4}' | sed 's/.*://' \
    | python3 -c '
import json, sys
fleet = json.loads(open(sys.argv[1]).readline())
mgmt = {n["poc_port"] for n in fleet["nodes"]}
inference = {n["inference_port"] for n in fleet["nodes"]}
counts = {"management": 0, "inference": 0, "other": 0}
for line in sys.stdin:
    port = int(line.strip() or 0)
    counts["management" if port in mgmt else "inference" if port in inference else "other"] += 1
print(counts["management"], counts["inference"], counts["other"])
' "$RUN/fleet.out"
}
read -r R_MGMT R_INF R_OTHER <<< "$(conn_kinds)"

# ---- burst -----------------------------------------------------------------------------------
burst() {
  STREAM="$1" MODEL="$MODEL" timeout $((BURST + 15)) wrk -t2 -c"$CONNECTIONS" -d"${BURST}s" \
    --timeout 5s -s "$HERE/chat.lua" "$PUBLIC" > "$RUN/wrk-$2.txt" 2>&1 || true
  local total non2xx
  total=$(awk '/requests in/ {print $1}' "$RUN/wrk-$2.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$RUN/wrk-$2.txt")
  echo "${total:-0} ${non2xx:-0}"
}
log "wrk burst: ${BURST} s non-streaming + ${BURST} s streaming, $CONNECTIONS connections"
read -r J_TOTAL J_BAD <<< "$(burst 0 json)"
read -r S_TOTAL S_BAD <<< "$(burst 1 sse)"
[ "$J_TOTAL" -gt 0 ] && [ "$S_TOTAL" -gt 0 ] || die "the burst sent no requests; see $RUN/wrk-*.txt"
# How many nodes the burst reached, as the fleet counted them (any management port answers).
FLEET_MGMT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["nodes"][0]["poc_port"])' "$RUN/fleet.out")
curl -fsS -m 5 "http://127.0.0.1:$FLEET_MGMT/fleet/counts" > "$RUN/fleet-counts.json" \
  || die "the fleet's /fleet/counts does not answer"
read -r HIT FLEET_REQS HIT_MIN HIT_MAX <<< "$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["nodes_hit"], c["requests"], c["min_per_node"], c["max_per_node"])' "$RUN/fleet-counts.json")"
log "the burst reached $HIT of $NODES nodes ($FLEET_REQS completions; $HIT_MIN to $HIT_MAX per node)"
sleep 1
read -r L_RSS L_HWM L_ANON L_FILE L_THR L_FD <<< "$(reading "$GW_PID")"
FLEET_RSS=$(status_kb "$FLEET_PID" VmRSS)
read -r L_MGMT L_INF L_OTHER <<< "$(conn_kinds)"
log "after burst: VmRSS ${L_RSS} kB, VmHWM ${L_HWM} kB; settling ${SETTLE} s"
# Settled: connections to nodes no longer used (beyond the hot set) closed by the idle timeout.
sleep "$SETTLE"
read -r T_RSS T_HWM T_ANON T_FILE T_THR T_FD <<< "$(reading "$GW_PID")"
read -r T_MGMT T_INF T_OTHER <<< "$(conn_kinds)"
log "settled: VmRSS ${T_RSS} kB, VmHWM ${T_HWM} kB"

# ---- report ----------------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k * 1024 / 1e6}'; }
per_node() { awk -v a="$1" -v b="$2" -v n="$NODES" 'BEGIN {printf "%.0f", (a - b) * 1024 / n}'; }
TARGET_KB=$((TARGET_MB * 1000 * 1000 / 1024))
verdict() { if [ "$1" -le "$TARGET_KB" ]; then echo "**pass**"; else echo "**fail**"; fi; }
# The target is about a burst that reached every node: fewer, and it cannot pass.
if [ "$HIT" -ge "$NODES" ]; then
  TARGET_VERDICT=$(verdict "$T_RSS")
  REACH="every node (all $NODES)"
else
  TARGET_VERDICT="**fail** (not measured: the burst reached only $HIT of $NODES nodes)"
  REACH="only $HIT of $NODES nodes"
fi
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- Cargo.lock gonka-core gonka-admin gonka-gateway 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
[ -z "$DIRTY" ] || COMMIT="$COMMIT plus uncommitted changes to ${DIRTY% }"
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
  echo "# gonka-gateway resident memory with $NODES registered nodes"
  echo
  echo "Measured by \`benches/load/memory.sh\` on $(date -u +%Y-%m-%d) (commit $COMMIT, release build,"
  echo "$(nproc) vCPUs $CPU, Linux $(uname -r)). Target (docs/architecture.md, performance issue): gateway"
  echo "resident memory ≤ $TARGET_MB MB with 1,000 registered nodes, also after a burst that routes to every node."
  echo "MB = 10^6 bytes; kB as /proc reports them (1,024 bytes)."
  echo
  echo "Target: RSS ≤ $TARGET_MB MB with $NODES nodes after a burst to every node, settled ${SETTLE} s: $TARGET_VERDICT"
  echo "($(mb "$T_RSS") MB; $(mb "$L_RSS") MB at the burst's end; the burst reached $REACH, as the fleet counted them)."
  echo
  echo "Setup: one \`fake-fleet\` process plays $NODES healthy ML nodes on 127.0.0.1 port pairs (management:"
  echo "\`/health\`, \`/api/v1/state\` INFERENCE with the model loaded, \`/api/v1/gpu/devices\`; inference: chat"
  echo "completions, JSON and SSE). \`gonka-gateway --database $DATABASE --policy $POLICY${GATEWAY_ARGS:+ $GATEWAY_ARGS}\` (default health"
  echo "interval 5 s and upstream idle timeout 4 s, default everything else) on 127.0.0.1:0 ports. Readings of the"
  echo "gateway process from \`/proc/PID/status\`, all in the same run:"
  echo
  echo "| reading | VmRSS | VmHWM (peak so far) | RssAnon | RssFile | threads | open fds |"
  echo "|---|---|---|---|---|---|---|"
  echo "| baseline: 0 nodes, started and idle 2 s | $B_RSS kB ($(mb "$B_RSS") MB) | $B_HWM kB | $B_ANON kB | $B_FILE kB | $B_THR | $B_FD |"
  echo "| $NODES nodes registered (batch API), all healthy in \`/metrics\` (after ${ROUTABLE_S} s) + 6 s | $R_RSS kB ($(mb "$R_RSS") MB) | $R_HWM kB | $R_ANON kB | $R_FILE kB | $R_THR | $R_FD |"
  echo "| after the burst ($J_TOTAL JSON + $S_TOTAL SSE requests, $CONNECTIONS connections, ${BURST} s each) | $L_RSS kB ($(mb "$L_RSS") MB) | $L_HWM kB ($(mb "$L_HWM") MB) | $L_ANON kB | $L_FILE kB | $L_THR | $L_FD |"
  echo "| settled: ${SETTLE} s after the burst | $T_RSS kB ($(mb "$T_RSS") MB) | $T_HWM kB ($(mb "$T_HWM") MB) | $T_ANON kB | $T_FILE kB | $T_THR | $T_FD |"
  echo
  echo "| result | value | target |"
  echo "|---|---|---|"
  echo "| RSS with $NODES nodes after the burst, settled | $(mb "$T_RSS") MB | ≤ $TARGET_MB MB: $TARGET_VERDICT |"
  echo "| RSS with $NODES nodes at the burst's end (connections still open) | $(mb "$L_RSS") MB | ≤ $TARGET_MB MB: $(verdict "$L_RSS") |"
  echo "| RSS with $NODES nodes registered, idle | $(mb "$R_RSS") MB | ≤ $TARGET_MB MB: $(verdict "$R_RSS") |"
  echo "| peak RSS of the whole run (VmHWM) | $(mb "$T_HWM") MB | ≤ $TARGET_MB MB: $(verdict "$T_HWM") |"
  echo "| nodes the burst reached (fleet's own counts) | $HIT of $NODES ($HIT_MIN to $HIT_MAX completions per node) | all $NODES |"
  echo "| bytes per node, registered and idle ((RSS − baseline) ÷ $NODES) | $(per_node "$R_RSS" "$B_RSS") B | — |"
  echo "| bytes per node after the burst | $(per_node "$L_RSS" "$B_RSS") B | — |"
  echo "| anonymous (heap, stacks) bytes per node after the burst | $(per_node "$L_ANON" "$B_ANON") B | — |"
  echo
  echo "Burst errors: $J_BAD non-2xx of $J_TOTAL JSON, $S_BAD non-2xx of $S_TOTAL SSE; the fleet answered"
  echo "$FLEET_REQS completions. The fake fleet itself used $FLEET_RSS kB (not counted)."
  echo
  echo "| gateway's established TCP connections | to management ports | to inference ports | other (clients) |"
  echo "|---|---|---|---|"
  echo "| registered, idle | $R_MGMT | $R_INF | $R_OTHER |"
  echo "| at the burst's end | $L_MGMT | $L_INF | $L_OTHER |"
  echo "| settled | $T_MGMT | $T_INF | $T_OTHER |"
  echo
  echo "RssFile is the mapped executable and libraries (pages of the binary actually touched), RssAnon"
  echo "the heap and thread stacks."
  echo
  echo "Command: \`benches/load/memory.sh --nodes $NODES --burst $BURST --connections $CONNECTIONS --policy $POLICY --database $DATABASE --settle $SETTLE${GATEWAY_ARGS:+ --gateway-args \"$GATEWAY_ARGS\"}\`;"
  echo "raw output under \`benches/load/.run/\` (gitignored)."
  # Hand-written analysis below this heading in the previous report is kept.
  if [ -f "$OUT" ] && grep -q '^## Notes (kept across runs)' "$OUT"; then
    echo; sed -n '/^## Notes (kept across runs)/,$p' "$OUT"
  fi
} > "$RUN/MEMORY.md"
cp "$RUN/MEMORY.md" "$OUT"
cat "$RUN/MEMORY.md"
log "wrote $OUT"
# The README names the commit MEMORY.md was measured on, when this is the repository's own copy.
if [ "$(realpath "$OUT")" = "$(realpath "$HERE/MEMORY.md")" ] && [ -f "$ROOT/README.md" ]; then
  python3 - "$ROOT/README.md" "${COMMIT%% *}" <<'PY'
import re, sys
path, commit = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
link = "[benches/load/MEMORY.md](benches/load/MEMORY.md)"
new, n = re.subn(re.escape(link) + r"(?: \(measured on commit `[^`]*`\))?", f"{link} (measured on commit `{commit}`)", text, count=1)
if n:
    open(path, "w", encoding="utf-8").write(new)
PY
fi
