"""Daily partitions (UTC event date) of the event and fact marts, and the run tags that select a
window of them.

Landing is by arrival: a drop file is landed once (its ledger row makes a replay a no-op) and may
hold events of any day, so the ``raw`` assets are not partitioned. What grows by event day is
downstream: the dbt marts tagged ``daily`` (production per machine-day, labour hours, the nightly
reconciliation) are incremental on the same UTC days (``dbt_project/macros/daily_window.sql``),
and the report asset renders the
days of its window. Materializing partitions D1..Dn — a backfill from the UI, or a range run —
replaces exactly those days in those marts and leaves every other day untouched.

The first day is ``$TRACELOOM_PARTITIONS_START`` (``YYYY-MM-DD``), else ``daily_partitions_start``
in ``dbt_project/dbt_project.yml``. A daily mart built without a window starts on the same day
(``daily_window_bounds`` reads the same two, in the same order), and dbt runs with this process's
environment, so Dagster and dbt agree on it. It is a fixed date, read when the
definitions load: a partitions definition whose first day moved with the clock would drop a
partition every day.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml

DBT_PROJECT_YML = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_FORMAT = "%Y-%m-%d"


PARTITIONS_START_ENV = "TRACELOOM_PARTITIONS_START"
PARTITIONS_START_VAR = "daily_partitions_start"


def default_partitions_start() -> str:
    """``vars.daily_partitions_start`` of the dbt project (``YYYY-MM-DD``): the first day when
    ``$TRACELOOM_PARTITIONS_START`` is not set.

    Raises:
        KeyError: if the dbt project does not define it.
    """
    project = yaml.safe_load(DBT_PROJECT_YML.read_text(encoding="utf-8"))
    return str(project["vars"][PARTITIONS_START_VAR])


def partitions_start() -> str:
    """The first daily partition (``YYYY-MM-DD``, UTC): ``$TRACELOOM_PARTITIONS_START`` if set,
    else the dbt project's default (:func:`default_partitions_start`).

    Raises:
        ValueError: if the value is not an ISO date (``YYYY-MM-DD``); dbt would refuse it too.
    """
    value = os.environ.get(PARTITIONS_START_ENV)
    source = f"${PARTITIONS_START_ENV}"
    if value is None:
        value, source = (
            default_partitions_start(),
            f"vars.{PARTITIONS_START_VAR} in {DBT_PROJECT_YML}",
        )
    try:
        valid = len(value) == len("YYYY-MM-DD") and bool(date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(
            f"{source} = {value!r}: the first daily partition must be a date, YYYY-MM-DD"
        )
    return value


# end_offset=1: today's partition exists while today's events are still arriving, so the cadence
# runs can refresh it (the UI shows it as in progress until the day ends).
# Read once, when the definitions load: every partition window of this process uses this day.
PARTITIONS_START = partitions_start()
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)


def window_tags(first_day: date, last_day: date) -> dict[str, str]:
    """Run tags selecting the partitions ``first_day``..``last_day`` (inclusive, UTC days) in one
    run, clipped to the partitions' first day.

    Raises:
        ValueError: if ``last_day`` is before ``first_day`` or before the first partition.
    """
    start = date.fromisoformat(PARTITIONS_START)
    first_day = max(first_day, start)
    if last_day < first_day:
        raise ValueError(f"empty partition window {first_day}..{last_day} (first day {start})")
    return {
        RANGE_START_TAG: first_day.strftime(PARTITION_FORMAT),
        RANGE_END_TAG: last_day.strftime(PARTITION_FORMAT),
    }


def recent_window_tags(now: datetime | None = None, days: int = 2) -> dict[str, str]:
    """Tags for the last ``days`` UTC days up to and including today's (``now`` UTC; default
    the current time): what a cadence or drop-sensor run refreshes, so events arriving a day
    late are still counted. Older late data is a backfill of its days."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return window_tags(today - timedelta(days=days - 1), today)


MAIN_RUN_DAYS_ENV = "TRACELOOM_RUN_DAYS"


def main_run_tags(now: datetime | None = None) -> dict[str, str]:
    """Tags for a run of the main job: the last ``$TRACELOOM_RUN_DAYS`` UTC days (default 45,
    enough for the demo world's 30-day history) up to today. Earlier days are a backfill."""
    days = int(os.environ.get(MAIN_RUN_DAYS_ENV, "45"))
    return recent_window_tags(now, days=days)
