"""The BI export asset: every mart as Parquet under ``$TRACELOOM_DATA_DIR/marts/``."""

import dagster as dg

from traceloom_pipelines.dbt import MANIFEST
from traceloom_pipelines.marts_export import export_mart, mart_asset_keys
from traceloom_pipelines.privacy import mart_masking, pii_hash_key
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.run_plan import latest_materializations, materialized_after_input

MARTS = mart_asset_keys(MANIFEST)
MASKING = mart_masking(MANIFEST)


def marts_changed_since_last_export(
    instance: dg.DagsterInstance, export_key: dg.AssetKey
) -> set[tuple[str, str]]:
    """``(schema, mart)`` of the marts materialized after the export's latest materialization
    read them (Dagster records, on each materialization, the event of every upstream asset it
    was built from: ``dagster/input_event_pointer/<key>``); every mart when there was no export
    yet. A mart rebuilt in a run whose export failed is still newer than the last export, so it
    is exported by the next one."""
    last = instance.get_latest_materialization_event(export_key)
    if last is None:
        return set(MARTS)
    tags = last.asset_materialization.tags or {}
    keys = {dg.AssetKey([schema, name]): (schema, name) for schema, name in MARTS}
    changed = set()
    for key, record in latest_materializations(instance, keys).items():
        if materialized_after_input(record, tags, key) is not False:
            changed.add(keys[key])
    return changed


@dg.asset(
    key=["bi", "marts_parquet"],
    deps=[dg.AssetKey([schema, name]) for schema, name in MARTS],
    group_name="bi",
    kinds={"parquet"},
    description="Every mart as a Parquet dataset hive-partitioned by tenant_id, PII columns "
    "hashed or redacted (dbt meta `pii`), published atomically (symlink swap): BI readers "
    "never see a half-written file nor take the DuckDB lock. A mart not materialized since the "
    "last export keeps its published dataset.",
)
def marts_parquet(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    changed = marts_changed_since_last_export(context.instance, context.asset_key)
    rows: dict[str, int | str] = {}
    key = pii_hash_key(warehouse.root)
    with warehouse.connect(read_only=True) as con:
        for schema, name in MARTS:
            if (schema, name) not in changed and (warehouse.marts_dir / name).exists():
                rows[name] = "unchanged"
                continue
            rows[name] = export_mart(con, schema, name, warehouse.marts_dir, MASKING.get(name), key)
            context.log.info(f"exported {schema}.{name}: {rows[name]} rows")
    exported = {k: v for k, v in rows.items() if isinstance(v, int)}
    context.log.info(f"{len(exported)} mart(s) exported, {len(rows) - len(exported)} unchanged")
    table = "\n".join(
        ["| mart | rows |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows.items()]
    )
    return dg.MaterializeResult(
        metadata={
            "marts": len(exported),
            "marts_unchanged": len(rows) - len(exported),
            "pii_columns_masked": dg.MetadataValue.md(
                "\n".join(
                    f"- {mart}: " + ", ".join(f"{c} ({how})" for c, how in columns.items())
                    for mart, columns in sorted(MASKING.items())
                )
            ),
            "rows_exported": sum(exported.values()),
            "per_mart": dg.MetadataValue.md(table),
            "path": dg.MetadataValue.path(str(warehouse.marts_dir)),
            "read_with": dg.MetadataValue.text(
                f"select * from read_parquet('{warehouse.marts_dir}/<mart>/**/*.parquet', "
                "hive_partitioning = true)"
            ),
        }
    )
