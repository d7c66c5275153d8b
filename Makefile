# TraceLoom data platform. `make run` then `make test` set up everything on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Superset's own virtualenv (`make bi`) and its metadata template (see below)
BI_VENV := .venv-bi
BI_BIN := $(BI_VENV)/bin
BI_TEMPLATE := $(BI_VENV)/template/superset.db
BI_CONFIG := $(CURDIR)/deploy/bi/superset_config.py
# The venv first on PATH: dagster-dbt's dev-mode `dbt parse` looks `dbt` up on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export TRACELOOM_DATA_DIR ?= $(CURDIR)/data
SEED ?= 7
SCALE ?= 1
DBT_FILES := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml

.PHONY: setup run ingest test chaos dev serve bench lint docs clean browser worker bi review-desk

setup: $(VENV)/.installed dbt_project/target/manifest.json $(BI_TEMPLATE)  ## virtualenvs + install + dbt parse + BI template

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

# In the environment the pipeline gives dbt, so its saved parse serves every data directory
# (traceloom_pipelines/dbt_targets.py).
dbt_project/target/manifest.json: $(VENV)/.installed $(DBT_FILES) dbt_project/profiles.yml
	$(BIN)/python -m traceloom_pipelines.dbt_targets

# Superset (`make bi`) in its own virtualenv: its pins conflict with Dagster's. The template is
# a metadata database with the schema migrated and the roles made (a minute of CPU, once): `make
# bi` and tests/bi start from a copy of it instead of migrating an empty database each time.

$(BI_VENV)/.installed: deploy/bi/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "make setup: $(PYTHON) not found" >&2; exit 2; }
	$(PYTHON) -m venv $(BI_VENV)
	$(BI_BIN)/pip install --quiet --upgrade pip
	$(BI_BIN)/pip install --quiet -r deploy/bi/requirements.txt
	touch $@

$(BI_TEMPLATE): $(BI_VENV)/.installed deploy/bi/superset_config.py deploy/bi/bootstrap.py
	@rm -rf $(BI_VENV)/template && mkdir -p $(BI_VENV)/template
	@echo "superset: preparing the metadata template (log: $(BI_VENV)/template/bootstrap.log)"
	@SUPERSET_CONFIG_PATH=$(BI_CONFIG) TRACELOOM_BI_HOME=$(CURDIR)/$(BI_VENV)/template \
	  $(BI_BIN)/python deploy/bi/bootstrap.py --only-schema \
	  >$(BI_VENV)/template/bootstrap.log 2>&1 \
	  || { tail -20 $(BI_VENV)/template/bootstrap.log >&2; rm -f $@; exit 1; }
	@rm -f $(BI_VENV)/template/secret_key

run: setup  ## generate the demo world if absent, run the main job, print the summary
	$(BIN)/traceloom run --seed $(SEED) --scale $(SCALE)

ingest: setup  ## run the main job on whatever is in $TRACELOOM_DATA_DIR/landing (no demo data)
	$(BIN)/traceloom run --no-demo

# Test modules are spread over TEST_WORKERS processes (pytest-xdist, a module stays in one worker
# so its world is built once; tests/conftest.py keeps the modules that share a world in one
# worker and starts the units that run whole main jobs first, at most two at a time).
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

# The UI and the daemon as two processes, both loading the definitions from one code server started
# first (workspace.yaml says why); the code server and the daemon stop with the UI
# (Ctrl-C). Not `dagster dev`: it says the project's dagster.yaml "will not be used" (it is, as
# .dagster_home/dagster.yaml) and that it is superseded, two misleading warnings on every start.
PORT ?= 3000
CODE_PORT ?= 4266
# The two background processes get SIGINT back (`env --default-signal`): a shell without job
# control starts them with SIGINT ignored, and Dagster handles SIGTERM as it handles SIGINT, so
# the trap's `kill` would otherwise leave them running.
define ui_and_daemon
export TRACELOOM_CODE_SERVER_HOST=127.0.0.1 TRACELOOM_CODE_SERVER_PORT=$(CODE_PORT); \
env --default-signal=INT $(BIN)/dagster code-server start -m traceloom_pipelines.definitions \
  --location-name traceloom -h 127.0.0.1 -p $(CODE_PORT) & code=$$!; \
trap 'kill $$daemon $$code 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM; \
until $(BIN)/dagster api grpc-health-check -h 127.0.0.1 -p $(CODE_PORT) >/dev/null 2>&1; do \
  kill -0 $$code 2>/dev/null || { echo "the code server did not start (port $(CODE_PORT) taken? CODE_PORT=...)" >&2; exit 1; }; \
  sleep 1; done; \
env --default-signal=INT $(BIN)/dagster-daemon run -w workspace.yaml & daemon=$$!; \
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

# `make review-desk`: the review desk of dead letters and quarantined records (issue #13 §7) on
# the lake of $TRACELOOM_DATA_DIR; users from TRACELOOM_REVIEW_DESK_USERS (README "Review desk").
DESK_PORT = $(if $(filter environment command line,$(origin PORT)),$(PORT),8790)
review-desk: setup  ## the review desk: retry, edit, resolve, discard failed records (http://127.0.0.1:8790, PORT=...)
	$(BIN)/traceloom review-desk --host 127.0.0.1 --port $(DESK_PORT)

# `make worker`: one Celery worker for runs launched with TRACELOOM_EXECUTOR=celery (start one or
# more per machine). Broker, backend and queue from TRACELOOM_CELERY_*; NAME=... names the node
# (default traceloom-<pid>), WORKER_ARGS=... passes celery worker options (e.g. --concurrency 4).
# It needs the environment the steps need (README "Worker machines (Celery) and Kubernetes").
worker: setup  ## a Celery worker executing steps of TRACELOOM_EXECUTOR=celery runs (NAME=, WORKER_ARGS=)
	TRACELOOM_WORKER_NAME="$(NAME)" deploy/celery/worker.sh $(WORKER_ARGS)

# `make bi`: Superset on the marts, reading the lake of $TRACELOOM_DATA_DIR read-only while
# pipelines write it (deploy/bi/). Metadata and secret key in $TRACELOOM_BI_HOME; the admin from
# TRACELOOM_BI_ADMIN_USER / TRACELOOM_BI_ADMIN_PASSWORD (default admin/admin: a local machine
# only). Every start migrates, creates the admin if missing and re-imports the dashboards
# (deploy/bi/assets/). PORT=... overrides 8088 as it overrides 3000 for `make dev`.
BI_PORT = $(if $(filter environment command line,$(origin PORT)),$(PORT),8088)
bi: export SUPERSET_CONFIG_PATH := $(BI_CONFIG)
bi: export TRACELOOM_BI_HOME ?= $(TRACELOOM_DATA_DIR)/bi
bi: setup  ## Superset with the dashboards on the marts (http://127.0.0.1:8088, PORT=...; README "BI (Superset)")
	@mkdir -p "$$TRACELOOM_BI_HOME"
	@test -e "$$TRACELOOM_DATA_DIR/lake/catalog.sqlite" || [ "$${TRACELOOM_LAKE_CATALOG:-sqlite}" != sqlite ] \
	  || echo "make bi: no lake in $$TRACELOOM_DATA_DIR yet; the charts show data after \`make run\`" >&2
	@$(BI_BIN)/python deploy/bi/bootstrap.py --template $(BI_TEMPLATE) \
	  2>"$$TRACELOOM_BI_HOME/bootstrap.log" \
	  || { tail -20 "$$TRACELOOM_BI_HOME/bootstrap.log" >&2; exit 1; }
	@echo "superset: http://127.0.0.1:$(BI_PORT)/dashboard/list/ (user $${TRACELOOM_BI_ADMIN_USER:-admin}); Ctrl-C stops it"
	$(BI_BIN)/gunicorn --workers 1 --threads 8 --timeout 120 --bind 127.0.0.1:$(BI_PORT) \
	  --log-level warning "superset.app:create_app()"

bench: setup  ## ingestion vs DuckDB native, the lake under concurrency, incremental runs, the scale curve; writes bench/results/
	$(BIN)/python -m bench.ingest_bench
	$(BIN)/python -m bench.lake_bench
	$(BIN)/python -m bench.incremental_bench
	$(BIN)/python -m bench.scale_bench
	$(BIN)/python -m bench.bridge_bench

lint: setup
	$(BIN)/ruff check traceloom_pipelines tests bench deploy/bi
	$(BIN)/ruff format --check traceloom_pipelines tests bench deploy/bi

docs: setup  ## dbt docs for the warehouse in $TRACELOOM_DATA_DIR (run `make run` first)
	$(BIN)/traceloom dbt docs generate
	@echo "serve them: $(BIN)/traceloom dbt docs serve"

clean:
	rm -rf $(VENV) $(BI_VENV) dbt_project/target dbt_project/logs
