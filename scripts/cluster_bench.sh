#!/usr/bin/env bash
# kassa serve alone vs `--cluster` (R1 streams on one nats-server, R3 on three), over TCP, in one
# sitting (BENCHMARKS.md, "Cluster mode, step 1"). Needs release binaries (`cargo build --release
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
run() { # $1 = label, $2.. = extra serve args
  local label=$1; shift
  rm -rf /tmp/cb-data
  RUST_LOG=warn "$K" serve --data-dir /tmp/cb-data --http 127.0.0.1:18080 --tcp 127.0.0.1:17400 --iso8583 127.0.0.1:18583 --admin-key benchkey "$@" > /tmp/cb-serve.log 2>&1 &
  local serve=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/17400) 2>/dev/null && break; sleep 0.2; done
  echo "== $label: $ARGS"
  "$L" --target tcp --addr 127.0.0.1:17400 --http-addr 127.0.0.1:18080 --api-key benchkey $ARGS --quiet 2>&1 | tail -8
  curl -s http://127.0.0.1:18080/metrics | grep -E "^kassa_batch_size_(sum|count)"
  if [ $# -gt 0 ]; then curl -s "http://127.0.0.1:16301/jsz?streams=true" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("jetstream messages:", d.get("messages"), "bytes:", d.get("bytes"))'; fi
  kill -9 "$serve"; wait "$serve" 2>/dev/null; sleep 0.3
}
for round in ${ROUNDS:-1 2}; do
  run "local (round $round)"
  start_nats 1; run "cluster R1 (round $round)" --cluster nats://127.0.0.1:16101 --node-id b1
  start_nats 3; run "cluster R3 (round $round)" --cluster nats://127.0.0.1:16101,nats://127.0.0.1:16102,nats://127.0.0.1:16103 --node-id b1
  stop_nats
done
exit 0
