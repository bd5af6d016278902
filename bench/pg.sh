# Sourced by the benchmark scripts that run issuers on PostgreSQL. It
# makes the scratch directory WORK, the list PIDS of processes to kill at
# exit and the exit trap (cleanup: the processes, the throwaway cluster,
# WORK), and defines as_pg and bench_postgres.

PGDATA=""
PGCTL=""
WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "$PGDATA" ]]; then as_pg "$PGCTL" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# as_pg runs a PostgreSQL program as the postgres user when run as root.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# bench_postgres NAME MAX_CONNECTIONS: a database named NAME_<pid> on
# KEYWARD_BENCH_POSTGRES_DSN (an existing server whose role may create
# databases; dropped at exit), or on a throwaway cluster started on a free
# loopback port in $WORK/pg. Sets ADMIN_DSN and PG_DSN.
bench_postgres() {
  local name=$1 maxconn=$2
  if [[ -n "${KEYWARD_BENCH_POSTGRES_DSN:-}" ]]; then
    ADMIN_DSN=$KEYWARD_BENCH_POSTGRES_DSN
  else
    local pgbin port
    pgbin=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")
    PGCTL="$pgbin/pg_ctl"
    PGDATA="$WORK/pg"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir "$PGDATA"
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$PGDATA"; fi
    as_pg "$pgbin/initdb" -D "$PGDATA" -U postgres -A trust >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PGDATA'
synchronous_commit = off
max_connections = $maxconn
CONF
    as_pg "$PGCTL" -D "$PGDATA" -l "$PGDATA/log" -w start >/dev/null
    ADMIN_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  fi
  DB="${name}_$$"
  psql -q "$ADMIN_DSN" -c "CREATE DATABASE $DB" >/dev/null
  PG_DSN=$(printf '%s' "$ADMIN_DSN" | sed -E "s#/[^/?]*(\?|$)#/$DB\1#")
  if [[ -z "$PGDATA" ]]; then
    trap 'psql -q "$ADMIN_DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; cleanup' EXIT
  fi
}
