#!/usr/bin/env bash
# Load run of several issuer replicas: two `keyward serve` processes on one
# PostgreSQL database next to one `keyward serve` on SQLite, measured in the
# same invocation with the same load generator (bench/replicasload):
# refresh-token rotations per second (each refresh sent to the next replica
# in turn; USERS users with two refresh-token families each, refreshed nine
# times each, since the issuer's token throttle lets one family refresh ten
# times at once and one user thirty), client_credentials tokens per second,
# and, on PostgreSQL, RACES
# refresh tokens each sent to both replicas at the same moment. After each
# run the refresh_tokens table is counted: rotated rows must equal the
# successful refreshes, rows must equal logins plus refreshes, every race must
# have exactly one winner and revoke its family, and every family's last
# token must still refresh. Any mismatch makes the script exit 1.
#
# Usage: bench/replicas.sh
# Environment: DURATION (10s per phase at most), WORKERS (16), USERS (16 per
#   worker; the refresh phase ends early when their families are done), RACES (40),
#   KEYWARD_BENCH_POSTGRES_DSN (an existing server whose role may create
#   databases; otherwise a throwaway cluster is started with initdb and
#   pg_ctl, as the postgres user when run as root).
# PostgreSQL runs with synchronous_commit=off, SQLite with its WAL default
# synchronous=NORMAL: neither waits for an fsync on each commit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-16}
RACES=${RACES:-40}
USERS=${USERS:-$((WORKERS * 16))}

log() { printf '%s\n' "$*" >&2; }

# shellcheck source=bench/pg.sh
. bench/pg.sh  # WORK, PIDS and the exit trap

log "building keyward and replicasload"
go build -o "$WORK/keyward" ./cmd/keyward
(cd bench && go build -o "$WORK/replicasload" ./replicasload)
KW="$WORK/keyward"

export KEYWARD_MASTER_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# PostgreSQL: an existing server, or a throwaway cluster on a free port.
bench_postgres keyward_bench 200

# setup STORE_FLAGS...: the load users and the client_credentials client.
setup() {
  for i in $(seq 1 "$USERS"); do
    printf '%s' "$PASSWORD" | "$KW" user add "load$i" --password-stdin "$@" >/dev/null
  done
  "$KW" client add load --grant client_credentials --json "$@" >"$WORK/client.json"
  sed -E 's/.*"client_id": *"([^"]*)".*/\1/' "$WORK/client.json" >"$WORK/client_id"
  sed -E 's/.*"client_secret": *"([^"]*)".*/\1/' "$WORK/client.json" >"$WORK/client_secret"
  chmod 600 "$WORK/client_secret"
  rm "$WORK/client.json"
}

# start NAME STORE_FLAGS...: runs a replica and sets URL to its base URL.
start() {
  local name=$1; shift
  "$KW" serve --listen 127.0.0.1:0 --data "$WORK/$name" --alg ES256 "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    addr=$(sed -nE 's/.*msg=listening addr=(127\.0\.0\.1:[0-9]+).*/\1/p' "$WORK/$name.log" | head -1)
    if [[ -n "$addr" ]]; then URL="http://$addr"; return; fi
    sleep 0.1
  done
  log "replica $name did not start:"; cat "$WORK/$name.log" >&2; exit 1
}

load() {
  "$WORK/replicasload" -password "$PASSWORD" -users "$USERS" -workers "$WORKERS" \
    -client-id "$(cat "$WORK/client_id")" -client-secret-file "$WORK/client_secret" \
    -duration "$DURATION" -races "$RACES" "$@"
}

log "SQLite, one process"
setup --data "$WORK/sqlite"
start sqlite --data "$WORK/sqlite"
load -label "sqlite x1" -targets "$URL" -db "sqlite:$WORK/sqlite/keyward.db"
kill "${PIDS[-1]}"

log "PostgreSQL, two replicas"
setup --db "$PG_DSN"
start pga --db "$PG_DSN"; A=$URL
start pgb --db "$PG_DSN"; B=$URL
load -label "postgres x2" -targets "$A,$B" -db "$PG_DSN"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
