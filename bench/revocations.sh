#!/usr/bin/env bash
# Push benchmark of the revocation feed: VERIFIERS simulated verifiers
# (bench/revfeed: each a verifier.RevocationList long-polling GET
# /revocations?since=C&wait=20) follow one `keyward serve` on SQLite, then
# two `keyward serve` replicas on one PostgreSQL database (half the
# verifiers on each, the revocations made on the first, so that half the
# observations cross replicas through LISTEN/NOTIFY). COUNT refresh tokens
# are revoked, one every INTERVAL; the report gives revocation-to-refusal
# latency p50/p90/p99/max over all verifiers and revocations, the feed
# requests made, and each issuer's CPU seconds (held idle, then during the
# revocations) and peak RSS from /proc.
#
# Usage: bench/revocations.sh
# Environment: VERIFIERS (1000), COUNT (25; at most 30, the login throttle's
#   burst for one client address), INTERVAL (300ms),
#   IDLE (5s), KEYWARD_BENCH_POSTGRES_DSN (an existing server whose role may
#   create databases; otherwise a throwaway cluster is started with initdb
#   and pg_ctl, as the postgres user when run as root).
# The open-file limit is raised for the verifiers' connections (two file
# descriptors per verifier on loopback: the client's and the issuer's).
set -euo pipefail

cd "$(dirname "$0")/.."
VERIFIERS=${VERIFIERS:-1000}
COUNT=${COUNT:-25}
INTERVAL=${INTERVAL:-300ms}
IDLE=${IDLE:-5s}

log() { printf '%s\n' "$*" >&2; }

want=$((VERIFIERS + 256))
if [[ $(ulimit -n) -lt $want ]]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [[ $(ulimit -n) -lt $want ]]; then
  log "open-file limit $(ulimit -n) is under $want: lower VERIFIERS or raise the hard limit"; exit 1
fi

# shellcheck source=bench/pg.sh
. bench/pg.sh  # WORK, PIDS and the exit trap

log "building keyward and revfeed"
go build -o "$WORK/keyward" ./cmd/keyward
(cd bench && go build -o "$WORK/revfeed" ./revfeed)
KW="$WORK/keyward"

export KEYWARD_MASTER_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# setup STORE_FLAGS...: the users whose refresh tokens are revoked.
setup() {
  for i in $(seq -f '%02g' 1 "$COUNT"); do
    printf '%s' "$PASSWORD" | "$KW" user add "rev$i" --password-stdin "$@" >/dev/null
  done
}

# start NAME STORE_FLAGS...: runs a replica; sets URL to its base URL and
# PID to its process ID.
start() {
  local name=$1; shift
  "$KW" serve --listen 127.0.0.1:0 --data "$WORK/$name" --alg ES256 "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    addr=$(sed -nE 's/.*msg=listening addr=(127\.0\.0\.1:[0-9]+).*/\1/p' "$WORK/$name.log" | head -1)
    if [[ -n "$addr" ]]; then URL="http://$addr"; return; fi
    sleep 0.1
  done
  log "replica $name did not start:"; cat "$WORK/$name.log" >&2; exit 1
}

feed() {
  "$WORK/revfeed" -password "$PASSWORD" -verifiers "$VERIFIERS" -count "$COUNT" \
    -interval "$INTERVAL" -idle "$IDLE" "$@"
}

echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

log "SQLite, one process"
setup --data "$WORK/sqlite"
start sqlite --data "$WORK/sqlite"
feed -label "sqlite x1" -targets "$URL" -pids "$PID"
kill "${PIDS[-1]}"

# PostgreSQL: an existing server, or a throwaway cluster on a free port.
bench_postgres keyward_revfeed 100

log "PostgreSQL, two replicas"
setup --db "$PG_DSN"
start pga --db "$PG_DSN"; A=$URL; PIDA=$PID
start pgb --db "$PG_DSN"; B=$URL; PIDB=$PID
feed -label "postgres x2" -targets "$A,$B" -revoke "$A" -pids "$PIDA,$PIDB"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
