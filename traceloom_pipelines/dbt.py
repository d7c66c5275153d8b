"""dbt wiring: the dbt project as Dagster assets, dbt tests as asset checks.

Every dbt source maps to the ingestion asset that lands it (``["raw", <system>, <entity>]``),
every model to ``[<schema>, <model>]`` (``staging``, ``intermediate``, ``marts``), seeds to
``["reference", <seed>]``, so the asset graph reads like the warehouse.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from traceloom_pipelines import dbt_inputs, dbt_targets
from traceloom_pipelines.dbt_child import PARENT_PID_ENV as DBT_PARENT_PID_ENV
from traceloom_pipelines.dbt_child import real_dbt
from traceloom_pipelines.lake import LAKE_WRITERS_POOL, dbt_lock_name
from traceloom_pipelines.landing.warehouse import connect, quote
from traceloom_pipelines.partitions import daily_partitions
from traceloom_pipelines.resources import DATA_DIR_ENV, WarehouseResource
from traceloom_pipelines.snapshots import record_run_snapshot

DBT_PROJECT_DIR = dbt_targets.DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# In `make dev` (DAGSTER_IS_DEV_CLI) the manifest is re-parsed on every code reload, so an
# analyst's edited model shows up after "Reload definitions".
dbt_project.prepare_if_dev()
# The parsed manifest, read once: what dbt reads (the skip test of a build fingerprints these
# tables, traceloom_pipelines/dbt_inputs.py) and the marts the BI export publishes (bi.py).
MANIFEST = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
SOURCE_TABLES = dbt_inputs.source_tables(MANIFEST)


class TraceloomDbtTranslator(DagsterDbtTranslator):
    """Asset keys that follow the warehouse; groups that follow the dbt folders."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "source" and dbt_resource_props["source_name"] == "master_data":
            # identity resolution's tables: the asset that writes them (master_data/assets.py)
            return dg.AssetKey(["master_data", dbt_resource_props["name"]])
        if resource_type == "source":
            return dg.AssetKey(
                ["raw", dbt_resource_props["source_name"], dbt_resource_props["name"]]
            )
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        # fqn: [project, "staging", "<system>", model] / [project, "marts", "<area>", model]
        if len(fqn) >= 3 and fqn[1] in ("staging", "marts"):
            return f"{fqn[1]}_{fqn[2]}" if len(fqn) > 3 else fqn[1]
        return fqn[1] if len(fqn) > 2 else "dbt"


# Each dbt asset links to its model's SQL file (traceloom_pipelines/code_references.py).
TRANSLATOR = TraceloomDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_code_references=True)
)


def dbt_executable() -> str:
    """The executable every dbt invocation runs: ``traceloom-dbt`` beside this interpreter (the
    project venv), the supervisor that runs the real dbt (``dbt_child.real_dbt()``: ``dbt``
    beside the interpreter, else on PATH) and kills it, and what dbt started, when the step
    process that started it dies (traceloom_pipelines/dbt_child.py). Without the console script
    (package not reinstalled) the real dbt itself, without that guarantee."""
    supervisor = Path(sys.executable).parent / "traceloom-dbt"
    return str(supervisor) if os.access(supervisor, os.X_OK) else real_dbt()


class TraceloomDbtCliResource(DbtCliResource):
    """dagster-dbt's ``DbtCliResource`` without two start-up costs it pays on every ``cli()``
    call, ~6 s of wall and CPU per dbt step (cProfile of the daily step on a tiny world):

    - ``dbt --version`` in a subprocess (2.5 s), to tell dbt Core from the Fusion engine. The
      dbt that runs is dbt Core from this environment (``dbt_executable()``; pyproject pins
      ``dbt-core``), so its version is the installed package's.
    - an in-process dbt adapter (3.4 s: profile, project and every macro loaded), which
      dagster-dbt uses only for ``fetch_row_counts()`` / ``fetch_column_metadata()``. The
      project calls neither: without an adapter, dagster-dbt skips both.

    Both are private hooks of dagster-dbt 0.29 (pinned through ``dagster-dbt`` in
    pyproject.toml); ``tests/test_dbt_targets.py`` fails if a release renames them.
    """

    @property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None


def dbt_resource() -> TraceloomDbtCliResource:
    """The ``dbt`` resource of every definition and test: the project, run through
    ``dbt_executable()``."""
    return TraceloomDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


DAILY_TAG = "daily"
# `backfill_policy` (one run per backfill window, below) is marked beta: not a warning for users.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
DBT_STOP_TIMEOUT_S = 10


@contextmanager
def _scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` inside the block, the previous values restored after it.

    dagster-dbt copies ``os.environ`` into dbt's process when it starts it; nothing of one
    build's lake may stay behind in the step process (in-process execution, tests) and steer the
    next lake this process opens.
    """
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _dbt_writer(warehouse: WarehouseResource) -> Iterator[None]:
    """What a ``dbt build`` holds while it writes the lake (:func:`lake.dbt_lock_name`)."""
    with warehouse.lock(dbt_lock_name(warehouse.lake)):
        yield


def _start(
    dbt: DbtCliResource,
    args: list[str],
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
):
    """``dbt.cli(["build", *args])`` on the warehouse's lake.

    profiles.yml reads the lake (catalog, data path, extension directory, threads) from the
    environment of the dbt process (``LakeConfig.dbt_env``), and ``traceloom-dbt`` learns which
    process starts it (so it can tell when that process died before it could ask the kernel to
    watch it). dbt runs in the project dir, so every path is absolute.
    """
    env = {
        DATA_DIR_ENV: str(warehouse.root),
        **warehouse.lake.dbt_env(),
        DBT_PARENT_PID_ENV: str(os.getpid()),
    }
    name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}"
    target = dbt_targets.new_target(warehouse.root, name)
    with _scoped_env(env):
        return dbt.cli(["build", *args], context=context, target_path=target)


def _stop(process: subprocess.Popen) -> None:
    """End ``traceloom-dbt`` and the dbt group it supervises, if still running: SIGTERM (it
    kills its dbt group), SIGKILL after ``DBT_STOP_TIMEOUT_S`` seconds (dbt dies with it)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=DBT_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _counted_tables(manifest: Mapping[str, Any]) -> dict[str, str]:
    """dbt ``unique_id`` → ``"<schema>"."<table>"`` of every model materialized as a table
    (``table``, ``incremental``) that is not daily-partitioned: the models whose
    materializations carry ``dagster/row_count``. Views would be computed to be counted, and a
    daily mart's row count is not that of the partitions one materialization records."""
    return {
        unique_id: f"{quote(node['schema'])}.{quote(node.get('alias') or node['name'])}"
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and node["config"].get("materialized") in ("table", "incremental")
        and DAILY_TAG not in node.get("tags", [])
    }


def _model_relations(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str, dict[str, str]]]:
    """dbt ``unique_id`` → (schema, relation name, column name → description) of every model:
    where its materialization's column schema is read in the lake. Only the columns the model's
    YAML documents have a description ("" when documented without one)."""
    return {
        unique_id: (
            node["schema"],
            node.get("alias") or node["name"],
            {name: column.get("description") or "" for name, column in node["columns"].items()},
        )
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
    }


COUNTED_TABLES = _counted_tables(MANIFEST)
MODEL_RELATIONS = _model_relations(MANIFEST)
ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"


def lake_column_schema(
    con: duckdb.DuckDBPyConnection, schema: str, relation: str, descriptions: Mapping[str, str]
) -> dg.TableSchema | None:
    """The columns of ``lake.<schema>.<relation>`` as built (name and DuckDB type, in table
    order), each with its description from ``descriptions`` (None for a column the model's YAML
    does not document); None when the relation is not in the lake."""
    # DESCRIBE binds the one relation; information_schema.columns would list every column of
    # every table of the lake first (~90 ms a model on a small lake, 27% of the dbt step's CPU)
    try:
        rows = con.execute(f"describe lake.{quote(schema)}.{quote(relation)}").fetchall()
    except duckdb.CatalogException:
        return None
    rows = [(name, data_type) for name, data_type, *_ in rows]
    if not rows:
        return None
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=data_type.lower(), description=descriptions.get(name))
            for name, data_type in rows
        ]
    )


def _with_lake_metadata(events: Iterator, context: dg.AssetExecutionContext) -> Iterator:
    """``events`` as they come, each model's ``Output`` with what the lake holds now: the
    model's column schema as built (``dagster/column_schema``: names and DuckDB types, with the
    YAML's descriptions; the "Columns" of the asset in the Dagster UI, the types the YAML does
    not declare filled in) and, for the models of ``COUNTED_TABLES``, its table's row count
    (``dagster/row_count``: the UI's "Rows", as the raw tables have).

    Read on one read-only lake connection (a committed snapshot, a few ms a model), not with
    dagster-dbt's ``fetch_row_counts()``/``fetch_column_metadata()``: those need the in-process
    dbt adapter ``TraceloomDbtCliResource`` leaves out, and the adapter opens the profile's
    database file, which for the lake is an attach, not a file. The lake is the step's
    ``warehouse`` resource; what cannot be read is logged to the step's log and left out (it
    is not worth failing a build for)."""
    con = None
    try:
        for event in events:
            unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output) else None
            unique_id = getattr(unique_id, "value", unique_id)
            relation = MODEL_RELATIONS.get(unique_id)
            if relation is not None:
                schema, name, descriptions = relation
                extra: dict[str, Any] = {}
                try:
                    con = con or connect(context.resources.warehouse.root, read_only=True)
                    columns = lake_column_schema(con, schema, name, descriptions)
                    if columns is not None:
                        extra[COLUMN_SCHEMA] = columns
                    if unique_id in COUNTED_TABLES:
                        table = COUNTED_TABLES[unique_id]
                        (extra[ROW_COUNT],) = con.execute(
                            f"select count(*) from {table}"
                        ).fetchone()
                except duckdb.Error as exc:
                    context.log.warning(f"no row count or columns for {schema}.{name}: {exc}")
                event = event.with_metadata({**event.metadata, **extra})
            yield event
    finally:
        if con is not None:
            con.close()


def _stream(context: dg.AssetExecutionContext, invocation) -> Iterator:
    """dbt's events (models with their columns, tables with their row counts), then the lake
    snapshot the build left (run tag and ``audit``). However the step leaves this (an error, an
    interrupt, the generator closed), dbt is not left running: the step process may live on
    (in-process execution) and release the lake lock right after. The parse dbt left is kept for
    the next invocation (:mod:`traceloom_pipelines.dbt_targets`)."""
    try:
        yield from _with_lake_metadata(invocation.stream(), context)
    finally:
        _stop(invocation.process)
        dbt_targets.keep_partial_parse(invocation.target_path)
    record_run_snapshot(context, context.resources.warehouse, step="dbt")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    exclude=f"tag:{DAILY_TAG}",
    pool=LAKE_WRITERS_POOL,
)
def traceloom_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the selected models: staging, intermediate, marts, seeds and their tests.

    Skipped, with everything downstream of it in the run, when the latest successful build of
    the same selection and code read exactly the sources the lake holds now (nothing landed
    since: :mod:`traceloom_pipelines.dbt_inputs`); the run tag ``traceloom/rebuild=true`` forces
    the build."""
    versions = context.assets_def.code_versions_by_key
    selection = dbt_inputs.selection_fingerprint(
        {key.to_user_string(): versions.get(key) for key in context.selected_asset_keys}
    )
    with _dbt_writer(warehouse):
        con = connect(warehouse.root)
        try:
            inputs = dbt_inputs.inputs_fingerprint(con, SOURCE_TABLES)
            last = dbt_inputs.last_build(con, selection)
        finally:
            con.close()
        forced = context.run.tags.get(dbt_inputs.REBUILD_TAG, "").lower() == "true"
        if last and last[0] == inputs and not forced:
            context.log.info(
                f"nothing landed since run {last[1]} built these models (lake snapshot "
                f"{last[2]}): dbt skipped, and what depends on it in this run; the run tag "
                f"{dbt_inputs.REBUILD_TAG}=true forces a build"
            )
            return
        invocation = _start(dbt, [], context, warehouse)
        yield from _stream(context, invocation)
        if invocation.is_successful():
            con = connect(warehouse.root)
            try:
                dbt_inputs.record_build(con, context.run.run_id, selection, inputs)
            finally:
                con.close()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    select=f"tag:{DAILY_TAG}",
    partitions_def=daily_partitions,
    # One run for a whole backfill window: each daily mart replaces the window's days at once.
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=LAKE_WRITERS_POOL,
)
def traceloom_dbt_daily_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the daily-partitioned marts (tag ``daily``, UTC days) for the run's
    partition window only: ``--event-time-start``/``--event-time-end`` are the window's bounds
    (start inclusive, end exclusive), so exactly those days are deleted and rebuilt, in one
    statement per mart, and every other day is left as it is (``macros/daily_window.sql``)."""
    window = context.partition_time_window
    args = [
        "--event-time-start",
        window.start.strftime("%Y-%m-%dT%H:%M:%S"),
        "--event-time-end",
        window.end.strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    context.log.info(
        f"rebuilding UTC days {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} (end excl.)"
    )
    with _dbt_writer(warehouse):
        yield from _stream(context, _start(dbt, args, context, warehouse))
