"""The embedded Dagster instance's storage: Dagster's SQLite storage, without an engine per query.

Dagster's SQLite storages build a new SQLAlchemy engine for every connection they open
(``create_engine(..., poolclass=NullPool)`` in ``_connect``/``connect``, dagster 1.13). A new
engine initialises its dialect again and starts with an empty statement cache, so every insert
is compiled again. Each event of a run costs ~5 such connections: on the tiny test world,
creating a main-job run (1,036 "planned" events) took 14 s of CPU, and its 3,300 events ~50 of the
run's 150 CPU-seconds.

:class:`TraceloomSqliteStorage` is ``storage: sqlite:`` with one engine per database file and
process, whose pool keeps its connections open, and SQLite's ``synchronous=NORMAL`` (Dagster puts
these databases in WAL mode). Dagster opened, committed and closed a connection per event: each
commit waited for an fsync of the WAL and each close (the last connection of the process)
checkpointed the WAL into the database and fsynced again, 4.3 ms an event on this machine's disk
against 0.02 ms on a kept connection without the per-commit fsync. In WAL mode ``NORMAL`` is
still durable when a process dies (``kill -9``, the OOM killer); a power cut may lose the newest
events, never corrupt the database. The instance is the embedded, local one (``make run``,
``make dev``, the tests); production's PostgreSQL instance is unaffected. A forked process (the
multiprocess executor's steps) starts with no engine: the parent's connections are left to the
parent (``dispose(close=False)``), as SQLite and SQLAlchemy ask. Same files, same layout
(``<base_dir>/history``, ``history/runs``, ``schedules``), so an instance created by either reads
the same. ``dagster.yaml`` selects it::

    storage:
      custom:
        module: traceloom_pipelines.instance_storage
        class: TraceloomSqliteStorage
        config:
          base_dir: {env: DAGSTER_HOME}

The production instance (``deploy/dagster.yaml``, PostgreSQL) pools its connections already.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils import mkdir_p

# The webserver and the daemon read many runs' databases over their life: keep the newest.
MAX_ENGINES = 64


class _Engines:
    """One engine per connection string and process, the ``MAX_ENGINES`` most recently used;
    its connections stay open in its pool and commit with ``synchronous=NORMAL``."""

    def __init__(self) -> None:
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn_string: str, **connect_args) -> db.engine.Engine:
        with self._lock:
            engine = self._engines.pop(conn_string, None)
            if engine is None:
                engine = create_engine(conn_string, connect_args=connect_args)
                db.event.listen(engine, "connect", _set_synchronous_normal)
            self._engines[conn_string] = engine
            while len(self._engines) > MAX_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's engines without closing their connections
        (SQLite connections must not be used or closed across a fork)."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        for engine in self._engines.values():
            engine.dispose(close=False)
        self._engines = OrderedDict()


def _set_synchronous_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_ENGINES = _Engines()
os.register_at_fork(after_in_child=_ENGINES.forget_after_fork)


class TraceloomSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run SQLite event log, reusing one engine per shard (run or index)."""

    def _engine(self, shard: str) -> db.engine.Engine:
        return _ENGINES.get(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Whether the index database has ``table_name``; asked for every asset check event.
        A table found stays (migrations add tables), so only its presence is remembered."""
        if table_name in self._tables_found:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    @cached_property
    def _tables_found(self) -> set[str]:
        return set()


class _OneEngine:
    """``connect()`` of Dagster's single-file SQLite storages (runs, schedules) on the engine of
    their ``_conn_string`` kept in ``_ENGINES``."""

    _conn_string: str

    @contextmanager
    def connect(self) -> Iterator[db.engine.Connection]:
        with _ENGINES.get(self._conn_string).connect() as conn, conn.begin():
            yield conn


class TraceloomSqliteRunStorage(_OneEngine, SqliteRunStorage):
    """Dagster's SQLite run storage, reusing one engine."""


class TraceloomSqliteScheduleStorage(_OneEngine, SqliteScheduleStorage):
    """Dagster's SQLite schedule storage, reusing one engine."""


class TraceloomSqliteStorage(DagsterSqliteStorage):
    """``storage: sqlite:`` (same files under ``base_dir``) with the three storages above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = base_dir
        self._run_storage = TraceloomSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = TraceloomSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = TraceloomSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir)
        )
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> TraceloomSqliteStorage:
        mkdir_p(config_value["base_dir"])
        return cls(config_value["base_dir"], inst_data=inst_data)
