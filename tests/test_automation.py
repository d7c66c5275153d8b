"""Declarative automation (issue #11, traceloom_pipelines/automation.py): the conditions of the
real definitions, evaluated tick by tick as the ``traceloom_automation`` sensor evaluates them
(``dg.evaluate_automation_conditions``) on an instance whose materializations are recorded the
way runs record them: each with a data version, the ones a tick requested reported before the
next tick, as if their runs had succeeded."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from traceloom_pipelines.automation import (
    AUTOMATION_SENSOR,
    INTERVAL_ENV,
    interval_seconds,
    is_automated,
)
from traceloom_pipelines.definitions import defs
from traceloom_pipelines.jobs import NIGHTLY_REPORT
from traceloom_pipelines.partitions import daily_partitions

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

GRAPH = defs.resolve_asset_graph()
KEYS = sorted(GRAPH.get_all_asset_keys())
DATA_VERSION_TAG = "dagster/data_version"
PRODUCTION_COUNTS = dg.AssetKey(["raw", "mes", "production_counts"])


def _days() -> list[str]:
    """The daily partitions the records cover: the latest three (today's included)."""
    return daily_partitions.get_partition_keys(current_time=datetime.now(UTC))[-3:]


def _record(instance, key: dg.AssetKey, version: str, partitions=None) -> None:
    """A materialization of ``key`` with data ``version`` (of ``partitions``, default the
    latest three days, when it is partitioned)."""
    if GRAPH.get(key).is_partitioned:
        for day in partitions or _days():
            instance.report_runless_asset_event(
                dg.AssetMaterialization(key, partition=day, tags={DATA_VERSION_TAG: version})
            )
    else:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, tags={DATA_VERSION_TAG: version})
        )


class Sensor:
    """The automation sensor's evaluations on one instance, its cursor carried tick to tick."""

    def __init__(self, instance):
        self.instance = instance
        self.cursor = None
        self.count = 0

    def tick(self) -> dict[dg.AssetKey, list[str | None]]:
        """One evaluation: requested asset → its requested partitions (``[None]`` when it is
        unpartitioned); then every requested asset (partition) is recorded with a new data
        version, as its run would."""
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        self.count += 1
        requested = {}
        for res in result.results:
            if res.true_subset.size and isinstance(res.key, dg.AssetKey):
                node = GRAPH.get(res.key)
                requested[res.key] = (
                    sorted(res.true_subset.expensively_compute_partition_keys())
                    if node.is_partitioned
                    else [None]
                )
        for key, partitions in requested.items():
            _record(self.instance, key, f"tick-{self.count}", [p for p in partitions if p])
        return requested

    def settle(self, limit: int = 8) -> list[dict[dg.AssetKey, list[str | None]]]:
        """Ticks until one requests nothing: what each tick requested (the last one empty)."""
        ticks = []
        for _ in range(limit):
            ticks.append(self.tick())
            if not ticks[-1]:
                return ticks
        pytest.fail(f"still requesting after {limit} ticks: {ticks[-1]}")


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_the_sensor_targets_everything_downstream_of_landing_and_nothing_else():
    sensor = defs.resolve_sensor_def(AUTOMATION_SENSOR)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    automated = {key for key in KEYS if GRAPH.get(key).automation_condition is not None}
    # ingestion, the nightly report and lake maintenance are run by their schedules
    assert not any(k.path[0] == "raw" and k.path[1] != "audit" for k in automated)
    assert NIGHTLY_REPORT not in automated
    assert dg.AssetKey(["lake", "maintenance"]) not in automated
    for key in (
        "raw/audit/batches",
        "master_data/product_clusters",
        "staging/stg_mes__production_counts",
        "marts/fct_production_daily",
        "marts/fct_purchase_orders",
        "bi/marts_parquet",
    ):
        assert dg.AssetKey.from_user_string(key) in automated, key
    assert all(is_automated(GRAPH.get(k).assets_def) for k in automated)


def test_a_new_instance_builds_the_seeds_and_waits_for_landing(instance):
    sensor = Sensor(instance)
    first = sensor.tick()
    # what reads nothing landed: the seeds (reference/*), once; everything else waits for the
    # sources it reads
    assert first and all(k.path[0] == "reference" for k in first), sorted(first)
    assert sensor.tick() == {}
    # every source lands once: everything downstream builds, unpartitioned models first, then
    # the daily marts (another partitions definition: the next tick), then what reads them
    for key in KEYS:
        if key.path[0] == "raw" and key.path[1] != "audit":
            _record(instance, key, "landed")
    ticks = sensor.settle()
    built = set().union(*ticks)
    never = {k for k in KEYS if GRAPH.get(k).automation_condition is not None} - built - set(first)
    assert never == set(), sorted(never)
    daily = [k for k in built if GRAPH.get(k).is_partitioned]
    assert daily and all(not GRAPH.get(k).is_partitioned for k in ticks[0])


def test_new_data_in_one_source_refreshes_only_what_it_reaches(instance):
    for key in KEYS:
        _record(instance, key, "v1")
    sensor = Sensor(instance)
    assert sensor.tick() == {}  # the first evaluation: everything is built
    # a landing that landed nothing keeps its data version: nothing starts
    _record(instance, dg.AssetKey(["raw", "erp", "purchase_orders"]), "v1")
    assert sensor.tick() == {}

    _record(instance, PRODUCTION_COUNTS, "v2")  # a one-minute MES delta landed
    ticks = sensor.settle()
    requested = set().union(*ticks)
    reached = set(dg.AssetSelection.assets(PRODUCTION_COUNTS).downstream().resolve(GRAPH))
    assert requested <= reached - {PRODUCTION_COUNTS}
    for key in (
        "staging/stg_mes__production_counts",
        "marts/fct_production_daily",
        "bi/marts_parquet",
    ):
        assert dg.AssetKey.from_user_string(key) in requested, key
    # nothing the delta does not reach, no landing, no report
    for key in ("marts/fct_purchase_orders", "master_data/product_clusters", "raw/mes/machines"):
        assert dg.AssetKey.from_user_string(key) not in requested, key
    assert NIGHTLY_REPORT not in requested
    # the daily marts: today's and yesterday's days only, after their unpartitioned inputs
    daily = {k: p for tick in ticks for k, p in tick.items() if GRAPH.get(k).is_partitioned}
    assert daily and all(p == _days()[-2:] for p in daily.values()), daily
    assert not any(GRAPH.get(k).is_partitioned for k in ticks[0])


@pytest.mark.parametrize("value", ["0", "-5", "ten", "2.5", ""])
def test_a_bad_interval_is_refused_with_the_variable_named(monkeypatch, value):
    monkeypatch.setenv(INTERVAL_ENV, value)
    with pytest.raises(ValueError, match=INTERVAL_ENV):
        interval_seconds()


def test_the_interval_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, " 5 ")
    assert interval_seconds() == 5
    monkeypatch.delenv(INTERVAL_ENV)
    assert interval_seconds() == 30
