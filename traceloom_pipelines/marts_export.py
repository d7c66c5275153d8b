"""Parquet copies of the marts for BI tools: readers never take the DuckDB lock, and personal
data is masked (columns tagged PII in dbt ``meta`` are hashed or redacted,
:mod:`traceloom_pipelines.privacy`): this export is what BI readers without the privileged role
read, one tenant's partitions each (README *Privacy and BI access*).

Layout: ``<data_dir>/marts/<mart>/tenant_id=<tenant>/data_0.parquet`` (hive partitioning).
``<data_dir>/marts/<mart>`` is a symlink to a complete, immutable version directory under
``<data_dir>/marts/.versions/<mart>/``; a new export is written beside it and the link is swapped
with an atomic rename, so a reader sees either the old or the new dataset, never a half-written one.
The two newest versions are kept so that a reader still listing the previous one does not break.
"""

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from traceloom_pipelines.dbt_child import pid_alive
from traceloom_pipelines.landing.warehouse import quote, run
from traceloom_pipelines.privacy import masked_select

KEEP_VERSIONS = 2
# A version being written: `.writing-<pid of the writer>-<uuid>`, renamed when complete.
WRITING_PREFIX = ".writing-"


def remove_abandoned_exports(versions: Path) -> list[Path]:
    """Delete the half-written versions under ``versions`` whose writer process is gone (an
    export killed midway); a version another live process is writing is left alone. Returns
    the paths removed."""
    removed = []
    for staging in versions.glob(f"{WRITING_PREFIX}*"):
        pid = staging.name[len(WRITING_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    return removed


def export_mart(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    mart: str,
    marts_dir: Path,
    masking: dict[str, str] | None = None,
    key: bytes | None = None,
) -> int:
    """Write ``<schema>.<mart>`` as a hive-partitioned Parquet dataset; return its row count.

    ``masking``: ``{column: "hash" | "redact"}`` (:func:`~traceloom_pipelines.privacy.
    mart_masking`), applied with the pseudonym ``key`` (:func:`~traceloom_pipelines.privacy.
    pii_hash_key`); no unmasked value of those columns is written.

    Raises:
        duckdb.CatalogException: if the mart table does not exist.
        ValueError: ``masking`` names a column the mart lacks, or hashes without a ``key``.
    """
    versions = marts_dir / ".versions" / mart
    versions.mkdir(parents=True, exist_ok=True)
    remove_abandoned_exports(versions)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = versions / f"{WRITING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    relation = f"{quote(schema)}.{quote(mart)}"
    rows = run(con, f"select count(*) from {relation}")[0][0]
    if masking and key is None and "hash" in masking.values():
        raise ValueError(f"{relation}: hashing PII columns needs a key")
    select, parameters = (
        masked_select(con, relation, masking, key or b"")
        if masking
        else (f"select * from {relation}", [])
    )
    if rows:
        run(
            con,
            f"copy ({select}) to '{staging}' "
            "(format parquet, partition_by (tenant_id), overwrite_or_ignore)",
            parameters,
        )
    else:
        staging.mkdir()
    final = versions / stamp
    staging.rename(final)
    link = marts_dir / mart
    temp_link = marts_dir / f".{mart}.{uuid.uuid4().hex}.link"
    temp_link.symlink_to(final.relative_to(marts_dir), target_is_directory=True)
    os.replace(temp_link, link)  # atomic swap of the published dataset
    for old in sorted(p for p in versions.iterdir() if not p.name.startswith("."))[:-KEEP_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return rows


def mart_asset_keys(manifest: dict) -> list[tuple[str, str]]:
    """``(schema, model)`` of every dbt model under ``models/marts/`` in the manifest."""
    return sorted(
        (node["schema"], node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and len(node["fqn"]) > 1 and node["fqn"][1] == "marts"
    )
