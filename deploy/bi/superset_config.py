"""Superset's configuration for TraceLoom (``make bi``): metadata and secret key under the BI
home, and every DuckDB connection made for the logged-in reader: a privileged reader's attaches
the lake read-only as ``lake``, a tenant reader's reads that tenant's masked export only
(``traceloom_pipelines/bi_access.py``; README *Privacy and BI access*).

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

import functools
import logging
import os
import secrets
import sys
from pathlib import Path

import duckdb_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from traceloom_pipelines import bi_access  # noqa: E402

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
# Readers may type SQL in SQL Lab; each reader's connection is built and locked down (below).
FEATURE_FLAGS = {"DASHBOARD_NATIVE_FILTERS": True}


# No cache of query results (Superset's default, stated because it matters): results are keyed
# by the query, not by the reader, so a cache would hand one tenant's rows to another.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # noqa: N802
    """Superset's hook on every analytics engine it creates (one per query), called in the
    request with the logged-in user: a DuckDB database's connections are made by
    :func:`_reader_connection` for that user's roles, whatever the database's URI says. Returns
    ``(uri, params)``, ``params`` being ``create_engine``'s keyword arguments."""
    if uri.get_backend_name() == "duckdb":
        user = security_manager.find_user(username=username) if username else None
        try:
            if user is None:
                raise bi_access.BiAccessDenied("no logged-in BI user: no data")
            reader = bi_access.reader_of(role.name for role in user.roles)
        except bi_access.BiAccessDenied as denied:
            reader = denied  # raised when the engine connects, as a connection error
        params["creator"] = functools.partial(_reader_connection, reader)
    return uri, params


def _reader_connection(reader) -> duckdb_engine.ConnectionWrapper:
    """The DuckDB connection of a BI reader, ``reader`` being ``(privileged, tenants)`` of
    :func:`bi_access.reader_of` (``traceloom_pipelines/bi_access.py``): a privileged role
    (Admin, ``TraceLoom PII``) reads the lake itself, read-only at its latest snapshot (every
    tenant, unmasked); a ``TraceLoom tenant <t>`` role reads only tenant ``<t>``'s partitions of
    the masked Parquet export. Every connection is locked down (files, extensions, settings)
    before SQL Lab's SQL runs on it.

    Raises:
        bi_access.BiAccessDenied: ``reader`` is the refusal (no user, or no tenant or
            privileged role): no connection.
        FileNotFoundError: the embedded lake does not exist yet (run the pipeline first).
    """
    if isinstance(reader, bi_access.BiAccessDenied):
        raise reader
    privileged, tenants = reader
    if privileged:
        con = bi_access.lake_connection(TRACELOOM_DATA)
    else:
        con = bi_access.tenant_connection(TRACELOOM_DATA / "marts", tenants)
    return duckdb_engine.ConnectionWrapper(con)
