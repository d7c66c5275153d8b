"""The chaos table: what each fault scenario cost, one row per scenario (``make chaos``).

Tests marked ``@pytest.mark.chaos`` inject a fault into the real programs (kill -9 of a run, of
dbt, of an export, of a bridge or the gateway; poison files; a reader or a second run beside a
run) and take the ``chaos`` fixture. Each records what it measured with
:meth:`ChaosRecord.record` (or :meth:`ChaosRecord.compare`, which derives lost and duplicated
rows from row counts against a fault-free reference), before asserting on it, so the table shows
the numbers of a failing scenario too. Every cell should be 0:

- ``rows lost``: records that should have landed (or marts rows that should exist) and did not;
- ``rows duplicated``: records or rows present more often than a fault-free run has them;
- ``runs blocked``: runs (or the next run) that should have succeeded and did not, or waited on
  a dead run;
- ``marts stale``: marts that should have been rebuilt in the scenario and were not, or leftovers
  a reader could see (half-written exports);
- ``errors``: reads or writes refused beside the fault (a BI reader's failed queries).

At the end of any pytest session that ran a chaos test (``make chaos``, ``make test``) the table
is printed, and the session fails if a cell is not 0 or a chaos test recorded nothing. Records
travel from pytest-xdist workers to the controller as JSON lines in a folder the controller makes
(``TRACELOOM_CHAOS_RESULTS``, inherited by the workers).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

RESULTS_ENV = "TRACELOOM_CHAOS_RESULTS"
COLUMNS = ("rows lost", "rows duplicated", "runs blocked", "marts stale", "errors")
MARKER = "chaos"


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


@dataclass
class ChaosRecord:
    """The recorder a chaos test gets: one scenario per call, appended to this worker's file."""

    nodeid: str
    folder: Path

    def record(
        self,
        scenario: str,
        *,
        lost: int = 0,
        duplicated: int = 0,
        blocked: int = 0,
        stale: int = 0,
        errors: int = 0,
        detail: str = "",
    ) -> None:
        """Append one row: ``scenario`` (a short phrase), its counts (each an int ≥ 0) and a
        ``detail`` shown beside the test's outcome (e.g. how many reads or messages)."""
        row = {
            "scenario": scenario,
            "test": self.nodeid,
            "cells": dict(zip(COLUMNS, (lost, duplicated, blocked, stale, errors), strict=True)),
            "detail": detail,
        }
        with (self.folder / f"{os.getpid()}.jsonl").open("a") as out:
            out.write(json.dumps(row) + "\n")

    def compare(
        self,
        scenario: str,
        got: Mapping[str, int],
        want: Mapping[str, int],
        **cells: int,
    ) -> tuple[int, int]:
        """Record ``scenario`` with rows lost and duplicated derived from row counts per table:
        lost = Σ max(0, want − got), duplicated = Σ max(0, got − want) over the tables of both
        (a table missing on one side counts 0 there). ``cells`` are the other columns
        (``blocked``, ``stale``, ``errors``, ``detail``). Returns (lost, duplicated)."""
        tables = set(got) | set(want)
        lost = sum(max(0, want.get(t, 0) - got.get(t, 0)) for t in tables)
        duplicated = sum(max(0, got.get(t, 0) - want.get(t, 0)) for t in tables)
        self.record(scenario, lost=lost, duplicated=duplicated, **cells)
        return lost, duplicated


def _folder() -> Path | None:
    value = os.environ.get(RESULTS_ENV)
    return Path(value) if value else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: a fault scenario that records a row of the chaos table (tests/chaos.py)",
    )
    if _is_controller(config) and RESULTS_ENV not in os.environ:
        # xdist starts its workers after this, with this environment
        os.environ[RESULTS_ENV] = tempfile.mkdtemp(prefix="traceloom-chaos-")


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> ChaosRecord:
    """The chaos table's recorder for this test (which must be marked ``chaos``)."""
    assert request.node.get_closest_marker(MARKER), "a test that records chaos is marked chaos"
    folder = _folder()
    assert folder is not None, f"{RESULTS_ENV} is set by tests/chaos.py's pytest_configure"
    return ChaosRecord(request.node.nodeid, folder)


# chaos test node id -> its outcome, filled in the controller from every worker's reports
_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember each chaos test's outcome: its call's, or that of a setup or teardown that did not
    pass."""
    if MARKER in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _OUTCOMES[report.nodeid] = report.outcome


def _rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["scenario"])


def table(rows: list[dict], outcomes: Mapping[str, str]) -> tuple[list[str], bool]:
    """The chaos table as text lines, and whether it is clean: every cell 0, and every chaos test
    that ran recorded at least one row."""
    recorded = {r["test"] for r in rows}
    width = max([len("scenario"), *(len(r["scenario"]) for r in rows)])
    lines = [
        f"{'scenario':<{width}} | " + " | ".join(COLUMNS) + " | test",
        "-" * width + "-+-" + "-+-".join("-" * len(c) for c in COLUMNS) + "-+-----",
    ]
    clean = True
    for r in rows:
        cells = [r["cells"][c] for c in COLUMNS]
        clean &= not any(cells)
        outcome = outcomes.get(r["test"], "?") + (f" ({r['detail']})" if r.get("detail") else "")
        lines.append(
            f"{r['scenario']:<{width}} | "
            + " | ".join(f"{v:>{len(c)}}" for v, c in zip(cells, COLUMNS, strict=True))
            + f" | {outcome}"
        )
    for test, outcome in sorted(outcomes.items()):
        if test not in recorded:
            clean = False
            lines.append(f"{'(no row recorded)':<{width}} | {test} {outcome}")
    return lines, clean


_TABLE: list[tuple[list[str], bool]] = []  # the session's table, built once in the controller


def _session_table(config: pytest.Config) -> tuple[list[str], bool] | None:
    """The table of this session (built on first use), or None outside the controller or when
    no chaos test ran."""
    folder = _folder()
    if not _is_controller(config) or folder is None:
        return None
    if not _TABLE and (_OUTCOMES or any(folder.glob("*"))):
        _TABLE.append(table(_rows(folder), _OUTCOMES))
    return _TABLE[0] if _TABLE else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    built = _session_table(session.config)
    if built is not None and not built[1] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    built = _session_table(config)
    if built is None:
        return
    lines, clean = built
    terminalreporter.section("chaos table (tests/chaos.py): every cell should be 0")
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line("chaos: clean" if clean else "chaos: NOT CLEAN")
