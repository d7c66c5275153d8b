"""Lake maintenance: merge small data files, expire old snapshots, delete unreferenced files.

Every commit is a snapshot and small landings write small Parquet files; without maintenance the
lake's file count and size only grow. DuckLake's own functions do the work
(``ducklake_merge_adjacent_files``, ``ducklake_expire_snapshots``, ``ducklake_cleanup_old_files``,
``ducklake_delete_orphaned_files``); this asset runs them on a schedule and reports what changed.

Retention: snapshots younger than ``TRACELOOM_LAKE_SNAPSHOT_RETENTION_DAYS`` (default 7) stay,
so time travel (``traceloom sql --snapshot N``, the snapshot a nightly report states) works for
that long. Files no snapshot references any more are deleted once they are older than
``TRACELOOM_LAKE_FILE_GRACE_MINUTES`` (default 60), so a reader still scanning one is not cut off.
"""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from traceloom_pipelines import lake
from traceloom_pipelines.lake import LAKE_ALIAS, LAKE_WRITERS_POOL
from traceloom_pipelines.landing.warehouse import run
from traceloom_pipelines.resources import WarehouseResource

MAINTENANCE_KEY = dg.AssetKey(["lake", "maintenance"])
RETENTION_ENV = "TRACELOOM_LAKE_SNAPSHOT_RETENTION_DAYS"
GRACE_ENV = "TRACELOOM_LAKE_FILE_GRACE_MINUTES"


def _lake_stats(con) -> dict[str, int]:
    """Live data files, their bytes, and snapshots of the lake."""
    files, size = run(
        con,
        "select count(*), coalesce(sum(file_size_bytes), 0) "
        "from __ducklake_metadata_lake.ducklake_data_file where end_snapshot is null",
    )[0]
    (snapshots,) = run(con, f"select count(*) from {LAKE_ALIAS}.snapshots()")[0]
    return {"data_files": files, "data_bytes": size, "snapshots": snapshots}


def maintain(con, retention: timedelta, grace: timedelta, now: datetime | None = None) -> dict:
    """Run the four maintenance steps on the lake of ``con`` (writable); return before/after
    counts (``data_files``, ``data_bytes``, ``snapshots``) and the files deleted.

    ``retention``: snapshots older than this expire. ``grace``: unreferenced files older than this
    are deleted. Times are UTC.
    """
    now = now or datetime.now(UTC)
    before = _lake_stats(con)
    lake.retry_on_conflict(lambda: run(con, f"call ducklake_merge_adjacent_files('{LAKE_ALIAS}')"))
    expired = lake.retry_on_conflict(
        lambda: run(
            con,
            f"call ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => ?)",
            [now - retention],
        )
    )
    cleaned = run(
        con, f"call ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => ?)", [now - grace]
    )
    orphans = run(
        con,
        f"call ducklake_delete_orphaned_files('{LAKE_ALIAS}', older_than => ?)",
        [now - grace],
    )
    after = _lake_stats(con)
    return {
        "before": before,
        "after": after,
        "snapshots_expired": len(expired),
        "files_deleted": len(cleaned),
        "orphaned_files_deleted": len(orphans),
    }


@dg.asset(
    key=MAINTENANCE_KEY,
    group_name="platform",
    kinds={"ducklake"},
    pool=LAKE_WRITERS_POOL,
    description="Merges the lake's small adjacent data files, expires snapshots older than "
    f"${RETENTION_ENV} days (default 7) and deletes data files no snapshot references "
    "(traceloom_pipelines/maintenance.py). Scheduled hourly; not part of the main job.",
)
def lake_maintenance(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    retention = timedelta(days=float(os.environ.get(RETENTION_ENV, "7")))
    grace = timedelta(minutes=float(os.environ.get(GRACE_ENV, "60")))
    with warehouse.connect() as con:
        done = maintain(con, retention, grace)
    before, after = done["before"], done["after"]
    context.log.info(
        f"data files {before['data_files']} → {after['data_files']}, snapshots "
        f"{before['snapshots']} → {after['snapshots']}, files deleted "
        f"{done['files_deleted'] + done['orphaned_files_deleted']}"
    )
    return dg.MaterializeResult(
        metadata={
            "data_files_before": before["data_files"],
            "data_files_after": after["data_files"],
            "data_bytes_after": dg.MetadataValue.int(after["data_bytes"]),
            "snapshots_before": before["snapshots"],
            "snapshots_after": after["snapshots"],
            "snapshots_expired": done["snapshots_expired"],
            "files_deleted": done["files_deleted"],
            "orphaned_files_deleted": done["orphaned_files_deleted"],
            "retention_days": retention.total_seconds() / 86400,
        }
    )


lake_maintenance_job = dg.define_asset_job(
    "lake_maintenance_job",
    selection=dg.AssetSelection.assets(MAINTENANCE_KEY),
    description="Merge small files, expire old snapshots, delete unreferenced files.",
)

lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_hourly",
    cron_schedule="17 * * * *",
    job=lake_maintenance_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Lake maintenance every hour at :17 (UTC).",
)
