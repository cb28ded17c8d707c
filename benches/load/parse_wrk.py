"""Turns one wrk --latency output into one JSON line of the load harness (see compare.sh)."""
import argparse
import json
import re
import sys


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("wrk_output")
    p.add_argument("--system", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--cpu-ticks", type=int, required=True)
    p.add_argument("--clk-tck", type=int, required=True)
    p.add_argument("--rss-kb", type=int, required=True)
    p.add_argument("--measured-process", choices=["yes", "no"], required=True)
    p.add_argument("--extra", default="{}", help="JSON object merged into the row (round, group, ...)")
    a = p.parse_args()
    text = open(a.wrk_output, encoding="utf-8", errors="replace").read()
    row = {"system": a.system, "mode": a.mode, "connections": a.connections}
    row.update(json.loads(a.extra))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if not m or not total:
        row["error"] = "wrk gave no result: " + " ".join(text.split())[:300]
        print(json.dumps(row))
        return
    row["rps"] = float(m.group(1))
    row["requests"] = int(total.group(1))
    for pct in ("50", "99"):
        lm = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        row[f"p{pct}_ms"] = to_ms(lm.group(1)) if lm else None
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    row["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    row["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    if a.measured_process == "yes":
        cpu_s = a.cpu_ticks / a.clk_tck
        row["cpu_s"] = cpu_s
        row["cpu_s_per_1k"] = cpu_s / row["requests"] * 1000 if row["requests"] else None
        row["peak_rss_mb"] = a.rss_kb / 1024
    print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
