#!/usr/bin/env bash
# Start the local PostgreSQL 15 cluster for the store tests and make sure the test role and
# database exist. Idempotent: safe to run on every CI job and on a machine where it already runs.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
PG_PORT="${PG_PORT:-5432}"
PG_ROLE="${PG_ROLE:-registry}"
PG_PASSWORD="${PG_PASSWORD:-registry}"
PG_DATABASE="${PG_DATABASE:-registry_test}"

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

if ! pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
        '$1 == v && $2 == c && $4 == "online" { found = 1 } END { exit !found }'; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
        break
    fi
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PG_PORT"

# psql as the postgres OS user (peer auth); cd /tmp so it can read its working directory.
as_postgres() {
    (cd /tmp && runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qtA "$@")
}

if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'")" != "1" ]; then
    # CREATEDB lets the tests create and drop a throw-away database per test module, CREATEROLE
    # a read-only role for the read-only consumer tests.
    as_postgres -c "CREATE ROLE $PG_ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PG_PASSWORD'"
else
    # A role made elsewhere may lack these; the tests need them.
    as_postgres -c "ALTER ROLE $PG_ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PG_PASSWORD'"
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != "1" ]; then
    as_postgres -c "CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE"
fi
echo "PostgreSQL ready: postgresql+psycopg://$PG_ROLE:***@127.0.0.1:$PG_PORT/$PG_DATABASE"
