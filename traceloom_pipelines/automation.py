"""Declarative automation (issue #11 "only what changed runs"): the cadence schedules and the
drop-folder sensors *land* (their jobs are the ingestion assets only); everything downstream of
landing — the audit tables, identity resolution, the dbt models, the Parquet export — carries
an :class:`dagster.AutomationCondition` and is materialized by the ``traceloom_automation``
sensor when, and only when, something it reads holds new data.

The condition (:func:`on_new_data`) is Dagster's ``eager()`` with three changes:

- **new data, not a new event**: a dependency counts as updated when its *data version*
  changed since the previous tick (``data_version_changed``), not on every materialization. The
  ingestion assets and the audit tables version their tables by the lake catalog's row
  statistics (:func:`traceloom_pipelines.lake.table_versions`), so a landing that landed nothing
  (a pulled source with nothing new, a file already landed) starts nothing downstream. An
  edited model or seed (``code_version_changed``) and a missing asset or partition
  (``newly_missing``) start it too.
- **two days of partitions**: the daily marts (``traceloom_dbt_daily_models``) are refreshed on
  their latest two UTC days (:data:`DAILY_WINDOW`, today's and yesterday's, so events arriving a
  day late are still counted); older late data is a backfill of its days, as before.
- **missing daily partitions do not block**: a model waits for a missing *unpartitioned*
  dependency (a source that never landed), but not for days of a daily mart that were never
  built (the days before the first run's window), which would otherwise hold the export back
  forever.

As in ``eager()``, nothing starts while a dependency or the asset itself is in progress, and a
dependency materialized by the same run as the asset does not count (``traceloom run`` builds
everything in one run, so it leaves nothing for the sensor). A chain of models in one dbt step
is one run; the daily marts follow their unpartitioned inputs in the next tick (another
partitions definition cannot share a run), and what reads the daily marts follows them.

The nightly reconciliation report keeps its 23:00 schedule (003 §3.4), and lake maintenance its
own; neither carries a condition.
"""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from traceloom_pipelines.landing.assets import raw_asset_key
from traceloom_pipelines.sources.catalog import all_entities

AUTOMATION_SENSOR = "traceloom_automation"
# Seconds between two evaluations of the sensor (Dagster's minimum_interval_seconds), read when
# the definitions load.
INTERVAL_ENV = "TRACELOOM_AUTOMATION_INTERVAL_S"


def interval_seconds() -> int:
    """``$TRACELOOM_AUTOMATION_INTERVAL_S``, default 30.

    Raises:
        ValueError: the value is not a whole number of seconds of at least 1.
    """
    value = os.environ.get(INTERVAL_ENV, "30").strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"${INTERVAL_ENV} = {value!r}: a whole number of seconds, at least 1")
    return int(value)


DAILY_WINDOW = timedelta(days=2)
# The assets that are never automated: the rendered reports (nightly schedule) and lake
# maintenance (its own schedule).
NOT_AUTOMATED_PREFIXES = ("reports", "lake")


def on_new_data(daily: dg.AssetSelection) -> dg.AutomationCondition:
    """The condition of every automated asset (module docstring). ``daily``: the daily
    partitioned assets, whose missing partitions do not block their children."""
    A = dg.AutomationCondition
    new_data = A.any_deps_match(
        (A.data_version_changed() & ~A.executed_with_root_target()).with_label(
            "new_data_without_root"
        )
        | A.will_be_requested()
    ).with_label("any_deps_have_new_data")
    # eager()'s since_last_handled() without its reset on the first evaluation, so what is
    # missing when the sensor first runs (a new instance: the seeds) is requested then, once
    handled = (A.newly_requested() | A.newly_updated()).with_label("handled")
    return (
        A.in_latest_time_window(DAILY_WINDOW)
        & (A.newly_missing() | new_data | A.code_version_changed()).since(handled)
        & ~A.any_deps_missing().ignore(daily)
        & ~A.any_deps_in_progress()
        & ~A.in_progress()
    ).with_label("on_new_data")


# The parent key of every ingestion (``land_*``) multi-asset.
INGESTION_KEYS = frozenset(raw_asset_key(e.system, e.entity) for e in all_entities())


def is_automated(assets_def: dg.AssetsDefinition) -> bool:
    """Whether the sensor materializes ``assets_def``: not an ingestion (``land_*``) asset,
    not the reports, not lake maintenance."""
    keys = set(assets_def.keys)
    return not keys & INGESTION_KEYS and not any(
        key.path[0] in NOT_AUTOMATED_PREFIXES for key in keys
    )


def with_automation(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """``assets`` with :func:`on_new_data` set on every asset of the automated ones
    (:func:`is_automated`)."""
    automated = [is_automated(a) for a in assets]
    daily = dg.AssetSelection.assets(
        *(
            key
            for a, auto in zip(assets, automated, strict=True)
            if auto and a.partitions_def is not None
            for key in a.keys
        )
    )
    condition = on_new_data(daily)
    return [
        a.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition))
        if auto
        else a
        for a, auto in zip(assets, automated, strict=True)
    ]


automation_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR,
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=interval_seconds(),
    # Stopped until an operator starts it, as the schedules are: the cadence schedules land,
    # this sensor refreshes what the landed data reaches. Start both (README "Running by
    # itself").
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Materializes the audit tables, identity resolution, dbt models and the Parquet "
    "export when something they read holds new data (traceloom_pipelines/automation.py).",
)
