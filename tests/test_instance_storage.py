"""The embedded instance's storage (dagster.yaml): Dagster's SQLite files, one engine per file,
connections kept open with ``synchronous=NORMAL``, nothing carried across a fork."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from traceloom_pipelines import instance_storage
from traceloom_pipelines.resources import PROJECT_ROOT

STOCK = "storage:\n  sqlite:\n    base_dir: {home}\n"


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset_check(asset=counted)
def counted_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _materialize(home: Path) -> str:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([counted, counted_is_positive], instance=instance)
        assert result.success
        return result.run_id


def _history(home: Path) -> tuple[set[str], list[int]]:
    """Run ids and the ``rows`` metadata of every materialization of ``counted``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {r.run_id for r in instance.get_runs()}
        records = instance.fetch_materializations(counted.key, limit=10).records
        return runs, [r.asset_materialization.metadata["rows"].value for r in records]


def test_the_project_instance_and_dagsters_stock_sqlite_storage_read_each_others_runs(
    tmp_path, monkeypatch
):
    ours, stock = tmp_path / "ours", tmp_path / "stock"
    monkeypatch.setenv("DAGSTER_HOME", str(ours))  # dagster.yaml: base_dir from the environment
    ours.mkdir()
    stock.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", ours / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(ours)) as instance:
        storages = (instance.run_storage, instance.event_log_storage)
        assert [type(s).__name__ for s in storages] == [
            "TraceloomSqliteRunStorage",
            "TraceloomSqliteEventLogStorage",
        ]
    first = _materialize(ours)
    # the same folder opened with `storage: sqlite:` sees that run, and adds one ...
    (stock / "dagster.yaml").write_text(STOCK.format(home=ours))
    second = _materialize(stock)
    # ... which the project's storage reads back: same files, same tables
    assert _history(ours) == ({first, second}, [3, 3])
    assert _history(stock) == ({first, second}, [3, 3])


def test_a_run_reuses_one_engine_per_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    before = set(instance_storage._ENGINES._engines)
    run_id = _materialize(tmp_path)
    files = {key.rsplit("/", 1)[-1] for key in set(instance_storage._ENGINES._engines) - before}
    # the run's event log, the event index, the run and schedule storages: tens of events and
    # queries, one engine each
    assert files == {f"{run_id}.db", "index.db", "runs.db", "schedules.db"}
    # each engine keeps its connection open, committing without an fsync per event
    engine = instance_storage._ENGINES._engines[
        next(k for k in instance_storage._ENGINES._engines if k.endswith(f"{run_id}.db"))
    ]
    assert engine.pool.checkedin() >= 1, "the run's connection was closed after use"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"


def test_a_forked_process_starts_without_the_parents_engines(tmp_path, monkeypatch):
    """The multiprocess executor forks its steps: a child must open its own connections."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    _materialize(tmp_path)
    assert instance_storage._ENGINES._engines
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many engines it inherited, then a run of its own
        try:
            inherited = len(instance_storage._ENGINES._engines)
            _materialize(tmp_path)
            os.write(write, f"{inherited} ok".encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "0 ok"
    assert status == 0
    # the parent's connections still work after the child ran and exited
    runs, _ = _history(tmp_path)
    assert len(runs) == 2
