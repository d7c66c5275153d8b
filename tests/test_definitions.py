"""The Dagster definitions load and the graph is wired as the warehouse is."""

import json

import dagster as dg

from traceloom_pipelines.dbt import dbt_project
from traceloom_pipelines.definitions import MAIN_JOB, defs
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
    source_keys = {
        dg.AssetKey(["raw", s["source_name"], s["name"]]) for s in manifest["sources"].values()
    }
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
    for mart in ("fct_purchase_orders", "fct_work_orders", "rpt_work_order_reconciliation"):
        assert dg.AssetKey(["marts", mart]) in bi_parents


def test_ingestion_assets_carry_contract_and_balance_checks():
    graph = defs.resolve_asset_graph()
    check_keys = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    for entity in all_entities():
        key = dg.AssetKey(["raw", entity.system, entity.entity])
        assert (key, "pandera_contract") in check_keys
        assert (key, "rows_accounted_for") in check_keys


def test_pulled_ingestion_assets_carry_a_non_blocking_pull_check():
    graph = defs.resolve_asset_graph()
    pulled = set()
    for entity in all_entities():
        key = dg.AssetKey(["raw", entity.system, entity.entity])
        has_puller = bool(defs.resolve_assets_def(key).op.required_resource_keys - {"warehouse"})
        check_key = dg.AssetCheckKey(key, "source_pull_succeeded")
        assert (check_key in graph.asset_check_keys) == has_puller, key
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
