#!/usr/bin/env bash
# Makes a local PostgreSQL server ready for the Postgres registry tests and prints its URL.
#
# Idempotent: installs the server packages when `pg_ctlcluster` is missing (Debian/Ubuntu, needs
# root), creates and starts a cluster, and creates the role `gonka` (password `gonka`, CREATEDB:
# each test makes and drops its own database) and the database `gonka_test`.
# Progress goes to stderr; stdout is exactly the URL, so callers can write
#   export GONKA_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
set -euo pipefail

PORT="${GONKA_PG_PORT:-5432}"
ROLE=gonka
PASSWORD=gonka
DB=gonka_test

log() { echo "postgres.sh: $*" >&2; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    sudo -n -u postgres "$@"
  fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql (pg_ctlcluster missing)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

# The newest installed major version.
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if [ -z "$VERSION" ]; then
  log "no PostgreSQL server found under /usr/lib/postgresql"
  exit 1
fi

if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -x "$VERSION main" >/dev/null; then
  log "creating cluster $VERSION/main on port $PORT"
  pg_createcluster "$VERSION" main --port "$PORT" >&2
fi

if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $4}' | grep -x online >/dev/null; then
  log "starting cluster $VERSION/main"
  pg_ctlcluster "$VERSION" main start >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $3}')"

# Wait (bounded) until the server accepts connections.
for _ in $(seq 1 50); do
  if as_postgres psql -p "$PORT" -qAtc 'SELECT 1' >/dev/null 2>&1; then break; fi
  sleep 0.2
done

as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qAt >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL
if [ "$(as_postgres psql -p "$PORT" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  as_postgres createdb -p "$PORT" -O "$ROLE" "$DB" >&2
fi

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
