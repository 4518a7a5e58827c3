#!/usr/bin/env bash
# One RocksDB build for every documented command (issue 18): once `cargo test --workspace` has
# built the workspace, README's other debug builds (`scripts/demo.sh`: `-p kassa-adapters`;
# `cargo run -p kassa-engine --example embed`) must find librocksdb-sys fresh, not compile its C++
# again because their package selection resolves other features for its build-time dependencies
# (engine/Cargo.toml's `[build-dependencies]` says how that is prevented). Exit 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
for selection in "-p kassa-adapters --bin kassa" "-p kassa-engine --example embed"; do
    # shellcheck disable=SC2086 # the selection is words on purpose
    artifacts=$(cargo build --locked $selection --message-format json)
    if grep '"reason":"compiler-artifact"' <<<"$artifacts" | grep '"package_id":"[^"]*librocksdb-sys' |
        grep -q '"fresh":true'; then
        echo "ok    cargo build $selection reuses the workspace's RocksDB"
    else
        echo "FAIL  cargo build $selection compiled RocksDB again"
        failed=1
    fi
done
exit "$failed"
