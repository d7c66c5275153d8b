"""The platform's own audit tables as Dagster assets (``["raw", "audit", <table>]``): the landing
ledger, dead letters, connector runs and full-pull snapshots that every ingestion asset writes.

Publishing them as one asset downstream of every ingestion asset puts the dbt models that read
them (``stg_audit__*`` → ``fct_integration_health``, ``int_employees_active_by_latest_full_pull``)
after the landings in every job; the materialization reports the tables' row counts and the
dead letters of the last 24 hours (003 §7.2, §8.1).
"""

import dagster as dg

from traceloom_pipelines import lake
from traceloom_pipelines.lake import LAKE_WRITERS_POOL
from traceloom_pipelines.landing.assets import raw_asset_key
from traceloom_pipelines.landing.warehouse import run
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.catalog import all_entities

AUDIT_TABLES = {
    "batches": "One row per landed drop file: rows read, landed, quarantined, duplicate.",
    "dead_letters": "Requests to a source that failed for good (003 §7.2), secrets redacted.",
    "connector_runs": "One row per pull of one tenant's entity: requests, retries, breaker state.",
    "pull_snapshots": "Keys of every complete full pull (HR employee ids).",
    "skipped_paths": "Paths under the landing root that landing refused to read (issue #12 §3).",
    "schema_drift": "CSV header columns that no contract field reads, per file (issue #12 §4).",
}


@dg.multi_asset(
    name="integration_audit",
    specs=[
        dg.AssetSpec(
            dg.AssetKey(["raw", "audit", table]),
            description=f"`audit.{table}`: {text}",
            group_name="raw_audit",
            kinds={"duckdb"},
            deps=[raw_asset_key(e.system, e.entity) for e in all_entities()],
            metadata={"dagster/table_name": f"audit.{table}"},
        )
        for table, text in AUDIT_TABLES.items()
    ],
    pool=LAKE_WRITERS_POOL,
)
def integration_audit(warehouse: WarehouseResource):
    """Report the audit tables (created with the warehouse) after the landings of the run."""
    with warehouse.connect() as con:
        counts = {t: run(con, f"select count(*) from audit.{t}")[0][0] for t in AUDIT_TABLES}
        # Unchanged when no row was added, so the models reading them are not stale
        # (traceloom_pipelines/run_plan.py).
        versions = lake.table_versions(con, [("audit", t) for t in AUDIT_TABLES])
        recent = run(
            con,
            "select source, entity, error_class, count(*) from audit.dead_letters "
            "where failed_at >= (current_timestamp at time zone 'UTC') - interval 24 hour "
            "group by all order by all",
        )
    lines = ["| source | entity | error class | dead letters |", "|---|---|---|---|"]
    lines += [f"| {s} | {e} | {c} | {n} |" for s, e, c, n in recent]
    for table in AUDIT_TABLES:
        metadata: dict[str, object] = {"dagster/row_count": counts[table]}
        if table == "dead_letters":
            metadata["dead_letters_24h"] = dg.MetadataValue.md(
                "\n".join(lines) if recent else "_none_"
            )
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", "audit", table]),
            metadata=metadata,
            data_version=dg.DataVersion(versions[("audit", table)]),
        )
