"""Factory source contract: production milestones per PO and stage (000 §2.2).

Drop folder: ``landing/<tenant>/factory/production_milestones/`` (CSV uploads or JSON pushes).
Each record is one stage of one PO with planned and actual timestamps; a later ``updatedAt``
supersedes an earlier record of the same PO and stage.
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

STAGES = ("yarn_received", "knitting", "dyeing", "qa", "packing")
QA_RESULTS = ("pass", "fail")

production_milestones = SourceEntity(
    system="factory",
    entity="production_milestones",
    seed_ref="000 §2.2",
    description="Planned and actual start/end per production stage of a PO.",
    schema=pa.DataFrameSchema(
        {
            "poId": field("$.poId", required=True),
            "factory": field("$.factory", required=True),
            "stage": field("$.stage", required=True, accepted=STAGES),
            "workOrderId": field("$.workOrderId"),
            "machineLine": field("$.machineLine"),
            "plannedStart": field("$.plannedStart", TIMESTAMP),
            "plannedEnd": field("$.plannedEnd", TIMESTAMP),
            "actualStart": field("$.actualStart", TIMESTAMP),
            "actualEnd": field("$.actualEnd", TIMESTAMP),
            "qaResult": field("$.qaResult", accepted=QA_RESULTS),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="factory.production_milestones",
    ),
)

ENTITIES = (production_milestones,)
