#!/usr/bin/env bash
# kassa serve alone vs `--cluster` (R1 streams on one nats-server, R3 on three; then R3 with two
# hot standbys following, the load sent to the owner and then through a standby that forwards
# it), over TCP, in one sitting (BENCHMARKS.md, "Cluster mode"). Needs release binaries (`cargo build --release
# -p kassa-adapters -p kassa-loadgen`) and `scripts/setup-debian.sh`'s nats-server. Loopback
# only; kills what it started. ARGS overrides the load generator's arguments, ROUNDS the rounds.
set -u
cd "$(dirname "$0")/.."
K=${K:-target/release/kassa}; L=${L:-target/release/kassa-loadgen}; N=${N:-.venv/bin/nats-server}
ARGS="${ARGS:---accounts 100000 --connections 1000 --duration 10 --warmup 2}"
NATS_PIDS=()
stop_nats() { [ ${#NATS_PIDS[@]} -gt 0 ] && kill -9 "${NATS_PIDS[@]}" 2>/dev/null; NATS_PIDS=(); sleep 0.5; }
start_nats() { # $1 = count
  stop_nats; rm -rf /tmp/cb-nats; mkdir -p /tmp/cb-nats
  local routes="nats://127.0.0.1:16201,nats://127.0.0.1:16202,nats://127.0.0.1:16203"
  for i in $(seq 1 "$1"); do
    local conf=/tmp/cb-nats/n$i.conf
    { echo "server_name: n$i"; echo "listen: 127.0.0.1:1610$i"; echo "http: 127.0.0.1:1630$i"
      echo "jetstream { store_dir: \"/tmp/cb-nats/s$i\", sync_interval: always }"
      if [ "$1" -gt 1 ]; then echo "cluster { name: kb, listen: 127.0.0.1:1620$i, routes: [$routes] }"; fi; } > "$conf"
    "$N" -c "$conf" > /tmp/cb-nats/n$i.log 2>&1 &
    NATS_PIDS+=($!)
  done
  sleep 3
}
ready() { # $1 = HTTP port
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ] && return 0
    sleep 0.2
  done
}
serve() { # $1 = node (1..3), $2.. = extra serve args; prints the pid
  local node=$1; shift
  rm -rf "/tmp/cb-data$node"
  RUST_LOG=warn "$K" serve --data-dir "/tmp/cb-data$node" --http "127.0.0.1:1808$node" --tcp "127.0.0.1:1740$node" \
    --iso8583 "127.0.0.1:1858$node" --admin-key benchkey "$@" > "/tmp/cb-serve$node.log" 2>&1 &
  echo $!
}
run() { # $1 = label, $2 = standbys (0..2), $3 = node the load goes to, $4.. = extra serve args
  local label=$1 standbys=$2 to=$3; shift 3
  local pids=() id=()
  [ $# -gt 0 ] && id=(--node-id b1)
  pids+=("$(serve 1 "$@" "${id[@]}")")
  ready 18081
  for node in $(seq 2 $((standbys + 1))); do pids+=("$(serve "$node" "$@" --node-id "b$node")"); ready "1808$node"; done
  echo "== $label: $ARGS"
  "$L" --target tcp --addr "127.0.0.1:1740$to" --http-addr "127.0.0.1:1808$to" --api-key benchkey $ARGS --quiet 2>&1 | tail -8
  curl -s http://127.0.0.1:18081/metrics | grep -E "^kassa_batch_size_(sum|count)"
  if [ $# -gt 0 ]; then curl -s "http://127.0.0.1:16301/jsz?streams=true" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("jetstream messages:", d.get("messages"), "bytes:", d.get("bytes"))'; fi
  kill -9 "${pids[@]}"; sleep 0.5
}
R3=nats://127.0.0.1:16101,nats://127.0.0.1:16102,nats://127.0.0.1:16103
for round in ${ROUNDS:-1 2}; do
  run "local (round $round)" 0 1
  start_nats 1; run "cluster R1 (round $round)" 0 1 --cluster nats://127.0.0.1:16101
  start_nats 3; run "cluster R3 (round $round)" 0 1 --cluster "$R3"
  start_nats 3; run "cluster R3, two standbys, load to the owner (round $round)" 2 1 --cluster "$R3"
  start_nats 3; run "cluster R3, two standbys, load through a standby (round $round)" 2 2 --cluster "$R3"
  stop_nats
done
exit 0
