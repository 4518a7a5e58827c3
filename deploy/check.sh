#!/usr/bin/env bash
# Validates the files of deploy/ with what this machine has, and says what it skipped and why:
#   - kassa.service: `systemd-analyze verify` (and the offline `security` score when supported)
#   - grafana-dashboard.json: parses as JSON
#   - healthcheck.sh: `bash -n`, and shellcheck when installed; Dockerfile: hadolint when installed
#   - the image: `docker build` (or podman) only with KASSA_BUILD_IMAGE=1 and a daemon that
#     answers, since it compiles RocksDB (15+ minutes)
# Exit 1 when a check that ran failed; 0 otherwise, skips included.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
pass() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failed=1; }
skip() { echo "skip  $*"; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# --- systemd unit ------------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # verify refuses an ExecStart binary that does not exist; /usr/local/bin/kassa is only there
    # once installed. Check a copy whose ExecStart names a binary that exists here (a local
    # release build when there is one, else `true`: the unit's syntax is what is checked).
    unit=deploy/kassa.service
    if [[ ! -x /usr/local/bin/kassa ]]; then
        stand_in=$PWD/target/release/kassa
        [[ -x $stand_in ]] || stand_in=$(type -P true)
        sed "s|/usr/local/bin/kassa|$stand_in|" deploy/kassa.service >"$scratch/kassa.service"
        unit=$scratch/kassa.service
        echo "      (verifying a copy whose ExecStart is $stand_in: /usr/local/bin/kassa is absent)"
    fi
    # verify exits 0 on unknown keys and bad values ("..., ignoring"): any line about the unit
    # counts as a failure too (lines about the host's other units do not).
    if report=$(systemd-analyze verify "$unit" 2>&1) && ! grep -q 'kassa\.service' <<<"$report"; then
        pass "systemd-analyze verify deploy/kassa.service"
    else
        fail "systemd-analyze verify deploy/kassa.service:"
        printf '%s\n' "$report" | sed 's/^/      /'
    fi
    # `security --offline` needs systemd >= 250; informative only.
    if score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | grep 'Overall exposure'); then
        echo "      systemd-analyze security: ${score#→ }"
    fi
else
    skip "systemd unit: systemd-analyze is not installed"
fi

# --- Grafana dashboard -------------------------------------------------------------------------
if command -v python3 >/dev/null; then
    if python3 -m json.tool deploy/grafana-dashboard.json >/dev/null; then
        pass "deploy/grafana-dashboard.json parses (python3 -m json.tool)"
    else
        fail "deploy/grafana-dashboard.json does not parse"
    fi
elif command -v jq >/dev/null; then
    if jq empty deploy/grafana-dashboard.json; then
        pass "deploy/grafana-dashboard.json parses (jq)"
    else
        fail "deploy/grafana-dashboard.json does not parse"
    fi
else
    skip "dashboard: neither python3 nor jq is installed"
fi

# --- health probe and Dockerfile lint ----------------------------------------------------------
if bash -n deploy/healthcheck.sh; then pass "bash -n deploy/healthcheck.sh"; else fail "bash -n deploy/healthcheck.sh"; fi
if command -v shellcheck >/dev/null; then
    if shellcheck deploy/healthcheck.sh deploy/check.sh; then pass "shellcheck"; else fail "shellcheck"; fi
else
    skip "shellcheck: not installed"
fi
if command -v hadolint >/dev/null; then
    if hadolint deploy/Dockerfile; then pass "hadolint deploy/Dockerfile"; else fail "hadolint deploy/Dockerfile"; fi
else
    skip "hadolint: not installed"
fi

# --- image -------------------------------------------------------------------------------------
# The first of docker and podman whose daemon answers (podman has none: its `info` just works).
runtime=""
why="neither docker nor podman is installed"
for candidate in docker podman; do
    command -v "$candidate" >/dev/null || continue
    if "$candidate" info >/dev/null 2>&1; then runtime=$candidate; break; fi
    why="'$candidate info' fails (is its daemon running?)"
done
if [[ ${KASSA_BUILD_IMAGE:-} != 1 ]]; then
    skip "image build: set KASSA_BUILD_IMAGE=1 to build it (compiles RocksDB: 15+ minutes)"
elif [[ -z $runtime ]]; then
    skip "image build: $why"
elif DOCKER_BUILDKIT=1 "$runtime" build -f deploy/Dockerfile -t kassa:check . &&
    "$runtime" run --rm --entrypoint /usr/local/bin/kassa kassa:check --version; then
    pass "$runtime build -f deploy/Dockerfile (and kassa --version in the image)"
else
    fail "$runtime build -f deploy/Dockerfile"
fi

exit "$failed"
