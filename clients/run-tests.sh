#!/usr/bin/env bash
# Runs the tests of the Python and TypeScript clients of kassa's TCP protocol: unit tests, then
# end-to-end tests against a real `kassa serve` started on free loopback ports, then README's
# two examples (clients/*/example.*) against one more.
#
#   clients/run-tests.sh            # KASSA_BIN defaults to target/release/kassa, else target/debug/kassa
#   KASSA_BIN=/path/to/kassa clients/run-tests.sh
#
# Needs python3 (>= 3.9) and node (>= 18); installs nothing (the TypeScript tests use the
# committed dist/). Exits non-zero on any failure.
set -euo pipefail

clients_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$clients_dir/.." && pwd)"

if [[ -z "${KASSA_BIN:-}" ]]; then
  if [[ -x "$repo_root/target/release/kassa" ]]; then
    KASSA_BIN="$repo_root/target/release/kassa"
  else
    KASSA_BIN="$repo_root/target/debug/kassa"
  fi
fi
if [[ "$KASSA_BIN" != /* ]]; then
  KASSA_BIN="$repo_root/$KASSA_BIN"
fi
if [[ ! -x "$KASSA_BIN" ]]; then
  echo "run-tests.sh: no kassa binary at $KASSA_BIN (build it, or set KASSA_BIN)" >&2
  exit 1
fi
export KASSA_BIN
export PYTHONDONTWRITEBYTECODE=1

# Every suite is bounded on its own; this is a last resort against a hang.
bounded() {
  if command -v timeout >/dev/null; then timeout --kill-after=10 300 "$@"; else "$@"; fi
}

echo "== Python client (KASSA_BIN=$KASSA_BIN)"
(cd "$clients_dir/python" && bounded python3 -m unittest discover -v)

echo "== TypeScript client"
(cd "$clients_dir/typescript" && bounded node --test test/*.test.mjs)

echo "== README's examples against a live kassa serve"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
data_dir=$(mktemp -d)
admin_key="examples-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
tcp_port=$(free_port)
"$KASSA_BIN" serve --data-dir "$data_dir/data" --http "127.0.0.1:$(free_port)" --tcp "127.0.0.1:$tcp_port" \
  --iso8583 "127.0.0.1:$(free_port)" --admin-key "$admin_key" >"$data_dir/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $tcp_port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
(cd "$clients_dir/python" && KASSA_ADMIN_KEY=$admin_key bounded python3 example.py 127.0.0.1 "$tcp_port")
(cd "$clients_dir/typescript" && KASSA_ADMIN_KEY=$admin_key bounded node example.mjs 127.0.0.1 "$tcp_port")

echo "== all client tests passed"
