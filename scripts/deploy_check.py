"""Cross-checks of deploy/ that no schema expresses (run by scripts/ci.d/65-deploy.sh).

  deploy_check.py compose            the compose file's ${VAR}s are all in config.env.example,
                                     node-config.json is upstream's shape, the GPU reservation is there
  deploy_check.py manifests FILE...  rendered Helm output: every ServiceMonitor selects a rendered
                                     Service and names one of its ports; every probe names a
                                     container port; prints the kinds so the log shows what passed

Exits 1 with one line per problem.
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "deploy/compose"


def check_compose():
    problems = []
    text = (COMPOSE / "docker-compose.yml").read_text()
    doc = yaml.safe_load(text)
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    env = COMPOSE / "config.env.example"
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in env.read_text().splitlines()
        if re.match(r"^#?\s*[A-Z_][A-Z0-9_]*=", line)
    }
    for name in sorted(used - documented):
        problems.append(f"docker-compose.yml uses ${{{name}}}, which config.env.example does not set")
    services = doc.get("services", {})
    for need in ("api", "mlnode", "mlnode-sim", "postgres"):
        if need not in services:
            problems.append(f"docker-compose.yml has no service {need}")
    gpu = services.get("mlnode", {}).get("deploy", {}).get("resources", {})
    devices = gpu.get("reservations", {}).get("devices", [])
    if not any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices):
        problems.append("service mlnode reserves no nvidia GPU")
    nodes = json.loads((COMPOSE / "node-config.json").read_text())
    for n in nodes:
        for key in ("id", "host", "inference_port", "poc_port", "models"):
            if key not in n:
                problems.append(f"node-config.json: node {n.get('id')} lacks {key}")
    aliases = {
        a
        for s in services.values()
        for a in (s.get("networks") or {}).get("default", {}).get("aliases", [])
    }
    for n in nodes:
        if n.get("host") not in aliases | set(services):
            problems.append(f"node-config.json: host {n.get('host')} is no compose service or alias")
    return problems


def check_manifests(files):
    problems = []
    docs = [d for f in files for d in yaml.safe_load_all(Path(f).read_text()) if d]
    services = [d for d in docs if d["kind"] == "Service"]
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "ServiceMonitor":
            sel = d["spec"]["selector"]["matchLabels"]
            hits = [
                s for s in services
                if all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())
            ]
            if not hits:
                problems.append(f"{name} selects no rendered Service")
            for ep in d["spec"]["endpoints"]:
                if not any(ep["port"] in {p["name"] for p in s["spec"]["ports"]} for s in hits):
                    problems.append(f"{name} scrapes port {ep['port']}, which its Service lacks")
        if d["kind"] in ("Deployment", "DaemonSet"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                ports = {p["name"] for p in c.get("ports", [])}
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    port = c.get(probe, {}).get("httpGet", {}).get("port")
                    if port is not None and port not in ports:
                        problems.append(f"{name} {probe} names port {port}, not a container port")
                if "livenessProbe" not in c or "readinessProbe" not in c:
                    problems.append(f"{name} container {c['name']} lacks a liveness or readiness probe")
    print("manifests:", ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)))
    return problems


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "compose":
        problems = check_compose()
    elif what == "manifests":
        problems = check_manifests(sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
