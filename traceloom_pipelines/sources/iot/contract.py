"""IoT source contract: sensor readings from factory and transport sensors.

Seeds: 000 §3.1 (factory temperature, humidity and vibration near storage or machines; transport
GPS and cold-chain temperature; "normalization jobs that emit PO-related events when thresholds
or anomalies occur") and 001 INT-001 (``SensorReading``: ``deviceId``, ``sensorId``, ``value``,
``timestamp``, ``quality`` good/uncertain/bad, ``metadata``; ``Sensor.type`` and ``unit``; MQTT
topic ``devices/<device>/sensors/<sensor>/data``).

One reading per record, in the seed's field names, with the ``Sensor`` facts a reading needs on
its own (``type``, ``unit``) and where the sensor sits in ``metadata`` (TraceLoom's extension,
issue #14 §4)::

    {"deviceId": "GW-M-203", "sensorId": "M-203-TEMP", "type": "temperature", "unit": "degC",
     "value": 24.5, "timestamp": "2026-02-27T10:15:00Z", "quality": "good",
     "metadata": {"locationKind": "machine", "locationId": "M-203"}}

``locationKind`` is ``machine`` (a MES machine id), ``storage_area`` (a warehouse area code) or
``container`` (a container number or AWB: the truck or box the goods travel in). GPS readings
(``type`` ``gps``, unit ``deg``) carry ``metadata.latitude``/``longitude`` instead of a value.

Drop folder ``landing/<tenant>/iot/sensor_readings/``: JSON Lines written by the MQTT bridge
(``traceloom mqtt-bridge``, which sets ``deviceId``/``sensorId`` from the topic) or any drop.
Thresholds are not part of the contract: they are configuration (dbt seed
``sensor_thresholds``), applied by ``fct_sensor_excursions``.
"""

from datetime import timedelta

import pandera.polars as pa
import polars as pl

from traceloom_pipelines.landing.checks import NUMBER, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

# Sensor types: 001 INT-001 ``Sensor.type`` plus GPS for transport (000 §3.1).
SENSOR_TYPES = ("temperature", "humidity", "vibration", "pressure", "flow", "gps")
# The one unit each type is sent in (the thresholds are in these units; a reading in another
# unit fails ``unit:unit_of_type`` rather than being compared with the wrong limits).
SENSOR_UNITS = {
    "temperature": "degC",
    "humidity": "%RH",
    "vibration": "mm/s",
    "pressure": "bar",
    "flow": "L/min",
    "gps": "deg",
}
QUALITIES = ("good", "uncertain", "bad")  # 001 SensorReading.quality
LOCATION_KINDS = ("machine", "storage_area", "container")
# Live streams are checked against 5 minutes (003 §4.4); drops replay history: one year.
STALE_AFTER = timedelta(days=365)


def _unit_of_type() -> pa.Check:
    """``unit`` must be the unit of the reading's ``type`` (:data:`SENSOR_UNITS`)."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        expected = pl.col("type").replace_strict(SENSOR_UNITS, default=None)
        unit = pl.col(data.key)
        return data.lazyframe.select(unit.is_null() | expected.is_null() | (unit == expected))

    return pa.Check(check, name="unit_of_type")


def _present_unless_gps() -> pa.Check:
    """``value`` is required for every type but ``gps`` (whose reading is its position)."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        value = pl.col(data.key).str.strip_chars()
        present = value.is_not_null() & (value != "")
        return data.lazyframe.select(present | (pl.col("type") == "gps").fill_null(False))

    return pa.Check(check, name="required_unless_gps")


def _position(limit: float) -> pa.Check:
    """A GPS coordinate: a number within ±``limit`` degrees, present on every ``gps`` reading."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        text = pl.col(data.key).str.strip_chars()
        number = text.cast(pl.Float64, strict=False)
        in_range = number.is_between(-limit, limit)
        is_gps = (pl.col("type") == "gps").fill_null(False)
        return data.lazyframe.select(
            (text.is_null() & ~is_gps) | in_range.fill_null(text.is_null() & ~is_gps)
        )

    return pa.Check(check, name="valid_position")


def _with(column: pa.Column, *checks: pa.Check) -> pa.Column:
    return column.set_checks([*column.checks, *checks])


sensor_readings = SourceEntity(
    system="iot",
    entity="sensor_readings",
    seed_ref="000 §3.1 (IoT sensors), 001 INT-001 (SensorReading, devices/+/sensors/+/data)",
    description=(
        "One reading of a factory or transport sensor: temperature, humidity, vibration, "
        "pressure, flow near a machine or storage area, cold-chain temperature and GPS of a "
        "container or truck."
    ),
    schema=pa.DataFrameSchema(
        {
            "deviceId": field("$.deviceId", required=True, description="gateway or logger"),
            "sensorId": field("$.sensorId", required=True),
            "type": field("$.type", required=True, accepted=SENSOR_TYPES),
            "unit": _with(field("$.unit", required=True), _unit_of_type()),
            "value": _with(field("$.value", NUMBER), _present_unless_gps()),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True, stale_after=STALE_AFTER),
            "quality": field("$.quality", accepted=QUALITIES),
            "locationKind": field(
                "$.metadata.locationKind", required=True, accepted=LOCATION_KINDS
            ),
            "locationId": field("$.metadata.locationId", required=True),
            "latitude": _with(field("$.metadata.latitude", NUMBER), _position(90.0)),
            "longitude": _with(field("$.metadata.longitude", NUMBER), _position(180.0)),
        },
        name="iot.sensor_readings",
    ),
)

ENTITIES = (sensor_readings,)
