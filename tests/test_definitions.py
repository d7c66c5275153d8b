"""The Dagster definitions load and the graph is wired as the warehouse is."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest

from traceloom_pipelines import ownership, partitions
from traceloom_pipelines.bi import MARTS
from traceloom_pipelines.cadence import CADENCES, freshness_policy
from traceloom_pipelines.dbt import MANIFEST, TRANSLATOR, dbt_project
from traceloom_pipelines.definitions import MAIN_JOB, defs
from traceloom_pipelines.reconciliation.assets import REPORT_MARTS
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.catalog import (
    README_END,
    README_START,
    all_entities,
    contract_markdown,
)


def test_definitions_load_with_the_main_job():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(MAIN_JOB) is not None


def test_every_dbt_source_is_an_ingestion_asset_and_every_entity_is_a_source():
    graph = defs.resolve_asset_graph()
    manifest = json.loads(dbt_project.manifest_path.read_text())
    # every source is an ingestion asset, identity resolution's master_data tables its asset
    source_keys = {TRANSLATOR.get_asset_key(s) for s in manifest["sources"].values()}
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert source_keys <= materializable, source_keys - materializable
    entity_keys = {dg.AssetKey(["raw", e.system, e.entity]) for e in all_entities()}
    assert entity_keys <= source_keys, entity_keys - source_keys


def test_every_model_is_downstream_of_what_it_reads_and_marts_feed_the_bi_export():
    graph = defs.resolve_asset_graph()
    assert (
        dg.AssetKey(["raw", "erp", "work_orders"])
        in graph.get(dg.AssetKey(["staging", "stg_erp__work_orders"])).parent_keys
    )
    bi_parents = graph.get(dg.AssetKey(["bi", "marts_parquet"])).parent_keys
    for mart in ("fct_purchase_orders", "fct_work_orders", "rpt_work_order_reconciliation_daily"):
        assert dg.AssetKey(["marts", mart]) in bi_parents


def test_ingestion_assets_carry_contract_and_balance_checks():
    graph = defs.resolve_asset_graph()
    check_keys = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    for entity in all_entities():
        key = dg.AssetKey(["raw", entity.system, entity.entity])
        assert (key, "pandera_contract") in check_keys
        assert (key, "rows_accounted_for") in check_keys


def test_pulled_ingestion_assets_carry_non_blocking_pull_and_auth_checks():
    graph = defs.resolve_asset_graph()
    pulled = set()
    for entity in all_entities():
        key = dg.AssetKey(["raw", entity.system, entity.entity])
        has_puller = bool(defs.resolve_assets_def(key).op.required_resource_keys - {"warehouse"})
        for check_name in ("source_pull_succeeded", "source_auth_not_escalated"):
            check_key = dg.AssetCheckKey(key, check_name)
            assert (check_key in graph.asset_check_keys) == has_puller, (key, check_name)
            if has_puller:
                pulled.add(key)
                assert not graph.get_check_spec(check_key).blocking
    assert dg.AssetKey(["raw", "hr", "shift_schedules"]) in pulled
    assert dg.AssetKey(["raw", "dagster", "run_failures"]) not in pulled


def test_readme_contract_section_is_generated_from_the_code():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split(README_START, 1)[1].split(README_END, 1)[0]
    assert section.strip() == contract_markdown().strip(), (
        "README contract section is stale: run `traceloom contracts --write-readme`"
    )


# --- exposures: one per BI output, owned and wired as the Dagster asset that builds it --------

EXPOSURE_ASSETS = {
    "marts_parquet_export": dg.AssetKey(["bi", "marts_parquet"]),
    "nightly_reconciliation_report": dg.AssetKey(["reports", "nightly_reconciliation"]),
}
# What the report reads besides its marts: the work orders' histories (reconciliation/render.py).
REPORT_SOURCES = {"erp.work_orders", "mes.work_orders", "mes.production_counts"}


def _exposure(name: str) -> dict:
    return MANIFEST["exposures"][f"exposure.traceloom.{name}"]


def _exposure_reads(exposure: dict) -> tuple[set[str], set[str]]:
    """(model names, ``<source>.<table>``) the exposure depends on."""
    models, sources = set(), set()
    for unique_id in exposure["depends_on"]["nodes"]:
        kind, _, *rest = unique_id.split(".")
        (models if kind == "model" else sources).add(".".join(rest))
    return models, sources


def test_every_bi_output_is_a_dbt_exposure_with_the_owner_of_its_asset():
    # the Superset dashboards are exposures without an asset (tests/bi/test_superset.py)
    names = {e["name"] for e in MANIFEST["exposures"].values() if e["type"] != "dashboard"}
    assert names == set(EXPOSURE_ASSETS)
    graph = defs.resolve_asset_graph()
    for name, key in EXPOSURE_ASSETS.items():
        exposure = _exposure(name)
        assert exposure["meta"]["dagster_asset_key"] == key.to_user_string()
        node = graph.get(key)
        assert (
            exposure["owner"]["name"] == ownership.owners_of(node.group_name)[0] == node.owners[0]
        )
        assert exposure["description"] and exposure["type"] and exposure["maturity"] == "high"


def test_exposures_depend_on_exactly_what_their_assets_read():
    models, sources = _exposure_reads(_exposure("marts_parquet_export"))
    assert models == {name for _, name in MARTS} and not sources
    models, sources = _exposure_reads(_exposure("nightly_reconciliation_report"))
    assert models == set(REPORT_MARTS) and sources == REPORT_SOURCES


def test_exposures_add_no_asset_beside_the_python_assets():
    """dagster-dbt makes no asset of an exposure: each key is the Python asset, once."""
    keys = [spec.key for assets_def in defs.assets for spec in assets_def.specs]
    for key in EXPOSURE_ASSETS.values():
        assert keys.count(key) == 1
    assert not [k for k in keys if "exposure" in k.to_user_string()]


# --- daily partitions: one first day, for Dagster and dbt -------------------------------------

BEGIN = "env_var('TRACELOOM_PARTITIONS_START', var('daily_partitions_start'))"


def _daily_models() -> list[dict]:
    return [
        node
        for node in MANIFEST["nodes"].values()
        if node["resource_type"] == "model" and "daily" in node["tags"]
    ]


def test_partitions_start_defaults_to_the_dbt_var_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(partitions.PARTITIONS_START_ENV, raising=False)
    default = partitions.partitions_start()
    assert default == partitions.default_partitions_start() == "2026-10-01"
    monkeypatch.setenv(partitions.PARTITIONS_START_ENV, "2026-11-15")
    assert partitions.partitions_start() == "2026-11-15"
    for wrong in ("", "2026-11", "15/11/2026", "2026-1-5", "2026-02-30"):
        monkeypatch.setenv(partitions.PARTITIONS_START_ENV, wrong)
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            partitions.partitions_start()


def test_the_partitions_definition_loads_its_first_day_from_the_environment():
    """A fresh interpreter (the definitions read the day once, when they load)."""
    code = (
        "from traceloom_pipelines.partitions import daily_partitions as p, window_tags as w;"
        "import datetime as d;"
        "print(p.start.date(), w(d.date(2026, 1, 1), d.date(2026, 12, 1))"
        "['dagster/asset_partition_range_start'])"
    )
    env = {**os.environ, partitions.PARTITIONS_START_ENV: "2026-11-15"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["2026-11-15", "2026-11-15"]


def test_the_daily_marts_replace_their_window_and_start_on_the_first_dagster_partition():
    models = _daily_models()
    assert {m["name"] for m in models} >= {
        "fct_production_daily",
        "fct_labor_hours",
        "rpt_work_order_reconciliation_daily",
        "rpt_reconciliation_daily_totals",
    }
    # Each replaces the days of its window (macros/daily_window.sql) on its own day column...
    for model in models:
        config = model["config"]
        assert config["materialized"] == "incremental", model["name"]
        assert config["incremental_strategy"] == "daily_window", model["name"]
        assert config["event_time"] in model["columns"], model["name"]
        assert "in_daily_window" in model["raw_code"], model["name"]
    # ...and, built without a window, starts where partitions.py does (env, then var).
    macro = MANIFEST["macros"]["macro.traceloom.daily_window_bounds"]["macro_sql"]
    assert BEGIN in macro
    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey(["marts", "fct_production_daily"])).partitions_def
    assert daily.start == partitions.daily_partitions.start


def test_the_demo_worlds_days_are_all_partitions():
    """The first day lies before the start of `make run`'s 45-day window: every day the demo
    world holds is a partition (the default is a fixed date; see dbt_project.yml)."""
    today = datetime.now(UTC).date()
    start = partitions.daily_partitions.start.date()
    assert (today - start).days >= 45


# --- no duplicate marts -------------------------------------------------------------------------


def test_no_two_marts_share_their_sql_and_the_undated_reconciliation_mart_is_gone():
    models = [n for n in MANIFEST["nodes"].values() if n["resource_type"] == "model"]
    names = {m["name"] for m in models}
    assert "rpt_work_order_reconciliation" not in names
    assert {
        "rpt_work_order_reconciliation_daily",
        "int_work_order_discrepancies_classified",
    } <= names
    marts = [m for m in models if m["fqn"][1] == "marts"]
    bodies = [" ".join(m["raw_code"].split()) for m in marts]
    assert len(set(bodies)) == len(bodies)
    assert not (
        PROJECT_ROOT / "dbt_project/models/marts/production/rpt_work_order_reconciliation.sql"
    ).exists()


# --- source freshness: Dagster's, from the cadences; dbt declares none --------------------------


def test_freshness_is_declared_once_by_the_cadences_not_in_dbt_sources():
    for source in MANIFEST["sources"].values():
        freshness = source.get("freshness") or {}
        for bound in ("warn_after", "error_after"):
            assert not (freshness.get(bound) or {}).get("count"), source["unique_id"]
    graph = defs.resolve_asset_graph()
    for cadence in CADENCES:
        for entity in cadence.entities:
            system, name = entity.split("/")
            policy = graph.get(dg.AssetKey(["raw", system, name])).freshness_policy
            assert policy == freshness_policy(system, name), entity
