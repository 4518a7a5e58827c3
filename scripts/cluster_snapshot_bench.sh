#!/usr/bin/env bash
# Cluster snapshots (docs/cluster.md, step 3; BENCHMARKS.md): how long a node that joins a loaded cluster takes to become able to take over: the owner is
# killed as the node starts, and the time to the joiner's /ready 200 (as owner) is measured.
# Mode A: no snapshot published (the joiner replays the streams from their start).
# Mode B: a snapshot every 5 s (the joiner starts from the latest, the streams trimmed).
set -u
cd "$(dirname "$0")/.."
export KASSA_BIN=target/release/kassa KASSA_CLUSTER_DIR=/tmp/sb KASSA_ADMIN_KEY=benchkey
L=target/release/kassa-loadgen
run() { # $1 = mode name, $2 = snapshot secs
  scripts/cluster.sh down --wipe >/dev/null 2>&1; rm -rf /tmp/sb
  KASSA_CLUSTER_SNAPSHOT_SECS=$2 scripts/cluster.sh up --nodes 1 >/dev/null 2>&1 || { echo "up failed"; return; }
  "$L" --target tcp --addr 127.0.0.1:7400 --http-addr 127.0.0.1:8080 --api-key benchkey --accounts 100000 \
    --connections 500 --duration ${DURATION:-60} --warmup 1 --quiet 2>&1 | grep -E "throughput|committed|ok" | head -3
  sleep 12
  local records; records=$(curl -s http://127.0.0.1:8223/jsz?streams=true | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(s['state']['messages'] for a in d.get('account_details',[]) for s in a.get('stream_detail',[]) if s['name'].startswith('KASSA_P')), [ (s['name'], s['state']['first_seq'], s['state']['last_seq']) for a in d.get('account_details',[]) for s in a.get('stream_detail',[]) if s['name'].startswith('KASSA_P')])" 2>/dev/null)
  local start; start=$(date +%s.%N)
  KASSA_CLUSTER_SNAPSHOT_SECS=$2 KASSA_ADMIN_KEY=benchkey "$KASSA_BIN" serve --data-dir /tmp/sb/kassa-2 --cluster nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 \
    --node-id kassa-2 --http 127.0.0.1:8081 --tcp 127.0.0.1:7401 --iso8583 127.0.0.1:8584 >> /tmp/sb/kassa-2.log 2>&1 &
  echo $! > /tmp/sb/kassa-2.pid
  kill -9 "$(cat /tmp/sb/kassa-1.pid)"
  for _ in $(seq 1 3000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/ready)" = 200 ] && break
    sleep 0.1
  done
  local end; end=$(date +%s.%N)
  echo "$1: streams (messages kept, [name, first, last]) $records; joiner owned and ready $(python3 -c "print(round($end-$start,2))") s after it started"
  du -sh /tmp/sb/kassa-2 /tmp/sb/nats-1 2>/dev/null | tr '\n' ' '; echo
  grep -c "starts from the cluster's latest snapshot" /tmp/sb/kassa-2.log
}
for round in 1 2; do
  run "A (streams only)" 100000
  run "B (snapshot every 5 s)" 5
done
scripts/cluster.sh down --wipe >/dev/null 2>&1; rm -rf /tmp/sb
