"""The asset factory: one Dagster multi-asset per source entity (parent table + child tables).

Asset keys follow the warehouse: ``["raw", <system>, <entity>]``. Each materialization reports
the four row counts (read, landed, quarantined, exact duplicates skipped), per tenant, the
quarantine reasons and the files read; two asset checks report the pandera contract result
(warning) and whether every row read is accounted for (error, blocking).
"""

import dagster as dg

from traceloom_pipelines.cadence import freshness_policy
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.loader import LandingResult, land_entity
from traceloom_pipelines.landing.warehouse import quote, raw_table_columns, run
from traceloom_pipelines.resources import WarehouseResource

# Every asset that writes the DuckDB file takes a slot in this pool (limit 1 in dagster.yaml):
# DuckDB allows one writer per file.
WAREHOUSE_POOL = "duckdb_warehouse"
CONTRACT_CHECK = "pandera_contract"
BALANCE_CHECK = "rows_accounted_for"


def raw_asset_key(system: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", system, table])


def _column_schema(entity: SourceEntity) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                kind.lower(),
                description=entity.schema.columns.get(name).description
                if name in entity.schema.columns
                else None,
            )
            for name, kind in raw_table_columns(entity).items()
        ]
    )


def _md_table(header: tuple[str, ...], rows: list[tuple]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines) if rows else "_none_")


def landing_metadata(result: LandingResult, table_rows: int) -> dict[str, object]:
    """Metadata a person reads in the UI after a landing run."""
    total = result.total
    per_tenant = [
        (tenant, c.rows_read, c.rows_landed, c.rows_quarantined, c.rows_duplicate)
        for tenant, c in sorted(result.per_tenant.items())
    ]
    return {
        "dagster/row_count": table_rows,
        "dagster/table_name": f"raw.{result.entity.table}",
        "dagster/column_schema": _column_schema(result.entity),
        "rows_read": total.rows_read,
        "rows_landed": total.rows_landed,
        "rows_quarantined": total.rows_quarantined,
        "rows_duplicate": total.rows_duplicate,
        "child_rows_landed": total.child_rows_landed,
        "files_ingested": len(result.files_ingested),
        "files_skipped_already_landed": len(result.files_skipped),
        "per_tenant": _md_table(
            ("tenant", "read", "landed", "quarantined", "duplicates"), per_tenant
        ),
        "quarantine_reasons": _md_table(
            ("failed check", "rows"), sorted(total.reasons.items(), key=lambda kv: -kv[1])
        ),
        "source_contract": f"{result.entity.seed_ref} — traceloom_pipelines/sources/"
        f"{result.entity.system}/contract.py",
    }


def build_ingestion_asset(entity: SourceEntity) -> dg.AssetsDefinition:
    """The multi-asset landing ``entity`` from its drop folder into ``raw``."""
    parent_key = raw_asset_key(entity.system, entity.entity)
    deps = [
        raw_asset_key(ref.ref_table.split("__")[0], ref.ref_table.split("__")[1])
        for ref in entity.reference_checks
    ]
    kinds = {"duckdb", "pandera"}
    specs = [
        dg.AssetSpec(
            parent_key,
            description=f"{entity.description}\n\nSource contract: {entity.seed_ref}; drop folder "
            f"`landing/<tenant_id>/{entity.system}/{entity.entity}/`.",
            group_name=f"raw_{entity.system}",
            kinds=kinds,
            deps=deps,
            metadata={"dagster/table_name": f"raw.{entity.table}"},
            freshness_policy=freshness_policy(entity.system, entity.entity),
        )
    ]
    specs += [
        dg.AssetSpec(
            raw_asset_key(entity.system, child.name),
            description=f"`{child.array_key}` of {entity.system}/{entity.entity}, one row per "
            f"array element, keyed by {', '.join(child.parent_columns)}.",
            group_name=f"raw_{entity.system}",
            kinds=kinds,
            deps=[parent_key],
        )
        for child in entity.children
    ]
    check_specs = [
        dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=parent_key,
            description="Rows of this run that failed the pandera contract.",
        ),
        dg.AssetCheckSpec(
            BALANCE_CHECK,
            asset=parent_key,
            blocking=True,
            description="rows read = landed + quarantined + duplicates skipped.",
        ),
    ]

    @dg.multi_asset(
        name=f"land_{entity.table}",
        specs=specs,
        check_specs=check_specs,
        pool=WAREHOUSE_POOL,
    )
    def _land(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.connect() as con:
            result = land_entity(
                con, entity, warehouse.landing_root, run_id=context.run.run_id, log=context.log.info
            )
            counts = {
                table: run(con, f"select count(*) from raw.{quote(table)}")[0][0]
                for table in [entity.table]
                + [f"{entity.system}__{c.name}" for c in entity.children]
            }
        total = result.total
        yield dg.MaterializeResult(
            asset_key=parent_key, metadata=landing_metadata(result, counts[entity.table])
        )
        for child in entity.children:
            yield dg.MaterializeResult(
                asset_key=raw_asset_key(entity.system, child.name),
                metadata={
                    "dagster/row_count": counts[f"{entity.system}__{child.name}"],
                    "dagster/table_name": f"raw.{entity.system}__{child.name}",
                    "child_rows_landed": total.child_rows_landed,
                },
            )
        yield dg.AssetCheckResult(
            check_name=CONTRACT_CHECK,
            asset_key=parent_key,
            passed=total.rows_quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_quarantined": total.rows_quarantined,
                "failed_checks": _md_table(("failed check", "rows"), sorted(total.reasons.items())),
            },
        )
        yield dg.AssetCheckResult(
            check_name=BALANCE_CHECK,
            asset_key=parent_key,
            passed=total.balanced,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_read": total.rows_read,
                "rows_landed": total.rows_landed,
                "rows_quarantined": total.rows_quarantined,
                "rows_duplicate": total.rows_duplicate,
            },
        )

    return _land


def build_ingestion_assets(entities: tuple[SourceEntity, ...]) -> list[dg.AssetsDefinition]:
    """One ingestion multi-asset per entity."""
    return [build_ingestion_asset(entity) for entity in entities]


__all__ = ["WAREHOUSE_POOL", "build_ingestion_assets", "raw_asset_key"]
