#!/usr/bin/env bash
# Entry point of docker/offline/postgres.Dockerfile: what the official postgres image's does
# for docker-compose.yml. As root it hands the data folder to `postgres` and runs itself as
# that user; on an empty data folder it runs initdb (POSTGRES_USER owns the cluster, with
# POSTGRES_PASSWORD, SCRAM over TCP), creates POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sh
# and *.sql against a server listening on its socket only, then execs the command.
set -euo pipefail

if [[ "${1:-}" == postgres && "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec runuser -u postgres -- "$0" "$@"
fi

if [[ "${1:-}" == postgres && ! -s "$PGDATA/PG_VERSION" ]]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C > /dev/null
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\nunix_socket_directories = '/var/run/postgresql'\n" \
    >> "$PGDATA/postgresql.conf"
  pg_ctl --pgdata="$PGDATA" --wait --silent --options="-c listen_addresses=''" start
  if [[ "$POSTGRES_DB" != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres --quiet \
      -v db="$POSTGRES_DB" <<'SQL'
create database :"db";
SQL
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sh) echo "init: $script"; bash "$script" ;;
      *.sql) echo "init: $script"; psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" \
               --dbname="$POSTGRES_DB" --quiet -f "$script" ;;
      *) ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
fi

exec "$@"
