"""Writes RESULTS.md (tables, ratios, feature costs, scaling, targets with pass/fail, machine,
commands) and results.png from the JSON lines compare.sh collected; when writing to
benches/load itself, also updates the commit README.md names for RESULTS.md.
Usage: report.py RESULTS.jsonl --commands FILE --out DIR ..."""
import argparse
import datetime
import json
import os
import platform
import re
import statistics

SYSTEMS = ["direct", "gonka", "vllm-router", "sglang-router"]
COLORS = {"direct": "tab:gray", "gonka": "tab:blue", "vllm-router": "tab:orange", "sglang-router": "tab:green"}
PEERS = ["vllm-router", "sglang-router"]
FEATURE_LABELS = {
    "traces": "request traces (`--traces on`, SQLite database)",
    "otel": "OpenTelemetry export + propagation (`--otlp-endpoint` to the OTLP sink, client `traceparent`)",
    "tokens": "token counting (streams ask `stream_options.include_usage`)",
    "keys": "API keys (`--api-keys-file`, `Authorization: Bearer`)",
    "model-aware": "model-aware scheduler (`--policy model-aware`)",
    "all": "all of the above together",
}
# Targets (docs/architecture.md "Performance targets" and the performance issue).
CPU_TARGET_MS = 0.03  # ≤ 0.03 ms CPU per proxied request
RPS_TARGET = {"plain": 2.5, "stream": 3.0}  # × the requests/s of the faster peer
FEATURE_TARGET_PCT = 10.0  # each feature costs ≤ 10 % CPU per request over plain gonka
MEMORY_TARGET_MB = 50.0  # ≤ 50 MB RSS with 1,000 nodes after a burst to every node (memory.sh)
HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    model, cores = "unknown CPU", os.cpu_count()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return f"{model}, {cores} cores, {mem_kb / 1024 / 1024:.1f} GiB RAM, {platform.system()} {platform.release()}"


def fmt(v, digits=1):
    return "—" if v is None else f"{v:,.{digits}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def verdict(ok):
    return "—" if ok is None else ("**pass**" if ok else "**fail**")


class Runs:
    """Rows grouped by (group, system, mode, connections); each key holds one row per round."""

    def __init__(self, rows):
        self.rows = {}
        for r in rows:
            key = (r.get("group", "system"), r["system"], r["mode"], r["connections"])
            self.rows.setdefault(key, []).append(r)
        for v in self.rows.values():
            v.sort(key=lambda r: r.get("round", 0))

    def get(self, group, system, mode, conns):
        return self.rows.get((group, system, mode, conns), [])

    def metric(self, group, system, mode, conns, key):
        """Median over rounds and the per-round values of `key`."""
        rs = self.get(group, system, mode, conns)
        values = [r.get(key) for r in rs]
        return med(values), values

    def scenarios(self, group):
        keys = {(m, c) for (g, _, m, c) in self.rows if g == group}
        return sorted(keys, key=lambda s: (s[0] != "plain", s[1]))

    def systems(self, group):
        return sorted({s for (g, s, _, _) in self.rows if g == group})


def per_round(values, digits):
    return " / ".join(fmt(v, digits) for v in values)


def cpu_ms(row):
    # CPU s per 1,000 requests is CPU ms per request.
    return row.get("cpu_s_per_1k", row.get("cpu_ms"))


def feature_order(systems):
    order = ["gonka+" + f for f in FEATURE_LABELS]
    return sorted(systems, key=lambda s: order.index(s) if s in order else len(order))


def sequential_rises(runs, mode, conns, system):
    """Per-round % rises of a sequential feature row over the plain gonka of the same round."""
    base = {r.get("round"): r for r in runs.get("feature", "gonka", mode, conns)}
    return [100 * (ratio(r["cpu_ms"], base[r.get("round")]["cpu_ms"]) - 1)
            for r in runs.get("feature", system, mode, conns)
            if r.get("round") in base and r.get("cpu_ms") and base[r.get("round")].get("cpu_ms")]


def paired_rises(runs, mode, conns, system):
    """Per-round % rises of a paired feature row over the plain gonka run beside it."""
    return [100 * (r["ratio"] - 1) for r in runs.get("paired", system, mode, conns) if r.get("ratio")]


def feature_rises(runs):
    """{(mode, connections label): {row: median % rise}} and how they were measured: the paired
    rows when there are any, else the sequential ones."""
    group, rises_of = ("paired", paired_rises) if runs.scenarios("paired") else ("feature", sequential_rises)
    out = {}
    for mode, conns in runs.scenarios(group):
        label = f"{mode} c={conns}+{conns}" if group == "paired" else f"{mode} c={conns}"
        rows = feature_order([s for s in runs.systems(group) if s != "gonka"])
        out[label] = {s: med(rises_of(runs, mode, conns, s)) for s in rows}
    return out, group


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results")
    p.add_argument("--commands", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--latency-ms", type=float, required=True)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--layout", default="not recorded")
    p.add_argument("--commit", default="unknown")
    a = p.parse_args()
    rows = [json.loads(l) for l in open(a.results, encoding="utf-8") if l.strip()]
    failed = [r for r in rows if "error" in r]
    ok = [r for r in rows if "error" not in r]
    for r in ok:
        r["cpu_ms"] = cpu_ms(r)
    runs = Runs(ok)
    targets = []  # (target, scenario, measured, pass/fail or None)

    out = []
    w = out.append
    w("# Load harness results: gonka-gateway vs vllm-router vs sglang-router\n")
    w("Generated by `benches/load/compare.sh`; numbers are only meaningful as ratios within this one run on")
    w("this one machine.\n")
    w(f"- **Commit measured: `{a.commit}`**; date {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    w(f"- Machine: {machine()}")
    w(f"- Layout: {a.layout}")
    w(f"- Workers: {a.workers} mock OpenAI workers (`mock-worker`, {a.latency_ms:g} ms fixed latency, 8 content chunks per stream)")
    w(f"- Load: `wrk -t2 -c<C> -d{a.duration:g}s --latency -s benches/load/chat.lua` (POST /v1/chat/completions; `STREAM=1` for SSE)")
    w("- CPU: utime+stime of the router process tree from /proc before/after each run, per completed request")
    w("  (ms); RSS: peak resident set (VmHWM) of the router process tree after the run. `direct` has no router.")
    w(f"- Rounds: every row was measured {a.repeat} time(s), the rounds one after the other. Tables give the")
    w("  **median over the rounds** (with two rounds: their mean) and, in brackets or their own column, the")
    w("  per-round values in round order. Ratios and % rises are taken per round, then their median.")
    w("- `gonka` is the gateway with every per-request feature off: `--database memory: --traces off")
    w("  --policy round-robin`, no API keys, no OTLP export. The feature rows switch one on at a time.\n")

    # ---- routers side by side ---------------------------------------------------------------
    sys_scen = runs.scenarios("system")
    present = [s for s in SYSTEMS if s in runs.systems("system")]
    for mode, conns in sys_scen:
        label = "streaming (SSE)" if mode == "stream" else "non-streaming"
        w(f"## {label}, {conns} connections\n")
        w("| system | requests/s (per round) | p50 ms | p99 ms (per round) | CPU ms / request (per round) | peak RSS MB | non-2xx | socket errors |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in present:
            rs = runs.get("system", s, mode, conns)
            if not rs:
                continue
            rps, rps_v = runs.metric("system", s, mode, conns, "rps")
            p50, _ = runs.metric("system", s, mode, conns, "p50_ms")
            p99, p99_v = runs.metric("system", s, mode, conns, "p99_ms")
            cpu, cpu_v = runs.metric("system", s, mode, conns, "cpu_ms")
            rss = max((r.get("peak_rss_mb") or 0 for r in rs), default=None) if s != "direct" else None
            w(f"| {s} | {fmt(rps, 0)} ({per_round(rps_v, 0)}) | {fmt(p50, 2)} | {fmt(p99, 2)} ({per_round(p99_v, 1)}) | "
              f"{fmt(cpu, 4) if s != 'direct' else '—'}{'' if s == 'direct' else ' (' + per_round(cpu_v, 4) + ')'} | "
              f"{fmt(rss, 1)} | {sum(r['non_2xx'] for r in rs)} | {sum(r['socket_errors'] for r in rs)} |")
        g = runs.get("system", "gonka", mode, conns)
        if g:
            # Per round: gonka ÷ the faster peer of that round.
            faster = []
            for gr in g:
                peers = [r for p_ in PEERS for r in runs.get("system", p_, mode, conns) if r.get("round") == gr.get("round")]
                if peers:
                    best = max(peers, key=lambda r: r["rps"])
                    faster.append((gr, best))
            w("")
            w("| gonka ÷ | requests/s (higher is better) | p99 (lower is better) | CPU per request (lower is better) |")
            w("|---|---:|---:|---:|")
            for peer in PEERS + ["direct"]:
                pairs = [(gr, r) for gr in g for r in runs.get("system", peer, mode, conns) if r.get("round") == gr.get("round")]
                if not pairs:
                    continue
                rr = med([ratio(x["rps"], y["rps"]) for x, y in pairs])
                pr = med([ratio(x["p99_ms"], y["p99_ms"]) for x, y in pairs])
                cr = None if peer == "direct" else med([ratio(x["cpu_ms"], y["cpu_ms"]) for x, y in pairs])
                name = "direct (ceiling)" if peer == "direct" else peer
                w(f"| ÷ {name} | {fmt(rr, 2)}× | {fmt(pr, 2)}× | {'' if cr is None else fmt(cr, 2) + '×'} |")
            if faster:
                vals = [ratio(x["rps"], y["rps"]) for x, y in faster]
                fr = med(vals)
                w(f"| ÷ the faster peer of each round | **{fmt(fr, 2)}×** ({per_round(vals, 2)}) | | |")
                need = RPS_TARGET[mode]
                targets.append((f"≥ {need:g}× the requests/s of the faster peer", f"{mode} c={conns}",
                                f"{fr:.2f}× ({per_round(vals, 2)})", fr >= need))
            cpu, cpu_v = runs.metric("system", "gonka", mode, conns, "cpu_ms")
            if cpu is not None:
                targets.append((f"CPU ≤ {CPU_TARGET_MS} ms / request", f"{mode} c={conns}",
                                f"{cpu:.4f} ms ({per_round(cpu_v, 4)})", cpu <= CPU_TARGET_MS))
            if mode == "stream" and conns == max(c for m, c in sys_scen if m == "stream"):
                p99, p99_v = runs.metric("system", "gonka", mode, conns, "p99_ms")
                peer_p99 = [runs.metric("system", p_, mode, conns, "p99_ms")[0] for p_ in PEERS]
                peer_p99 = [v for v in peer_p99 if v is not None]
                if peer_p99 and p99 is not None:
                    targets.append((f"p99 of {conns} streams no worse than the peers", f"stream c={conns}",
                                    f"{p99:.1f} ms vs best peer {min(peer_p99):.1f} ms", p99 <= min(peer_p99)))
        w("")

    # ---- feature cost -----------------------------------------------------------------------
    feat_scen = runs.scenarios("feature")
    features = feature_order([s for s in runs.systems("feature") if s != "gonka"])
    if feat_scen:
        w("## Feature cost: gonka with one per-request feature on\n")
        w("Each feature row is its own gateway, measured right after a plain `gonka` measured again at the same")
        w("load in the same round (the base of its % rise). Rise = CPU ms per request of the row ÷ the base's of")
        w(f"the same round − 1; the target is ≤ {FEATURE_TARGET_PCT:g} % per feature. `spans/req`: spans the OTLP sink")
        w("received per request; `tokens/req`: completion tokens the gateway counted per request")
        w("(`gonka_gateway_tokens_total`); `traces/req`: request traces stored in the SQLite database (read")
        w("1 s after the run, the writer being off the request path); all deltas over the run.\n")
        w("| row | scenario | requests/s | p99 ms | CPU ms / request (per round) | rise over plain gonka (per round) | spans/req | tokens/req | traces/req | ≤ 10 % |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for mode, conns in feat_scen:
            base = {r.get("round"): r for r in runs.get("feature", "gonka", mode, conns)}
            for s in ["gonka"] + features:
                rs = runs.get("feature", s, mode, conns)
                if not rs:
                    continue
                rps, _ = runs.metric("feature", s, mode, conns, "rps")
                p99, _ = runs.metric("feature", s, mode, conns, "p99_ms")
                cpu, cpu_v = runs.metric("feature", s, mode, conns, "cpu_ms")
                spans = med([ratio(r.get("spans_exported"), r.get("requests")) for r in rs])
                tokens = med([ratio(r.get("tokens_counted"), r.get("requests")) for r in rs])
                traces = med([ratio(r.get("traces_stored"), r.get("requests")) for r in rs])
                if s == "gonka":
                    rise_txt, ok_txt = "base", ""
                else:
                    rises = [100 * (ratio(r["cpu_ms"], base[r.get("round")]["cpu_ms"]) - 1)
                             for r in rs if r.get("round") in base and r.get("cpu_ms") and base[r.get("round")].get("cpu_ms")]
                    rise = med(rises)
                    rise_txt = "—" if rise is None else f"{rise:+.1f} % ({' / '.join(f'{v:+.1f} %' for v in rises)})"
                    passed = None if rise is None else rise <= FEATURE_TARGET_PCT
                    ok_txt = verdict(passed)
                    if rise is not None and not runs.scenarios("paired"):
                        feat = s.split("+", 1)[1]
                        targets.append((f"feature cost ≤ {FEATURE_TARGET_PCT:g} %: {feat}", f"{mode} c={conns}",
                                        f"{rise:+.1f} % ({cpu:.4f} ms/req)", passed))
                w(f"| {s} | {mode} c={conns} | {fmt(rps, 0)} | {fmt(p99, 1)} | {fmt(cpu, 4)} ({per_round(cpu_v, 4)}) | "
                  f"{rise_txt} | {fmt(spans, 2)} | {fmt(tokens, 1)} | {fmt(traces, 2)} | {ok_txt} |")
        w("")
        w("Rows: " + "; ".join(f"`gonka+{k}`: {v}" for k, v in FEATURE_LABELS.items()) + ".\n")

    # ---- feature cost, paired ---------------------------------------------------------------
    pair_scen = runs.scenarios("paired")
    pair_rows = feature_order(runs.systems("paired"))
    if pair_scen:
        w("## Feature cost: gonka with one per-request feature on, paired\n")
        w("Each row is its own gateway run AT THE SAME TIME as a plain `gonka` (`--database memory: --traces off")
        w("--policy round-robin`), both pinned to the router's core, each loaded by its own wrk with the")
        w("connections shown (`benches/load/pair.sh`). Whatever slows the machine during a round slows both")
        w("alike, so the ratio of their CPU per request stays within a few % from round to round where the")
        w("sequential rows of a shared VM swing by ±20 %. Rise = the median over the rounds of (the row's")
        w(f"CPU ms per request ÷ the plain gateway's) − 1; the target is ≤ {FEATURE_TARGET_PCT:g} % per feature.")
        w("`spans/req`, `tokens/req`, `traces/req`: spans the OTLP sink received, completion tokens the row's")
        w("gateway counted, request traces stored in its SQLite database, per request the row's gateway answered")
        w("over its rounds: each row's feature at work.\n")
        w("| row | scenario | plain gonka req/s | row req/s | plain gonka CPU ms / request | row CPU ms / request | rise over plain gonka (per round) | spans/req | tokens/req | traces/req | ≤ 10 % |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for mode, conns in pair_scen:
            for s in pair_rows:
                rs = runs.get("paired", s, mode, conns)
                if not rs:
                    continue
                rises = paired_rises(runs, mode, conns, s)
                rise = med(rises)
                passed = None if rise is None else rise <= FEATURE_TARGET_PCT
                scen = f"{mode} c={conns}+{conns}"
                rise_txt = "—" if rise is None else f"{rise:+.1f} % ({' / '.join(f'{v:+.1f}' for v in rises)})"
                total = (runs.get("paired-total", s, mode, conns) or [{}])[0]
                seen = (runs.get("paired-seen", s, mode, conns) or [{}])[0]
                per_req = {k: ratio(src.get(k), total.get("requests")) for k, src in
                           (("spans_exported", seen), ("tokens_counted", total), ("traces_stored", seen))}
                w(f"| {s} | {scen} | {fmt(med([r.get('base_rps') for r in rs]), 0)} | {fmt(med([r.get('rps') for r in rs]), 0)} | "
                  f"{fmt(med([r.get('base_cpu_ms') for r in rs]), 4)} | {fmt(med([r.get('cpu_ms') for r in rs]), 4)} | "
                  f"{rise_txt} | {fmt(per_req['spans_exported'], 2)} | {fmt(per_req['tokens_counted'], 1)} | "
                  f"{fmt(per_req['traces_stored'], 2)} | {verdict(passed)} |")
                if rise is not None:
                    targets.append((f"feature cost ≤ {FEATURE_TARGET_PCT:g} %: {s.split('+', 1)[1]} (paired)", scen,
                                    f"{rise:+.1f} %", passed))
        w("")
        w("Rows: " + "; ".join(f"`gonka+{k}`: {v}" for k, v in FEATURE_LABELS.items()) + ".\n")

    # ---- scaling ----------------------------------------------------------------------------
    scal_scen = runs.scenarios("scaling")
    scal_rows = sorted(runs.systems("scaling"), key=lambda s: int(re.sub(r"\D", "", s) or 0))
    if scal_scen:
        w("## Scaling: gonka on 1 and 2 worker threads\n")
        w("`TOKIO_WORKER_THREADS=N`, the gateway pinned to the first N cores (taskset). With 2 threads on a")
        w("2-core machine the gateway shares a core with the workers and wrk, so the 2-thread row is bounded")
        w("by the load generator as much as by the gateway.\n")
        w("| threads | cores | scenario | requests/s (per round) | p99 ms | CPU ms / request (per round) |")
        w("|---|---|---|---:|---:|---:|")
        for mode, conns in scal_scen:
            for s in scal_rows:
                rs = runs.get("scaling", s, mode, conns)
                if not rs:
                    continue
                rps, rps_v = runs.metric("scaling", s, mode, conns, "rps")
                p99, _ = runs.metric("scaling", s, mode, conns, "p99_ms")
                cpu, cpu_v = runs.metric("scaling", s, mode, conns, "cpu_ms")
                w(f"| {rs[0].get('threads', '?')} | {rs[0].get('cpus', '?')} | {mode} c={conns} | {fmt(rps, 0)} ({per_round(rps_v, 0)}) | "
                  f"{fmt(p99, 1)} | {fmt(cpu, 4)} ({per_round(cpu_v, 4)}) |")
        w("")

    # ---- targets ----------------------------------------------------------------------------
    mem = memory_result()
    if mem:
        targets.append(mem)
    w("## Targets\n")
    w("From docs/architecture.md (\"Performance targets\") and the performance issue. Pass/fail is of the")
    w("median over the rounds of this run.\n")
    w("| target | scenario | measured | result |")
    w("|---|---|---|---|")
    for t, scen, measured, passed in targets:
        w(f"| {t} | {scen} | {measured} | {verdict(passed)} |")
    w("")
    if failed:
        w("## Runs that produced no numbers\n")
        for r in failed:
            w(f"- round {r.get('round', '?')}: {r['system']} {r.get('mode', '')} {r.get('connections', '')}: {r['error']}")
        w("")
    w("## Exact commands\n")
    w("```")
    w(open(a.commands, encoding="utf-8").read().rstrip().replace(os.getcwd() + "/", ""))
    w("```\n")
    notes = os.path.join(HERE, "NOTES.md")
    if os.path.exists(notes):
        w(open(notes, encoding="utf-8").read().rstrip() + "\n")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "RESULTS.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    chart(runs, os.path.join(a.out, "results.png"), a.commit)
    if os.path.realpath(a.out) == os.path.realpath(HERE):
        readme_commit(a.commit)


def memory_result():
    """The memory target's row from MEMORY.md (written by memory.sh), when there is one."""
    path = os.path.join(HERE, "MEMORY.md")
    if not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^\| RSS with (\d+) nodes after the burst[^|]*\| ([\d.]+) MB \|", text, re.M)
    commit = re.search(r"\(commit ([0-9a-f]+)", text)
    if not m:
        return None
    mb = float(m.group(2))
    where = f"MEMORY.md, commit {commit.group(1)}" if commit else "MEMORY.md"
    return (f"RSS ≤ {MEMORY_TARGET_MB:g} MB with {m.group(1)} nodes after a burst to every node (settled)",
            f"memory.sh ({where})", f"{mb:.1f} MB", mb <= MEMORY_TARGET_MB)


def readme_commit(commit):
    """Names the measured commit next to the README's link to RESULTS.md."""
    path = os.path.join(HERE, "..", "..", "README.md")
    if not os.path.exists(path):
        return
    text = open(path, encoding="utf-8").read()
    suffix = " plus uncommitted changes" if " " in commit.strip() else ""
    link = "[benches/load/RESULTS.md](benches/load/RESULTS.md)"
    new, n = re.subn(re.escape(link) + r"(?: \(measured on commit `[^`]*`[^)]*\))?",
                     f"{link} (measured on commit `{commit.split()[0]}`{suffix})", text, count=1)
    if n:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)


def chart(runs, path, commit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = runs.scenarios("system")
    routers = [s for s in ["gonka"] + PEERS if s in runs.systems("system")]
    labels = [f"{m}\nc={c}" for m, c in scen]
    rises, rise_group = feature_rises(runs)
    has_features = bool(rises)
    fig, axes = plt.subplots(1, 4 if has_features else 3, figsize=(21 if has_features else 16, 5.5))
    width = 0.8 / max(1, len(routers))
    metrics = [("rps", "requests/s (higher is better)", True),
               ("p99_ms", "p99 latency ms (lower is better)", True),
               ("cpu_ms", "router CPU ms per request (lower is better)", False)]
    for ax, (key, title, ceiling) in zip(axes, metrics):
        for i, s in enumerate(routers):
            vals = [runs.metric("system", s, m, c, key)[0] or 0 for m, c in scen]
            xs = [x + (i - (len(routers) - 1) / 2) * width for x in range(len(scen))]
            ax.bar(xs, vals, width, label=s, color=COLORS.get(s))
        if ceiling:
            # The direct-to-worker ceiling as a line across each scenario's group, not a bar.
            for x, (m, c) in enumerate(scen):
                v = runs.metric("system", "direct", m, c, key)[0]
                if v:
                    ax.hlines(v, x - 0.45, x + 0.45, colors="black", linestyles="dashed",
                              label="direct to one worker (ceiling)" if x == 0 else None)
        if key == "cpu_ms":
            ax.axhline(CPU_TARGET_MS, color="red", linestyle=":", label=f"target {CPU_TARGET_MS} ms")
        ax.set_xticks(range(len(scen)))
        ax.set_xticklabels(labels)
        ax.set_title(title)
        ax.legend(fontsize=8)
    if has_features:
        ax = axes[3]
        feats = feature_order({f for by_row in rises.values() for f in by_row})
        fw = 0.8 / max(1, len(rises))
        for j, (label, by_row) in enumerate(rises.items()):
            vals = [by_row.get(f) or 0 for f in feats]
            ys = [y + (j - (len(rises) - 1) / 2) * fw for y in range(len(feats))]
            ax.barh(ys, vals, fw, label=label)
        ax.axvline(FEATURE_TARGET_PCT, color="red", linestyle=":", label=f"target ≤ {FEATURE_TARGET_PCT:g} %")
        ax.set_yticks(range(len(feats)))
        ax.set_yticklabels([s.replace("gonka+", "") for s in feats])
        ax.invert_yaxis()
        ax.set_title("gonka CPU per request: % rise per feature"
                     + (" (paired)" if rise_group == "paired" else ""))
        ax.legend(fontsize=8)
    fig.suptitle(f"gonka-gateway vs vllm-router vs sglang-router: same mock workers, same machine, one run "
                 f"(medians over rounds; commit {commit.split()[0]})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
