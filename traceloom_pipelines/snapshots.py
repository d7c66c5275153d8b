"""Which lake snapshot each run committed: ``audit.run_snapshots`` and the run's tag.

Every DuckLake commit is a snapshot (``lake.snapshots()``); a run's steps record the snapshot they
left, so any past mart or report can be read again as it was with time travel:
``select * from marts.fct_work_orders at (version => <snapshot_id>)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.landing.warehouse import connect, run

SNAPSHOT_TAG = "traceloom/lake_snapshot"


def record_step_snapshot(con: duckdb.DuckDBPyConnection, run_id: str, step: str) -> int:
    """Append ``(run_id, step, snapshot_id, recorded_at UTC)`` to ``audit.run_snapshots``;
    return the snapshot id recorded (the latest committed one when the row is written)."""
    snapshot = lake.current_snapshot(con)
    lake.retry_on_conflict(
        lambda: run(
            con,
            "insert into audit.run_snapshots values (?, ?, ?, ?)",
            [run_id, step, snapshot, datetime.now(UTC).replace(tzinfo=None)],
        )
    )
    return snapshot


def record_run_snapshot(context: dg.OpExecutionContext, warehouse, step: str) -> int:
    """Record the snapshot a step left, in ``audit`` and as the run's
    ``traceloom/lake_snapshot`` tag. The caller already holds the right to write the lake
    (the writer lock on the embedded catalog), so no lock is taken here."""
    con = connect(warehouse.root)
    try:
        snapshot = record_step_snapshot(con, context.run.run_id, step)
    finally:
        con.close()
    tag_run(context, snapshot)
    return snapshot


def tag_run(context: dg.OpExecutionContext, snapshot: int) -> None:
    """Set the run's lake-snapshot tag to ``snapshot`` (the highest a step reported wins)."""
    instance = context.instance
    current = instance.get_run_by_id(context.run.run_id)
    previous = int((current.tags if current else {}).get(SNAPSHOT_TAG, -1))
    if snapshot > previous:
        instance.add_run_tags(context.run.run_id, {SNAPSHOT_TAG: str(snapshot)})
