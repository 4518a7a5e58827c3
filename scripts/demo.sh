#!/usr/bin/env bash
# Builds kassa and runs its main job on a fresh Debian 12 machine (installs what it lacks first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo run --locked -p kassa-adapters --bin kassa -- demo "$@"
