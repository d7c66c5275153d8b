"""Whether a ``dbt build`` has anything new to build: the state of what dbt reads, recorded
per build in ``audit.dbt_builds`` (issue #11: "nothing new landed → no dbt invocation").

A build is described by two fingerprints (sha256 hex):

- the **inputs**: every table the dbt project declares as a source (``raw.*``, ``audit.*``), by
  the lake catalog's statistics of each (record count and next row id: any insert or delete
  changes them; compaction does not). Read from the catalog's metadata, not the data files, so
  it costs one small query however large the tables are.
- the **selection**: the asset keys the step builds with their code versions (dagster-dbt sets a
  model's code version from its SQL checksum), so an edited model or seed, or another selection
  (a subset materialized from the UI), is never mistaken for one already built.

When the latest successful build of the same selection saw the same inputs, the models hold
exactly what a new build would produce, and the step skips dbt (and with it everything
downstream in the run: daily marts, Parquet export, reports). The run tag
``traceloom/rebuild=true`` forces a build anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.landing.warehouse import run

REBUILD_TAG = "traceloom/rebuild"


def source_tables(manifest: Mapping) -> list[tuple[str, str]]:
    """``(schema, table)`` of every dbt source in the (parsed) manifest, sorted."""
    return sorted(
        {(s["schema"], s.get("identifier") or s["name"]) for s in manifest["sources"].values()}
    )


def inputs_fingerprint(con: duckdb.DuckDBPyConnection, tables: Iterable[tuple[str, str]]) -> str:
    """sha256 of ``(schema, table, version)`` of ``tables`` as the lake's catalog holds them now
    (:func:`traceloom_pipelines.lake.table_versions`)."""
    versions = lake.table_versions(con, sorted(set(tables)))
    state = [[schema, table, version] for (schema, table), version in versions.items()]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def selection_fingerprint(code_versions: Mapping[str, str | None]) -> str:
    """sha256 of the selected asset keys (user strings) with their code versions."""
    state = sorted((key, version or "") for key, version in code_versions.items())
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def last_build(con: duckdb.DuckDBPyConnection, selection: str) -> tuple[str, str, int] | None:
    """``(inputs fingerprint, run_id, snapshot_id)`` of the latest recorded build of
    ``selection``, or None."""
    rows = run(
        con,
        "select inputs, run_id, snapshot_id from audit.dbt_builds where selection = ? "
        "order by built_at desc limit 1",
        [selection],
    )
    return tuple(rows[0]) if rows else None


def record_build(con: duckdb.DuckDBPyConnection, run_id: str, selection: str, inputs: str) -> None:
    """Append a successful build of ``selection`` from ``inputs`` to ``audit.dbt_builds``
    (with the lake snapshot it left and the time, UTC)."""
    snapshot = lake.current_snapshot(con)
    lake.retry_on_conflict(
        lambda: run(
            con,
            "insert into audit.dbt_builds values (?, ?, ?, ?, ?)",
            [run_id, selection, inputs, snapshot, datetime.now(UTC).replace(tzinfo=None)],
        )
    )
