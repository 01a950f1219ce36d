#!/usr/bin/env bash
# Entry point of every Encore container: derive what dbt and Airflow read from WAREHOUSE_URL,
# then run the container's command.
#
# `python -m warehouse env` is the one place that turns WAREHOUSE_URL into dbt's ENCORE_PG_*
# variables (warehouse/connections.py), plus Airflow defaults for a laptop. Here the
# connection variables always follow WAREHOUSE_URL,
# while the defaults only fill what docker-compose.yml left unset: the compose file wins
# (API host, parallelism, AIRFLOW_HOME on the shared volume). Nothing is printed.
set -euo pipefail

if [[ -n "${WAREHOUSE_URL:-}" ]]; then
  derived="$(python -m warehouse env)"
  while IFS= read -r line; do
    [[ "$line" == export\ * ]] || continue
    assignment="${line#export }"
    key="${assignment%%=*}"
    case "$key" in
      ENCORE_PG_*|DBT_PROFILES_DIR) eval "export ${assignment}" ;;
      *) [[ -n "${!key+set}" ]] || eval "export ${assignment}" ;;
    esac
  done <<<"$derived"
fi

exec "$@"
