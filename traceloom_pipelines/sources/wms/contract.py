"""WMS source contract: stock levels by warehouse location with batch details (003 §6.2.1) and
the inventory change-data-capture stream (003 §6.3).

Drop folders: ``landing/<tenant>/wms/stock_levels/``, each file one stock-levels API response
(``{"materials": [...]}``; a later ``last_updated`` supersedes an earlier snapshot of the same
material and warehouse), and ``landing/<tenant>/wms/stock_events/``, the CDC events as JSON
Lines (one ``material.stock_updated`` event per line).
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import DATE, NUMBER, TIMESTAMP, field
from traceloom_pipelines.landing.entity import ChildTable, SourceEntity

stock_batches = ChildTable(
    name="stock_batches",
    array_key="batch_details",
    parent_columns=("material_id", "warehouse", "last_updated"),
    schema=pa.DataFrameSchema(
        {
            "batch_number": field("$.batch_number", required=True),
            "quantity": field("$.quantity", NUMBER, required=True, non_negative_value=True),
            "expiration_date": field("$.expiration_date", DATE),
        },
        name="wms.stock_batches",
    ),
)

stock_levels = SourceEntity(
    system="wms",
    entity="stock_levels",
    seed_ref="003 §6.2.1",
    description="On-hand, allocated and available quantity per material and warehouse location.",
    envelope="materials",
    schema=pa.DataFrameSchema(
        {
            "material_id": field("$.material_id", required=True),
            "part_number": field("$.part_number"),
            "warehouse": field("$.warehouse", required=True),
            "location": field("$.location"),
            "on_hand_quantity": field(
                "$.on_hand_quantity", NUMBER, required=True, non_negative_value=True
            ),
            "allocated_quantity": field("$.allocated_quantity", NUMBER, non_negative_value=True),
            "available_quantity": field("$.available_quantity", NUMBER),
            "unit_of_measure": field("$.unit_of_measure"),
            "last_updated": field("$.last_updated", TIMESTAMP, required=True),
        },
        name="wms.stock_levels",
    ),
    children=(stock_batches,),
)

# CDC vocabularies (003 §6.3): the event type, the stock field that changed, why it changed.
STOCK_EVENT_TYPES = ("material.stock_updated",)
STOCK_FIELDS = ("on_hand_quantity", "allocated_quantity", "available_quantity")
CHANGE_REASONS = ("consumption", "receipt", "adjustment", "reservation", "transfer")

stock_events = SourceEntity(
    system="wms",
    entity="stock_events",
    seed_ref="003 §6.3 (CDC event material.stock_updated)",
    description=(
        "Inventory change-data-capture events: one stock field of one material changed from "
        "old_value to new_value for a reason (consumption, receipt, adjustment ...)."
    ),
    schema=pa.DataFrameSchema(
        {
            "event_type": field("$.event_type", required=True, accepted=STOCK_EVENT_TYPES),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True),
            "material_id": field("$.material_id", required=True),
            "field_changed": field("$.field_changed", required=True, accepted=STOCK_FIELDS),
            "old_value": field("$.old_value", NUMBER, required=True),
            "new_value": field("$.new_value", NUMBER, required=True),
            "change_reason": field("$.change_reason", required=True, accepted=CHANGE_REASONS),
            "transaction_id": field("$.transaction_id", required=True),
        },
        name="wms.stock_events",
    ),
)

ENTITIES = (stock_levels, stock_events)
