#!/usr/bin/env bash
# Creates (once) the project's Python virtualenv in .venv with the test peers (openai SDK, ollama client, pytest)
# and prints the path of its python. Safe to call repeatedly; offline-safe once created.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GONKA_VENV:-$PWD/.venv}"
REQ="scripts/python-requirements.txt"
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  echo "$want" > "$STAMP"
fi
echo "$VENV/bin/python"
