"""The asset factory: one Dagster multi-asset per source entity (parent table + child tables).

Asset keys follow the warehouse: ``["raw", <system>, <entity>]``. Each materialization reports
the four row counts (read, landed, quarantined, exact duplicates skipped), per tenant, the
quarantine reasons and the files read; asset checks report the pandera contract result
(warning), whether every row read is accounted for (error, blocking), whether landing skipped
paths it must not read (``no_paths_skipped``: error, not blocking; links and bad tenant folder
names, recorded in ``audit.skipped_paths``) and whether files carried columns the contract does
not read (``no_schema_drift``: warning; recorded in ``audit.schema_drift``), issue #12 §3–§4.
Assets with a pull resource carry one more non-blocking check: whether every tenant's pull
succeeded. A failed pull
— a request that failed for good (``SourceRequestError``), an open breaker
(``CircuitOpenError``) or an answer that breaks the source's protocol (any
``SourceProtocolError``: a page without its record list, a bad envelope, a repeated next-page
link …) — fails that check, not the step, so the other tenants and the drop files still land and
downstream steps run on the data that is there. Configuration errors (a tenant or entity the
source does not serve, no tenants configured) and errors while landing or writing the lake
still fail the step.
"""

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.cadence import freshness_policy
from traceloom_pipelines.integration.breaker import CircuitOpenError
from traceloom_pipelines.integration.http import (
    UNAUTHORIZED,
    SourceProtocolError,
    SourceRequestError,
)
from traceloom_pipelines.lake import LAKE_WRITERS_POOL, entity_lock_name
from traceloom_pipelines.landing.entity import SourceEntity
from traceloom_pipelines.landing.loader import (
    LandingResult,
    land_entity,
    settle_seconds_from_env,
)
from traceloom_pipelines.landing.pull import (
    ConnectorRun,
    PullBatch,
    PullResource,
    advance_cursor,
    read_cursor,
    record_connector_run,
    record_dead_letters,
    record_snapshot,
)
from traceloom_pipelines.landing.warehouse import quote, raw_table_columns, run
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.snapshots import record_step_snapshot, tag_run
from traceloom_pipelines.sources.dagster.records import write_auth_escalation

CONTRACT_CHECK = "pandera_contract"
BALANCE_CHECK = "rows_accounted_for"
PULL_CHECK = "source_pull_succeeded"
AUTH_CHECK = "source_auth_not_escalated"
# 003 §7.1: an authentication failure is retried once (token refresh); the integration admin is
# alerted after 3 of them.
AUTH_ESCALATION_FAILURES = 3
SKIPPED_PATHS_CHECK = "no_paths_skipped"
SCHEMA_DRIFT_CHECK = "no_schema_drift"
# A landing step that fails (its process killed or crashed, the lake unreachable, a commit
# conflict past its own retries) is run again: landing is idempotent (files land once, by
# content hash), so a repeat lands only what the failed attempt did not commit. A source that
# answers badly does not fail the step (it fails the PULL_CHECK check), so what is retried is
# the machinery, not the data.
LANDING_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


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
        # still being written: read up to their last complete record, or not yet at all
        "files_waiting": len(result.files_waiting),
        # links, files resolving outside the landing root, bad tenant folder names: never read
        "paths_skipped": _md_table(
            ("path", "reason"), [(p.relative_path, p.reason) for p in result.paths_skipped]
        ),
        "per_tenant": _md_table(
            ("tenant", "read", "landed", "quarantined", "duplicates"), per_tenant
        ),
        # CSV header columns no contract field reads: their values are not landed
        "unknown_columns": _md_table(
            ("file", "columns not in the contract"),
            [
                (path, ", ".join(columns))
                for path, columns in sorted(result.unknown_columns.items())
            ],
        ),
        "quarantine_reasons": _md_table(
            ("failed check", "rows"), sorted(total.reasons.items(), key=lambda kv: -kv[1])
        ),
        "source_contract": f"{result.entity.seed_ref} — traceloom_pipelines/sources/"
        f"{result.entity.system}/contract.py",
    }


def skipped_paths_check(asset_key: dg.AssetKey, result: LandingResult) -> dg.AssetCheckResult:
    """:data:`SKIPPED_PATHS_CHECK`: fails (severity error) when this run's landing skipped any
    path under the landing root — a link, a file resolving outside it, a tenant folder whose
    name is not a tenant id — listing each path and reason (``paths``) in its metadata; the
    paths are in ``audit.skipped_paths``. Not blocking: the other files landed. Issue #12 §3
    ("a bad name or a link is reported: audit row + failing check with the path")."""
    skipped = sorted({(p.relative_path, p.reason) for p in result.paths_skipped})
    return dg.AssetCheckResult(
        check_name=SKIPPED_PATHS_CHECK,
        asset_key=asset_key,
        passed=not skipped,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "paths_skipped": len(skipped),
            "paths": _md_table(("path", "reason"), skipped),
            "audit_table": "audit.skipped_paths",
        },
    )


def schema_drift_check(asset_key: dg.AssetKey, result: LandingResult) -> dg.AssetCheckResult:
    """:data:`SCHEMA_DRIFT_CHECK`: warns when a file landed in this run had CSV header columns
    no contract field reads (their values are not landed), listing file and columns; the
    columns and their first values are in ``audit.schema_drift``. Issue #12 §4 ("unknown
    columns/fields … surface as a warning check")."""
    drift = sorted(result.unknown_columns.items())
    return dg.AssetCheckResult(
        check_name=SCHEMA_DRIFT_CHECK,
        asset_key=asset_key,
        passed=not drift,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files_with_unknown_columns": len(drift),
            "unknown_columns": _md_table(
                ("file", "columns not in the contract"),
                [(path, ", ".join(columns)) for path, columns in drift],
            ),
            "audit_table": "audit.schema_drift",
        },
    )


@dataclass
class _TenantPull:
    """One tenant's pull in this run: the batch (None when the pull failed) and its record;
    ``failure`` is the failure class of a failed pull (``client_error``, ``breaker_open``,
    ``protocol`` …)."""

    tenant_id: str
    batch: PullBatch | None
    record: ConnectorRun
    dead_letters: list
    failure: str | None = None


def _pull_tenants(
    context: dg.AssetExecutionContext, entity: SourceEntity, puller: PullResource, warehouse
) -> list[_TenantPull]:
    """Pull every configured tenant (cursor from ``audit.connector_state``).

    A tenant whose request failed for good (``SourceRequestError``), whose breaker (of the
    source, tenant and entity) is open (``CircuitOpenError``) or whose source answered against
    its protocol (``SourceProtocolError``) is recorded as ``pull_failed`` with that failure class
    and the (scrubbed) message, and the other tenants still run.

    Raises:
        ValueError: the pull resource is misconfigured (no tenants, a tenant or entity its
            source does not serve): the step fails.
    """
    tenants = puller.tenant_ids()
    with warehouse.connect() as con:
        cursors = {t: read_cursor(con, puller.source, entity.entity, t) for t in tenants}
    # breaker, dead letters and counters per (source, tenant, entity): issue #13 §5
    with puller.entity_scope(entity.entity):
        return [
            _pull_tenant(context, entity, puller, warehouse, tenant_id, cursors[tenant_id])
            for tenant_id in tenants
        ]


def _pull_tenant(
    context: dg.AssetExecutionContext,
    entity: SourceEntity,
    puller: PullResource,
    warehouse,
    tenant_id: str,
    cursor: str | None,
) -> _TenantPull:
    """``tenant_id``'s pull of ``entity`` after ``cursor`` (see :func:`_pull_tenants`), inside
    the entity's scope of ``puller``."""
    record = ConnectorRun(
        source=puller.source,
        entity=entity.entity,
        tenant_id=tenant_id,
        run_id=context.run.run_id,
        started_at=datetime.now(UTC).replace(tzinfo=None),
        status="pulled",
        cursor_before=cursor,
    )
    batch = None
    failure = None
    try:
        batch = puller.pull(
            entity=entity,
            landing_root=warehouse.landing_root,
            tenant_id=tenant_id,
            cursor=cursor,
            log=context.log.info,
        )
        record.files_written = len(batch.files)
    except (SourceRequestError, SourceProtocolError, CircuitOpenError) as exc:
        message = str(exc)
        if isinstance(exc, SourceProtocolError):
            # Written by the connector from the answer, not by the client: scrub it the
            # way the client scrubs its own errors before it is recorded anywhere.
            message = puller.client(tenant_id).scrub(message)
        record.status = "pull_failed"
        record.error = message[:2000]
        failure = (
            "breaker_open"
            if isinstance(exc, CircuitOpenError)
            else getattr(exc, "error_class", None) or type(exc).__name__
        )
        context.log.error(f"{puller.source}/{entity.entity} [{tenant_id}]: {message}")
    stats = puller.http_stats(tenant_id)
    record.requests = stats["requests"]
    record.retries = stats["retries"]
    record.breaker_state = stats["breaker_state"]
    record.breaker_consecutive_failures = stats["breaker_consecutive_failures"]
    letters = puller.take_dead_letters()
    record.dead_letters = len(letters)
    return _TenantPull(tenant_id, batch, record, letters, failure)


def _pull_metadata(pulls: list[_TenantPull]) -> dict[str, object]:
    rows = [
        (
            p.tenant_id,
            p.record.status,
            p.record.cursor_before or "",
            p.record.cursor_after or "",
            p.record.files_written,
            p.record.requests,
            p.record.retries,
            p.record.dead_letters,
            p.record.breaker_state,
        )
        for p in pulls
    ]
    header = (
        "tenant",
        "status",
        "cursor before",
        "cursor after",
        "files",
        "requests",
        "retries",
        "dead letters",
        "breaker",
    )
    states = {p.record.breaker_state for p in pulls}
    return {
        "pull_requests": sum(p.record.requests for p in pulls),
        "pull_retries": sum(p.record.retries for p in pulls),
        "pull_dead_letters": sum(p.record.dead_letters for p in pulls),
        "pull_files_written": sum(p.record.files_written for p in pulls),
        "pull_breaker_state": "open" if "open" in states else ",".join(sorted(states)),
        "pull_per_tenant": _md_table(header, rows),
    }


def _pull_check(
    asset_key: dg.AssetKey, pulls: list[_TenantPull], pulled: bool
) -> dg.AssetCheckResult:
    """:data:`PULL_CHECK`: passed when every tenant's pull succeeded (or nothing was pulled
    because the pull resource is disabled); failed, severity error, naming each failed tenant
    with its failure class and message (secrets redacted).

    A pull fails when a request failed for good (failure class from the HTTP client:
    ``server_error``, ``timeout``, ``connection``, ``malformed``, ``rate_limited``,
    ``unauthorized``, ``client_error``), when the source's breaker was open
    (``breaker_open``), or when the source answered against its protocol (a
    ``SourceProtocolError`` from the connector: ``protocol``).
    """
    if not pulled:
        return dg.AssetCheckResult(
            check_name=PULL_CHECK,
            asset_key=asset_key,
            passed=True,
            metadata={"mode": "drop files only (pull resource disabled: no base URL)"},
        )
    failed = [p for p in pulls if p.batch is None]
    return dg.AssetCheckResult(
        check_name=PULL_CHECK,
        asset_key=asset_key,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "tenants_pulled": len(pulls) - len(failed),
            "tenants_failed": len(failed),
            "failed_tenants": ", ".join(p.tenant_id for p in failed) or "none",
            "pull_failures": dg.MetadataValue.json(
                {
                    p.tenant_id: {
                        "failure_class": p.failure,
                        "error": (p.record.error or "")[:500],
                        "dead_letters": p.record.dead_letters,
                        "breaker_state": p.record.breaker_state,
                    }
                    for p in failed
                }
            ),
        },
    )


def auth_failures_in_a_row(con: duckdb.DuckDBPyConnection, source: str, tenant_id: str) -> int:
    """Authentication failures of ``source`` for ``tenant_id`` since its last pull that landed
    (any entity): its ``audit.dead_letters`` of class ``unauthorized`` (one per failed pull, after
    the token refresh) newer than its newest ``landed`` row of ``audit.connector_runs``."""
    return run(
        con,
        "select count(*) from audit.dead_letters where source = ? and tenant_id = ? "
        "and error_class = ? and failed_at > coalesce((select max(finished_at) "
        "from audit.connector_runs where source = ? and tenant_id = ? and status = 'landed'), "
        "timestamp '1970-01-01')",
        [source, tenant_id, UNAUTHORIZED, source, tenant_id],
    )[0][0]


def _auth_check(asset_key: dg.AssetKey, failures: dict[str, int]) -> dg.AssetCheckResult:
    """:data:`AUTH_CHECK`: fails (error) when a tenant's authentication failed
    :data:`AUTH_ESCALATION_FAILURES` times in a row (003 §7.1: alert the integration admin);
    ``failures`` is tenant → failures in a row, for the tenants whose pull failed on
    authentication in this run."""
    escalated = {t: n for t, n in sorted(failures.items()) if n >= AUTH_ESCALATION_FAILURES}
    return dg.AssetCheckResult(
        check_name=AUTH_CHECK,
        asset_key=asset_key,
        passed=not escalated,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "escalated_tenants": ", ".join(escalated) or "none",
            "auth_failures_in_a_row": dg.MetadataValue.json(failures),
            "threshold": AUTH_ESCALATION_FAILURES,
        },
    )


def _record_pulls(con, entity: SourceEntity, pulls: list[_TenantPull], run_id: str) -> None:
    """Advance the cursors of the tenants whose pull landed; record every pull."""
    for p in pulls:
        if p.batch is not None:
            advance_cursor(
                con, p.record.source, entity.entity, p.tenant_id, p.batch.next_cursor, run_id
            )
            p.record.status = "landed"
            p.record.cursor_after = p.batch.next_cursor or p.record.cursor_before
            if p.batch.snapshot_keys is not None:
                record_snapshot(
                    con,
                    source=p.record.source,
                    entity=entity.entity,
                    tenant_id=p.tenant_id,
                    keys=p.batch.snapshot_keys,
                    run_id=run_id,
                )
        else:
            p.record.cursor_after = p.record.cursor_before
        record_connector_run(con, p.record)


def build_ingestion_asset(
    entity: SourceEntity,
    *,
    puller: str | None = None,
    puller_default: PullResource | None = None,
) -> dg.AssetsDefinition:
    """The multi-asset landing ``entity`` from its drop folder into ``raw``.

    Args:
        entity: the source entity.
        puller: resource key of a :class:`~traceloom_pipelines.landing.pull.PullResource`.
            When that resource is enabled (its base URL is set), each run first pulls every
            configured tenant into the drop folder (cursor from ``audit.connector_state``),
            then lands as usual, then advances the cursors of the tenants whose pull succeeded
            and records dead letters and the pull in ``audit``. A failed pull (an error answer
            after the retries, an unreachable source, an open breaker, or an answer that breaks
            the source's protocol: ``SourceProtocolError``) does not fail the step:
            it is recorded as ``pull_failed`` with its dead letters, that tenant's cursor stays
            where it was (the next run pulls the same window again), what did arrive and every
            drop file land, the materialization is reported as usual, an error is logged naming
            the failed tenants, and the non-blocking check ``source_pull_succeeded`` fails
            (severity error) with each tenant's failure class and redacted message. Downstream
            steps therefore run on the data that is there. A misconfigured pull resource (a
            tenant or entity its source does not serve) and an error while landing or writing
            the lake still fail the step. When disabled, the asset lands drop files only and
            the check passes saying so.
        puller_default: the resource bound to ``puller`` on the asset itself (built from the
            environment), so runs need not provide it; without it the run must provide it.
    """
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
        dg.AssetCheckSpec(
            SKIPPED_PATHS_CHECK,
            asset=parent_key,
            blocking=False,
            description="Landing read every path it found: fails (error) when it skipped a "
            "link, a file resolving outside the landing folder or a tenant folder whose name "
            "is not a tenant id (listed in the metadata and in audit.skipped_paths).",
        ),
        dg.AssetCheckSpec(
            SCHEMA_DRIFT_CHECK,
            asset=parent_key,
            blocking=False,
            description="Files landed in this run carried no column the contract does not "
            "read: warns naming the files and columns (audit.schema_drift).",
        ),
    ]
    if puller:
        # Not blocking: a source that failed must not stop the models built on the others.
        check_specs.append(
            dg.AssetCheckSpec(
                PULL_CHECK,
                asset=parent_key,
                blocking=False,
                description="Every configured tenant's pull from the source succeeded. Fails "
                "(error) when a source answered an error after the retries, was unreachable, "
                "its breaker was open or its answer broke the source's protocol; what did "
                "arrive and every drop file still land, the failed tenant's cursor stays put, "
                "and downstream steps run on the data there.",
            ),
        )
        check_specs.append(
            dg.AssetCheckSpec(
                AUTH_CHECK,
                asset=parent_key,
                blocking=False,
                description=f"No tenant's authentication with the source failed "
                f"{AUTH_ESCALATION_FAILURES} times in a row (003 §7.1: then the integration "
                "admin is alerted). Fails (error) naming the tenants while their pulls keep "
                "failing on authentication, and writes the alert as a run-failure record "
                "(raw/dagster/run_failures, integration health); a pull that lands resets "
                "the count.",
            )
        )

    def _land(context: dg.AssetExecutionContext):
        warehouse: WarehouseResource = context.resources.warehouse
        pull_resource = getattr(context.resources, puller) if puller else None
        pulls: list[_TenantPull] = []
        pulled = pull_resource is not None and pull_resource.enabled
        if pulled:
            pulls = _pull_tenants(context, entity, pull_resource, warehouse)
        run_id = context.run.run_id
        # One landing of this raw table at a time across runs and workers: a file another run
        # is landing is then skipped here, never landed twice.
        with warehouse.lock(entity_lock_name(entity.table)), warehouse.connect() as con:
            if pulls:
                lake.transaction(
                    con,
                    lambda: [
                        record_dead_letters(
                            con,
                            p.dead_letters,
                            entity=entity.entity,
                            tenant_id=p.tenant_id,
                            run_id=run_id,
                        )
                        for p in pulls
                    ],
                )
            try:
                # A line-based file modified in the last few seconds may still be being
                # appended: only its complete records land now (issue #12 §4).
                result = land_entity(
                    con,
                    entity,
                    warehouse.landing_root,
                    run_id=run_id,
                    log=context.log.info,
                    settle_seconds=settle_seconds_from_env(),
                )
                for skipped in result.paths_skipped:
                    context.log.warning(
                        f"landing skipped {skipped.relative_path} ({skipped.reason}): "
                        "not read, not landed"
                    )
                for path, columns in sorted(result.unknown_columns.items()):
                    context.log.warning(
                        f"{path}: columns not in the contract, their values not landed: "
                        + ", ".join(columns)
                    )
            except Exception as exc:
                for p in pulls:
                    if p.batch is not None:
                        p.record.status = "landing_failed"
                        p.record.error = f"landing failed: {type(exc).__name__}"
                lake.transaction(con, lambda: [record_connector_run(con, p.record) for p in pulls])
                raise
            # Only now that the pulled files have landed do the cursors move (one snapshot).
            if pulls:
                lake.transaction(con, lambda: _record_pulls(con, entity, pulls, run_id))
            auth_failures = {
                p.tenant_id: auth_failures_in_a_row(con, p.record.source, p.tenant_id)
                for p in pulls
                if p.failure == UNAUTHORIZED
            }
            tables = [entity.table] + [f"{entity.system}__{c.name}" for c in entity.children]
            counts = {
                table: run(con, f"select count(*) from raw.{quote(table)}")[0][0]
                for table in tables
            }
            # The data version Dagster records (and downstream materializations record as
            # their input's): unchanged when nothing was added, so nothing downstream is stale
            # (traceloom_pipelines/run_plan.py).
            versions = {
                table: dg.DataVersion(version)
                for (_schema, table), version in lake.table_versions(
                    con, [("raw", t) for t in tables]
                ).items()
            }
            if result.files_ingested or pulls:
                snapshot = record_step_snapshot(con, run_id, f"land_{entity.table}")
            else:  # nothing committed: a no-change run writes nothing to the lake
                snapshot = lake.current_snapshot(con)
        tag_run(context, snapshot)
        failed = [p for p in pulls if p.batch is None]
        if failed:
            # Not a step failure: what did arrive has landed, the failed tenants' cursors did not
            # move (the next run pulls the same window again) and the pull check fails below.
            context.log.error(
                f"{entity.system}/{entity.entity}: pull failed for tenant(s) "
                + ", ".join(f"{p.tenant_id} ({p.failure})" for p in failed)
                + "; landed what did arrive, cursors of these tenants not advanced"
            )
        total = result.total
        metadata = landing_metadata(result, counts[entity.table])
        metadata["lake_snapshot_id"] = snapshot
        if pulls:
            metadata.update(_pull_metadata(pulls))
        yield dg.MaterializeResult(
            asset_key=parent_key, metadata=metadata, data_version=versions[entity.table]
        )
        for child in entity.children:
            yield dg.MaterializeResult(
                asset_key=raw_asset_key(entity.system, child.name),
                data_version=versions[f"{entity.system}__{child.name}"],
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
        yield skipped_paths_check(parent_key, result)
        yield schema_drift_check(parent_key, result)
        if puller:
            yield _pull_check(parent_key, pulls, pulled)
            escalation = _auth_check(parent_key, auth_failures)
            if not escalation.passed:
                message = (
                    f"{AUTH_CHECK}: {entity.system}/{entity.entity}: authentication failed "
                    f"{AUTH_ESCALATION_FAILURES} or more times in a row for tenant(s) "
                    f"{escalation.metadata['escalated_tenants'].value}: alert the integration "
                    "admin (check the client credentials)"
                )
                context.log.error(message)
                # The run-failure record of the alert (integration health reports it); the run
                # goes on: the other tenants' data landed and the marts build on it.
                write_auth_escalation(
                    warehouse.landing_root,
                    run_id=context.run_id,
                    job_name=context.job_name,
                    tags=context.run.tags,
                    table=entity.table,
                    message=message,
                )
            yield escalation

    with warnings.catch_warnings():
        # `resource_defs` (the pull resource bound from the environment) is marked beta.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.multi_asset(
            name=f"land_{entity.table}",
            specs=specs,
            check_specs=check_specs,
            pool=LAKE_WRITERS_POOL,
            retry_policy=LANDING_RETRY_POLICY,
            # The pull resource's key is chosen per entity, so resources are named here
            # rather than as typed parameters.
            required_resource_keys={"warehouse", *([puller] if puller else [])},
            resource_defs={puller: puller_default} if puller and puller_default else None,
        )(_land)


def build_ingestion_assets(
    entities: tuple[SourceEntity, ...],
    pullers: dict[str, str] | None = None,
    puller_defaults: dict[str, PullResource] | None = None,
) -> list[dg.AssetsDefinition]:
    """One ingestion multi-asset per entity.

    Args:
        entities: the source entities.
        pullers: entity name → resource key of its pull resource (entities not listed are
            landed from drop files only).
        puller_defaults: resource key → the resource bound on the assets (see
            :func:`build_ingestion_asset`).
    """
    pullers = pullers or {}
    puller_defaults = puller_defaults or {}
    return [
        build_ingestion_asset(
            entity,
            puller=pullers.get(entity.entity),
            puller_default=puller_defaults.get(pullers.get(entity.entity, "")),
        )
        for entity in entities
    ]


__all__ = [
    "PULL_CHECK",
    "SCHEMA_DRIFT_CHECK",
    "SKIPPED_PATHS_CHECK",
    "build_ingestion_assets",
    "raw_asset_key",
]
