#!/usr/bin/env bash
# deploy/ checked without a cluster or a docker daemon (tools: scripts/deploy-tools.sh, cached):
#   Dockerfile  hadolint (deploy/docker/.hadolint.yaml)
#   compose     the compose-spec JSON schema (check-jsonschema's vendored copy) + deploy_check.py
#   Helm chart  helm lint --strict and helm template for the default and each ci/*-values.yaml,
#               the manifests against the Kubernetes JSON schemas (kubernetes-validate --strict)
#               for the oldest and newest Kubernetes the chart claims; ServiceMonitor (a CRD whose
#               schema no reachable registry ships) is skipped by the schema check and covered by
#               deploy_check.py (selects a rendered Service, scrapes a port it has)
#   systemd     systemd-analyze verify, any complaint fails; systemd-analyze security --offline
#               exposure scores under a threshold
set -euo pipefail
cd "$(dirname "$0")/../.."

eval "$(bash scripts/deploy-tools.sh)"
BIN="$(dirname "$PYTHON")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
fail() { echo "error: $*" >&2; status=1; }

echo "==> hadolint deploy/docker/Dockerfile"
"$BIN/hadolint" --config deploy/docker/.hadolint.yaml deploy/docker/Dockerfile || fail "hadolint"
bash -n deploy/docker/probe.sh || fail "probe.sh does not parse"

echo "==> compose: compose-spec schema"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/docker-compose.yml \
  || fail "docker-compose.yml does not match the compose specification"
"$PYTHON" scripts/deploy_check.py compose || fail "compose cross-checks"

echo "==> helm lint + template"
chart=deploy/helm/gonka
required=(--set secret.databaseUrl=postgres://gonka:pw@postgres/gonka
  --set secret.adminToken=a --set secret.mlnodeToken=m)
if "$HELM" template t "$chart" >/dev/null 2>&1; then
  fail "the chart renders without the required database URL and tokens"
fi
"$HELM" lint --strict "$chart" "${required[@]}" || fail "helm lint (defaults)"
"$HELM" template t "$chart" --namespace gonka "${required[@]}" >"$out/default.yaml" \
  || fail "helm template (defaults)"
for values in "$chart"/ci/*-values.yaml; do
  name="$(basename "$values" .yaml)"
  "$HELM" lint --strict "$chart" -f "$values" || fail "helm lint -f $values"
  "$HELM" template t "$chart" --namespace gonka -f "$values" >"$out/$name.yaml" \
    || fail "helm template -f $values"
done

echo "==> Kubernetes schemas (kubernetes-validate --strict)"
min_k8s="$(sed -n 's/^kubeVersion: ">=\([0-9.]*\)-0"$/\1/p' "$chart/Chart.yaml")"
for version in "$min_k8s" 1.37.0; do
  for f in "$out"/*.yaml; do
    log="$("$BIN/kubernetes-validate" --strict -k "$version" "$f" 2>&1)" || { echo "$log" >&2; fail "$f against Kubernetes $version"; }
    # The only acceptable warning: no schema for the ServiceMonitor CRD.
    if grep -v "passed for resource" <<<"$log" | grep -v "schema for kind ServiceMonitor" | grep -q .; then
      echo "$log" >&2
      fail "$f against Kubernetes $version: unexpected warnings"
    fi
  done
  echo "Kubernetes $version: $(cat "$out"/*.yaml | grep -c '^kind:') objects checked"
done
for f in "$out"/*.yaml; do
  "$PYTHON" scripts/deploy_check.py manifests "$f" || fail "manifest cross-checks of $f"
done

echo "==> systemd-analyze verify deploy/systemd/*.service"
if ! command -v systemd-analyze >/dev/null; then
  apt-get update -qq && apt-get install -y -qq systemd >/dev/null
fi
# verify wants ExecStart's binary to exist: the copies point at the workspace's debug build.
mkdir -p "$out/units"
for unit in deploy/systemd/*.service; do
  sed "s#/usr/local/bin/#$PWD/target/debug/#" "$unit" >"$out/units/$(basename "$unit")"
done
for bin in gonka-gateway gonka-mlnode gonka-admin; do
  [ -x "target/debug/$bin" ] || cargo build -q --locked --bin "$bin"
done
log="$(cd "$out/units" && systemd-analyze verify ./*.service 2>&1)" || fail "systemd-analyze verify"
if [ -n "$log" ]; then
  echo "$log" >&2
  fail "systemd-analyze verify complained"
fi

# Exposure score of the sandbox (0 = locked down, 10 = none): the gateway and admin units stay at
# or under 2.0, the ML node unit (GPU devices, JIT) under 4.0.
for unit in gonka-gateway:20 gonka-admin:20 gonka-mlnode:40; do
  name="${unit%%:*}"
  (cd "$out/units" && systemd-analyze security --offline=true --threshold="${unit#*:}" "./$name.service" | tail -1) \
    || fail "$name.service sandbox exposure above $((${unit#*:} / 10)).$((${unit#*:} % 10))"
done

[ "$status" = 0 ] && echo "deploy: Dockerfile, compose, Helm chart and systemd units check out"
exit "$status"
