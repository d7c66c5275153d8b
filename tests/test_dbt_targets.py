"""dbt invocations of one data directory share dbt's partial parse and keep few target folders;
the dbt resource starts dbt without dagster-dbt's version probe and adapter."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from traceloom_pipelines import dbt_targets
from traceloom_pipelines.dbt import (
    COLUMN_SCHEMA,
    COUNTED_TABLES,
    MODEL_RELATIONS,
    ROW_COUNT,
    _with_lake_metadata,
    dbt_executable,
    dbt_resource,
)
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource


def test_the_dbt_resource_knows_the_version_dbt_reports_and_builds_no_adapter():
    # the dagster-dbt hooks TraceloomDbtCliResource replaces exist in the installed release
    assert {"_cli_version", "_initialize_dbt_core_adapter"} <= set(vars(DbtCliResource))
    reported = subprocess.check_output([dbt_executable(), "--version"], text=True)
    core = re.search(r"(\d+\.\d+\.\d+)", reported).group(1)
    resource = dbt_resource()
    assert resource._cli_version == version.parse(core)
    assert resource._cli_version.major < 2  # dbt Core: dagster-dbt streams its JSON logs
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_a_table_that_cannot_be_counted_passes_through_without_a_count(tmp_path, capfd):
    connect(tmp_path).close()  # a new, empty lake: no model's table, counting one fails
    unique_id = next(iter(COUNTED_TABLES))
    built = dg.Output(None, output_name="m", metadata={"unique_id": unique_id})
    context = dg.build_asset_context(
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))}
    )
    (event,) = _with_lake_metadata(iter([built]), context)
    assert event.metadata["unique_id"].value == unique_id
    assert ROW_COUNT not in event.metadata and COLUMN_SCHEMA not in event.metadata
    schema, name, _ = MODEL_RELATIONS[unique_id]
    logged = capfd.readouterr().err
    assert f"WARNING - system - no row count or columns for {schema}.{name}" in logged


def test_a_new_target_starts_from_the_last_parse_and_hands_its_own_back(tmp_path, monkeypatch):
    monkeypatch.setattr(dbt_targets, "BUILD_PARSE", tmp_path / "build" / dbt_targets.PARTIAL_PARSE)
    data_dir = tmp_path / "data"
    first = dbt_targets.new_target(data_dir, "traceloom_dbt_models-abc1234")
    assert first.parent == data_dir / "dbt" / "target"
    assert list(first.iterdir()) == []  # no parse saved, none from the build: dbt parses in full
    dbt_targets.BUILD_PARSE.parent.mkdir()
    dbt_targets.BUILD_PARSE.write_bytes(b"parse of the build")
    first = dbt_targets.new_target(data_dir, "traceloom_dbt_models-abc1234")
    assert (first / dbt_targets.PARTIAL_PARSE).read_bytes() == b"parse of the build"
    (first / dbt_targets.PARTIAL_PARSE).write_bytes(b"parse of run 1")
    dbt_targets.keep_partial_parse(first)
    second = dbt_targets.new_target(data_dir, "traceloom_dbt_models-def5678")
    assert (second / dbt_targets.PARTIAL_PARSE).read_bytes() == b"parse of run 1"
    (second / dbt_targets.PARTIAL_PARSE).write_bytes(b"parse of run 2")
    dbt_targets.keep_partial_parse(second)
    assert (data_dir / "dbt" / dbt_targets.PARTIAL_PARSE).read_bytes() == b"parse of run 2"
    assert [p.name for p in (data_dir / "dbt").iterdir() if p.name.startswith(".")] == []


def test_an_invocation_that_left_no_parse_keeps_the_last_one(tmp_path):
    first = dbt_targets.new_target(tmp_path, "a")
    (first / dbt_targets.PARTIAL_PARSE).write_bytes(b"good parse")
    dbt_targets.keep_partial_parse(first)
    killed = dbt_targets.new_target(tmp_path, "b")
    (killed / dbt_targets.PARTIAL_PARSE).unlink()  # dbt died before writing it
    dbt_targets.keep_partial_parse(killed)
    assert (tmp_path / "dbt" / dbt_targets.PARTIAL_PARSE).read_bytes() == b"good parse"


def test_only_the_newest_target_folders_are_kept(tmp_path):
    folders = [dbt_targets.new_target(tmp_path, f"run{i}") for i in range(5)]
    for age, folder in enumerate(reversed(folders)):  # folders[0] is the oldest
        os.utime(folder, (1_000_000 - age * 100, 1_000_000 - age * 100))
    removed = dbt_targets.prune_targets(tmp_path, keep=2)
    assert sorted(removed) == sorted(folders[:3])
    assert sorted((tmp_path / "dbt" / "target").iterdir()) == sorted(folders[3:])


def test_traceloom_dbt_builds_the_data_directorys_lake_from_the_build_parse(tmp_path):
    """`traceloom dbt seed` on a new data directory: dbt writes that lake, starts from the
    build's parse (no full parse) in the pipeline's environment, keeps its artifacts and parse
    under the data directory and leaves the repository's ``dbt_project/target`` untouched (a
    test that once ran dbt there with another environment made every later new data directory
    parse in full)."""
    build_parse = dbt_targets.BUILD_PARSE.read_bytes()
    data_dir = tmp_path / "data"
    connect(data_dir).close()
    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "traceloom"),
            "--data-dir",
            str(data_dir),
            "dbt",
            "seed",
            "--select",
            "mes_machine_status_map",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (target,) = (data_dir / "dbt" / "target").iterdir()
    log = (target / "dbt.log").read_text()
    assert "Partial parsing enabled" in log and "Unable to do partial parsing" not in log
    assert (data_dir / "dbt" / dbt_targets.PARTIAL_PARSE).exists()
    assert dbt_targets.BUILD_PARSE.read_bytes() == build_parse
    con = connect(data_dir, read_only=True)
    try:
        (rows,) = con.execute("select count(*) from reference.mes_machine_status_map").fetchone()
        assert rows > 0
    finally:
        con.close()
