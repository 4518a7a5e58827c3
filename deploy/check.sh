#!/usr/bin/env bash
# Validates the files of deploy/ with what this machine has, and says what it skipped and why:
#   - kassa.service: `systemd-analyze verify` (and the offline `security` score when supported)
#   - grafana-dashboard.json: parses as JSON
#   - healthcheck.sh: `bash -n`, and shellcheck when installed; Dockerfile: hadolint when installed
#   - the image: `docker build` (or podman) wherever a runtime answers and the base images are
#     at hand (KASSA_BUILD_IMAGE=0 skips it: the first build compiles RocksDB, 15+ minutes)
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
# Built wherever it can be: a runtime that answers (docker's daemon, or podman), BuildKit (a docker
# client >= 23 needs its buildx plugin; older clients and podman have it built in) and the two
# base images at hand (present, or pulled from a registry). Each missing piece is a skip with its
# reason, not a failure; a build that starts and fails is a failure. KASSA_BUILD_IMAGE=0 skips it
# (the first build compiles RocksDB: 15+ minutes); KASSA_IMAGE_BUILD_FLAGS adds build flags
# (e.g. `--network host` where the daemon has no bridge network).
bases=(rust:1.95-bookworm debian:bookworm-slim)
# Sets `runtime`, and `reason` when the image cannot be built here.
find_image_builder() {
    local candidate why="neither docker nor podman is installed"
    runtime="" reason=""
    for candidate in docker podman; do
        command -v "$candidate" >/dev/null || continue
        if timeout 30 "$candidate" info >/dev/null 2>&1; then runtime=$candidate; break; fi
        why="'$candidate info' fails (is its daemon running?)"
    done
    [[ -n $runtime ]] || { reason=$why; return; }
    if [[ $runtime == docker ]]; then
        local client
        client=$(docker version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
        if (( ${client%%.*} >= 23 )) && ! docker buildx version >/dev/null 2>&1; then
            reason="docker $client needs its buildx plugin for BuildKit, and it is missing"
            return
        fi
    fi
    local base
    for base in "${bases[@]}"; do
        "$runtime" image inspect "$base" >/dev/null 2>&1 && continue
        timeout 300 "$runtime" pull "$base" >/dev/null 2>&1 && continue
        reason="base image $base is not here and cannot be pulled"
        return
    done
}
if [[ ${KASSA_BUILD_IMAGE:-1} == 0 ]]; then
    skip "image build: KASSA_BUILD_IMAGE=0"
elif find_image_builder && [[ -n $reason ]]; then
    skip "image build: $reason"
else
    # shellcheck disable=SC2086 # the flags are words on purpose
    if DOCKER_BUILDKIT=1 "$runtime" build ${KASSA_IMAGE_BUILD_FLAGS:-} -f deploy/Dockerfile -t kassa:check . &&
        "$runtime" run --rm --network none --entrypoint /usr/local/bin/kassa kassa:check --version; then
        pass "$runtime build -f deploy/Dockerfile (and kassa --version in the image)"
    else
        fail "$runtime build -f deploy/Dockerfile"
    fi
fi

exit "$failed"
