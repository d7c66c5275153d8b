"""The warehouse (the DuckLake lake, :mod:`traceloom_pipelines.lake`): connections and the DDL
of ``raw`` and ``audit`` tables.

DuckLake has no PRIMARY KEY or UNIQUE constraints: keys below are kept by the code that writes
(one landing per raw table at a time, :func:`traceloom_pipelines.lake.entity_lock_name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.landing.checks import JSON, TEXT
from traceloom_pipelines.landing.entity import ChildTable, SourceEntity
from traceloom_pipelines.master_data.store import MASTER_DATA_DDL

LINEAGE_COLUMNS = {
    "_source_system": "VARCHAR",
    "_source_file": "VARCHAR",
    "_source_row": "INTEGER",
    "_batch_id": "VARCHAR",
    "_ingested_at": "TIMESTAMP",
    "_record_hash": "VARCHAR",
}
CHILD_LINEAGE_COLUMNS = {
    "_child_index": "INTEGER",
    "_parent_record_hash": "VARCHAR",
    "_source_file": "VARCHAR",
    "_source_row": "INTEGER",
    "_batch_id": "VARCHAR",
    "_ingested_at": "TIMESTAMP",
}

AUDIT_DDL_TEMPLATE = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists audit.quarantine (
    tenant_id varchar not null,
    source_system varchar not null,
    entity varchar not null,
    source_file varchar not null,
    source_row integer not null,
    batch_id varchar not null,
    record_hash varchar not null,
    record varchar,
    failed_checks varchar[] not null,
    reason varchar not null,
    quarantined_at timestamp not null
);
create table if not exists audit.batches (
    batch_id varchar not null,
    run_id varchar,
    tenant_id varchar not null,
    source_system varchar not null,
    entity varchar not null,
    source_file varchar not null,
    file_sha256 varchar not null,
    file_bytes bigint not null,
    rows_read bigint not null,
    rows_landed bigint not null,
    rows_quarantined bigint not null,
    rows_duplicate bigint not null,
    started_at timestamp not null,
    finished_at timestamp not null
);
-- Pull connectors (landing/pull.py): one cursor per source, entity and tenant, advanced only
-- after the pulled files landed; failed requests (003 §7.2); one row per pull (003 §8.1);
-- the keys of each complete full pull (HR employees absent from the latest become inactive).
create table if not exists audit.connector_state (
    source varchar not null,
    entity varchar not null,
    tenant_id varchar not null,
    cursor varchar,
    updated_at timestamp not null,
    run_id varchar
);
create table if not exists audit.dead_letters (
    source varchar not null,
    entity varchar not null,
    tenant_id varchar not null,
    url varchar not null,
    params varchar,
    status integer,
    error_class varchar not null,
    error varchar not null,
    body_excerpt varchar,
    attempts integer not null,
    failed_at timestamp not null,
    run_id varchar
);
create table if not exists audit.connector_runs (
    source varchar not null,
    entity varchar not null,
    tenant_id varchar not null,
    run_id varchar,
    started_at timestamp not null,
    finished_at timestamp not null,
    status varchar not null,
    cursor_before varchar,
    cursor_after varchar,
    files_written integer not null,
    requests integer not null,
    retries integer not null,
    dead_letters integer not null,
    breaker_state varchar not null,
    breaker_consecutive_failures integer not null,
    error varchar
);
-- The lake snapshot each run's steps left (traceloom_pipelines/snapshots.py).
create table if not exists audit.run_snapshots (
    run_id varchar not null,
    step varchar not null,
    snapshot_id bigint not null,
    recorded_at timestamp not null
);
-- Each successful dbt build of a selection and the state of the sources it read
-- (traceloom_pipelines/dbt_inputs.py): an unchanged state skips the next build.
create table if not exists audit.dbt_builds (
    run_id varchar not null,
    selection varchar not null,
    inputs varchar not null,
    snapshot_id bigint not null,
    built_at timestamp not null
);
-- Issue #12 §3: paths under the landing root that landing never reads (links, files resolving
-- outside it, tenant folders whose name is not a tenant id), once per entity, path and reason;
-- tenant_id is '_invalid' when the folder name is not a tenant id (landing/loader.py).
create table if not exists audit.skipped_paths (
    tenant_id varchar not null,
    folder_name varchar not null,
    source_system varchar not null,
    entity varchar not null,
    path varchar not null,
    reason varchar not null,
    first_seen_at timestamp not null,
    run_id varchar
);
-- Issue #12 §4: CSV header columns no contract field reads (their values are not landed),
-- once per file and column, with the batch that first saw it and the first non-blank value.
create table if not exists audit.schema_drift (
    tenant_id varchar not null,
    source_system varchar not null,
    entity varchar not null,
    source_file varchar not null,
    batch_id varchar not null,
    field varchar not null,
    first_value varchar,
    first_value_row integer,
    recorded_at timestamp not null,
    run_id varchar
);
-- Issue #13 §7 (003 §7.2): the review desk's actions on dead letters and quarantined
-- records, one row per action (traceloom_pipelines/review_desk/actions.py). A quarantine
-- 'retry' re-drops the record unchanged; landing then reads that record_hash again instead of
-- skipping it as already quarantined (landing/loader.py, _hash_and_dedupe).
create table if not exists audit.review_actions (
    action_id varchar not null,
    tenant_id varchar not null,
    item_kind varchar not null,
    item_key varchar not null,
    source varchar not null,
    entity varchar not null,
    record_hash varchar,
    action varchar not null,
    actor varchar not null,
    acted_at timestamp not null,
    failed_at timestamp not null,
    note varchar,
    drop_file varchar
);
-- Issue #16 §2 (seed 004): the review desk's stewardship decisions on supplier / product
-- matches, replayed by every later resolution (traceloom_pipelines/master_data/).
create table if not exists audit.stewardship_decisions (
    decision_id varchar not null,
    tenant_id varchar not null,
    entity_type varchar not null,
    action varchar not null,
    record_id_l varchar not null,
    record_id_r varchar not null,
    actor varchar not null,
    decided_at timestamp not null,
    reason varchar
);
-- Identity resolution's output (traceloom_pipelines/master_data/store.py), created empty here so
-- the dbt models reading it exist on a new lake before the first resolution.
create schema if not exists master_data;
{master_data_ddl}
create table if not exists audit.pull_snapshots (
    snapshot_id varchar not null,
    source varchar not null,
    entity varchar not null,
    tenant_id varchar not null,
    record_key varchar not null,
    snapshot_at timestamp not null,
    run_id varchar
);
"""

AUDIT_DDL = AUDIT_DDL_TEMPLATE.replace("{master_data_ddl}", MASTER_DATA_DDL)


def run(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[tuple]:
    """Execute one statement and fetch its whole result.

    DuckDB 2 refuses new work on a connection while a result (even an INSERT's row count) is
    unfetched, so every statement goes through here.
    """
    return con.execute(sql, params).fetchall()


def connect(
    data_dir: Path,
    read_only: bool = False,
    snapshot: int | None = None,
    verify_each_load: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open the lake of ``data_dir`` (``$TRACELOOM_DATA_DIR``) as the environment configures it.

    A writable connection creates the catalog (and the ``raw``/``audit`` tables) when missing.
    The connection is in-memory DuckDB with the lake attached as ``lake`` and in use, UTC session.
    Concurrent writers are the caller's business: see ``WarehouseResource.connect``.
    ``snapshot``: read-only, every table as it was at that lake snapshot id (time travel).
    ``verify_each_load``: DuckDB checks extension signatures on every load (for user-typed SQL;
    see :func:`traceloom_pipelines.lake.open_duckdb`).

    Raises:
        FileNotFoundError: read-only on a lake that was never written.
    """
    config = lake.LakeConfig.from_env(data_dir)
    con = lake.open_duckdb(verify_each_load=verify_each_load)
    try:
        lake.attach(con, config, read_only=read_only, snapshot=snapshot)
        if not read_only and not _audit_tables_exist(con):
            lake.retry_on_conflict(lambda: run(con, AUDIT_DDL))
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def lake_connection(
    data_dir: Path, read_only: bool = False, lock_timeout_s: float = lake.LOCK_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A lake connection (:func:`connect`) for the duration of the block; closed on exit.

    Readers never wait. A writer on the embedded (SQLite) catalog holds the lake's writer lock
    while the connection is open, because SQLite commits one writer at a time; on the
    PostgreSQL catalog writers run side by side and retry conflicting commits
    (:func:`traceloom_pipelines.lake.transaction`).

    Raises:
        TimeoutError: a writer on the embedded catalog did not get the writer lock within
            ``lock_timeout_s`` seconds (e.g. a web request behind a long landing).
    """
    config = lake.LakeConfig.from_env(data_dir)
    if read_only or config.concurrent_writers:
        con = connect(data_dir, read_only=read_only)
        try:
            yield con
        finally:
            con.close()
        return
    with lake.lake_lock(config, lake.WRITER_LOCK, timeout_s=lock_timeout_s):
        con = connect(data_dir)
        try:
            yield con
        finally:
            con.close()


AUDIT_TABLES = tuple(
    re.findall(r"create table if not exists ((?:audit|master_data)\.\w+)", AUDIT_DDL)
)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str] | None:
    """The column names of ``schema.table`` in the lake at the connection's snapshot, in order;
    None when the table does not exist.

    Looked up by name: listing the lake's tables (``information_schema``) loads every table's
    entry from the catalog, ~0.1 s of CPU on each new connection.
    """
    try:
        cursor = con.execute(f"select * from {quote(schema)}.{quote(table)} limit 0")
    except duckdb.CatalogException:
        return None
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    return names


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the lake at the connection's snapshot
    (:func:`table_columns`)."""
    return table_columns(con, schema, table) is not None


def _audit_tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    return all(table_exists(con, *name.split(".")) for name in AUDIT_TABLES)


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB (source names may be camelCase or reserved words)."""
    return '"' + identifier.replace('"', '""') + '"'


def _ddl_type(landed_type: str) -> str:
    # JSON-valued fields land as their JSON text; staging parses them.
    return TEXT if landed_type == JSON else landed_type


def raw_table_columns(entity: SourceEntity) -> dict[str, str]:
    """Column → DuckDB type of ``raw.<system>__<entity>``."""
    columns = {"tenant_id": "VARCHAR"}
    columns.update({name: _ddl_type(kind) for name, (_, kind) in entity.fields.items()})
    columns.update(LINEAGE_COLUMNS)
    return columns


def child_table_columns(entity: SourceEntity, child: ChildTable) -> dict[str, str]:
    """Column → DuckDB type of ``raw.<system>__<child>``."""
    parent = entity.fields
    columns = {"tenant_id": "VARCHAR"}
    columns.update({name: _ddl_type(parent[name][1]) for name in child.parent_columns})
    for name, column in child.schema.columns.items():
        columns[name] = _ddl_type(column.metadata["type"])
    columns.update(CHILD_LINEAGE_COLUMNS)
    return columns


def ensure_tables(con: duckdb.DuckDBPyConnection, entity: SourceEntity) -> None:
    """Create the entity's raw table and child tables if they do not exist, and add the columns
    a contract gained since (e.g. ``mes/work_orders.PartDescription``) to a table that does:
    rows landed before hold null there."""
    tables = {entity.table: raw_table_columns(entity)}
    for child in entity.children:
        tables[f"{entity.system}__{child.name}"] = child_table_columns(entity, child)
    for table, columns in tables.items():
        have = table_columns(con, "raw", table)
        if have is not None:
            for name, kind in columns.items():
                if name not in have:
                    ddl = f"alter table raw.{quote(table)} add column {quote(name)} {kind}"
                    lake.retry_on_conflict(lambda ddl=ddl: run(con, ddl))
            continue
        body = ",\n  ".join(f"{quote(name)} {kind}" for name, kind in columns.items())
        ddl = f"create table if not exists raw.{quote(table)} (\n  {body}\n)"
        lake.retry_on_conflict(lambda ddl=ddl: run(con, ddl))
