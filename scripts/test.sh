#!/usr/bin/env bash
# Runs kassa's whole test suite on a fresh Debian 12 machine (installs what it lacks first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo test --workspace --locked "$@"
