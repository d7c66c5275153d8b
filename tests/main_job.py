"""The main job's assets materialized in the test process, as the end-to-end tests run them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from traceloom_pipelines.dbt import dbt_resource
from traceloom_pipelines.definitions import defs
from traceloom_pipelines.maintenance import lake_maintenance
from traceloom_pipelines.partitions import main_run_tags
from traceloom_pipelines.resources import WarehouseResource


def materialize_main_job(
    data_dir: Path,
    instance: dg.DagsterInstance | None = None,
    selection: dg.AssetSelection | None = None,
) -> dg.ExecuteInProcessResult:
    """Every asset of the main job (lake maintenance left out), or those of ``selection``, on
    ``data_dir``'s embedded lake, in this process, with the main run's tags, on ``instance``
    (default: an ephemeral one); failures are in the result, not raised."""
    return dg.materialize(
        [a for a in defs.assets if lake_maintenance.key not in a.keys],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "dbt": dbt_resource(),
        },
        raise_on_error=False,
        tags=main_run_tags(),
        instance=instance,
        selection=selection,
    )
