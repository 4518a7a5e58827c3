#!/usr/bin/env bash
# PostgreSQL side of BENCHMARKS.md: pgbench TPC-B on loopback with durable defaults
# (fsync=on, synchronous_commit=on, full_page_writes=on), 8 and 32 clients, 20 s each.
# Installs Debian's PostgreSQL if missing, runs a throwaway cluster in a temp dir on port 54329,
# prints the tps of each run and removes the cluster. Usage: benches/peers/pgbench.sh [SECONDS]
set -euo pipefail
seconds="${1:-20}"
scale="${PGBENCH_SCALE:-32}" # 32 branches: 32 clients do not all queue on one branch row
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-contrib >/dev/null
fi
bin="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir="$(mktemp -d /tmp/kassa-pgbench.XXXXXX)"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
cleanup() { as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p 54329 -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on -c max_connections=100 -c shared_buffers=1GB" >/dev/null
pg() { as_postgres "$bin/pgbench" -h 127.0.0.1 -p 54329 -U postgres "$@"; }
as_postgres "$bin/psql" -h 127.0.0.1 -p 54329 -U postgres -qc "show fsync; show synchronous_commit;" postgres
pg -i -q -s "$scale" postgres >/dev/null 2>&1
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), pgbench TPC-B scale $scale, ${seconds}s, $(nproc) cores"
for clients in 8 32; do
  tps="$(pg -c "$clients" -j 2 -T "$seconds" -M prepared postgres 2>/dev/null | awk '/^tps/ {print $3; exit}')"
  echo "clients=$clients tps=$tps"
done
