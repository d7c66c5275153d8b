"""dbt wiring: the dbt project as Dagster assets, dbt tests as asset checks.

Every dbt source maps to the ingestion asset that lands it (``["raw", <system>, <entity>]``),
every model to ``[<schema>, <model>]`` (``staging``, ``intermediate``, ``marts``), seeds to
``["reference", <seed>]``, so the asset graph reads like the warehouse.
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from traceloom_pipelines.landing.assets import WAREHOUSE_POOL
from traceloom_pipelines.partitions import daily_partitions
from traceloom_pipelines.resources import DATA_DIR_ENV, PROJECT_ROOT, WarehouseResource

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# In `make dev` (DAGSTER_IS_DEV_CLI) the manifest is re-parsed on every code reload, so an
# analyst's edited model shows up after "Reload definitions".
dbt_project.prepare_if_dev()


class TraceloomDbtTranslator(DagsterDbtTranslator):
    """Asset keys that follow the warehouse; groups that follow the dbt folders."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        resource_type = dbt_resource_props["resource_type"]
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


def dbt_executable() -> str:
    """The dbt installed beside this interpreter (the project venv), else ``dbt`` on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


DAILY_TAG = "daily"


def _build_args(warehouse: WarehouseResource) -> list[str]:
    # profiles.yml reads the warehouse path from the environment; dbt runs in the project dir,
    # so the path must be absolute.
    os.environ[DATA_DIR_ENV] = str(warehouse.root)
    return ["build"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=TraceloomDbtTranslator(),
    exclude=f"tag:{DAILY_TAG}",
    pool=WAREHOUSE_POOL,
)
def traceloom_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the selected models: staging, intermediate, marts, seeds and their tests."""
    yield from dbt.cli(_build_args(warehouse), context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=TraceloomDbtTranslator(),
    select=f"tag:{DAILY_TAG}",
    partitions_def=daily_partitions,
    # One run for a whole backfill window: dbt's microbatch splits it into days itself.
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def traceloom_dbt_daily_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the daily-partitioned marts (tag ``daily``, microbatch on UTC days) for
    the run's partition window only: ``--event-time-start``/``--event-time-end`` are the window's
    bounds, so exactly those days are deleted and rebuilt, every other day is left as it is."""
    window = context.partition_time_window
    args = _build_args(warehouse) + [
        "--event-time-start",
        window.start.strftime("%Y-%m-%dT%H:%M:%S"),
        "--event-time-end",
        window.end.strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    context.log.info(
        f"rebuilding UTC days {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} (end excl.)"
    )
    yield from dbt.cli(args, context=context).stream()
