#!/usr/bin/env bash
# docker-compose's `pgbouncer` service: PgBouncer (Debian's package, in the Encore image) in
# transaction mode in front of the warehouse, for SQL clients as recs_reader; the settings of
# `make pooler` (ops/pooler.py), with recs_reader's password (SCRAM) instead of trust.
set -euo pipefail
: "${ENCORE_READER_PASSWORD:?set ENCORE_READER_PASSWORD in .env}"
conf=/tmp/pgbouncer
umask 077
mkdir -p "$conf"
# (a double quote in the password would end its field in userlist.txt)
printf '"recs_reader" "%s"\n' "$ENCORE_READER_PASSWORD" > "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
encore = host=warehouse port=5432 dbname=encore user=recs_reader

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
max_db_connections = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
INI
exec pgbouncer "$conf/pgbouncer.ini"
