# Encore: `make demo` runs the whole pipeline, `make test` runs the tests.
# Both bootstrap what they need: uv (from PyPI, if missing), the locked environment, and the
# embedded PostgreSQL warehouse. Nothing else has to be installed but Python 3.11+.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# Absolute paths: recipes that cd elsewhere (dbt_project/) must still find uv.
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
UV_HOME := $(ROOT)/.encore/uv
UV := $(abspath $(or $(shell command -v uv 2>/dev/null),$(UV_HOME)/bin/uv))
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

# Demo size (override: make demo USERS=500 TRACKS=3000 DAYS=90)
USERS ?= 2000
TRACKS ?= 10000
DAYS ?= 120
SEED ?= 42
RUN_DATE ?= $(shell date -u +%F)
# Real files for the demo (optional): EXPORTS=folder/zip of listening exports, KAGGLE_CSV=path
EXPORTS ?=
KAGGLE_CSV ?=
# FULL_REFRESH=true rebuilds the incremental marts (once, after their columns change);
# ROW_BOUNDS=false skips the row-count checks (once, after changing the demo's size on purpose)
FULL_REFRESH ?= false
ROW_BOUNDS ?= true
# Test processes (pytest-xdist; a test file stays in one process): make test TEST_WORKERS=1
TEST_WORKERS ?= 2
# make ingest SOURCE=synthetic|lastfm|spotify|files|kaggle [FROM=path] [DATE=YYYY-MM-DD]
SOURCE ?=
FROM ?=
DATE ?= $(RUN_DATE)

# The derived variables for dbt and Airflow (a failure, e.g. a wrong setting, stops the recipe)
ENV = encore_env="$$($(UV) run --frozen python -m warehouse env)" && eval "$$encore_env"

.PHONY: help setup warehouse demo ingest api airflow docs browser pgbouncer pooler test bench lint stop clean compose-check

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV_HOME)/bin/uv:
	@echo "uv not found: installing it from PyPI into $(UV_HOME)"
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv

# --compile-bytecode: every process (each `airflow`, `dbt`, test and task process) would
# otherwise compile airflow, dbt, sklearn... from source on each start wherever
# PYTHONDONTWRITEBYTECODE is set (14.5 s -> 6.6 s to import lightgbm, sklearn, airflow, dbt)
.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --all-extras
	@touch $@

setup: .venv/.synced  ## install the locked environment

warehouse: setup  ## start (or reuse) the warehouse and create its schemas
	$(UV) run --frozen python -m warehouse start

dbt-parse: setup
	@$(ENV) && cd dbt_project && $(UV) run --frozen dbt parse --quiet

airflow-db: setup
	@$(ENV) && $(UV) run --frozen airflow db migrate > /dev/null

# One conf for the three DAGs: each reads its own keys (SHARDS: parallel scoring tasks).
SHARDS ?= 4
DEMO_CONF = {"users": $(USERS), "tracks": $(TRACKS), "days": $(DAYS), "seed": $(SEED), "exports_path": "$(abspath $(EXPORTS))", "kaggle_csv": "$(abspath $(KAGGLE_CSV))", "full_refresh": $(FULL_REFRESH), "quality_row_bounds": $(ROW_BOUNDS), "score_shards": $(SHARDS)}

demo: warehouse dbt-parse airflow-db  ## run the whole pipeline in Airflow and show the recommendations
	@$(ENV) && : > .encore/demo-dag-run.log && \
	for dag in encore_ingest encore_transform encore_recommend; do \
	  echo "=== airflow dags test $$dag $(RUN_DATE)" >> .encore/demo-dag-run.log; \
	  $(UV) run --frozen airflow dags test $$dag $(RUN_DATE) --conf '$(DEMO_CONF)' \
	    >> .encore/demo-dag-run.log 2>&1 \
	  || { tail -n 60 .encore/demo-dag-run.log; echo "DAG $$dag failed: full log in .encore/demo-dag-run.log"; \
	       echo "(a mart whose columns changed needs FULL_REFRESH=true once; a deliberate size change, ROW_BOUNDS=false)"; exit 1; }; \
	done
	@$(ENV) && $(UV) run --frozen python -m warehouse report

ingest: warehouse  ## load one source without Airflow: SOURCE=synthetic|lastfm|spotify|files|kaggle
	@case "$(SOURCE)" in \
	  synthetic) $(UV) run --frozen python -m extract.synthetic_load --users $(USERS) --tracks $(TRACKS) --days $(DAYS) --seed $(SEED) --end-date $(DATE) ;; \
	  lastfm) $(UV) run --frozen python -m extract.lastfm --date $(DATE) ;; \
	  spotify) $(UV) run --frozen python -m extract.spotify --date $(DATE) ;; \
	  files) $(UV) run --frozen python -m extract.files import "$(FROM)" --date $(DATE) ;; \
	  kaggle) $(UV) run --frozen python -m extract.files kaggle $(FROM) --date $(DATE) ;; \
	  *) echo "usage: make ingest SOURCE=synthetic|lastfm|spotify|files|kaggle [FROM=path] [DATE=YYYY-MM-DD]"; exit 2 ;; \
	esac

api: warehouse  ## the recommendations page on http://127.0.0.1:8000/ and its JSON API (docs at /docs)
	@$(ENV) && $(UV) run --frozen python -m api

# Background services on 127.0.0.1 (pid files and logs in .encore/; `make stop` ends them)
AIRFLOW_PORT ?= 8080
DOCS_PORT ?= 8081
POOLER_PORT ?= 6432

airflow: warehouse dbt-parse  ## start (or reuse) the Airflow UI + scheduler on 127.0.0.1:8080 (AIRFLOW_PORT)
	@$(ENV) && AIRFLOW_PORT=$(AIRFLOW_PORT) $(UV) run --frozen python -m ops airflow

docs: warehouse  ## generate the dbt docs and serve them on 127.0.0.1:8081 (DOCS_PORT)
	@$(ENV) && DOCS_PORT=$(DOCS_PORT) $(UV) run --frozen python -m ops docs

# $(call apt_install,<package>,<binary>,<what skips without it>): Debian's package when its
# binary is missing, best-effort (root + apt-get only), the log in .encore/apt-<package>.log.
define apt_install
	@if [ -x $(2) ]; then echo "$(1): $(2)"; \
	elif command -v apt-get > /dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(1) with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; mkdir -p .encore; \
	  apt-get install -y --no-install-recommends $(1) > .encore/apt-$(1).log 2>&1 \
	  || { apt-get update >> .encore/apt-$(1).log 2>&1 \
	       && apt-get install -y --no-install-recommends $(1) >> .encore/apt-$(1).log 2>&1; } \
	  || echo "note: $(1) could not be installed (see .encore/apt-$(1).log): $(3)"; \
	else echo "note: $(2) missing and apt-get/root unavailable: $(3)"; fi
endef

browser:  ## install Debian's chromium for the browser tests (best-effort: root + apt-get only)
	$(call apt_install,chromium,/usr/bin/chromium,browser tests will skip)

pgbouncer:  ## install Debian's pgbouncer for `make pooler` (best-effort: root + apt-get only)
	$(call apt_install,pgbouncer,/usr/sbin/pgbouncer,the pooler and its tests are unavailable)

pooler: warehouse pgbouncer  ## start (or reuse) PgBouncer for SQL clients on 127.0.0.1:6432 (POOLER_PORT)
	@$(ENV) && POOLER_PORT=$(POOLER_PORT) $(UV) run --frozen python -m ops pooler

test: warehouse dbt-parse browser pgbouncer  ## run the test suite (real PostgreSQL, dbt, Airflow, LightGBM)
	@$(ENV) && $(UV) run --frozen pytest --numprocesses $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: warehouse dbt-parse  ## time each stage at 1M and 10M plays + lookups (about 40 min, ~45 GB of free disk; BENCH_ARGS="--scales 100k" for a quick run)
	@$(ENV) && $(UV) run --frozen python -m bench $(BENCH_ARGS)

# docker-compose.yml started for real (ops/compose_check.py; README "Scaling out"): as root it
# installs Docker from Debian's packages and starts dockerd if needed; offline images
# (docker/compose.offline.yml) where no registry answers. COMPOSE_CHECK_ARGS="--keep" leaves it up.
compose-check: setup  ## start the compose stack (2 Celery workers), run the DAGs through it, tear it down
	$(UV) run --frozen python -m ops.compose_check $(COMPOSE_CHECK_ARGS)

lint: dbt-parse  ## the static checks CI runs: ruff, ruff format, import layers, mypy, sqlfluff, dbt parse
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen mypy
	$(UV) run --frozen sqlfluff lint dbt_project/models

stop:  ## stop Airflow, the docs server, the pooler and the embedded warehouse (whatever runs)
	@if [ -x "$(UV)" ] && [ -d .venv ]; then $(UV) run --frozen python -m ops stop; \
	  $(UV) run --frozen python -m warehouse stop; fi

clean: stop  ## remove all local state (warehouse data, Airflow home, models)
	rm -rf .encore/postgres .encore/airflow .encore/artifacts .encore/landing dbt_project/target
