#!/usr/bin/env bash
# Cluster mode on loopback (docs/cluster.md): three nats-servers (JetStream, R3 streams, fsync
# before every acknowledgement) and kassa nodes joined to them.
#
#   scripts/cluster.sh up [--nodes N]   start them: nats on 4222-4224; kassa-1..N (N = 1..3,
#                                       default 3) on http 8080+i-1, tcp 7400+i-1, iso 8583+i-1
#   scripts/cluster.sh status           what runs, each node's readiness, the streams
#   scripts/cluster.sh down [--wipe]    stop them (--wipe: delete their data too)
#
# The first node owns every partition; the others are hot standbys that forward every
# connection to it and take over when it dies. Any node accepts any request.
# State lives in $KASSA_CLUSTER_DIR (default ./kassa-cluster). nats-server comes from
# scripts/setup-debian.sh (.venv), kassa from target/debug (built if missing).
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

# JetStream's meta group has a leader that sees its two peers current: only then can a node
# create its replicated streams and buckets (before, NATS answers "no suitable peers for
# placement, peer offline" and the node's join fails).
wait_jetstream() {
  for _ in $(seq 1 300); do
    if python3 2>/dev/null <<'PY'
import json, sys, urllib.request
def meta(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=2) as answer:
        return json.load(answer).get("meta_cluster", {})
metas = [meta(port) for port in (8222, 8223, 8224)]
leaders = [m for m in metas if "replicas" in m]
ready = all(m.get("leader") for m in metas) and len(leaders) == 1 and len(leaders[0]["replicas"]) == 2 \
    and all(r.get("current") and not r.get("offline") for r in leaders[0]["replicas"])
sys.exit(0 if ready else 1)
PY
    then
      return 0
    fi
    sleep 0.2
  done
  echo "JetStream had no leader seeing its two peers current within 60 s" >&2
  return 1
}

wait_ready() { # $1 = node number, $2 = admin key
  # Until /ready answers 200. A node whose join fails (NATS still placing its streams or
  # electing) exits, and is started again here, as its supervisor would start it.
  local i=$1 port=$((8079 + $1))
  for _ in $(seq 1 600); do
    if python3 -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/ready', timeout=2)" 2>/dev/null; then
      return 0
    fi
    running "$dir/kassa-$i.pid" || start_node "$i" "$2"
    sleep 0.2
  done
  echo "kassa-$i was not ready on $port within 120 s; the end of its log:" >&2
  tail -n 40 "$dir/kassa-$i.log" >&2
  return 1
}

start_node() { # $1 = node number, $2 = admin key
  local i=$1
  if running "$dir/kassa-$i.pid"; then return 0; fi
  KASSA_ADMIN_KEY=$2 "$kassa" serve --data-dir "$dir/kassa-$i" --cluster "$urls" --node-id "kassa-$i" \
    --http "127.0.0.1:$((8079 + i))" --tcp "127.0.0.1:$((7399 + i))" --iso8583 "127.0.0.1:$((8582 + i))" \
    >> "$dir/kassa-$i.log" 2>&1 &
  echo $! > "$dir/kassa-$i.pid"
}

up() {
  local nodes=3
  if [ "${1:-}" = "--nodes" ]; then nodes=${2:?--nodes needs a number}; fi
  case "$nodes" in 1|2|3) ;; *) echo "--nodes must be 1, 2 or 3" >&2; exit 2 ;; esac
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
  wait_jetstream
  local key=${KASSA_ADMIN_KEY:-}
  if [ -z "$key" ]; then
    [ -f "$dir/admin-key" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin-key")
    key=$(cat "$dir/admin-key")
  fi
  # The first node first, so that it owns the partitions; the others follow it.
  start_node 1 "$key"
  wait_ready 1 "$key"
  for i in $(seq 2 "$nodes"); do start_node "$i" "$key"; done
  for i in $(seq 2 "$nodes"); do wait_ready "$i" "$key"; done
  echo "up: nats-servers on 127.0.0.1:4222-4224"
  for i in $(seq 1 "$nodes"); do
    echo "  kassa-$i: http http://127.0.0.1:$((8079 + i)), tcp 127.0.0.1:$((7399 + i)), iso8583 127.0.0.1:$((8582 + i))"
  done
  [ -n "${KASSA_ADMIN_KEY:-}" ] || echo "admin key: $dir/admin-key"
}

status() {
  for name in nats-1 nats-2 nats-3 kassa-1 kassa-2 kassa-3; do
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
for node in (1, 2, 3):
    status, body = get(f"http://127.0.0.1:{8079 + node}/ready")
    print(f"kassa-{node} /ready: {status} {body.strip()[:80]}")
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
  for name in kassa-3 kassa-2 kassa-1 nats-1 nats-2 nats-3; do
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
  *) echo "usage: scripts/cluster.sh up [--nodes 1|2|3] | status | down [--wipe]" >&2; exit 2 ;;
esac
