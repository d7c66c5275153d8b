"""The BI export asset: every mart as Parquet under ``$TRACELOOM_DATA_DIR/marts/``."""

import dagster as dg

from traceloom_pipelines.dbt import MANIFEST
from traceloom_pipelines.marts_export import export_mart, mart_asset_keys
from traceloom_pipelines.resources import WarehouseResource

MARTS = mart_asset_keys(MANIFEST)


@dg.asset(
    key=["bi", "marts_parquet"],
    deps=[dg.AssetKey([schema, name]) for schema, name in MARTS],
    group_name="bi",
    kinds={"parquet"},
    description="Every mart as a Parquet dataset hive-partitioned by tenant_id, published "
    "atomically (symlink swap): BI readers never see a half-written file nor take the DuckDB lock.",
)
def marts_parquet(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    rows = {}
    with warehouse.connect(read_only=True) as con:
        for schema, name in MARTS:
            rows[name] = export_mart(con, schema, name, warehouse.marts_dir)
            context.log.info(f"exported {schema}.{name}: {rows[name]} rows")
    table = "\n".join(
        ["| mart | rows |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows.items()]
    )
    return dg.MaterializeResult(
        metadata={
            "marts": len(rows),
            "rows_exported": sum(rows.values()),
            "per_mart": dg.MetadataValue.md(table),
            "path": dg.MetadataValue.path(str(warehouse.marts_dir)),
            "read_with": dg.MetadataValue.text(
                f"select * from read_parquet('{warehouse.marts_dir}/<mart>/**/*.parquet', "
                "hive_partitioning = true)"
            ),
        }
    )
