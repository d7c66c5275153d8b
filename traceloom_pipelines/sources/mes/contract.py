"""MES source contract: machine registry, machine status, MES work orders, production counts,
quality inspections, downtime events (003 §4.2.1, field mapping §4.3, rejection rules §4.4) and
operator labour bookings (the ``resources_used`` operator entries of 003 §3.2.2).

Drop folders: ``landing/<tenant>/mes/<entity>/``. Streams (status, counts, inspections, downtime)
arrive as JSON Lines, one MQTT/OPC-UA message per line. Messages naming a ``machine_id`` that is
not in the tenant's machine registry are rejected (``known_machine_id``), and event timestamps
older than :data:`STALE_AFTER` are stale (``not_stale``), as 003 §4.4 asks.
"""

from datetime import timedelta

import pandera.polars as pa

from traceloom_pipelines.landing.checks import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    PII_HASHED,
    PII_REDACTED,
    TIMESTAMP,
    field,
)
from traceloom_pipelines.landing.entity import ReferenceCheck, SourceEntity

# Batch drops replay history, so "within 5 minutes of now" (003 §4.4, for live streams) becomes
# a one-year horizon here.
STALE_AFTER = timedelta(days=365)

# MES vocabularies as the MES sends them; dbt seeds map them to canonical values (003 §4.3).
MACHINE_STATUSES = ("Running", "Idle", "Stopped", "Faulted", "Producing", "Down")
MES_WORK_ORDER_STATUSES = ("Released", "InProgress", "OnHold", "Completed")
DOWNTIME_EVENTS = ("downtime.started", "downtime.ended")
SEVERITIES = ("low", "medium", "high", "critical")
RESULTS = ("pass", "fail")


def _known_machine(column: str) -> ReferenceCheck:
    return ReferenceCheck(column, "machine_id", ref_table="mes__machines", ref_column="machine_id")


machines = SourceEntity(
    system="mes",
    entity="machines",
    seed_ref="003 §4.2.1 (machine_id master, TraceLoom extension)",
    description=(
        "Machine registry: the machine ids MES messages may name, with ideal cycle time for OEE."
    ),
    envelope="machines",
    schema=pa.DataFrameSchema(
        {
            "machine_id": field("$.machine_id", required=True),
            "factory": field("$.factory", required=True),
            "line": field("$.line"),
            "machine_type": field("$.machine_type"),
            "ideal_cycle_time_seconds": field(
                "$.ideal_cycle_time_seconds", NUMBER, required=True, non_negative_value=True
            ),
            "is_active": field("$.is_active", BOOLEAN),
        },
        name="mes.machines",
    ),
)

machine_status = SourceEntity(
    system="mes",
    entity="machine_status",
    seed_ref="003 §4.2.1 (OPC-UA status nodes)",
    description="Machine status samples every 30 s: status, utilization, current work order.",
    reference_checks=(_known_machine("MachineId"),),
    schema=pa.DataFrameSchema(
        {
            "MachineId": field("$.MachineId", required=True),
            "CurrentStatus": field("$.CurrentStatus", required=True, accepted=MACHINE_STATUSES),
            "UtilizationPercentage": field(
                "$.UtilizationPercentage", NUMBER, non_negative_value=True
            ),
            "CurrentWorkOrderId": field("$.CurrentWorkOrderId"),
            "UnitsProducedThisCycle": field(
                "$.UnitsProducedThisCycle", INTEGER, non_negative_value=True
            ),
            "CycleTimeSeconds": field("$.CycleTimeSeconds", NUMBER, non_negative_value=True),
            "DowntimeSeconds": field("$.DowntimeSeconds", NUMBER, non_negative_value=True),
            "LastUpdateTimestamp": field(
                "$.LastUpdateTimestamp", TIMESTAMP, required=True, stale_after=STALE_AFTER
            ),
        },
        name="mes.machine_status",
    ),
)

work_orders = SourceEntity(
    system="mes",
    entity="work_orders",
    seed_ref="003 §4.3 (MES field mapping); PartDescription: 003 §4.2.2 product_name, §3.4",
    description=(
        "Work orders as the MES knows them; JobNumber is the ERP work order id. PartDescription "
        "(optional) is the MES's name of the part, the product_name MRAOS sent with the start "
        "signal (003 §4.2.2); reconciled against ERP product_name (003 §3.4)."
    ),
    reference_checks=(_known_machine("MachineId"),),
    schema=pa.DataFrameSchema(
        {
            "JobNumber": field("$.JobNumber", required=True),
            "PartNumber": field("$.PartNumber", required=True),
            "PartDescription": field("$.PartDescription"),
            "Quantity": field("$.Quantity", NUMBER, required=True, non_negative_value=True),
            "Status": field("$.Status", required=True, accepted=MES_WORK_ORDER_STATUSES),
            "QuantityProduced": field("$.QuantityProduced", INTEGER, non_negative_value=True),
            "QuantityScrapped": field("$.QuantityScrapped", INTEGER, non_negative_value=True),
            "MachineId": field("$.MachineId"),
            "StartTime": field("$.StartTime", TIMESTAMP),
            "EndTime": field("$.EndTime", TIMESTAMP),
            "LastUpdated": field("$.LastUpdated", TIMESTAMP, required=True),
        },
        name="mes.work_orders",
    ),
)

production_counts = SourceEntity(
    system="mes",
    entity="production_counts",
    seed_ref="003 §4.2.1 (MQTT mes/production/+/machine/+/count)",
    description="One message per unit (or small lot) produced.",
    reference_checks=(_known_machine("machine_id"),),
    schema=pa.DataFrameSchema(
        {
            "machine_id": field("$.machine_id", required=True),
            "work_order_id": field("$.work_order_id", required=True),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True, stale_after=STALE_AFTER),
            "units_produced": field(
                "$.units_produced", INTEGER, required=True, non_negative_value=True
            ),
            "cumulative_units": field("$.cumulative_units", INTEGER, non_negative_value=True),
            "quality_status": field("$.quality_status", accepted=RESULTS),
            "cycle_time_seconds": field("$.cycle_time_seconds", NUMBER, non_negative_value=True),
        },
        name="mes.production_counts",
    ),
)

quality_inspections = SourceEntity(
    system="mes",
    entity="quality_inspections",
    seed_ref="003 §4.2.1 (MQTT mes/quality/+/machine/+/inspection)",
    description="Inline and manual inspection results.",
    reference_checks=(_known_machine("machine_id"),),
    schema=pa.DataFrameSchema(
        {
            "machine_id": field("$.machine_id", required=True),
            "work_order_id": field("$.work_order_id"),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True, stale_after=STALE_AFTER),
            "inspection_id": field("$.inspection_id", required=True),
            "inspection_type": field("$.inspection_type"),
            "result": field("$.result", required=True, accepted=RESULTS),
            "defect_detected": field("$.defect_detected", BOOLEAN),
            "defect_type": field("$.defect_type"),
            "inspector": field("$.inspector", pii=PII_REDACTED),
        },
        name="mes.quality_inspections",
    ),
)

downtime_events = SourceEntity(
    system="mes",
    entity="downtime_events",
    seed_ref="003 §4.2.1 (MQTT mes/downtime/+/machine/+/event)",
    description="Downtime start/end events; a start is closed by the next end on the same machine.",
    reference_checks=(_known_machine("machine_id"),),
    schema=pa.DataFrameSchema(
        {
            "event_type": field("$.event_type", required=True, accepted=DOWNTIME_EVENTS),
            "machine_id": field("$.machine_id", required=True),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True, stale_after=STALE_AFTER),
            "downtime_reason_code": field("$.downtime_reason_code"),
            "downtime_reason_description": field("$.downtime_reason_description"),
            "severity": field("$.severity", accepted=SEVERITIES),
            "estimated_repair_time_minutes": field(
                "$.estimated_repair_time_minutes", NUMBER, non_negative_value=True
            ),
            "work_order_affected": field("$.work_order_affected"),
        },
        name="mes.downtime_events",
    ),
)

labor_bookings = SourceEntity(
    system="mes",
    entity="labor_bookings",
    seed_ref="003 §3.2.2 (resources_used, resource_type operator)",
    description=(
        "Hours an operator booked on a work order at a machine, as the MES records them; "
        "reconciled nightly against HR attendance (003 §5.2.2)."
    ),
    reference_checks=(_known_machine("machine_id"),),
    schema=pa.DataFrameSchema(
        {
            "booking_id": field("$.booking_id", required=True),
            "employee_id": field("$.employee_id", required=True, pii=PII_HASHED),
            "work_order_id": field("$.work_order_id", required=True),
            "machine_id": field("$.machine_id"),
            "start_time": field("$.start_time", TIMESTAMP, required=True, stale_after=STALE_AFTER),
            "end_time": field("$.end_time", TIMESTAMP, required=True),
            "hours_worked": field("$.hours_worked", NUMBER, required=True, non_negative_value=True),
        },
        name="mes.labor_bookings",
    ),
)

ENTITIES = (
    machines,
    machine_status,
    work_orders,
    production_counts,
    quality_inspections,
    downtime_events,
    labor_bookings,
)
