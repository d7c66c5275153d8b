"""The chaos table of tests/chaos.py: what it prints and when it calls a run clean."""

from tests.chaos import COLUMNS, table


def _row(scenario: str, test: str, **cells: int) -> dict:
    return {"scenario": scenario, "test": test, "cells": {c: 0 for c in COLUMNS} | cells}


def test_a_table_of_zeros_is_clean_and_shows_each_scenario_with_its_outcome():
    rows = [_row("kill -9 of a run", "t.py::a"), _row("poison files", "t.py::b")]
    lines, clean = table(rows, {"t.py::a": "passed", "t.py::b": "passed"})
    assert clean
    assert lines[0].split(" | ")[1:] == [*COLUMNS, "test"]
    assert [line.split(" | ")[0].strip() for line in lines[2:]] == [
        "kill -9 of a run",
        "poison files",
    ]
    assert all(line.endswith("| passed") for line in lines[2:])


def test_one_nonzero_cell_or_a_chaos_test_without_a_row_is_not_clean():
    lost = [_row("kill -9 of a run", "t.py::a", **{"rows lost": 3})]
    lines, clean = table(lost, {"t.py::a": "failed"})
    assert not clean
    assert lines[2].split(" | ")[1].strip() == "3"

    silent = [_row("kill -9 of a run", "t.py::a")]
    lines, clean = table(silent, {"t.py::a": "passed", "t.py::b": "failed"})
    assert not clean
    assert "t.py::b failed" in lines[-1]
