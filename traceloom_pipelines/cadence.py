"""How often each source refreshes, from the seed documents: the one table that schedules,
drop-folder sensors and freshness checks are built from.

Times are cron expressions in the deployment's time zone, ``TRACELOOM_SCHEDULE_TIMEZONE``
(IANA name, default ``UTC``).
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

TIMEZONE_ENV = "TRACELOOM_SCHEDULE_TIMEZONE"


def schedule_timezone() -> str:
    """The IANA time zone schedules run in (``$TRACELOOM_SCHEDULE_TIMEZONE``, default UTC)."""
    return os.environ.get(TIMEZONE_ENV, "UTC")


@dataclass(frozen=True)
class Cadence:
    """One refresh cadence.

    Attributes:
        name: schedule name (also the job name without ``_job``).
        cron: when it runs.
        entities: ``<system>/<entity>`` of the ingestion assets it refreshes.
        stale_after: an entity not updated for this long is stale: its freshness policy warns,
            and fails after twice as long.
        seed_ref: the seed section the frequency comes from.
    """

    name: str
    cron: str
    entities: tuple[str, ...]
    stale_after: timedelta
    seed_ref: str


CADENCES: tuple[Cadence, ...] = (
    Cadence(
        "erp_orders_every_15_minutes",
        "*/15 * * * *",
        ("erp/purchase_orders", "erp/work_orders", "erp/purchase_orders_odata"),
        timedelta(minutes=45),
        "000 §2.1 (poll every 15 minutes), 003 §3.2.1",
    ),
    Cadence(
        "erp_materials_daily_0200",
        "0 2 * * *",
        ("erp/materials", "erp/vendors", "erp/products"),
        timedelta(hours=26),
        "003 §3.2.1 (material master daily at 2:00)",
    ),
    Cadence(
        "factory_milestones_every_15_minutes",
        "*/15 * * * *",
        ("factory/production_milestones",),
        timedelta(hours=1),
        "000 §1 (time-sensitive feeds polled every 5-15 minutes), §2.2",
    ),
    # Scans are pushed in real time through the gateway (000 §2.3); landing them every 5 minutes is
    # the near-real-time bound of 000 §1. Plants scan only while a shift runs: stale after 1 hour.
    Cadence(
        "factory_qr_scans_every_5_minutes",
        "*/5 * * * *",
        ("factory/qr_scans",),
        timedelta(hours=1),
        "000 §1 (near real-time, 5-15 minutes), §2.3 (worker QR scans)",
    ),
    # MES status every 30 s and counts in real time (003 §4.2.1): every minute is cron's finest.
    Cadence(
        "mes_streams_every_minute",
        "* * * * *",
        (
            "mes/machine_status",
            "mes/production_counts",
            "mes/quality_inspections",
            "mes/downtime_events",
            "mes/work_orders",
            "mes/labor_bookings",
        ),
        timedelta(minutes=10),
        "003 §4.2.1, §8.3 (MES data lag > 10 minutes is critical)",
    ),
    # Sensor readings stream like the MES (000 §3.1, 001 INT-001 real-time streams): landed every
    # minute; loggers in containers buffer while out of coverage, so stale after 30 minutes.
    Cadence(
        "iot_sensor_readings_every_minute",
        "* * * * *",
        ("iot/sensor_readings",),
        timedelta(minutes=30),
        "000 §3.1 (stream ingestion via MQTT/HTTP bridges), 001 INT-001 (real-time sensor data)",
    ),
    Cadence(
        "mes_machines_daily_0200",
        "0 2 * * *",
        ("mes/machines",),
        timedelta(hours=26),
        "machine registry: master data, daily like the material master (003 §3.2.1)",
    ),
    Cadence(
        "hr_employees_daily_0100",
        "0 1 * * *",
        ("hr/employees",),
        timedelta(hours=26),
        "003 §5.2.1 (employee master daily at 1:00)",
    ),
    Cadence(
        "hr_shift_schedules_daily_0500",
        "0 5 * * *",
        ("hr/shift_schedules",),
        timedelta(hours=26),
        "003 §5.2.1 (shift schedules daily at 5:00)",
    ),
    Cadence(
        "hr_attendance_every_5_minutes",
        "*/5 * * * *",
        ("hr/attendance",),
        timedelta(minutes=30),
        "003 §5.2.1 (real-time attendance webhook; drops polled)",
    ),
    Cadence(
        "wms_stock_every_5_minutes",
        "*/5 * * * *",
        ("wms/stock_levels", "wms/stock_events"),
        timedelta(minutes=15),
        "003 §6.2.1 (every 5 minutes), §8.3 (sync delayed > 15 min)",
    ),
    Cadence(
        "port_feeds_hourly",
        "0 * * * *",
        (
            "port/vessel_expected_arrivals",
            "port/vessels_arrived",
            "port/vessels_departed",
            "port/vessels_in_port",
        ),
        timedelta(hours=3),
        "000 §3.3 (hourly ETL)",
    ),
    Cadence(
        "platform_run_failures_every_15_minutes",
        "*/15 * * * *",
        ("dagster/run_failures",),
        timedelta(hours=1),
        "003 §8.1 (error rate per integration, 15-minute window)",
    ),
    Cadence(
        "platform_bridge_health_every_5_minutes",
        "*/5 * * * *",
        ("bridges/health",),
        timedelta(minutes=15),
        "003 §8.1 (integration health); issue #14 §5 (bridge health, a sample a minute)",
    ),
    # Published yearly / monthly: checked daily, stale after their publication cycle.
    Cadence(
        "port_statistics_daily_0300",
        "0 3 * * *",
        ("port/cargo_throughput", "port/container_throughput"),
        timedelta(days=45),
        "000 §3.3 (port throughput statistics, DATA.GOV.HK monthly)",
    ),
    Cadence(
        "logistics_every_30_minutes",
        "*/30 * * * *",
        ("logistics/shipment_milestones", "logistics/dcsa_events", "logistics/shippers"),
        timedelta(hours=2),
        "000 §2.4 (webhook if available, else polling every 30-60 minutes)",
    ),
    Cadence(
        "certifications_daily_0400",
        "0 4 * * *",
        (
            "certifications/certificates",
            "certifications/audits",
            "certifications/requirements",
            "certifications/holders",
            "certifications/certified_products",
        ),
        timedelta(hours=26),
        "000 §4.1 (periodic CSV/feed from compliance teams; validity windows are days)",
    ),
    Cadence(
        "finance_daily_0430",
        "30 4 * * *",
        ("finance/expedite_options", "finance/chargeback_rules"),
        timedelta(hours=26),
        "000 §4.2 (limited-scope batch integration to finance/ERP modules; rate cards and "
        "customer terms change by the week)",
    ),
    Cadence(
        "weather_warnings_every_15_minutes",
        "*/15 * * * *",
        ("weather/hko_warning_summary", "weather/hko_warning_details"),
        timedelta(minutes=45),
        "000 §3.2 (scheduled pulls, e.g. every 15 minutes, of weather alerts)",
    ),
    Cadence(
        "weather_forecasts_hourly",
        "5 * * * *",
        ("weather/hko_forecasts", "weather/open_meteo_forecasts"),
        timedelta(hours=3),
        "000 §3.2 (short- and medium-range forecasts; HKO 9-day and Open-Meteo hourly models)",
    ),
    Cadence(
        "ais_messages_hourly",
        "10 * * * *",
        ("ais/messages",),
        timedelta(hours=3),
        "000 §3.3 (hourly ETL of vessel positions and lists)",
    ),
    # Partners send EDI when they have business; the seed names no frequency. Polled every 15
    # minutes like the ERP orders (000 §2.1); a partner silent for a day is worth a warning.
    Cadence(
        "edi_every_15_minutes",
        "*/15 * * * *",
        ("edi/purchase_orders", "edi/po_acknowledgments", "edi/ship_notices"),
        timedelta(hours=26),
        "001 (EDI transactions for automated procurement; no frequency given), 000 §2.1",
    ),
)


def cadence_of(system: str, entity: str) -> Cadence:
    """The cadence refreshing ``<system>/<entity>``.

    Raises:
        KeyError: if no cadence lists the entity (every entity must have one).
    """
    for cadence in CADENCES:
        if f"{system}/{entity}" in cadence.entities:
            return cadence
    raise KeyError(f"no cadence refreshes {system}/{entity}: add it to CADENCES")


def freshness_policy(system: str, entity: str) -> dg.FreshnessPolicy:
    """Warn when not updated for the cadence's ``stale_after``; fail after twice that."""
    stale_after = cadence_of(system, entity).stale_after
    return dg.FreshnessPolicy.time_window(fail_window=2 * stale_after, warn_window=stale_after)
