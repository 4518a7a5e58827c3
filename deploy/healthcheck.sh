#!/bin/bash
# Probes kassa's HTTP listener: exit 0 when `GET <path>` (default /health) answers 200.
# The container's HEALTHCHECK runs it. It uses bash's built-in /dev/tcp redirection (Debian's
# bash has it; it needs no device file), so the image carries no curl or wget.
#   healthcheck.sh          liveness  (GET /health)
#   healthcheck.sh /ready   readiness (GET /ready: 503 while recovering or after a storage failure)
set -euo pipefail
path=${1:-/health}
addr=${KASSA_HTTP:-127.0.0.1:8080}
port=${addr##*:}               # 0.0.0.0:8080 or [::]:8080 -> 8080; probed on loopback
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 2 status <&3   # the status line only, e.g. "HTTP/1.1 200 OK"
[[ $status == "HTTP/1."[01]" 200 "* ]]
