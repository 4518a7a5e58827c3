#!/usr/bin/env bash
# Fuzzes kassa with cargo-fuzz (libFuzzer): every target in fuzz/fuzz_targets/, one after another,
# each for a bounded time or number of executions. Installs cargo-fuzz when it is missing. Prints
# the executions of each target; exits non-zero on any crash (the input is in fuzz/artifacts/).
#
#   scripts/fuzz.sh                       # every target, 30 s each (CI)
#   scripts/fuzz.sh --time 300 http_json  # one target, 5 minutes
#   scripts/fuzz.sh --runs 10000000       # the long runs recorded in RELIABILITY.md
#
# Options (and environment): --time SECONDS (FUZZ_SECONDS, default 30), --runs N (FUZZ_RUNS:
# executions instead of time; with --time too, whichever comes first), --sanitizer none|address
# (FUZZ_SANITIZER, default none), then target names (default: all).
#
# Stable Rust: cargo-fuzz's default AddressSanitizer needs `-Zsanitizer`, a nightly flag. kassa
# forbids `unsafe` in its own code, so the sanitizer would only watch dependencies, at a quarter
# of the speed; the default is `--sanitizer none`, which needs nothing unstable (libFuzzer's
# coverage instrumentation is stable `-C` flags). `--sanitizer address` sets RUSTC_BOOTSTRAP=1 so
# that stable rustc accepts `-Zsanitizer=address` (its runtime ships with stable's rust-std).
# Either way targets build optimised with debug assertions and overflow checks on, in their own
# workspace (fuzz/, its own Cargo.lock and target directory) without the default features of
# kassa-engine and kassa-adapters, so RocksDB is not built.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
runs="${FUZZ_RUNS:-}"
time_given=""
sanitizer="${FUZZ_SANITIZER:-none}"
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds="$2"; time_given=1; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --sanitizer) sanitizer="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    for file in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$file" .rs)"); done
fi

started=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Cargo caches rustc's answers per flag set but not per RUSTC_BOOTSTRAP: one build refused for a
# nightly flag would keep failing after RUSTC_BOOTSTRAP is set. Do not cache.
export CARGO_CACHE_RUSTC_INFO=0
case "$sanitizer" in
    none) ;;
    address|leak|memory|thread) export RUSTC_BOOTSTRAP=1 ;;
    *) echo "fuzz.sh: unknown sanitizer $sanitizer" >&2; exit 2 ;;
esac

# The lock file is committed: refuse to run with one that is out of date (cargo fuzz has no
# --locked of its own), then build every target once.
cargo fetch --locked --manifest-path fuzz/Cargo.toml
cargo fuzz build --sanitizer "$sanitizer"
built=$(date +%s)

if [ -z "$runs" ]; then
    limit=(-max_total_time="$seconds")
elif [ -n "$time_given" ]; then
    limit=(-runs="$runs" -max_total_time="$seconds")
else
    limit=(-runs="$runs")
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
    echo "== fuzzing $target (${limit[*]})"
    mkdir -p "fuzz/corpus/$target"
    seeds=()
    if [ -d "fuzz/seeds/$target" ]; then seeds=("fuzz/seeds/$target"); fi
    target_started=$(date +%s)
    status=0
    # New inputs go to fuzz/corpus/<target> (ignored by git); fuzz/seeds/<target> is read only.
    cargo fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
        "${limit[@]}" -timeout=60 -print_final_stats=1 >"$logs/$target" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - target_started ))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target" | tail -1)
    grep -E '^#[0-9]+[[:space:]]+(pulse|DONE)' "$logs/$target" | tail -2 || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$logs/$target"
        failed+=("$target")
        summary+=("$(printf '%-16s CRASHED after %s executions in %s s (exit %s)' "$target" "${executions:-?}" "$elapsed" "$status")")
    else
        summary+=("$(printf '%-16s %12s executions in %5s s, 0 crashes' "$target" "${executions:-?}" "$elapsed")")
    fi
done

echo "== fuzz summary (sanitizer $sanitizer; setup and build $(( built - started )) s, total $(( $(date +%s) - started )) s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in ${failed[*]}; inputs in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run --sanitizer $sanitizer <target> <input>)" >&2
    exit 1
fi
