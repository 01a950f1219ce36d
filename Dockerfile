# One image for every Encore container in docker-compose.yml: Airflow (api-server, scheduler,
# dag-processor, triggerer, Celery workers), the dbt docs site, the HTTP API and PgBouncer. It holds the
# same locked environment as a laptop (`uv sync --frozen`), so a task runs the same code and the
# same library versions whichever container picks it up.
FROM python:3.11-slim

# libgomp1: LightGBM's OpenMP runtime (the slim image leaves it out); pgbouncer: the
# `pgbouncer` service (docker/pgbouncer.sh).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 pgbouncer \
    && rm -rf /var/lib/apt/lists/*

# uv, pinned to the version the lock file was written with.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/encore/.venv \
    PATH=/opt/encore/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ENCORE_HOME=/opt/encore/state \
    DBT_PROFILES_DIR=/opt/encore/dbt_project \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False
WORKDIR /opt/encore

# Dependencies first (their layer survives code edits), then the project itself, editable:
# warehouse/paths.py finds dbt_project/ and dags/ next to the packages.
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN uv sync --frozen --no-dev --extra compose --extra cloud --no-install-project
COPY config ./config
COPY observability ./observability
COPY warehouse ./warehouse
COPY extract ./extract
COPY ml ./ml
COPY quality ./quality
COPY api ./api
COPY ops ./ops
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY docker ./docker
RUN uv sync --frozen --no-dev --extra compose --extra cloud

# The DAG's dbt task group renders from target/manifest.json: parse once at build time
# (parsing reads profiles.yml but connects to nothing).
RUN cd dbt_project && dbt parse --quiet

# Run as an unprivileged user (uid 50000, group 0, Airflow's convention). /opt/encore/state is
# the volume every Airflow container shares: landing zone, model artifacts, Airflow logs.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/encore --no-create-home encore \
    && mkdir -p /opt/encore/state \
    && chown -R 50000:0 /opt/encore/state /opt/encore/dbt_project \
    && chmod +x docker/entrypoint.sh
USER 50000

ENTRYPOINT ["/opt/encore/docker/entrypoint.sh"]
CMD ["airflow", "version"]
