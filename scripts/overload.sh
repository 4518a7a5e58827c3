#!/usr/bin/env bash
# Overload run for the record: a release `kassa serve` offered twice its measured capacity over
# the TCP binary protocol and over HTTP, one phase each, then a light run to check recovery.
# Prints, per phase: throughput, outcomes (busy = TCP Busy / HTTP 503 / ISO 96), the latency
# ladder; then the server's peak RSS (VmHWM), kassa_busy_total, and the recovery check.
#
# Usage: scripts/overload.sh            (20 s per phase)
#        DURATION=5 scripts/overload.sh (shorter)
# Environment (all optional):
#   KASSA_BIN, KASSA_LOADGEN  binaries [target/bench-release/release/kassa, .../kassa-loadgen];
#                             build them with
#                             cargo build --release --target-dir target/bench-release -p kassa-adapters -p kassa-loadgen
#   TCP_CAPACITY, HTTP_CAPACITY  requests/s taken as capacity [54000, 43000: BENCHMARKS.md,
#                             this machine]; MEASURE=1 measures them first with BENCHMARKS.md's
#                             commands (10 s each) instead
#   DURATION                  seconds per overload phase [20]
#   MAX_CONNECTIONS           passed to `kassa serve --max-connections` [its default]
#   MAILBOX_MAX               passed to `kassa serve --mailbox-max` [1024: ~16 ms of work at
#                             capacity; beyond it requests are refused Busy/503/96 at once]
#   KEEP=1                    keep the data directory and the server log
# The load generator runs on the same machine: on 2 cores it competes with the server, as it
# did when the capacities were measured. With a kassa-loadgen that has --rate the load is open
# loop (requests on a fixed schedule, latency from the intended send time); an older one only
# has closed loop, and twice the concurrency of the capacity run stands in for twice the rate.
set -euo pipefail
cd "$(dirname "$0")/.."

KASSA_BIN=${KASSA_BIN:-target/bench-release/release/kassa}
KASSA_LOADGEN=${KASSA_LOADGEN:-target/bench-release/release/kassa-loadgen}
DURATION=${DURATION:-20}
TCP_CAPACITY=${TCP_CAPACITY:-54000}
HTTP_CAPACITY=${HTTP_CAPACITY:-43000}
for binary in "$KASSA_BIN" "$KASSA_LOADGEN"; do
    if [[ ! -x $binary ]]; then
        echo "overload.sh: $binary is missing; build it with" >&2
        echo "  cargo build --release --target-dir target/bench-release -p kassa-adapters -p kassa-loadgen" >&2
        exit 2
    fi
done
command -v curl >/dev/null || { echo "overload.sh: needs curl" >&2; exit 2; }
command -v jq >/dev/null || { echo "overload.sh: needs jq" >&2; exit 2; }

WORK=$(mktemp -d /tmp/kassa-overload.XXXXXX)
ADMIN_KEY="overload-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export KASSA_ADMIN_KEY=$ADMIN_KEY
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=127.0.0.1:$(free_port)
TCP=127.0.0.1:$(free_port)
ISO=127.0.0.1:$(free_port)

SERVER_PID=
SAMPLER_PID=
cleanup() {
    [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null || true
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

extra=()
[[ -n ${MAX_CONNECTIONS:-} ]] && extra=(--max-connections "$MAX_CONNECTIONS")
extra+=(--mailbox-max "${MAILBOX_MAX:-1024}")
RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 "$KASSA_BIN" serve --data-dir "$WORK/data" --http "$HTTP" --tcp "$TCP" \
    --iso8583 "$ISO" --admin-key "$ADMIN_KEY" "${extra[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 600); do
    curl -sf "http://$HTTP/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "overload.sh: kassa serve exited" >&2; exit 1; }
    sleep 0.1
done
echo "kassa serve pid $SERVER_PID: http $HTTP, tcp $TCP, iso8583 $ISO; data in $WORK"

# Peak (VmHWM) and current (VmRSS) resident memory, sampled every 0.5 s.
( while kill -0 "$SERVER_PID" 2>/dev/null; do
      awk '/^VmHWM|^VmRSS/ {printf "%s %s ", $1, $2} END {print ""}' "/proc/$SERVER_PID/status" 2>/dev/null || true
      sleep 0.5
  done >"$WORK/rss.log" ) &
SAMPLER_PID=$!

loadgen_help=$("$KASSA_LOADGEN" --help 2>&1)
has_rate=0
grep -q -- '--rate' <<<"$loadgen_help" && has_rate=1
quiet=()
grep -q -- '--quiet' <<<"$loadgen_help" && quiet=(--quiet)

# run NAME ARGS...: one kassa-loadgen run, its report kept as $WORK/NAME.json.
run() {
    local name=$1
    shift
    echo
    echo "== $name: kassa-loadgen $*"
    local status=0
    "$KASSA_LOADGEN" --api-key "$ADMIN_KEY" --http-addr "$HTTP" --json "$WORK/$name.json" "${quiet[@]}" "$@" \
        >"$WORK/$name.txt" 2>"$WORK/$name.err" || status=$?
    if [[ ! -s $WORK/$name.json ]]; then
        cat "$WORK/$name.txt" "$WORK/$name.err"
        echo "overload.sh: $name produced no report (exit $status)" >&2
        exit 1
    fi
    jq -r '"throughput \(.throughput_per_s | floor)/s over \(.elapsed_s)s, \(.requests // .commands) requests; outcomes \(.outcomes | tostring)",
           "latency us: p50 \(.latency_us.p50) p99 \(.latency_us.p99) p99.9 \(.latency_us.p99_9 // "?") max \(.latency_us.max)",
           "refused busy (busy / http_503 / system_error): \([.outcomes.busy, .outcomes.http_503, .outcomes.system_error] | map(. // 0) | add)"' \
        "$WORK/$name.json"
    [[ $status == 0 ]] || echo "(kassa-loadgen exit $status; see $WORK/$name.err)"
}

if [[ ${MEASURE:-0} == 1 ]]; then
    run capacity-tcp --target tcp --addr "$TCP" --accounts 100000 --connections 1000 --duration 10 --warmup 2
    TCP_CAPACITY=$(jq '.throughput_per_s | floor' "$WORK/capacity-tcp.json")
    run capacity-http --target http --addr "$HTTP" --accounts 10000 --connections 64 --duration 10 --warmup 2
    HTTP_CAPACITY=$(jq '.throughput_per_s | floor' "$WORK/capacity-http.json")
fi
echo
echo "capacity taken: TCP $TCP_CAPACITY/s, HTTP $HTTP_CAPACITY/s; offering twice that for ${DURATION}s each"

if [[ $has_rate == 1 ]]; then
    # More requests in flight than the engine queue holds, so the excess meets its bound.
    tcp_load=(--rate $((2 * TCP_CAPACITY)) --connections 1000 --depth 8)
    http_load=(--rate $((2 * HTTP_CAPACITY)) --connections 2048)
else
    echo "(this kassa-loadgen has no --rate: closed loop at twice the capacity runs' concurrency)"
    tcp_load=(--connections 1000 --depth 2)
    http_load=(--connections 128)
fi
run overload-tcp --target tcp --addr "$TCP" --accounts 10000 --duration "$DURATION" --warmup 1 "${tcp_load[@]}"
run overload-http --target http --addr "$HTTP" --accounts 10000 --duration "$DURATION" --warmup 1 "${http_load[@]}"

# Recovery: right after the overload, a light load must be served in full, without Busy.
run recovery --target tcp --addr "$TCP" --accounts 1000 --connections 8 --duration 3 --warmup 0
recovered=$(jq '[.outcomes.busy, .outcomes.http_503, .outcomes.system_error, .outcomes.connection_error] | map(. // 0) | add' \
    "$WORK/recovery.json")
health=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/health")

kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
peak_kib=$(awk '{for (i = 1; i < NF; i++) if ($i == "VmHWM:" && $(i+1) > max) max = $(i+1)} END {print max + 0}' "$WORK/rss.log")
busy_total=$(curl -s "http://$HTTP/metrics" | awk '/^kassa_busy_total/ {print $2}')
refused=$(grep -c 'connection refused\|connection limit reached' "$WORK/server.log" || true)
echo
echo "== summary"
echo "server peak RSS (VmHWM): $((peak_kib / 1024)) MiB"
echo "engine busy answers (kassa_busy_total): ${busy_total:-0}"
echo "connections refused at the limit (log lines): $refused"
echo "recovery: health $health, busy/errors in the light run after the overload: $recovered"
if [[ $health != 200 || $recovered != 0 ]]; then
    echo "overload.sh: the server did not recover" >&2
    exit 1
fi
