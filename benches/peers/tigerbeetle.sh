#!/usr/bin/env bash
# TigerBeetle side of BENCHMARKS.md (issue 15): TigerBeetle's own `tigerbeetle benchmark` (one
# replica on a temporary data file, one client, batches of 8,189 transfers over 10,000 accounts)
# beside kassa over its TCP binary protocol with the same shape (one connection, one request in
# flight, batches of 8,189 transfers, 10,000 accounts), on the same machine in the same sitting,
# alternating TB, kassa, TB, kassa, ... so that the spread shows.
#
# What it does, on a fresh Debian 12 machine with this repository:
#   1. installs python3-venv/git/curl with apt if missing, and Zig from PyPI's `ziglang` wheel
#      into a venv (the exact version TigerBeetle pins in zig/download.sh; a `zig` wrapper goes
#      on PATH);
#   2. clones TigerBeetle from TB_SRC (a local git repository or a git URL) and checks out the
#      pinned release TB_REF, verifying it is the commit TB_COMMIT;
#   3. builds TigerBeetle with `zig build -Drelease` (timed);
#   4. builds kassa's release binaries (`cargo build --release -p kassa-adapters
#      -p kassa-loadgen`) unless KASSA_BIN_DIR names a directory holding `kassa` and
#      `kassa-loadgen`;
#   5. runs ROUNDS pairs: `tigerbeetle benchmark --transfer-count=TB_TRANSFERS`, then a fresh
#      `kassa serve` on 127.0.0.1 driven by `kassa-loadgen --target tcp --connections 1 --batch 8189`;
#      prints each side's throughput and batch latency lines with UTC times.
# Every server listens on 127.0.0.1 only (TigerBeetle's benchmark picks an ephemeral loopback
# port; kassa gets the ports below); the network is used only by apt, pip and a git URL in TB_SRC.
# Servers are stopped and data files removed on exit (trap), whatever happens.
#
# Usage: benches/peers/tigerbeetle.sh [TB_SRC]
# Environment (all optional):
#   TB_SRC         git repository or URL of TigerBeetle [https://github.com/tigerbeetle/tigerbeetle.git]
#   TB_REF         tag or commit to check out [0.17.8]
#   TB_COMMIT      commit TB_REF must resolve to [1e2826ecdee2f6ba617c1ee10903dfa01974d437]
#   ZIG_VERSION    ziglang wheel version [read from TigerBeetle's zig/download.sh: 0.14.1 at 0.17.8]
#   TB_TRANSFERS   transfers per TigerBeetle run [2000000]
#   KASSA_BIN_DIR  directory with prebuilt release `kassa` and `kassa-loadgen` [build them]
#   TB_BIN         a prebuilt `tigerbeetle` binary: skips the clone, Zig and its build
#   KASSA_DURATION measured seconds per kassa run [10]; KASSA_WARMUP [2]
#   BATCH          transfers per batch on both sides [8189, TigerBeetle's default and maximum]
#   ROUNDS         TB/kassa pairs [2]
#   WORK           scratch directory [a new mktemp -d under /tmp]; KEEP_WORK=1 keeps it
#   NICE           niceness of the builds [15]
#
# Recorded on 2026-12-06 (2 vCPU "Intel(R) Xeon(R) Processor" VM, Debian 12): TigerBeetle 0.17.8
# (1e2826e), Zig 0.14.1 from PyPI `ziglang==0.14.1`, `zig build -Drelease` 183 s under nice 15.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TB_SRC="${1:-${TB_SRC:-https://github.com/tigerbeetle/tigerbeetle.git}}"
TB_REF="${TB_REF:-0.17.8}"
TB_COMMIT="${TB_COMMIT:-1e2826ecdee2f6ba617c1ee10903dfa01974d437}"
TB_TRANSFERS="${TB_TRANSFERS:-2000000}"
KASSA_DURATION="${KASSA_DURATION:-10}"
KASSA_WARMUP="${KASSA_WARMUP:-2}"
BATCH="${BATCH:-8189}"
ACCOUNTS=10000 # TigerBeetle's benchmark default (--account-count)
ROUNDS="${ROUNDS:-2}"
NICE="${NICE:-15}"
HTTP_ADDR=127.0.0.1:18080
TCP_ADDR=127.0.0.1:17400
ISO_ADDR=127.0.0.1:18583 # kassa serve always opens an ISO 8583 listener; keep it on loopback too
ADMIN_KEY="tb-compare-$$"

if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; own_work=0; else WORK="$(mktemp -d /tmp/kassa-tbcmp.XXXXXX)"; own_work=1; fi
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK/kassa-data" "$WORK"/run/*.tigerbeetle.benchmark 2>/dev/null || true
  if [ "$own_work" = 1 ] && [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

utc() { date -u +%Y-%m-%dT%H:%M:%SZ; }
log() { echo "[$(utc)] $*"; }

# --- 1. prerequisites ----------------------------------------------------------------------------
mkdir -p "$WORK/bin"
missing=()
command -v git >/dev/null || missing+=(git)
command -v curl >/dev/null || missing+=(curl)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -n "${TB_BIN:-}" ]; then
  tigerbeetle="$TB_BIN"
  log "prebuilt TigerBeetle $TB_BIN: $("$TB_BIN" version) (TB_BIN: no clone, no Zig, no build)"
else # steps 2-3

# --- 2. TigerBeetle source at the pinned release ------------------------------------------------
tb="$WORK/tigerbeetle"
log "cloning TigerBeetle from $TB_SRC"
rm -rf "$tb"
git clone -q "$TB_SRC" "$tb"
git -C "$tb" -c advice.detachedHead=false checkout -q "$TB_REF"
head="$(git -C "$tb" rev-parse HEAD)"
if [ "$head" != "$TB_COMMIT" ]; then
  echo "TB_REF=$TB_REF is $head, expected TB_COMMIT=$TB_COMMIT (set TB_COMMIT to override)" >&2
  exit 1
fi
log "TigerBeetle $TB_REF = $head"

# --- Zig from PyPI (the version TigerBeetle's build.zig insists on) ----------------------------
ZIG_VERSION="${ZIG_VERSION:-$(sed -n 's/^ZIG_RELEASE="\(.*\)"$/\1/p' "$tb/zig/download.sh" | head -1)}"
[ -n "$ZIG_VERSION" ] || { echo "no ZIG_RELEASE in $tb/zig/download.sh; set ZIG_VERSION" >&2; exit 1; }
python3 -m venv "$WORK/zigenv"
"$WORK/zigenv/bin/pip" install -q "ziglang==$ZIG_VERSION"
printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$WORK/zigenv/bin/python" > "$WORK/bin/zig"
chmod +x "$WORK/bin/zig"
export PATH="$WORK/bin:$PATH"
log "zig $(zig version) (PyPI ziglang==$ZIG_VERSION)"

# --- 3. build TigerBeetle ------------------------------------------------------------------------
log "building TigerBeetle: zig build -Drelease (nice $NICE)"
t0=$(date +%s)
(cd "$tb" && nice -n "$NICE" zig build -Drelease)
tigerbeetle="$tb/tigerbeetle"
log "TigerBeetle built in $(( $(date +%s) - t0 )) s: $("$tigerbeetle" version)"
fi # TB_BIN

# --- 4. kassa release binaries -------------------------------------------------------------------
if [ -n "${KASSA_BIN_DIR:-}" ]; then
  bindir="$KASSA_BIN_DIR"
else
  log "building kassa: cargo build --release -p kassa-adapters -p kassa-loadgen (nice $NICE)"
  t0=$(date +%s)
  (cd "$repo_root" && nice -n "$NICE" cargo build --release -p kassa-adapters -p kassa-loadgen)
  log "kassa built in $(( $(date +%s) - t0 )) s"
  bindir="$repo_root/target/release"
fi
# Private copies: a rebuild in the repository during the runs must not swap the binaries.
cp "$bindir/kassa" "$bindir/kassa-loadgen" "$WORK/bin/"
kassa="$WORK/bin/kassa"; loadgen="$WORK/bin/kassa-loadgen"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc); kernel $(uname -r)"

# --- 5. the runs ---------------------------------------------------------------------------------
mkdir -p "$WORK/run"
run_tb() {
  local round=$1 out="$WORK/run/tb-$1.log"
  log "round $round: tigerbeetle benchmark --transfer-count=$TB_TRANSFERS --transfer-batch-count=$BATCH (load $(cut -d' ' -f1-3 /proc/loadavg))"
  # It formats a data file in the working directory, starts one replica on 127.0.0.1 and deletes
  # the file when it finishes.
  (cd "$WORK/run" && "$tigerbeetle" benchmark --transfer-count="$TB_TRANSFERS" \
    --transfer-batch-count="$BATCH" --account-count="$ACCOUNTS") > "$out" 2>&1 \
    || { tail -20 "$out"; echo "tigerbeetle benchmark failed" >&2; return 1; }
  grep -E '^(transfer batch size|load accepted|batch latency|[0-9]+ batches in)' "$out" | sed 's/^/  TB: /'
  rm -f "$WORK"/run/*.tigerbeetle.benchmark
  log "round $round: TigerBeetle done"
}
run_kassa() {
  local round=$1 data="$WORK/kassa-data"
  rm -rf "$data" # kassa creates it (mode 0700)
  log "round $round: kassa serve + kassa-loadgen --target tcp --connections 1 --batch $BATCH --duration $KASSA_DURATION (load $(cut -d' ' -f1-3 /proc/loadavg))"
  # --ids-max: the default 4,194,304 remembered ids fills in ~15 s at a few hundred thousand
  # transfers/s and then refuses new ids; 16,777,216 is loadgen's embedded default.
  "$kassa" serve --data-dir "$data" --admin-key "$ADMIN_KEY" --http "$HTTP_ADDR" --tcp "$TCP_ADDR" \
    --iso8583 "$ISO_ADDR" --ids-max 16777216 > "$WORK/run/kassa-serve-$round.log" 2>&1 &
  server_pid=$!
  local i
  for i in $(seq 1 300); do
    curl -sf -o /dev/null "http://$HTTP_ADDR/ready" && break
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$WORK/run/kassa-serve-$round.log"; return 1; }
    sleep 0.2
  done
  "$loadgen" --target tcp --addr "$TCP_ADDR" --http-addr "$HTTP_ADDR" --api-key "$ADMIN_KEY" \
    --accounts "$ACCOUNTS" --connections 1 --depth 1 --batch "$BATCH" \
    --duration "$KASSA_DURATION" --warmup "$KASSA_WARMUP" --quiet \
    --json "$WORK/run/kassa-$round.json" > "$WORK/run/kassa-$round.log" 2>&1 \
    || { cat "$WORK/run/kassa-$round.log"; echo "kassa-loadgen failed" >&2; return 1; }
  grep -E '^(commands|throughput|outcomes|  transfers\.batch)' "$WORK/run/kassa-$round.log" | sed 's/^/  kassa: /'
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
  rm -rf "$data"
  log "round $round: kassa done"
}
for round in $(seq 1 "$ROUNDS"); do
  run_tb "$round"
  run_kassa "$round"
done
echo "TigerBeetle: 'load accepted' is transfers/s, batch latency per 8,189-transfer request (ms)."
echo "kassa: 'throughput' is transfers/s, transfers.batch latency per 8,189-transfer request (us)."
