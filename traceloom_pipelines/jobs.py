"""Jobs: the main job, one landing job per cadence, one per source system, and the nightly
reconciliation.

A cadence or system job *lands* its entities (their ingestion assets, child tables included);
what the new data reaches downstream (staging, marts, the Parquet export) is materialized by the
``traceloom_automation`` sensor (:mod:`traceloom_pipelines.automation`), so the marts follow the
sources they read and a landing that lands nothing starts nothing. The main job is the whole
graph in one run (``traceloom run``).
"""

import dagster as dg

from traceloom_pipelines.cadence import CADENCES
from traceloom_pipelines.executors import in_process_run_config
from traceloom_pipelines.landing.assets import raw_asset_key
from traceloom_pipelines.sources.catalog import SYSTEMS, all_entities

MAIN_JOB = "traceloom_main"

main_job = dg.define_asset_job(
    MAIN_JOB,
    # Lake maintenance has its own job and schedule (traceloom_pipelines/maintenance.py).
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(["lake", "maintenance"]),
    description="Land every source drop, build every dbt model and test, export marts to Parquet.",
)


# The rendered reconciliation reports are the nightly job's (and the main job's).
NIGHTLY_REPORT = dg.AssetKey(["reports", "nightly_reconciliation"])


def _landing(keys: list[dg.AssetKey]) -> dg.AssetSelection:
    """The ingestion assets of ``keys``, with the child tables their multi-assets land too."""
    return dg.AssetSelection.assets(*keys).required_multi_asset_neighbors()


# A cadence run lands the few new files of one cadence: its steps run one after another in the
# run's own process (no forkserver to start: the minute cadences hold with less CPU); a run
# launched with other run config (the Launchpad) may still execute them side by side.
_CADENCE_RUN_CONFIG = in_process_run_config() or None

cadence_jobs = {
    cadence.name: dg.define_asset_job(
        f"{cadence.name}_job",
        selection=_landing([raw_asset_key(*e.split("/")) for e in cadence.entities]),
        config=_CADENCE_RUN_CONFIG,
        description=f"Land {', '.join(cadence.entities)} ({cadence.seed_ref}); the "
        "traceloom_automation sensor refreshes what the new data reaches.",
    )
    for cadence in CADENCES
}

system_jobs = {
    system: dg.define_asset_job(
        f"ingest_{system}_job",
        selection=_landing(
            [raw_asset_key(e.system, e.entity) for e in all_entities() if e.system == system]
        ),
        description=f"Land new {system} drops; the traceloom_automation sensor refreshes what "
        "the new data reaches.",
    )
    for system in SYSTEMS
}

# 003 §3.4: nightly at 23:00. Refreshes the reconciliation marts from what has landed (it does not
# land anything itself) and renders the per-tenant, per-day reports.
nightly_reconciliation_job = dg.define_asset_job(
    "nightly_reconciliation",
    selection=dg.AssetSelection.assets(NIGHTLY_REPORT).upstream()
    - dg.AssetSelection.groups(*(f"raw_{system}" for system in SYSTEMS)),
    description="Build the reconciliation marts (work orders, inventory, labour) and render "
    "the Markdown/HTML report per tenant and day under $TRACELOOM_DATA_DIR/reports/.",
)
