#!/usr/bin/env bash
# Layers point down only: an integrator who embeds the libraries without default features must not
# pull the ML node agent, GPU loading or the binaries' tooling. For gonka-gateway and gonka-admin
# with `--no-default-features`, the normal dependency tree must hold none of FORBIDDEN, and the
# library must compile warning-free. tracing-subscriber may be there only as the span registry
# tracing-opentelemetry is built on (W3C trace context in the libraries): none of the logging
# features the binaries use (fmt, env-filter, json, ansi).
set -euo pipefail
cd "$(dirname "$0")/../.."

FORBIDDEN=(gonka-mlnode nvml-wrapper clap tempfile mimalloc)
TOOLING_FEATURES='tracing-subscriber feature "(fmt|env-filter|json|ansi)"'
status=0
for crate in gonka-gateway gonka-admin; do
  echo "==> cargo tree -p $crate --no-default-features -e normal"
  tree="$(cargo tree -p "$crate" --no-default-features -e normal --locked --prefix none --format '{p}')"
  for name in "${FORBIDDEN[@]}"; do
    # Lines look like `clap v4.5.x` or `gonka-mlnode v0.1.0 (/path)`.
    if grep -qE "^${name} v" <<<"$tree"; then
      echo "error: $crate without default features depends on $name:" >&2
      cargo tree -p "$crate" --no-default-features -e normal --locked -i "$name" >&2 || true
      status=1
    fi
  done
  features="$(cargo tree -p "$crate" --no-default-features -e normal,features --locked --prefix none \
    -i tracing-subscriber 2>/dev/null || true)"
  if grep -qE "^${TOOLING_FEATURES}" <<<"$features"; then
    echo "error: $crate without default features enables tracing-subscriber's logging features:" >&2
    grep -E "^${TOOLING_FEATURES}" <<<"$features" >&2
    status=1
  fi
  echo "==> cargo check -p $crate --no-default-features (warnings are errors)"
  # Not RUSTFLAGS=-Dwarnings: that would rebuild every dependency. Cargo replays the cached
  # warnings of workspace crates, so grepping the output is enough.
  out="$(cargo check -p "$crate" --no-default-features --locked --message-format short 2>&1)" || {
    echo "$out" >&2
    exit 1
  }
  if grep -E '^(warning|[^ ]+: warning)' <<<"$out" >&2; then
    echo "error: $crate without default features compiles with warnings" >&2
    status=1
  fi
done
exit "$status"
