"""The main job's assets materialized in the test process, as the end-to-end tests run them, and
the demo world they share.

``main_job_world`` (session-scoped) generates the demo world of seed 11 at scale 0.002 with the
public port samples and runs the main job on it once, on a Dagster instance on disk configured
as the project's (:func:`write_instance_config`: the storage `make run` uses). Test
modules never touch it: each takes its own copy (:func:`copy_built_world`: data directory and
instance), so one module's changes to the lake never reach another's. tests/conftest.py keeps
the modules that use it in one unit of distribution, so one worker builds it once for all.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from traceloom_pipelines.cli import install_public_samples
from traceloom_pipelines.dbt import dbt_resource
from traceloom_pipelines.definitions import defs
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.maintenance import lake_maintenance
from traceloom_pipelines.partitions import main_run_tags
from traceloom_pipelines.resources import PROJECT_ROOT, WarehouseResource

SEED = 11
SCALE = 0.002


def materialize_main_job(
    data_dir: Path,
    instance: dg.DagsterInstance | None = None,
    selection: dg.AssetSelection | None = None,
) -> dg.ExecuteInProcessResult:
    """Every asset of the main job (lake maintenance left out), or those of ``selection``, on
    ``data_dir``'s embedded lake, in this process, with the main run's tags, on ``instance``
    (default: an ephemeral one); failures are in the result, not raised."""
    return dg.materialize(
        [a for a in defs.assets if lake_maintenance.key not in a.keys],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "dbt": dbt_resource(),
        },
        raise_on_error=False,
        tags=main_run_tags(),
        instance=instance,
        selection=selection,
    )


def write_instance_config(home: Path) -> Path:
    """Write ``home/dagster.yaml``: the project's ``dagster.yaml`` (the embedded instance `make
    run` uses: its SQLite storage, run queue, pools) with the storage's ``base_dir`` set to
    ``home`` itself instead of ``$DAGSTER_HOME``, so the instance opens the same from any
    process and environment (``DagsterInstance.local_temp`` / ``from_config`` on ``home``).
    Returns ``home``."""
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    config["storage"]["custom"]["config"]["base_dir"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


@dataclass(frozen=True)
class BuiltWorld:
    """The demo world after one main job: ``data_dir`` (landing, lake, marts, reports),
    ``dagster_home`` (the instance that recorded the run), the world's answer ``key`` and the
    run's ``result`` (its events in memory)."""

    data_dir: Path
    dagster_home: Path
    key: dict
    result: dg.ExecuteInProcessResult


@dataclass(frozen=True)
class WorldCopy:
    """A module's own copy of a :class:`BuiltWorld`: its data directory and instance home."""

    data_dir: Path
    dagster_home: Path


@pytest.fixture(scope="session")
def main_job_world(tmp_path_factory) -> BuiltWorld:
    """The shared world (module docstring), built on first use; read it only through a copy."""
    root = tmp_path_factory.mktemp("main_job_world")
    data_dir, dagster_home = root / "data", root / "dagster_home"
    key = generate_world(
        data_dir / "landing", data_dir / "demo" / "answer_key.json", seed=SEED, scale=SCALE
    )
    install_public_samples(data_dir)
    with dg.DagsterInstance.local_temp(str(write_instance_config(dagster_home))) as instance:
        result = materialize_main_job(data_dir, instance)
    return BuiltWorld(data_dir=data_dir, dagster_home=dagster_home, key=key, result=result)


def copy_built_world(world: BuiltWorld, destination: Path) -> WorldCopy:
    """Copy ``world``'s data directory and instance home under ``destination`` (a new folder).

    The lake's catalog holds data file paths relative to its data path, which the copy attaches
    as its own, so the copy reads and writes only its own files; the copy's instance config
    names the copy's home (:func:`write_instance_config`).
    """
    copy = WorldCopy(data_dir=destination / "data", dagster_home=destination / "dagster_home")
    shutil.copytree(world.data_dir, copy.data_dir, symlinks=True)
    shutil.copytree(world.dagster_home, copy.dagster_home, symlinks=True)
    write_instance_config(copy.dagster_home)
    return copy
