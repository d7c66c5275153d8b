"""The Dagster asset that resolves suppliers and products into golden records (issue #16 §2).

It reads the landed raw tables (records.py says why not the staging views): it depends on their
ingestion assets, and the dbt models reading ``master_data.*`` depend on it, so in every job it
runs after the landings and before the dbt step that builds the dims and the marts carrying
canonical ids; the first run on a new lake already resolves. It replays the stewards' decisions
and writes ``master_data.*`` only when the result changed (a replay writes no lake snapshot, so
the dbt step's skip test still sees nothing new).
"""

import dagster as dg

from traceloom_pipelines import lake
from traceloom_pipelines.lake import LAKE_WRITERS_POOL
from traceloom_pipelines.master_data.records import RAW_INPUTS, load_records
from traceloom_pipelines.master_data.resolve import KINDS, load_config, resolve
from traceloom_pipelines.master_data.store import TABLE_KINDS, load_decisions, write_resolution
from traceloom_pipelines.resources import WarehouseResource

GROUP = "intermediate_master_data"


def resolution_key(kind: str, table: str) -> dg.AssetKey:
    """``["master_data", "<supplier|product>_<matches|clusters>"]``, as dbt's ``master_data``
    source tables map onto it (traceloom_pipelines/dbt.py)."""
    return dg.AssetKey(["master_data", f"{TABLE_KINDS[kind]}_{table}"])


def resolve_lake(con) -> dict[str, tuple]:
    """Resolve both kinds on the lake of ``con`` (writable) and write what changed:
    ``{kind: (records, decisions, matches, clusters, written)}`` (master_data/resolve.py)."""
    config = load_config()
    out = {}
    for kind in KINDS:
        records = load_records(con, kind)
        decisions = load_decisions(con, kind)
        matches, clusters = resolve(records, kind, decisions, config)
        written = write_resolution(con, kind, matches, clusters)
        out[kind] = (records, decisions, matches, clusters, written)
    return out


@dg.multi_asset(
    name="identity_resolution",
    specs=[
        dg.AssetSpec(
            resolution_key(kind, table),
            description=(
                f"`master_data.{TABLE_KINDS[kind]}_{table}`: "
                + (
                    "every scored pair of source records with its match probability, evidence "
                    "and decision (linked / review / rejected)."
                    if table == "matches"
                    else "every source record with its canonical id (connected components of "
                    "the linked pairs, stewards' decisions replayed)."
                )
            ),
            group_name=GROUP,
            kinds={"duckdb", "splink"},
            deps=[dg.AssetKey(["raw", *table.split("__", 1)]) for table in RAW_INPUTS],
            metadata={"dagster/table_name": f"master_data.{TABLE_KINDS[kind]}_{table}"},
        )
        for kind in KINDS
        for table in ("matches", "clusters")
    ],
    pool=LAKE_WRITERS_POOL,
)
def identity_resolution(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Resolve suppliers and products (master_data/resolve.py) and write them when changed."""
    with warehouse.connect() as con:
        results = resolve_lake(con)
        # unchanged when nothing was written, so the models reading them are not stale
        # (traceloom_pipelines/run_plan.py)
        versions = lake.table_versions(
            con,
            [
                ("master_data", f"{TABLE_KINDS[kind]}_{table}")
                for kind in KINDS
                for table in ("matches", "clusters")
            ],
        )
    for kind, (records, decisions, matches, clusters, written) in results.items():
        counts = matches["decision"].value_counts().to_dict()
        context.log.info(
            f"{kind}: {len(records)} records, {clusters['canonical_id'].nunique()} canonical "
            f"ids, {counts}; {'written' if written else 'unchanged, not written'}"
        )
        yield dg.MaterializeResult(
            asset_key=resolution_key(kind, "matches"),
            metadata={
                "dagster/row_count": len(matches),
                "linked": int(counts.get("linked", 0)),
                "review": int(counts.get("review", 0)),
                "rejected": int(counts.get("rejected", 0)),
                "steward_decisions_replayed": len(decisions),
                "written": written,
            },
            data_version=dg.DataVersion(versions[("master_data", f"{TABLE_KINDS[kind]}_matches")]),
        )
        yield dg.MaterializeResult(
            asset_key=resolution_key(kind, "clusters"),
            metadata={
                "dagster/row_count": len(clusters),
                "canonical_ids": int(clusters["canonical_id"].nunique()),
                "written": written,
            },
            data_version=dg.DataVersion(versions[("master_data", f"{TABLE_KINDS[kind]}_clusters")]),
        )
