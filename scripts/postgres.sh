#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, on loopback only.
#
#   scripts/postgres.sh start   prints the SQLAlchemy URL of a running server (starts one)
#   scripts/postgres.sh stop    stops it and deletes its data
#
# Uses Debian's packages (apt-get install postgresql, done here when run as root and
# missing). Data lives in $MODELYARD_PG_DIR (default /tmp/modelyard-pg), owned by the
# `postgres` user when run as root, because PostgreSQL refuses to run as root.
# fsync is off: the data is thrown away after the run.
set -euo pipefail

DATA=${MODELYARD_PG_DIR:-/tmp/modelyard-pg}
PORT=${MODELYARD_PG_PORT:-54329}

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local bin
    bin=$(find_bin)
    if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing PostgreSQL from Debian's packages..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends postgresql) >&2
        bin=$(find_bin)
    fi
    if [ -z "$bin" ]; then
        echo "PostgreSQL is not installed (apt-get install postgresql)" >&2
        return 1
    fi
    if ! as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        rm -rf "$DATA" && mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
        as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
        as_owner "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w start -o \
            "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
}

stop() {
    local bin
    bin=$(find_bin)
    if [ -n "$bin" ] && [ -d "$DATA" ]; then
        as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DATA"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
