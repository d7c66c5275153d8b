"""What a ``traceloom run`` has to do: the assets of the main job that something new reaches
(issue #11: "only what changed runs", "no per-run planning of hundreds of unused assets").

An asset of the main job is **due** when:

- *ingestion* (``land_<table>``): a drop file of its entity is new or changed, as landing itself
  decides (not in ``audit.batches`` with the same sha256 of the bytes landing would read now:
  :func:`~traceloom_pipelines.landing.loader.drop_signature`); or the listing refuses a path
  not yet in ``audit.skipped_paths``; or its source is pulled (a pull resource with a base URL:
  only the source knows what is new); or it was never materialized (landing creates its tables);
- *anything else* (dbt models and seeds, the audit tables, the Parquet export, the reports):
  it was never materialized, its code version differs from its latest materialization's (an
  edited model or seed), or an upstream asset of the job holds other data than the one it was
  built from (Dagster's data versions: the ingestion assets and the audit tables version their
  tables by the lake catalog's row statistics, :func:`traceloom_pipelines.lake.table_versions`,
  so landing nothing new changes nothing; a run that stopped half-way leaves the rest due).

The run materializes the due assets and everything downstream of them in the job, except
ingestion assets that are not due themselves (new machines do not re-land production counts);
a multi-asset that cannot be subset is taken whole. Nothing due: no run at all.
``traceloom run --all`` runs the whole job regardless (a no-change full run still skips dbt,
:mod:`traceloom_pipelines.dbt_inputs`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster import EventLogRecord

from traceloom_pipelines.landing.assets import raw_asset_key
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.loader import drop_signature, settle_seconds_from_env
from traceloom_pipelines.landing.pull import PullResource
from traceloom_pipelines.landing.readers import SkippedPath, list_drop_files
from traceloom_pipelines.landing.warehouse import connect, run, table_exists
from traceloom_pipelines.sources.catalog import all_entities

# The tags Dagster writes on every materialization (dagster._core.definitions.data_version).
CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_TAG = "dagster/data_version"
INPUT_DATA_VERSION_TAG_PREFIX = "dagster/input_data_version"
INPUT_EVENT_POINTER_TAG_PREFIX = "dagster/input_event_pointer"


@dataclass(frozen=True)
class RunPlan:
    """The assets one run materializes.

    Attributes:
        selection: asset keys to materialize (empty: nothing to do).
        reasons: each due asset (the roots of ``selection``) → why, one short phrase.
        job_assets: how many assets the whole job has.
    """

    selection: frozenset[dg.AssetKey]
    reasons: Mapping[dg.AssetKey, str] = field(default_factory=dict)
    job_assets: int = 0

    def describe(self, limit: int = 8) -> str:
        """One line for the console: what is due and how much of the job runs."""
        if not self.selection:
            return f"nothing new since the last run: 0 of {self.job_assets} assets to materialize"
        due = sorted(self.reasons.items(), key=lambda item: item[0].to_user_string())
        shown = [f"{key.to_user_string()} ({why})" for key, why in due[:limit]]
        more = f", and {len(due) - limit} more" if len(due) > limit else ""
        return (
            f"{len(self.selection)} of {self.job_assets} assets to materialize; due: "
            + ", ".join(shown)
            + more
        )


def new_drop_files(
    data_dir: Path,
    entities: Iterable[SourceEntity] | None = None,
    now: float | None = None,
) -> dict[tuple[str, str], list[str]]:
    """``(system, entity)`` → relative paths of its drop files that landing would land now,
    plus ``"<path> (skipped: <reason>)"`` for refused paths not yet in ``audit.skipped_paths``,
    for ``entities`` (default: all). Every file is new when the lake has no ``audit.batches``.

    Reads the lake read-only (two queries) and hashes each of those entities' drop files once.

    Raises:
        OSError: the landing folder cannot be listed.
    """
    now = time.time() if now is None else now
    settle = settle_seconds_from_env()
    landing_root = data_dir / "landing"
    landed: set[tuple[str, str, str, str, str]] = set()
    refused: set[tuple[str, str, str, str]] = set()
    try:
        con = connect(data_dir, read_only=True)
    except FileNotFoundError:
        con = None
    if con is not None:
        try:
            if table_exists(con, "audit", "batches"):
                landed = {
                    tuple(row)
                    for row in run(
                        con,
                        "select distinct source_system, entity, tenant_id, source_file, "
                        "file_sha256 from audit.batches",
                    )
                }
            if table_exists(con, "audit", "skipped_paths"):
                refused = {
                    tuple(row)
                    for row in run(
                        con, "select source_system, entity, path, reason from audit.skipped_paths"
                    )
                }
        finally:
            con.close()
    new: dict[tuple[str, str], list[str]] = {}
    for entity in all_entities() if entities is None else entities:
        skipped: list[SkippedPath] = []
        found: list[str] = []
        for drop in list_drop_files(landing_root, entity, skipped=skipped):
            try:
                _end, state, sha, _error = drop_signature(drop, entity, settle, now)
            except FileNotFoundError:
                continue
            if state == "wait":
                continue
            key = (entity.system, entity.entity, drop.tenant_id, drop.relative_path, sha)
            if key not in landed:
                found.append(drop.relative_path)
        found += [
            f"{s.relative_path} (skipped: {s.reason})"
            for s in skipped
            if (entity.system, entity.entity, s.relative_path, s.reason) not in refused
        ]
        if found:
            new[(entity.system, entity.entity)] = found
    return new


def latest_materializations(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]
) -> dict[dg.AssetKey, EventLogRecord]:
    """Each of ``keys`` that was ever materialized → its latest materialization record (for a
    partitioned asset: of any partition). One query."""
    return {
        record.asset_entry.asset_key: record.asset_entry.last_materialization_record
        for record in instance.get_asset_records(sorted(keys))
        if record.asset_entry.last_materialization_record is not None
    }


def materialized_after_input(
    parent_record: EventLogRecord, child_tags: Mapping[str, str], parent: dg.AssetKey
) -> bool | None:
    """Whether ``parent`` was materialized after the event a child recorded as its input
    (``child_tags``: the tags of the child's materialization, which Dagster writes with
    ``dagster/input_event_pointer/<parent>``); None when the child recorded no event for it."""
    pointer = child_tags.get(f"{INPUT_EVENT_POINTER_TAG_PREFIX}/{parent.to_user_string()}", "")
    return parent_record.storage_id > int(pointer) if pointer.isdigit() else None


def _changed_since(
    parent_record: EventLogRecord | None,
    child_record: EventLogRecord,
    parent: dg.AssetKey,
    parent_partitioned: bool,
) -> bool:
    """Whether ``parent``'s latest materialization is other data than the one
    ``child_record`` was built from. An unpartitioned parent: its data version differs from
    the one the child recorded for it. A partitioned parent (whose recorded version is an
    aggregate over partitions): a partition was materialized after the event the child
    recorded as its input. Where the child recorded neither, the parent was materialized
    after the child."""
    if parent_record is None:
        return False
    tags = child_record.event_log_entry.asset_materialization.tags or {}
    recorded = tags.get(f"{INPUT_DATA_VERSION_TAG_PREFIX}/{parent.to_user_string()}")
    current = (parent_record.event_log_entry.asset_materialization.tags or {}).get(DATA_VERSION_TAG)
    if not parent_partitioned and recorded is not None and current is not None:
        return recorded != current
    after = materialized_after_input(parent_record, tags, parent)
    return parent_record.storage_id > child_record.storage_id if after is None else after


def _whole(graph, keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """``keys`` plus every key of a multi-asset among them that cannot be subset."""
    out = set(keys)
    for key in list(out):
        assets_def = graph.get(key).assets_def
        if not assets_def.can_subset:
            out |= set(assets_def.keys)
    return out


def plan_run(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    job_selection: dg.AssetSelection,
    data_dir: Path,
) -> RunPlan:
    """The :class:`RunPlan` of one run of the job whose assets are ``job_selection`` (the main
    job's, or a cadence job's; see the module docstring for what is due).

    Raises:
        OSError: the landing folder cannot be listed.
    """
    graph = defs.resolve_asset_graph()
    job_keys = set(job_selection.resolve(graph))
    ingestion: set[dg.AssetKey] = set()  # every key of a land_* multi-asset
    pulled: set[dg.AssetKey] = set()
    for entity in all_entities():
        parent = raw_asset_key(entity.system, entity.entity)
        if parent not in job_keys:
            continue
        assets_def = graph.get(parent).assets_def
        ingestion |= set(assets_def.keys)
        if any(
            isinstance(resource, PullResource) and resource.enabled
            for resource in assets_def.resource_defs.values()
        ):
            pulled.add(parent)

    latest = latest_materializations(instance, job_keys)
    reasons: dict[dg.AssetKey, str] = {}
    entities = [e for e in all_entities() if raw_asset_key(e.system, e.entity) in job_keys]
    new_files = new_drop_files(data_dir, entities)
    for entity in entities:
        parent = raw_asset_key(entity.system, entity.entity)
        files = new_files.get((entity.system, entity.entity), [])
        if files:
            reasons[parent] = f"{len(files)} new file{'s' if len(files) != 1 else ''}"
        elif parent in pulled:
            reasons[parent] = "pulled from its source"
        elif latest.get(parent) is None:
            reasons[parent] = "never materialized"
    for key in sorted(job_keys - ingestion):
        record = latest.get(key)
        if record is None:
            reasons[key] = "never materialized"
            continue
        node = graph.get(key)
        version = node.code_version
        recorded = (record.event_log_entry.asset_materialization.tags or {}).get(CODE_VERSION_TAG)
        if version is not None and recorded is not None and version != recorded:
            reasons[key] = "code changed"
            continue
        changed = [
            parent
            for parent in node.parent_keys
            if parent in job_keys
            and _changed_since(latest.get(parent), record, parent, graph.get(parent).is_partitioned)
        ]
        if changed:
            reasons[key] = f"new data in {min(changed).to_user_string()}"
    if not reasons:
        return RunPlan(frozenset(), {}, len(job_keys))
    roots = _whole(graph, reasons)
    downstream = dg.AssetSelection.assets(*roots).downstream().resolve(graph)
    selection = _whole(graph, (set(downstream) & job_keys) - (ingestion - roots))
    return RunPlan(frozenset(selection & job_keys), reasons, len(job_keys))
