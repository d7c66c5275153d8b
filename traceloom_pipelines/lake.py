"""The lakehouse: a DuckLake (SQL catalog + Parquet data files) that every process shares.

Two catalogs, chosen by one setting, ``TRACELOOM_LAKE_CATALOG``:

- ``sqlite`` (default, embedded): ``$TRACELOOM_DATA_DIR/lake/catalog.sqlite`` in WAL journal
  mode, data files under ``$TRACELOOM_DATA_DIR/lake/data/``. Many readers at any time; SQLite
  lets one writer commit at a time, so writers take the lake's writer lock (a file lock,
  released by the OS when a process dies) for the duration of their write connection.
- ``postgres`` (production): the catalog in PostgreSQL, configured only from the environment
  (``TRACELOOM_LAKE_PG_HOST``/``_PORT``/``_USER``/``_PASSWORD``/``_DB``); writers run
  concurrently, DuckLake settles their commits (snapshot ids) and this module retries the
  logical conflicts (two creates of one table). Data path: ``TRACELOOM_LAKE_DATA_PATH``, a
  folder shared by every worker or an ``s3://`` URL (credentials ``TRACELOOM_LAKE_S3_*``).

Every connection is an in-memory DuckDB with the lake attached as ``lake`` and selected
(``use lake``), so SQL reads ``raw.<table>``, ``marts.<mart>`` as before. Extensions load from
the ``duckdb-ext-*`` wheels (``<site-packages>/duckdb_ext/extensions``): nothing is downloaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import tenacity

from traceloom_pipelines import duckdb_extensions

LAKE_ALIAS = "lake"
CATALOG_ENV = "TRACELOOM_LAKE_CATALOG"
DATA_PATH_ENV = "TRACELOOM_LAKE_DATA_PATH"
PG_ENV_PREFIX = "TRACELOOM_LAKE_PG_"
S3_ENV_PREFIX = "TRACELOOM_LAKE_S3_"
LOCK_TIMEOUT_S = 1800.0
# Dagster pool of the steps that write the lake: a real limit (catalog connections, memory),
# not a mutex; dagster.yaml and deploy/dagster.yaml set its size.
LAKE_WRITERS_POOL = "lake_writers"  # a writer waits at most this long for the lake's writer lock

T = TypeVar("T")


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake's catalog and data files are.

    Attributes:
        data_dir: ``$TRACELOOM_DATA_DIR`` (absolute); locks live under ``<data_dir>/lake/``.
        catalog: ``"sqlite"`` or ``"postgres"``.
        data_path: folder or ``s3://`` URL of the Parquet data files (ends with ``/``).
        pg: libpq keywords of the PostgreSQL catalog (``host``, ``port``, ``user``,
            ``dbname``); the password is never part of it (see :meth:`pg_password`).
    """

    data_dir: Path
    catalog: str
    data_path: str
    pg: tuple[tuple[str, str], ...] = ()
    data_path_from_env: bool = False

    @classmethod
    def from_env(cls, data_dir: Path) -> LakeConfig:
        """The lake of ``data_dir`` as the environment configures it.

        Raises:
            ValueError: on an unknown catalog or a PostgreSQL catalog without its variables.
        """
        data_dir = Path(data_dir).resolve()
        catalog = os.environ.get(CATALOG_ENV, "sqlite").strip().lower() or "sqlite"
        from_env = bool(os.environ.get(DATA_PATH_ENV))
        data_path = os.environ.get(DATA_PATH_ENV) or str(data_dir / "lake" / "data")
        data_path = data_path.rstrip("/") + "/"
        if catalog == "sqlite":
            return cls(data_dir, catalog, data_path, data_path_from_env=from_env)
        if catalog != "postgres":
            raise ValueError(f"{CATALOG_ENV} must be 'sqlite' or 'postgres', not {catalog!r}")
        keys = {"HOST": "host", "PORT": "port", "USER": "user", "DB": "dbname"}
        missing = [PG_ENV_PREFIX + k for k in keys if not os.environ.get(PG_ENV_PREFIX + k)]
        if missing:
            raise ValueError(f"the PostgreSQL lake catalog needs {', '.join(missing)}")
        pg = tuple((libpq, os.environ[PG_ENV_PREFIX + k]) for k, libpq in keys.items())
        return cls(data_dir, catalog, data_path, pg, data_path_from_env=from_env)

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def sqlite_path(self) -> Path:
        return self.lake_dir / "catalog.sqlite"

    @property
    def catalog_uri(self) -> str:
        """``ducklake:sqlite:<file>`` or ``ducklake:postgres:<libpq keywords>`` (no password)."""
        if self.catalog == "sqlite":
            return f"ducklake:sqlite:{self.sqlite_path}"
        return "ducklake:postgres:" + " ".join(f"{k}={v}" for k, v in self.pg)

    @staticmethod
    def pg_password() -> str | None:
        return os.environ.get(PG_ENV_PREFIX + "PASSWORD")

    @property
    def concurrent_writers(self) -> bool:
        """True when writers may commit side by side (PostgreSQL catalog)."""
        return self.catalog == "postgres"

    def dbt_env(self) -> dict[str, str]:
        """Environment for a dbt subprocess: ``dbt_project/profiles.yml`` reads these."""
        env = {
            # the DuckLake secret `traceloom_lake` of profiles.yml: the catalog without `ducklake:`
            "TRACELOOM_LAKE_METADATA_PATH": self.catalog_uri.removeprefix("ducklake:"),
            DATA_PATH_ENV: self.data_path,
            # As attach() does: the default data path follows the data directory.
            "TRACELOOM_LAKE_OVERRIDE_DATA_PATH": str(not self.data_path_from_env).lower(),
            "TRACELOOM_DUCKDB_EXTENSION_DIR": str(duckdb_extensions.extension_directory()),
            # dbt's connection skips the per-load signature hash once the files are verified.
            "TRACELOOM_DUCKDB_ALLOW_UNSIGNED": str(duckdb_extensions.signatures_verified()).lower(),
            # One dbt thread: DuckLake 1.4.4 fails concurrent DDL commits of one process
            # ("Failed to parse catalog entry - trailing data after quoted value": 54 of 501
            # nodes of a 4-thread build on the PostgreSQL catalog), and the SQLite catalog
            # commits one writer at a time. `TRACELOOM_DBT_THREADS` overrides it.
            "TRACELOOM_DBT_THREADS": os.environ.get("TRACELOOM_DBT_THREADS", "1"),
        }
        if self.catalog == "postgres" and self.pg_password() is not None:
            env["PGPASSWORD"] = self.pg_password() or ""  # libpq reads it; never in the URI
        return env


def _create_sqlite_catalog(config: LakeConfig) -> None:
    """Create the lake's SQLite catalog, complete or not at all: a new file in WAL journal mode
    (readers then never wait for a writer) gets DuckLake's metadata tables under a temporary
    name and is then linked into place. A reader that finds ``catalog.sqlite`` therefore always
    finds a lake, never a file whose tables are still being created. Of processes that create
    it at once, the first link wins; the others discard theirs.
    """
    path = config.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.creating-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        with sqlite3.connect(staging, timeout=60) as catalog:
            catalog.execute("pragma journal_mode = wal")
        con = open_duckdb()
        try:
            con.execute("load sqlite").fetchall()
            con.execute("load ducklake").fetchall()
            con.execute(
                f"attach 'ducklake:sqlite:{staging}' as traceloom_new_lake "
                f"(data_path '{config.data_path}')"
            ).fetchall()
            con.execute("detach traceloom_new_lake").fetchall()
        finally:
            con.close()
        with sqlite3.connect(staging, timeout=60) as catalog:  # fold the WAL into the file
            catalog.execute("pragma wal_checkpoint(truncate)")
        try:
            os.link(staging, path)
        except FileExistsError:
            pass  # another process created the lake first: it is the lake
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            leftover.unlink(missing_ok=True)


def open_duckdb(verify_each_load: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (UTC) that loads extensions from the wheels and never downloads.

    Extension signatures are checked once per installation (duckdb_extensions.py), not on each
    load; ``verify_each_load`` keeps DuckDB's check on every load (and refuses unsigned
    extensions) for connections that run SQL typed by a user (``traceloom sql``).
    """
    config = duckdb_extensions.connect_config()
    if verify_each_load:
        config["allow_unsigned_extensions"] = False
    con = duckdb.connect(config=config)
    con.execute("set TimeZone = 'UTC'").fetchall()
    return con


def attach(
    con: duckdb.DuckDBPyConnection,
    config: LakeConfig,
    read_only: bool = False,
    snapshot: int | None = None,
) -> None:
    """Attach the lake to ``con`` as ``lake`` and make it the default database.

    ``snapshot``: attach (read-only) the lake as it was at that snapshot id (time travel).
    """
    if config.catalog == "sqlite":
        if not config.sqlite_path.exists():
            if read_only:
                raise FileNotFoundError(f"no lake at {config.sqlite_path}: run the pipeline first")
            _create_sqlite_catalog(config)
        con.execute("load sqlite").fetchall()
    else:
        con.execute("load postgres").fetchall()
        password = config.pg_password()
        if password:
            con.execute(
                "create or replace temporary secret traceloom_lake_pg (type postgres, password ?)",
                [password],
            ).fetchall()
    if config.data_path.startswith("s3://"):
        _s3_secret(con)
    if not config.data_path.startswith("s3://"):
        Path(config.data_path).mkdir(parents=True, exist_ok=True)
    con.execute("load ducklake").fetchall()
    options = [f"data_path '{config.data_path}'"]
    if not config.data_path_from_env:
        # The default data path follows the data directory, so a lake copied or moved with its
        # data directory (a backup restored elsewhere) opens where it now is.
        options.append("override_data_path true")
    if read_only or snapshot is not None:
        options.append("read_only")
    if snapshot is not None:
        options.append(f"snapshot_version {int(snapshot)}")
    statement = (
        f"attach if not exists '{config.catalog_uri}' as {LAKE_ALIAS} ({', '.join(options)})"
    )
    # Processes that attach a new lake at once race to create its catalog tables; the loser's
    # attach fails ("duplicate key value", "database is locked") and succeeds when repeated.
    retry_on_conflict(lambda: con.execute(statement).fetchall())
    con.execute(f"use {LAKE_ALIAS}").fetchall()


def _s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """An S3 secret from ``TRACELOOM_LAKE_S3_KEY_ID``/``_SECRET``/``_REGION``/``_ENDPOINT``/
    ``_URL_STYLE``/``_USE_SSL`` (S3-compatible stores such as MinIO set the endpoint)."""
    con.execute("load httpfs").fetchall()
    fields = {
        "KEY_ID": "key_id",
        "SECRET": "secret",
        "REGION": "region",
        "ENDPOINT": "endpoint",
        "URL_STYLE": "url_style",
        "USE_SSL": "use_ssl",
    }
    values = {
        v: os.environ[S3_ENV_PREFIX + k]
        for k, v in fields.items()
        if S3_ENV_PREFIX + k in os.environ
    }
    if not values:
        return
    body = ", ".join(f"{key} ?" for key in values)
    con.execute(
        f"create or replace temporary secret traceloom_lake_s3 (type s3, {body})",
        list(values.values()),
    ).fetchall()


# -- locks ------------------------------------------------------------------------------------
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def lake_lock(config: LakeConfig, name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lake-wide mutex ``name`` (every process and machine on this lake).

    Embedded catalog: an exclusive ``flock`` on ``<data_dir>/lake/locks/<name>.lock``.
    PostgreSQL catalog: a session advisory lock in the catalog database (worker machines share
    it). Both are released when the holder exits or dies (``kill -9`` included).

    Raises:
        TimeoutError: if the lock is not free within ``timeout_s`` seconds.
    """
    with _thread_lock(name, timeout_s):
        if config.catalog == "postgres":
            with _pg_advisory_lock(config, name, timeout_s):
                yield
            return
        locks = config.lake_dir / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{name}.lock", "a+") as handle:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"lake lock {name!r} not free after {timeout_s:.0f}s"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _thread_lock(name: str, timeout_s: float) -> Iterator[None]:
    # flock is per open file, so two threads of one process exclude each other too; this lock
    # only keeps them from spinning on it.
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(name, threading.Lock())
    if not lock.acquire(timeout=timeout_s):
        raise TimeoutError(f"lake lock {name!r} not free after {timeout_s:.0f}s")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _pg_advisory_lock(config: LakeConfig, name: str, timeout_s: float) -> Iterator[None]:
    import psycopg2

    params = dict(config.pg)
    conn = psycopg2.connect(password=config.pg_password() or None, connect_timeout=10, **params)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("set lock_timeout = %s", [f"{int(timeout_s * 1000)}ms"])
            deadline = time.monotonic() + timeout_s
            key = _lock_key(name)
            while True:
                cursor.execute("select pg_try_advisory_lock(%s)", [key])
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"lake lock {name!r} not free after {timeout_s:.0f}s")
                time.sleep(0.1)
        yield
    finally:
        conn.close()  # the session ends: the advisory lock is released


WRITER_LOCK = "writer"


def dbt_lock_name(config: LakeConfig) -> str:
    """The mutex a ``dbt build`` of ``config``'s lake holds. Embedded catalog: the writer lock
    (SQLite commits one writer at a time, and dbt's commits cannot wait on our lock one by one).
    PostgreSQL catalog: the ``dbt`` lock only, so two builds never rebuild the same models at
    once while landing goes on beside them."""
    return "dbt" if config.concurrent_writers else WRITER_LOCK


def entity_lock_name(table: str) -> str:
    """The mutex of one raw table's landing (file skip and dedupe see every earlier batch)."""
    return f"land-{table}"


# -- commits ----------------------------------------------------------------------------------
_CONFLICT_MARKERS = (
    "database is locked",
    "conflict",
    "Failed to commit DuckLake transaction",
    "Failed to parse catalog entry",
    "Failed to query most recent snapshot",
    "could not serialize",
    "duplicate key value",
    "already exists",  # two processes creating a new lake's catalog (or one table) at once
)


def is_commit_conflict(error: BaseException) -> bool:
    """True for errors another writer's concurrent commit causes (safe to retry the work)."""
    if not isinstance(error, duckdb.Error):
        return False
    text = str(error)
    return any(marker in text for marker in _CONFLICT_MARKERS)


def retry_on_conflict(work: Callable[[], T], attempts: int = 8) -> T:
    """Run ``work`` again (up to ``attempts`` times, jittered backoff) while it fails with a
    commit conflict; ``work`` must roll back its own transaction and be safe to repeat."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_commit_conflict),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    return retrying(work)


def transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """``begin``; ``work()``; ``commit`` — all or nothing, repeated on a commit conflict.

    Raises:
        whatever ``work`` raises (after ``rollback``), or the last conflict after the retries.
    """

    def attempt() -> T:
        con.execute("begin transaction").fetchall()
        try:
            result = work()
            con.execute("commit").fetchall()
            return result
        except BaseException:
            try:
                con.execute("rollback").fetchall()
            except duckdb.Error:
                pass  # a failed commit has already ended the transaction
            raise

    return retry_on_conflict(attempt)


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the lake's latest committed snapshot."""
    return con.execute(f"select id from {LAKE_ALIAS}.current_snapshot()").fetchall()[0][0]


def table_versions(
    con: duckdb.DuckDBPyConnection, tables: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """``(schema, table)`` → the table's content version as the lake's catalog states it now:
    ``"<record_count>:<next_row_id>"`` (any insert or delete changes it; compaction and a
    commit to another table do not), ``"absent"`` for a table not created yet. One catalog
    query, however large the tables."""
    meta = f"__ducklake_metadata_{LAKE_ALIAS}"
    rows = con.execute(
        f"select s.schema_name, t.table_name, st.record_count, st.next_row_id "
        f"from {meta}.ducklake_table t "
        f"join {meta}.ducklake_schema s on s.schema_id = t.schema_id "
        f"left join {meta}.ducklake_table_stats st on st.table_id = t.table_id "
        "where t.end_snapshot is null and s.end_snapshot is null"
    ).fetchall()
    stats = {(schema, table): f"{count}:{next_id}" for schema, table, count, next_id in rows}
    return {key: stats.get(key, "absent") for key in tables}
