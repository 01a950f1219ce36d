#!/usr/bin/env bash
# One-shot setup before the Airflow services start (the `airflow-init` compose service):
# 1. the warehouse's schemas, roles and grants (python -m warehouse start: with WAREHOUSE_URL
#    set it starts nothing, it only bootstraps the server compose runs);
# 2. Airflow's metadata database (airflow db migrate, idempotent);
# 3. the UI login: the simple auth manager reads its users' passwords from a JSON file, written
#    here from ENCORE_AIRFLOW_ADMIN_PASSWORD (owner-only, never printed) so the api-server does
#    not invent one and print it to its log.
set -euo pipefail

python -m warehouse start
airflow db migrate

umask 077
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
user = os.environ.get("ENCORE_AIRFLOW_ADMIN_USER") or "admin"
path.write_text(json.dumps({user: os.environ["ENCORE_AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
print(f"Airflow UI user '{user}': password from ENCORE_AIRFLOW_ADMIN_PASSWORD")
PY
