# TraceLoom data platform. `make run` then `make test` set up everything on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The venv first on PATH: dagster-dbt's dev-mode `dbt parse` looks `dbt` up on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export TRACELOOM_DATA_DIR ?= $(CURDIR)/data
SEED ?= 7
SCALE ?= 1
DBT := cd dbt_project && ../$(BIN)/dbt
DBT_FILES := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml

.PHONY: setup run ingest test chaos dev serve bench lint docs clean browser worker

setup: $(VENV)/.installed dbt_project/target/manifest.json  ## virtualenv + install + dbt parse

# The venv needs Python 3.11 (pyproject.toml requires-python): say so in one line before any venv
# is created, rather than pip failing minutes later.
$(VENV)/.installed: pyproject.toml
	@v=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	if [ "$$v" != 3.11 ]; then \
	  echo "make setup: Python 3.11 is needed, but $(PYTHON) is $${v:+Python }$${v:-not found}; install python3.11 or pass PYTHON=/path/to/python3.11" >&2; \
	  exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

dbt_project/target/manifest.json: $(VENV)/.installed $(DBT_FILES)
	$(DBT) parse --profiles-dir . --quiet

run: setup  ## generate the demo world if absent, run the main job, print the summary
	$(BIN)/traceloom run --seed $(SEED) --scale $(SCALE)

ingest: setup  ## run the main job on whatever is in $TRACELOOM_DATA_DIR/landing (no demo data)
	$(BIN)/traceloom run --no-demo

# Test modules are spread over TEST_WORKERS processes (pytest-xdist, a module stays in one worker
# so its world is built once; tests/conftest.py keeps the modules that share the production
# deployment in one worker): most tests wait on subprocesses, servers and dbt, not on the CPU.
TEST_WORKERS ?= 3
test: setup browser  ## the test suite (small worlds; real lake, dbt, HTTP, Postgres, RabbitMQ, Chromium)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# The fault scenarios only (tests marked `chaos`: kill -9 of runs, dbt, exports, bridges and the
# gateway; poison files; readers and a second run beside a run; a source outage), then their table
# (tests/chaos.py): scenario -> rows lost, duplicated, runs blocked, marts stale, errors. Fails
# unless every cell is 0. `make test` runs them too and prints the same table.
chaos: setup  ## the fault scenarios and their table (every cell must be 0)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m chaos

# The browser test (tests/deploy/test_ui_backfill.py) drives Debian's Chromium through Playwright;
# `playwright install` (a download) is never used. Installed here if missing, as root or via sudo;
# if neither is possible the browser test fails and says so (it does not skip).
browser:  ## Debian's chromium for the browser test (apt-get install if missing)
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "chromium is missing and cannot be installed (not root, no sudo)" >&2; exit 0; fi; \
	  $$sudo apt-get update && $$sudo apt-get install -y chromium; }

# The UI and the daemon as two processes; the daemon stops with the UI (Ctrl-C). Not `dagster dev`:
# it says the project's dagster.yaml "will not be used" (it is, as .dagster_home/dagster.yaml) and
# that it is superseded, two misleading warnings on every start.
PORT ?= 3000
define ui_and_daemon
$(BIN)/dagster-daemon run -w workspace.yaml & daemon=$$!; \
trap 'kill $$daemon 2>/dev/null; wait $$daemon' EXIT; trap 'exit 130' INT TERM; \
$(BIN)/dagster-webserver -h 127.0.0.1 -p $(PORT) -w workspace.yaml
endef

dev: setup  ## Dagster UI + daemon on the local instance in .dagster_home (http://127.0.0.1:3000, PORT=...)
	$(ui_and_daemon)

# `make serve`: the production instance (deploy/dagster.yaml, PostgreSQL storage) with the UI
# and the daemon. Production sets DAGSTER_PG_* from its secret store; the defaults below are this
# machine's PostgreSQL (trust auth). The database is created if missing.
SERVE_HOME := $(CURDIR)/.dagster_home/serve
serve: export DAGSTER_PG_HOST ?= 127.0.0.1
serve: export DAGSTER_PG_PORT ?= 5432
serve: export DAGSTER_PG_USER ?= postgres
serve: export DAGSTER_PG_PASSWORD ?=
serve: export DAGSTER_PG_DB ?= traceloom
serve: setup  ## Dagster UI + daemon on the PostgreSQL instance in deploy/ (http://127.0.0.1:3000, PORT=...)
	@mkdir -p "$(SERVE_HOME)" && ln -sf "$(CURDIR)/deploy/dagster.yaml" "$(SERVE_HOME)/dagster.yaml"
	@export PGPASSWORD="$$DAGSTER_PG_PASSWORD" PGHOST="$$DAGSTER_PG_HOST" PGPORT="$$DAGSTER_PG_PORT" \
	  PGUSER="$$DAGSTER_PG_USER"; psql -d "$$DAGSTER_PG_DB" -tAc "select 1" >/dev/null 2>&1 \
	  || createdb "$$DAGSTER_PG_DB"
	@echo "instance $(SERVE_HOME): postgresql://$$DAGSTER_PG_USER@$$DAGSTER_PG_HOST:$$DAGSTER_PG_PORT/$$DAGSTER_PG_DB"
	export DAGSTER_HOME="$(SERVE_HOME)"; \
	$(ui_and_daemon)

# `make worker`: one Celery worker for runs launched with TRACELOOM_EXECUTOR=celery (start one or
# more per machine). Broker, backend and queue from TRACELOOM_CELERY_*; NAME=... names the node
# (default traceloom-<pid>), WORKER_ARGS=... passes celery worker options (e.g. --concurrency 4).
# It needs the environment the steps need (README "Worker machines (Celery) and Kubernetes").
worker: setup  ## a Celery worker executing steps of TRACELOOM_EXECUTOR=celery runs (NAME=, WORKER_ARGS=)
	TRACELOOM_WORKER_NAME="$(NAME)" deploy/celery/worker.sh $(WORKER_ARGS)

bench: setup  ## ingestion vs DuckDB native, the lake under concurrency, incremental runs; writes bench/results/
	$(BIN)/python -m bench.ingest_bench
	$(BIN)/python -m bench.lake_bench
	$(BIN)/python -m bench.incremental_bench
	$(BIN)/python -m bench.bridge_bench

lint: setup
	$(BIN)/ruff check traceloom_pipelines tests bench
	$(BIN)/ruff format --check traceloom_pipelines tests bench

docs: setup  ## dbt docs for the warehouse in $TRACELOOM_DATA_DIR (run `make run` first)
	$(DBT) docs generate --profiles-dir .

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
