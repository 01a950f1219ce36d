#!/usr/bin/env bash
# Runs once, when the warehouse container initialises an empty data volume (postgres image's
# /docker-entrypoint-initdb.d). The API reads as recs_reader; on this server, unlike the
# embedded one, connections need a password, so the role is created here with
# ENCORE_READER_PASSWORD (passed as a psql variable and quoted by psql, never echoed).
# `python -m warehouse start` (airflow-init) then grants it read access to `serving` only.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader_password="$ENCORE_READER_PASSWORD" <<'SQL'
create role recs_reader login password :'reader_password';
SQL
