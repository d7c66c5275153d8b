"""WMS source contract: stock levels by warehouse location with batch details (003 §6.2.1).

Drop folder: ``landing/<tenant>/wms/stock_levels/``; each file is one stock-levels API response
(``{"materials": [...]}``). A later ``last_updated`` supersedes an earlier snapshot of the same
material and warehouse.
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

ENTITIES = (stock_levels,)
