"""Helpers of the lake concurrency tests: worlds, ``traceloom run`` processes, lake inspection.

Everything here drives the real programs: ``traceloom run --no-demo`` subprocesses on a Dagster
instance in a temporary ``DAGSTER_HOME`` (a copy of the project's ``dagster.yaml``), the embedded
lake (SQLite catalog) of a data directory, and readers from :mod:`tests.lake.reader`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from traceloom_pipelines.landing.readers import list_drop_files
from traceloom_pipelines.landing.warehouse import connect, quote
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.catalog import all_entities

VENV_BIN = Path(sys.executable).parent
TRACELOOM = VENV_BIN / "traceloom"
RUN_TIMEOUT_S = 1500.0


def copy_world(template: Path, data_dir: Path) -> Path:
    """A fresh data directory holding the template's landing folders and answer key (no lake)."""
    data_dir.mkdir(parents=True)
    for part in ("landing", "demo"):
        shutil.copytree(template / part, data_dir / part)
    return data_dir


def new_dagster_home(path: Path) -> Path:
    """A ``DAGSTER_HOME`` holding a copy of the project's ``dagster.yaml``."""
    path.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", path / "dagster.yaml")
    return path


def run_env(data_dir: Path, dagster_home: Path) -> dict[str, str]:
    """Environment of a ``traceloom run``: embedded lake of ``data_dir``, instance in
    ``dagster_home``, the test worlds' run window, the venv first on PATH (dbt)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELOOM_LAKE_")}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        TRACELOOM_DATA_DIR=str(data_dir),
        TRACELOOM_RUN_DAYS="2",  # concurrency, not day coverage: the smallest window
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


_started: list[subprocess.Popen] = []


def start_run(
    data_dir: Path, dagster_home: Path, log: Path, select: str | None = None
) -> subprocess.Popen:
    """Start ``traceloom --data-dir <data_dir> run --no-demo [--select <select>]`` in its own
    process group."""
    command = [str(TRACELOOM), "--data-dir", str(data_dir), "run", "--no-demo"]
    if select is not None:
        command += ["--select", select]
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=run_env(data_dir, dagster_home),
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
    _started.append(proc)
    return proc


def kill_all() -> None:
    """Kill the process group of every ``traceloom run`` started here that is still running."""
    for proc in _started:
        if proc.poll() is None:
            kill_group(proc)


def wait_run(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT_S) -> int:
    """The exit status of a ``traceloom run``; the whole process group is killed on timeout."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise


def kill_group(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """``kill -9`` the process group of ``proc`` (the run, its step workers, dbt) and wait until
    no process of the group is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {proc.pid} still alive {timeout:.0f}s after SIGKILL")


_env_lock = threading.Lock()


@contextmanager
def _dagster_home(home: Path) -> Iterator[None]:
    # dagster.yaml reads DAGSTER_HOME from the environment when the instance is loaded
    with _env_lock:
        before = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(home)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = before


def dagster_runs(home: Path) -> dict[str, dict]:
    """Run id → ``{"status", "start", "end"}`` (status name, UNIX times) of every run on the
    instance in ``home``."""
    import dagster as dg

    with _dagster_home(home), dg.DagsterInstance.from_config(str(home)) as instance:
        return {
            record.dagster_run.run_id: {
                "status": record.dagster_run.status.value,
                "start": record.start_time,
                "end": record.end_time,
            }
            for record in instance.get_run_records()
        }


def lake_snapshot(data_dir: Path) -> int:
    """The id of the lake's latest committed snapshot."""
    con = connect(data_dir, read_only=True)
    try:
        return con.execute("select id from lake.current_snapshot()").fetchall()[0][0]
    finally:
        con.close()


# -- the lake -----------------------------------------------------------------------------------
def row_counts(data_dir: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    """``schema.table`` → row count of every lake table in ``schemas``."""
    con = connect(data_dir, read_only=True)
    try:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'lake' and table_schema in (select unnest(?))",
            [list(schemas)],
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(
                f"select count(*) from {schema}.{quote(table)}"
            ).fetchall()[0][0]
            for schema, table in names
        }
    finally:
        con.close()


def drop_files(data_dir: Path) -> set[str]:
    """Relative paths of every drop file of every source entity under ``<data_dir>/landing``."""
    return {
        f.relative_path for e in all_entities() for f in list_drop_files(data_dir / "landing", e)
    }


def batch_files(data_dir: Path) -> Counter:
    """``audit.batches`` rows per landed file (relative path)."""
    con = connect(data_dir, read_only=True)
    try:
        return Counter(
            dict(
                con.execute("select source_file, count(*) from audit.batches group by 1").fetchall()
            )
        )
    finally:
        con.close()


def consistency_problems(data_dir: Path) -> list[str]:
    """Every way the lake's current snapshot contradicts ``audit.batches``.

    Per committed batch: rows of each raw table with its ``_batch_id`` = ``rows_landed``, rows of
    ``audit.quarantine`` with its ``batch_id`` = ``rows_quarantined``; no raw, child or quarantine
    row of a batch that ``audit.batches`` does not hold; no record landed or quarantined twice
    (tenant and record hash; child rows: parent hash and index). Empty list: consistent.
    """
    con = connect(data_dir, read_only=True)
    problems: list[str] = []
    try:
        con.execute("begin transaction").fetchall()  # one snapshot for every query below
        tables = {
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'lake' and table_schema = 'raw'"
            ).fetchall()
        }
        parents = {e.table: e for e in all_entities()}
        for table in sorted(tables):
            raw = f"raw.{quote(table)}"
            orphans = con.execute(
                f"select _batch_id, count(*) from {raw} r where not exists "
                "(select 1 from audit.batches b where b.batch_id = r._batch_id) group by 1"
            ).fetchall()
            problems += [f"{table}: {n} rows of uncommitted batch {b}" for b, n in orphans]
            if table in parents:
                entity = parents[table]
                wrong = con.execute(
                    f"""
                    select b.batch_id, b.rows_landed, coalesce(r.n, 0)
                    from audit.batches b
                    left join (select _batch_id, count(*) as n from {raw} group by 1) r
                      on r._batch_id = b.batch_id
                    where b.source_system = ? and b.entity = ?
                      and b.rows_landed <> coalesce(r.n, 0)
                    """,
                    [entity.system, entity.entity],
                ).fetchall()
                problems += [
                    f"{table}: batch {b} says {want} rows landed, the table holds {got}"
                    for b, want, got in wrong
                ]
                n, distinct = con.execute(
                    f"select count(*), count(distinct (tenant_id, _record_hash)) from {raw}"
                ).fetchall()[0]
            else:
                n, distinct = con.execute(
                    "select count(*), count(distinct (tenant_id, _parent_record_hash, "
                    f"_child_index)) from {raw}"
                ).fetchall()[0]
            if n != distinct:
                problems.append(f"{table}: {n - distinct} records held twice")
        wrong = con.execute(
            """
            select coalesce(b.batch_id, q.batch_id), b.rows_quarantined, coalesce(q.n, 0)
            from audit.batches b
            full join (select batch_id, count(*) as n from audit.quarantine group by 1) q
              on q.batch_id = b.batch_id
            where b.batch_id is null or b.rows_quarantined <> coalesce(q.n, 0)
            """
        ).fetchall()
        problems += [
            f"audit.quarantine: batch {b} says {want} rows quarantined, the table holds {got}"
            for b, want, got in wrong
        ]
        n, distinct = con.execute(
            "select count(*), count(distinct (tenant_id, source_system, entity, record_hash)) "
            "from audit.quarantine"
        ).fetchall()[0]
        if n != distinct:
            problems.append(f"audit.quarantine: {n - distinct} records held twice")
        con.execute("commit").fetchall()
    finally:
        con.close()
    return problems


@dataclass
class CatalogProbe:
    """Reads the embedded catalog (SQLite, read-only) and the data folder of a lake that a
    ``traceloom run`` is writing, cheaply enough to poll every few milliseconds."""

    data_dir: Path
    _batches_table: int | None = field(default=None, init=False)

    def _catalog(self) -> closing[sqlite3.Connection]:
        path = self.data_dir / "lake" / "catalog.sqlite"
        return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5))

    def landing_commits(self) -> int:
        """Committed snapshots that inserted into ``audit.batches`` (one per landed group)."""
        if not (self.data_dir / "lake" / "catalog.sqlite").exists():
            return 0
        try:
            with self._catalog() as catalog:
                if self._batches_table is None:
                    row = catalog.execute(
                        "select t.table_id from ducklake_table t join ducklake_schema s "
                        "using (schema_id) where s.schema_name = 'audit' "
                        "and t.table_name = 'batches' and t.end_snapshot is null"
                    ).fetchone()
                    if row is None:
                        return 0
                    self._batches_table = row[0]
                marker = f"%inserted_into_table:{self._batches_table},%"
                return catalog.execute(
                    "select count(*) from ducklake_snapshot_changes "
                    "where changes_made || ',' like ?",
                    [marker],
                ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0  # catalog being created

    def uncommitted_files(self) -> set[str]:
        """Data files on disk that no committed snapshot references: a transaction in flight
        (or one that died). The folder is listed before the catalog is read, so a file
        committed in between is not reported."""
        on_disk = {
            p.name for p in (self.data_dir / "lake" / "data").rglob("*.parquet") if p.is_file()
        }
        if not on_disk:
            return set()
        try:
            with self._catalog() as catalog:
                known = {
                    Path(path).name
                    for (path,) in catalog.execute(
                        "select path from ducklake_data_file "
                        "union all select path from ducklake_delete_file"
                    )
                }
        except sqlite3.OperationalError:
            return set()
        return on_disk - known
