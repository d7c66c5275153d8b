"""The traceloom console script's first contact: help, argument checks and a data directory that
cannot be used fail at once with a plain message, before anything is generated or run."""

import time

import pytest

from traceloom_pipelines.cli import main


def test_help_lists_every_command_without_markup(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "`" not in text
    for command in ("demo generate", "demo serve", "run", "sql", "summary", "contracts"):
        assert f"traceloom {command}" in text


@pytest.mark.parametrize("scale", ["-1", "0", "nan", "lots"])
def test_a_scale_that_is_not_positive_is_refused_and_writes_nothing(tmp_path, capsys, scale):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path / "data"), "demo", "generate", "--scale", scale])
    assert exit_info.value.code == 2
    assert "--scale" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_a_data_directory_that_cannot_be_created_fails_at_once_with_the_reason(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    started = time.monotonic()
    assert main(["--data-dir", str(blocker / "data"), "run"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "cannot create the data directory" in err and str(blocker / "data") in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("select", "reason"),
    [('key:"nowhere/*"', "picks none of the main job's assets"), ("key:(", "--select")],
)
def test_a_selection_that_picks_nothing_is_refused_before_anything_is_generated(
    tmp_path, capsys, monkeypatch, select, reason
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["--data-dir", str(tmp_path / "data"), "run", "--select", select]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err, err
    assert not (tmp_path / "data" / "landing").exists()


def test_a_selection_is_the_main_jobs_assets_it_picks():
    import dagster as dg

    from traceloom_pipelines.cli import main_job_selection
    from traceloom_pipelines.definitions import defs
    from traceloom_pipelines.jobs import main_job

    graph = defs.resolve_asset_graph()
    landing = main_job_selection(defs, main_job.selection, 'key:"raw/*"').resolve(graph)
    assert landing and {key.path[0] for key in landing} == {"raw"}
    assert landing < main_job.selection.resolve(graph)
    one_mart = main_job_selection(defs, main_job.selection, '+key:"marts/fct_work_orders"')
    keys = one_mart.resolve(graph)
    assert dg.AssetKey(["marts", "fct_work_orders"]) in keys
    assert dg.AssetKey(["marts", "fct_production_daily"]) not in keys
    assert main_job_selection(defs, main_job.selection, None) is main_job.selection


def test_a_small_run_executes_in_its_own_process_and_the_whole_job_side_by_side():
    import dagster as dg

    from traceloom_pipelines.cli import IN_PROCESS_MAX_STEPS, execution_run_config
    from traceloom_pipelines.definitions import defs
    from traceloom_pipelines.executors import IN_PROCESS_RUN_CONFIG
    from traceloom_pipelines.jobs import main_job

    graph = defs.resolve_asset_graph()
    whole = main_job.selection.resolve(graph)
    assert execution_run_config(defs, whole) == {}  # the definitions' default: multiprocess
    assert execution_run_config(defs, whole, serial=True) == IN_PROCESS_RUN_CONFIG
    # a MES delta: its landing and everything it reaches (dbt models, the daily models, the
    # integration audit, the export and the report: 6 steps)
    delta = (
        dg.AssetSelection.assets(dg.AssetKey(["raw", "mes", "production_counts"]))
        .required_multi_asset_neighbors()
        .downstream()
        .resolve(graph)
    ) & whole
    assert len({id(graph.get(k).assets_def) for k in delta}) == 6
    assert execution_run_config(defs, delta) == IN_PROCESS_RUN_CONFIG
    steps = {id(graph.get(k).assets_def) for k in whole}
    assert len(steps) > IN_PROCESS_MAX_STEPS
