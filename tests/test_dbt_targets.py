"""dbt invocations of one data directory share dbt's partial parse and keep few target folders."""

from __future__ import annotations

import os

from traceloom_pipelines import dbt_targets


def test_a_new_target_starts_from_the_last_parse_and_hands_its_own_back(tmp_path):
    first = dbt_targets.new_target(tmp_path, "traceloom_dbt_models-abc1234")
    assert first.parent == tmp_path / "dbt" / "target"
    assert list(first.iterdir()) == []  # nothing saved yet: dbt parses from scratch
    (first / dbt_targets.PARTIAL_PARSE).write_bytes(b"parse of run 1")
    dbt_targets.keep_partial_parse(first)
    second = dbt_targets.new_target(tmp_path, "traceloom_dbt_models-def5678")
    assert (second / dbt_targets.PARTIAL_PARSE).read_bytes() == b"parse of run 1"
    (second / dbt_targets.PARTIAL_PARSE).write_bytes(b"parse of run 2")
    dbt_targets.keep_partial_parse(second)
    assert (tmp_path / "dbt" / dbt_targets.PARTIAL_PARSE).read_bytes() == b"parse of run 2"
    assert [p.name for p in (tmp_path / "dbt").iterdir() if p.name.startswith(".")] == []


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
