"""Superset's configuration for TraceLoom (``make bi``): metadata and secret key under the BI
home, and every DuckDB connection attaching the lake read-only as ``lake``.

Superset loads this file through ``SUPERSET_CONFIG_PATH`` (the Makefile and
``deploy/bi/bootstrap.py`` set it). It runs inside ``.venv-bi`` (Superset's own virtualenv: its
pins conflict with Dagster's), which has DuckDB 1.4.4 and the same ``duckdb-ext-*`` wheels as the
pipeline; ``traceloom_pipelines.lake`` is imported from the repository (``tenacity`` is its only
dependency outside the standard library and DuckDB), so the BI tool attaches the lake exactly as
the pipeline's readers do: the embedded SQLite catalog or the production PostgreSQL catalog,
chosen by ``TRACELOOM_LAKE_CATALOG`` and the ``TRACELOOM_LAKE_*`` variables (README *The lake*).

Environment:
    TRACELOOM_DATA_DIR: the data directory whose lake is read (default ``<repo>/data``).
    TRACELOOM_BI_HOME: Superset's metadata database ``superset.db`` and ``secret_key``
        (default ``$TRACELOOM_DATA_DIR/bi``).
    SUPERSET_SECRET_KEY: the key signing sessions and encrypting stored credentials; without it
        a random key is generated once into ``$TRACELOOM_BI_HOME/secret_key`` (mode 0600).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

import duckdb_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from traceloom_pipelines import duckdb_extensions, lake  # noqa: E402

TRACELOOM_DATA = Path(os.environ.get("TRACELOOM_DATA_DIR") or REPO_ROOT / "data").resolve()
BI_HOME = Path(os.environ.get("TRACELOOM_BI_HOME") or TRACELOOM_DATA / "bi").resolve()
BI_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """``SUPERSET_SECRET_KEY``, else the key in ``$TRACELOOM_BI_HOME/secret_key``, generated on
    first use (0600, never printed): sessions and stored credentials outlive a restart."""
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    path = BI_HOME / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{BI_HOME / 'superset.db'}?check_same_thread=false"
# Warnings and errors only: `make bi` is a console a person watches.
LOG_LEVEL = logging.WARNING


class _NoMissingSpinnerWarning(logging.Filter):
    """Superset 6.1.0's wheel lacks the frontend source file its default loading spinner is read
    from, and it warns on every page load; the page's first paint then has no spinner until the
    app's own loading indicator shows. Nothing for an operator to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "default spinner SVG" not in record.getMessage()


logging.getLogger("superset.views.base").addFilter(_NoMissingSpinnerWarning())
# One process, no Redis: the rate limiter keeps its counters in memory (else it warns).
RATELIMIT_STORAGE_URI = "memory://"
# Readers may type SQL in SQL Lab; the lake is attached read-only and locked down (below).
FEATURE_FLAGS = {"DASHBOARD_NATIVE_FILTERS": True}


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # noqa: N802
    """Superset's hook on every analytics engine it creates: a DuckDB connection loads
    extensions only from the ``duckdb-ext-*`` wheels and never downloads one
    (``autoinstall_known_extensions`` off; air-gapped networks), skipping the per-load signature
    hash once the wheels' files were verified (traceloom_pipelines/duckdb_extensions.py).
    Returns ``(uri, params)``, ``params`` being ``create_engine``'s keyword arguments."""
    if uri.get_backend_name() == "duckdb":
        connect_args = dict(params.get("connect_args") or {})
        config = dict(connect_args.get("config") or {})
        config.update(duckdb_extensions.connect_config())
        connect_args["config"] = config
        params["connect_args"] = connect_args
    return uri, params


@event.listens_for(Engine, "connect")
def _attach_the_lake_read_only(dbapi_connection, connection_record) -> None:
    """Every new DuckDB connection (Superset opens one per query) attaches the lake of
    ``TRACELOOM_DATA_DIR`` read-only as ``lake`` at its latest snapshot and uses it, so SQL reads
    ``marts.<mart>`` while pipelines write. Then the connection is locked down: no file access
    outside the lake's data files, no further extension loads, no setting changes (SQL Lab
    users type SQL on it).

    Raises:
        FileNotFoundError: the embedded lake does not exist yet (run the pipeline first).
    """
    if not isinstance(dbapi_connection, duckdb_engine.ConnectionWrapper):
        return
    config = lake.LakeConfig.from_env(TRACELOOM_DATA)
    dbapi_connection.execute("set TimeZone = 'UTC'")
    lake.attach(dbapi_connection, config, read_only=True)
    if not config.data_path.startswith("s3://"):
        dbapi_connection.execute("set allowed_directories = [?]", [config.data_path])
        dbapi_connection.execute("set enable_external_access = false")
    dbapi_connection.execute("set lock_configuration = true")
