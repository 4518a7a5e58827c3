#!/usr/bin/env bash
# Cluster mode on loopback (docs/cluster.md): three nats-servers (JetStream, R3 streams, fsync
# before every acknowledgement) and kassa nodes joined to them.
#
#   scripts/cluster.sh up [--nodes 1]   start them (nats on 4222-4224, kassa on 8080/7400/8583)
#   scripts/cluster.sh status           what runs, kassa's readiness, the streams
#   scripts/cluster.sh down [--wipe]    stop them (--wipe: delete their data too)
#
# State lives in $KASSA_CLUSTER_DIR (default ./kassa-cluster). nats-server comes from
# scripts/setup-debian.sh (.venv), kassa from target/debug (built if missing). Step 1 of cluster
# mode has one node owning every partition: standbys are not built yet, so --nodes is 1.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${KASSA_CLUSTER_DIR:-./kassa-cluster}
nats=${KASSA_NATS_SERVER:-.venv/bin/nats-server}
kassa=${KASSA_BIN:-${CARGO_TARGET_DIR:-target}/debug/kassa}
urls="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"

wait_port() { # $1 = port, $2 = what
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not listen on $1 within 60 s" >&2
  return 1
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
  local nodes=1
  if [ "${1:-}" = "--nodes" ]; then nodes=${2:?--nodes needs a number}; fi
  if [ "$nodes" != 1 ]; then
    echo "cluster mode step 1 runs one node owning every partition; standbys are not built yet (docs/cluster.md)" >&2
    exit 2
  fi
  [ -x "$nats" ] || scripts/setup-debian.sh
  [ -x "$kassa" ] || cargo build --locked -p kassa-adapters --bin kassa
  mkdir -p "$dir"
  for i in 1 2 3; do
    if running "$dir/nats-$i.pid"; then continue; fi
    cat > "$dir/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:422$((i + 1))
http: 127.0.0.1:822$((i + 1))
jetstream { store_dir: "$dir/nats-$i", sync_interval: always }
cluster { name: kassa, listen: 127.0.0.1:622$((i + 1)), routes: [nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224] }
CONF
    "$nats" -c "$dir/nats-$i.conf" >> "$dir/nats-$i.log" 2>&1 &
    echo $! > "$dir/nats-$i.pid"
  done
  for i in 1 2 3; do wait_port "422$((i + 1))" "nats-server n$i"; done
  if ! running "$dir/kassa-1.pid"; then
    local key=${KASSA_ADMIN_KEY:-}
    if [ -z "$key" ]; then
      [ -f "$dir/admin-key" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin-key")
      key=$(cat "$dir/admin-key")
    fi
    KASSA_ADMIN_KEY=$key "$kassa" serve --data-dir "$dir/kassa-1" --cluster "$urls" --node-id kassa-1 \
      >> "$dir/kassa-1.log" 2>&1 &
    echo $! > "$dir/kassa-1.pid"
  fi
  wait_port 7400 "kassa-1"
  echo "up: nats-servers on 4222-4224, kassa-1 on http 127.0.0.1:8080, tcp 7400, iso8583 8583"
  [ -n "${KASSA_ADMIN_KEY:-}" ] || echo "admin key: $dir/admin-key"
}

status() {
  for name in nats-1 nats-2 nats-3 kassa-1; do
    if running "$dir/$name.pid"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: stopped"; fi
  done
  python3 - <<'PY'
import json, urllib.request
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return None, str(error)
status, body = get("http://127.0.0.1:8080/ready")
print(f"kassa-1 /ready: {status} {body.strip()[:80]}")
for port in (8222, 8223, 8224):
    status, body = get(f"http://127.0.0.1:{port}/jsz?streams=true")
    if status == 200:
        data = json.loads(body)
        print(f"nats :{port}: {data.get('streams', 0)} streams, {data.get('messages', 0)} messages")
    else:
        print(f"nats :{port}: {body[:60]}")
PY
}

down() {
  for name in kassa-1 nats-1 nats-2 nats-3; do
    if running "$dir/$name.pid"; then
      local pid; pid=$(cat "$dir/$name.pid")
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
  done
  if [ "${1:-}" = "--wipe" ]; then rm -rf "$dir"; fi
  echo "down"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  status) status ;;
  down) shift; down "$@" ;;
  *) echo "usage: scripts/cluster.sh up [--nodes 1] | status | down [--wipe]" >&2; exit 2 ;;
esac
