#!/bin/sh
# The official postgres image's first-start behaviour, for the stand-in (see its Dockerfile).
set -eu

if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  pwfile=${POSTGRES_PASSWORD_FILE:-}
  if [ -z "$pwfile" ] || [ ! -r "$pwfile" ] || [ ! -s "$pwfile" ]; then
    echo "error: POSTGRES_PASSWORD_FILE '$pwfile' is not a readable, non-empty file" \
      "(running as $(id -u):$(id -g))" >&2
    ls -l "$pwfile" >&2 || true
    exit 1
  fi
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k /tmp" start
    psql -h /tmp -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    pg_ctl -D "$PGDATA" -w -m fast stop
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
