#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the tests and print its URL on stdout (one line).
#
#   export ECOPT_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
#
# Idempotent: installs Debian's `postgresql` package if no server binaries are found (needs root and apt),
# initialises a cluster in $ECOPT_PG_DIR (default /tmp/ecopt-pg) once, starts it on a free port unless it
# is already running, creates user `ecopt` (password `ecopt_pw_5f3a9c`, distinctive so tests can
# grep for leaks; CREATEROLE, for a test's throw-away role) and database `ecopt_test`. Logs go to stderr.
# Stop it with: bash scripts/postgres.sh stop
set -euo pipefail
DIR=${ECOPT_PG_DIR:-/tmp/ecopt-pg}
DATA=$DIR/data
say() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$found" ] && command -v pg_ctl >/dev/null 2>&1; then found=$(dirname "$(command -v pg_ctl)"); fi
    echo "$found"
}

BIN=$(find_bin)
if [ -z "$BIN" ]; then
    say "installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(find_bin)
fi
[ -x "$BIN/pg_ctl" ] || { say "no PostgreSQL server binaries found"; exit 1; }

# initdb and postgres refuse to run as root: run them as the `postgres` user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = stop ]; then
    [ -d "$DATA" ] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
    exit 0
fi

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initialising a cluster in $DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >&2
fi

if [ -f "$DIR/port" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    PORT=$(cat "$DIR/port")
else
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$PORT" > "$DIR/port"
    say "starting on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=200 -c fsync=off" start >&2
fi

psql_admin() { as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'ecopt'")" != 1 ]; then
    psql_admin -c "CREATE ROLE ecopt LOGIN CREATEDB" >&2
fi
psql_admin -c "ALTER ROLE ecopt PASSWORD 'ecopt_pw_5f3a9c'" >&2
# CREATEROLE: tests/distributed/test_secrets.py makes a throw-away role whose password holds "/ # ? :"
psql_admin -c "ALTER ROLE ecopt CREATEROLE" >&2
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'ecopt_test'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE ecopt_test OWNER ecopt" >&2
fi
echo "postgresql://ecopt:ecopt_pw_5f3a9c@127.0.0.1:$PORT/ecopt_test"
