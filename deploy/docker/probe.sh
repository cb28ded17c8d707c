#!/bin/bash
# gonka-probe [livez|readyz] [PORT]: exits 0 when GET /<path> on 127.0.0.1:PORT answers 200.
# Bash's /dev/tcp speaks the HTTP/1.0 request, so the images need no curl. PORT defaults to
# $GONKA_PROBE_PORT (set per image: gateway 9000, admin 9200, ML node 8080).
set -euo pipefail
path="${1:-livez}"
port="${2:-${GONKA_PROBE_PORT:?set GONKA_PROBE_PORT or pass a port}}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /%s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3
[[ "$status" == HTTP/1.[01]\ 200* ]]
