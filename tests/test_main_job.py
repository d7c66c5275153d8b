"""The main job end to end on a small demo world, checked against the world's answer key.

One module-scoped world (two tenants plus the public port samples) is materialized twice with
every asset — landing, dbt build with its tests, Parquet export — on a real DuckDB file.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.incremental_bench import write_mes_delta
from tests.main_job import copy_built_world, materialize_main_job
from traceloom_pipelines import privacy
from traceloom_pipelines.cli import main as cli_main
from traceloom_pipelines.dbt import (
    COLUMN_SCHEMA,
    COUNTED_TABLES,
    MANIFEST,
    MODEL_RELATIONS,
    ROW_COUNT,
    traceloom_dbt_daily_models,
    traceloom_dbt_models,
)
from traceloom_pipelines.definitions import defs
from traceloom_pipelines.jobs import main_job
from traceloom_pipelines.lake import current_snapshot
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.run_plan import RunPlan, plan_run

VENV_BIN = Path(sys.executable).parent
PUBLIC_MARTS = {"fct_port_congestion"}


def _lake_files(data_dir: Path) -> set[str]:
    """Every data file of the embedded lake (relative paths)."""
    root = data_dir / "lake" / "data"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _row_counts(con) -> dict[str, int]:
    tables = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('raw', 'audit', 'staging', 'intermediate', 'marts')"
    ).fetchall()
    return {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for (t,) in tables}


@pytest.fixture(scope="module")
def world(main_job_world, tmp_path_factory):
    """This module's copy of the shared world (tests/main_job.py) after its first main job,
    then a second main job on the same instance (on disk, so that `traceloom run`, with
    DAGSTER_HOME, plans against these runs)."""
    copy = copy_built_world(main_job_world, tmp_path_factory.mktemp("main_job"))
    data_dir, dagster_home = copy.data_dir, copy.dagster_home
    instance = dg.DagsterInstance.local_temp(str(dagster_home))
    con = connect(data_dir, read_only=True)
    counts_after_first = _row_counts(con)
    snapshot_after_first = current_snapshot(con)
    con.close()
    files_after_first = _lake_files(data_dir)
    second = materialize_main_job(data_dir, instance)
    con = connect(data_dir, read_only=True)
    yield {
        "dir": data_dir,
        "instance": instance,
        "dagster_home": dagster_home,
        "key": main_job_world.key,
        "first": main_job_world.result,
        "second": second,
        "con": con,
        "counts_after_first": counts_after_first,
        "snapshot_after_first": snapshot_after_first,
        "files_after_first": files_after_first,
        "files_after_second": _lake_files(data_dir),
    }
    con.close()
    instance.dispose()


def _failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


def test_both_runs_succeed_including_every_dbt_test(world):
    assert world["first"].success, _failed_steps(world["first"])
    assert world["second"].success, _failed_steps(world["second"])
    checks = [
        e.event_specific_data
        for e in world["first"].all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    dbt_checks = [c for c in checks if c.asset_key.path[0] in ("staging", "intermediate", "marts")]
    assert dbt_checks and all(c.passed for c in dbt_checks), [
        (c.asset_key.to_user_string(), c.check_name) for c in dbt_checks if not c.passed
    ]
    balance = [c for c in checks if c.check_name == "rows_accounted_for"]
    assert balance and all(c.passed for c in balance)
    # Every dbt test is a check with a result: none runs only as an observation (dagster-dbt's
    # fallback, with a warning, for a test its step did not select as a check).
    declared = {
        key
        for assets in (traceloom_dbt_models, traceloom_dbt_daily_models)
        for key in assets.check_keys
    }
    evaluated = {dg.AssetCheckKey(c.asset_key, c.check_name) for c in checks}
    assert declared <= evaluated, sorted(k.to_user_string() for k in declared - evaluated)
    observed = [
        e.asset_key.to_user_string()
        for e in world["first"].all_events
        if e.event_type_value == "ASSET_OBSERVATION"
        and e.asset_key.path[0] in ("staging", "intermediate", "marts")
    ]
    assert not observed, observed


def test_quarantine_is_exactly_the_answer_key(world):
    got = {
        (f, r, tuple(checks))
        for f, r, checks in world["con"]
        .execute(
            "select source_file, source_row, failed_checks from audit.quarantine "
            "where tenant_id <> 'public'"
        )
        .fetchall()
    }
    expected = {
        (q["source_file"], q["source_row"], tuple(q["failed_checks"]))
        for q in world["key"]["quarantine"]
    }
    assert got == expected


def test_every_entity_counts_add_up_as_the_key_says(world):
    rows = (
        world["con"]
        .execute(
            "select tenant_id || '/' || source_system || '/' || entity, sum(rows_read), "
            "sum(rows_landed), sum(rows_quarantined), sum(rows_duplicate) from audit.batches "
            "where tenant_id <> 'public' group by 1"
        )
        .fetchall()
    )
    got = {
        k: {"rows_read": a, "rows_landed": b, "rows_quarantined": c, "rows_duplicate": d}
        for k, a, b, c, d in rows
    }
    assert got == world["key"]["entities"]
    duplicates = Counter(
        f"{d['tenant_id']}/{d['system']}/{d['entity']}" for d in world["key"]["duplicates"]
    )
    assert {k: v["rows_duplicate"] for k, v in got.items() if v["rows_duplicate"]} == duplicates


def test_reconciliation_finds_exactly_the_injected_discrepancies(world):
    got = set(
        world["con"]
        .execute(
            "select tenant_id, erp_work_order_id, discrepancy_type "
            "from marts.rpt_work_order_reconciliation_daily"
        )
        .fetchall()
    )
    expected = {
        (d["tenant_id"], d["erp_work_order_id"], d["discrepancy_type"])
        for d in world["key"]["reconciliation"]
    }
    assert got == expected
    assert {t for t, _, _ in got} == set(world["key"]["tenants"])
    assert {k for _, _, k in got} == {
        "missing_in_mes",
        "missing_in_erp",
        "status_conflict",
        "quantity_mismatch",
        "description_mismatch",
    }


def test_latest_revision_wins_even_when_revisions_arrive_out_of_order(world):
    revisions = world["key"]["out_of_order_revisions"]
    assert revisions
    for r in revisions:
        row = (
            world["con"]
            .execute(
                "select revision, po_status, quantity from marts.fct_purchase_orders "
                "where tenant_id = ? and po_id = ?",
                [r["tenant_id"], r["po_id"]],
            )
            .fetchall()
        )
        assert row == [(r["latest_revision"], r["latest_status"], r["latest_quantity"])]


def test_marts_hold_rows_for_every_tenant_in_duckdb_and_parquet(world):
    tenants = set(world["key"]["tenants"])
    marts = [
        m
        for (m,) in world["con"]
        .execute("select table_name from information_schema.tables where table_schema = 'marts'")
        .fetchall()
    ]
    for required in (
        "fct_purchase_orders",
        "fct_purchase_order_lines",
        "fct_work_orders",
        "fct_production_daily",
        "dim_materials",
        "fct_inventory_positions",
        "dim_employees",
        "fct_labor_hours",
        "rpt_work_order_reconciliation_daily",
    ):
        assert required in marts
    for mart in marts:
        # Marts of public feeds (port congestion) hold the `public` tenant only.
        expected = {"public"} if mart in PUBLIC_MARTS else tenants
        in_duckdb = {
            t
            for (t,) in world["con"]
            .execute(f"select distinct tenant_id from marts.{mart}")
            .fetchall()
        }
        assert expected <= in_duckdb, mart
        if mart in PUBLIC_MARTS:
            assert in_duckdb == {"public"}, mart
        parquet = world["dir"] / "marts" / mart
        assert {p.name for p in parquet.iterdir()} >= {f"tenant_id={t}" for t in expected}, mart
        total = duckdb.sql(
            f"select count(*) from read_parquet('{parquet}/**/*.parquet', hive_partitioning = true)"
        ).fetchall()[0][0]
        assert total == world["con"].execute(f"select count(*) from marts.{mart}").fetchall()[0][0]


def test_golden_records_reach_the_product_keyed_marts(world):
    """Issue #16 §2: the main job resolves suppliers and products before dbt, so the first run
    on a new lake already has the dims and the canonical ids on the marts."""
    con = world["con"]
    assert con.execute(
        "select count(*), count(canonical_product_id) from marts.fct_work_orders "
        "where canonical_product_id not in (select canonical_product_id from marts.dim_products)"
    ).fetchall()[0] == (0, 0)
    assert (
        con.execute(
            "select count(*) filter (where canonical_product_id is null), count(*) "
            "from marts.fct_work_orders"
        ).fetchall()[0][0]
        == 0
    )
    assert (
        con.execute(
            "select count(*) from marts.fct_purchase_orders where canonical_supplier_id is null"
        ).fetchall()[0][0]
        == 0
    )
    for dim in ("dim_suppliers", "dim_products", "dim_trading_partners"):
        assert con.execute(f"select count(*) from marts.{dim}").fetchall()[0][0] > 0, dim


def test_the_parquet_export_holds_pii_columns_only_as_pseudonyms(world):
    """Issue #16 §3 on the dbt-built marts: every exported value of a hash-tagged column is the
    keyed pseudonym of the lake's value of that row's tenant (so the export never holds one
    in clear), and redacted columns are null."""
    key = privacy.pii_hash_key(world["dir"])
    masking = privacy.mart_masking(MANIFEST)
    assert {"dim_employees", "fct_labor_hours", "rpt_labor_reconciliation"} <= set(masking)
    for mart, columns in masking.items():
        parquet = f"{world['dir']}/marts/{mart}/**/*.parquet"
        for column, how in columns.items():
            exported = duckdb.sql(
                f"select distinct tenant_id, {column} from read_parquet('{parquet}', "
                "hive_partitioning = true, hive_types = {'tenant_id': varchar})"
            ).fetchall()
            clear = world["con"].execute(f"select distinct tenant_id, {column} from marts.{mart}")
            clear = clear.fetchall()
            assert clear, (mart, column)
            if how == "redact":
                assert {value for _, value in exported} == {None}, (mart, column)
                continue
            expected = {
                (t, None if v is None else privacy.pseudonym(key, t, str(v))) for t, v in clear
            }
            assert set(exported) == expected, (mart, column)


def test_marts_hold_utc_instants_not_naive_timestamps(world):
    """Every timestamp of the marts is ``timestamp with time zone`` (BI tools and the Parquet
    export read UTC instants), holding the models' naive UTC times as instants whatever the
    reading session's TimeZone; the Parquet export writes them UTC-adjusted."""
    con = world["con"]
    typed = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = 'lake' and table_schema = 'marts' and data_type like 'TIMESTAMP%'"
    ).fetchall()
    assert len(typed) >= 36  # 36 in 12 marts when this test was written
    assert [(t, c, d) for t, c, d in typed if d != "TIMESTAMP WITH TIME ZONE"] == []
    sql = (
        "select f.created_at, f.erp_updated_at, i.erp_created_at, i.erp_last_event_at "
        "from marts.fct_work_orders as f "
        "join intermediate.int_work_orders_joined_to_mes as i using (tenant_id, erp_work_order_id)"
    )
    con.execute("set TimeZone = 'America/New_York'")
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.execute("set TimeZone = 'UTC'")
    assert rows and all(
        created.astimezone(UTC) == naive_created.replace(tzinfo=UTC)
        and updated.astimezone(UTC) == naive_updated.replace(tzinfo=UTC)
        for created, updated, naive_created, naive_updated in rows
    )
    # a wall-clock column: when the mart was built (this module's runs, minutes ago)
    (measured,) = con.execute(
        "select distinct measured_at from marts.fct_integration_health"
    ).fetchone()
    assert timedelta(0) < datetime.now(UTC) - measured < timedelta(hours=2)
    parquet = next((world["dir"] / "marts" / "fct_work_orders").glob("*/*.parquet"))
    assert pq.read_schema(parquet).field("created_at").type == pa.timestamp("us", tz="UTC")


def test_dbt_tables_show_their_lake_row_counts_in_dagster(world):
    """Each dbt table model's materialization of the first run carries ``dagster/row_count``
    (the UI's "Rows"), equal to its table in the lake; views and daily marts carry none."""
    counted = {}
    for event in world["first"].get_asset_materialization_events():
        value = event.materialization.metadata.get(ROW_COUNT)
        # landing and identity resolution (master_data) count their own
        if value is not None and event.asset_key.path[0] not in ("raw", "master_data"):
            counted[event.asset_key.path[-1]] = value.value
    assert len(counted) == len(COUNTED_TABLES) > 20
    assert {"fct_work_orders", "fct_purchase_orders", "dim_materials"} <= set(counted)
    assert "fct_production_daily" not in counted  # daily-partitioned
    for unique_id, table in COUNTED_TABLES.items():
        name = unique_id.rsplit(".", 1)[-1]
        # the second run built nothing (nothing new), so the lake still holds the first's tables
        assert counted[name] == world["con"].execute(f"select count(*) from {table}").fetchone()[0]
    assert counted["fct_work_orders"] > 0


def test_dbt_models_show_their_columns_as_built_in_dagster(world):
    """Each dbt model's materialization of the first run carries ``dagster/column_schema``: the
    columns of its relation in the lake, in order, with DuckDB's types and the YAML's
    descriptions (so staging and intermediate models, whose YAML declares no types, show them)."""
    columns = {}
    for event in world["first"].get_asset_materialization_events():
        value = event.materialization.metadata.get(COLUMN_SCHEMA)
        if value is not None and event.asset_key.path[0] in ("staging", "intermediate", "marts"):
            columns[tuple(event.asset_key.path)] = value.value
    assert len(columns) == len(MODEL_RELATIONS)
    for schema, name, descriptions in MODEL_RELATIONS.values():
        built = (
            world["con"]
            .execute(
                "select column_name, lower(data_type) from information_schema.columns "
                "where table_catalog = 'lake' and table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, name],
            )
            .fetchall()
        )
        shown = columns[(schema, name)].columns
        assert [(c.name, c.type) for c in shown] == built, name
        assert all(c.description == descriptions.get(c.name) for c in shown), name
    work_orders = {c.name: c for c in columns[("marts", "fct_work_orders")].columns}
    assert work_orders["tenant_id"].description == "Tenant the work order belongs to."
    assert "?" not in {c.type for schema in columns.values() for c in schema.columns}


def test_no_pii_reaches_the_marts(world):
    columns = {
        c
        for (c,) in world["con"]
        .execute("select column_name from information_schema.columns where table_schema = 'marts'")
        .fetchall()
    }
    assert not columns & {"first_name", "last_name", "email", "phone"}


def test_public_port_feeds_are_landed_and_staged(world):
    for entity in (
        "vessel_expected_arrivals",
        "vessels_arrived",
        "vessels_departed",
        "vessels_in_port",
        "cargo_throughput",
    ):
        landed = world["con"].execute(f"select count(*) from raw.port__{entity}").fetchall()[0][0]
        staged = (
            world["con"]
            .execute(f"select count(*) from staging.stg_port__{entity}")
            .fetchall()[0][0]
        )
        assert landed > 0 and staged > 0, entity


def test_a_second_run_changes_no_row_count(world):
    assert _row_counts(world["con"]) == world["counts_after_first"]


def test_a_run_with_nothing_new_skips_dbt_and_writes_nothing_to_the_lake(world):
    """Issue #11: nothing landed since the last build → no dbt invocation, no Parquet
    republish, no report; the lake gets no commit and no data file."""
    second = world["second"]
    materialized = {
        e.asset_key.to_user_string()
        for e in second.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    # identity resolution (master_data/) runs after the landings, finds its result unchanged
    # and writes nothing (the snapshot check below)
    assert materialized and all(key.startswith(("raw/", "master_data/")) for key in materialized), (
        materialized
    )
    skipped = {e.step_key for e in second.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert {"traceloom_dbt_daily_models", "bi__marts_parquet"} <= skipped, skipped
    checked = {
        e.event_specific_data.asset_key.path[0]
        for e in second.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checked == {"raw"}, checked
    assert current_snapshot(world["con"]) == world["snapshot_after_first"]
    assert world["files_after_second"] == world["files_after_first"]


def test_traceloom_sql_reads_the_lake_read_only_and_by_snapshot(world, capsys):
    data_dir = str(world["dir"])
    expected = world["con"].execute("select count(*) from marts.fct_work_orders").fetchall()[0][0]
    query = "select tenant_id, count(*) as n from marts.fct_work_orders group by 1 order by 1"

    assert cli_main(["--data-dir", data_dir, "sql", query, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["n"] for r in rows) == expected and {r["tenant_id"] for r in rows}

    assert cli_main(["--data-dir", data_dir, "sql", query, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "tenant_id,n" and len(lines) == len(rows) + 1

    assert cli_main(["--data-dir", data_dir, "sql", query]) == 0
    assert "tenant_id" in capsys.readouterr().out

    # time travel: the snapshot the first landing step of the first run recorded has raw rows
    # but no marts yet
    first_snapshot = (
        world["con"].execute("select min(snapshot_id) from audit.run_snapshots").fetchall()[0][0]
    )
    assert (
        cli_main(
            [
                "--data-dir",
                data_dir,
                "sql",
                "select count(*) as n from information_schema.tables where table_schema = 'marts'",
                "--format",
                "json",
                "--snapshot",
                str(first_snapshot),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"n": 0}]

    # read-only: a write is refused with a clear error, exit status 1
    assert cli_main(["--data-dir", data_dir, "sql", "delete from marts.fct_work_orders"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert world["con"].execute("select count(*) from marts.fct_work_orders").fetchall()[0][0] == (
        expected
    )


def test_dbt_keeps_its_parse_in_the_data_directory_and_reuses_it(world):
    """No dbt invocation of a new data directory parses the project in full: the first starts
    from the parse of the build (``make setup``: dbt accepts it, the profile's connection
    settings being the same in every data directory), the daily build right after from the
    parse the first left (``dbt_targets``); targets live under the data directory, not in the
    repository."""
    dbt_state = world["dir"] / "dbt"
    assert (dbt_state / "partial_parse.msgpack").stat().st_size > 0
    targets = sorted((dbt_state / "target").iterdir(), key=lambda p: p.stat().st_mtime)
    names = [p.name for p in targets]
    assert any(n.startswith("traceloom_dbt_daily_models-") for n in names), names
    first = targets[0]
    assert first.name.startswith("traceloom_dbt_models-"), names
    for target in (first, next(p for p in targets if "daily" in p.name)):
        log = "".join(p.read_text(errors="replace") for p in target.glob("dbt.log*"))
        assert "Partial parsing enabled" in log, target.name
        assert "Unable to do partial parsing" not in log, target.name
        assert "Starting full parse" not in log, target.name


def test_marts_carry_their_documentation_and_no_dbt_leftovers(world):
    """Every mart and every mart column has its dbt description as a comment in the lake (what
    a BI tool shows), and no ``__dbt_backup``/``__dbt_tmp`` relation is left after two runs."""
    con = world["con"]
    tables = con.execute(
        "select count(*), count(comment) from duckdb_tables() "
        "where database_name = 'lake' and schema_name = 'marts'"
    ).fetchall()[0]
    columns = con.execute(
        "select count(*), count(comment) from duckdb_columns() "
        "where database_name = 'lake' and schema_name = 'marts'"
    ).fetchall()[0]
    assert tables[0] >= 20 and tables == (tables[0], tables[0]), tables
    assert columns[0] > 200 and columns == (columns[0], columns[0]), columns
    (comment,) = con.execute(
        "select comment from duckdb_columns() where database_name = 'lake' "
        "and table_name = 'fct_production_daily' and column_name = 'oee'"
    ).fetchall()[0]
    assert "oee" in comment.lower() or "availability" in comment.lower(), comment
    leftovers = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = "
        "'lake' and (table_name like '%\\_\\_dbt\\_backup' escape '\\' "
        "or table_name like '%\\_\\_dbt\\_tmp%' escape '\\')"
    ).fetchall()
    assert leftovers == []


def test_answer_key_on_disk_is_the_one_returned(world):
    on_disk = json.loads((world["dir"] / "demo" / "answer_key.json").read_text())
    assert on_disk == json.loads(json.dumps(world["key"]))


def _plan(world) -> RunPlan:
    return plan_run(world["instance"], defs, main_job.selection, world["dir"])


def test_after_a_run_nothing_is_due(world):
    """Issue #11: after a run (and a rerun that landed nothing) no asset is due: the landing
    and audit assets version their data by the lake's row statistics, so re-materializing
    them with nothing new leaves every model built from the same data."""
    plan = _plan(world)
    assert plan.selection == frozenset() and plan.reasons == {}, plan.describe()
    assert plan.job_assets > 100


def test_a_new_mes_file_runs_its_source_and_what_it_reaches_only(world):
    """`traceloom run --no-demo` after one new production-count file: the run plan names that
    file's source alone; the run lands it and builds only what reads it (no other source is
    landed, no other source's model rebuilt); the new units reach the daily production mart;
    afterwards nothing is due; and a run with nothing new launches no run at all. Runs after
    the tests reading the world as the answer key states it (it adds records)."""
    data_dir, instance = world["dir"], world["instance"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    delta = write_mes_delta(data_dir / "landing", 40, today)
    tenant = delta.relative_to(data_dir / "landing").parts[0]
    records = [json.loads(line) for line in delta.read_text().splitlines()]
    production_counts = dg.AssetKey(["raw", "mes", "production_counts"])

    plan = _plan(world)
    assert plan.reasons == {production_counts: "1 new file"}, plan.describe()
    assert {k for k in plan.selection if k.path[0] == "raw" and k.path[1] != "audit"} == {
        production_counts
    }
    assert dg.AssetKey(["marts", "fct_production_daily"]) in plan.selection
    assert dg.AssetKey(["staging", "stg_erp__purchase_orders"]) not in plan.selection
    runs_before = {r.run_id for r in instance.get_runs()}

    env = {**os.environ, "DAGSTER_HOME": str(world["dagster_home"])}
    command = [str(VENV_BIN / "traceloom"), "--data-dir", str(data_dir), "run", "--no-demo"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "due: raw/mes/production_counts (1 new file)" in done.stderr, done.stderr[-3000:]
    (run,) = [r for r in instance.get_runs() if r.run_id not in runs_before]
    materialized = {
        e.dagster_event.asset_key
        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    }
    assert production_counts in materialized and materialized <= plan.selection
    assert dg.AssetKey(["marts", "fct_production_daily"]) in materialized

    con = connect(data_dir, read_only=True)
    try:
        units = con.execute(
            "select sum(units_produced) from marts.fct_production_daily "
            "where tenant_id = ? and production_date = ?",
            [tenant, today.date()],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert units == sum(r["units_produced"] for r in records)

    after = _plan(world)
    assert after.selection == frozenset(), after.describe()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "nothing new since the last run: no run launched" in again.stdout
    assert len(instance.get_runs()) == len(runs_before) + 1


# Runs last in this module: it breaks a staging rule on purpose.
def test_a_failing_error_severity_dbt_test_blocks_downstream(world):
    """A MES status outside the contract slipped into raw (e.g. a manual fix): the dbt test on
    `stg_mes__machine_status.mes_status` (severity error) fails as an ERROR asset check, dbt
    skips the models downstream of it, and neither they nor the Parquet export materialize."""
    world["con"].close()
    path = world["dir"]
    con = connect(path)
    con.execute(
        "update raw.mes__machine_status set \"CurrentStatus\" = 'Exploded' where rowid = "
        "(select min(rowid) from raw.mes__machine_status)"
    )
    con.close()
    # What reads the broken table, and one unrelated mart (not the 150 assets of the job).
    selection = dg.AssetSelection.assets(
        dg.AssetKey(["staging", "stg_mes__machine_status"])
    ).downstream() | dg.AssetSelection.assets(dg.AssetKey(["marts", "fct_purchase_orders"]))
    try:
        result = materialize_main_job(world["dir"], selection=selection)
        assert not result.success
        failed_checks = [
            e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
        ]
        (check,) = [c for c in failed_checks if c.asset_key.path[-1] == "stg_mes__machine_status"]
        assert check.severity == dg.AssetCheckSeverity.ERROR
        assert "accepted_values" in check.check_name
        materialized = {
            e.asset_key.path[-1]
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        }
        assert "stg_mes__machine_status" in materialized  # the view itself was built
        assert not {"int_machine_status_latest", "dim_machines"} & materialized
        assert "marts_parquet" not in materialized
        assert "fct_purchase_orders" in materialized  # unrelated branches still build
    finally:
        world["con"] = connect(path, read_only=True)


def test_a_null_in_a_required_mart_column_fails_its_build_and_keeps_the_mart(world):
    """`fct_purchase_orders.po_status` is required by a `not_null` constraint of the mart's
    contract (no data test): when its upstream yields a null there, the lake refuses the
    insert, the dbt step fails naming the constraint, and the mart BI reads still holds every
    row of its last good build."""
    world["con"].close()
    path = world["dir"]
    view = "intermediate.int_purchase_orders_unioned"
    con = connect(path)
    (definition,) = con.execute(
        "select sql from duckdb_views() where schema_name = 'intermediate' "
        "and view_name = 'int_purchase_orders_unioned'"
    ).fetchone()
    kept = con.execute("select * from marts.fct_purchase_orders order by all").fetchall()
    select = definition.split(" AS ", 1)[1].rstrip().rstrip(";")
    con.execute(
        f"create or replace view {view} as select * replace (case when po_id = "
        f"(select min(po_id) from ({select})) then null else po_status end as po_status) "
        f"from ({select})"
    )
    con.close()
    try:
        result = materialize_main_job(
            path,
            selection=dg.AssetSelection.assets(dg.AssetKey(["marts", "fct_purchase_orders"])),
        )
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "NOT NULL constraint failed: " in str(failure.event_specific_data.error), failure
        con = connect(path, read_only=True)
        assert (
            con.execute("select * from marts.fct_purchase_orders order by all").fetchall() == kept
        )
        con.close()
    finally:
        con = connect(path)
        con.execute(definition.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
        con.close()
        world["con"] = connect(path, read_only=True)
