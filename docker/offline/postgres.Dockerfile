# PostgreSQL 16 where the `postgres:16` image cannot be pulled (docker/compose.offline.yml):
# the server of the `pgserver` wheel the project already locks for its embedded warehouse, on
# the debootstrap base, behind an entry point that does what the official image's does for
# this stack (POSTGRES_USER/PASSWORD/DB, /docker-entrypoint-initdb.d, a socket for
# pg_isready and psql). Built with the CA bundle as a BuildKit secret, as ./Dockerfile.
ARG ENCORE_OFFLINE_BASE=encore-offline/base:bookworm
FROM ${ENCORE_OFFLINE_BASE}

# The `postgres` user comes with the base (postgresql-common, a dependency of pgbouncer).
RUN --mount=type=secret,id=ca_bundle \
    python3 -m venv /opt/pgserver \
    && PIP_CERT=/run/secrets/ca_bundle /opt/pgserver/bin/pip install --quiet --no-cache-dir \
       pgserver==0.1.4 \
    && ln -s /opt/pgserver/lib/python3.11/site-packages/pgserver/pginstall /opt/postgresql \
    && mkdir -p /docker-entrypoint-initdb.d \
    && install -d -o postgres -g postgres /var/lib/postgresql /var/run/postgresql

ENV PATH=/opt/postgresql/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    PGHOST=/var/run/postgresql
COPY docker/offline/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
