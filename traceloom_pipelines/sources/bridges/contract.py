"""Platform source contract: the bridges' health samples (issue #14 §5).

Each bridge (``traceloom mqtt-bridge``, ``traceloom opcua-bridge``) writes a sample of its health
document every minute, when its connection comes or goes, and when it stops
(:class:`traceloom_pipelines.bridges.health.HealthSamples`), so integration health
(``fct_integration_health``, 003 §8.1) sees connected state, throughput, lag, redeliveries and
reconnects through the same landing path as any source.

Drop folder: ``landing/platform/bridges/health/<bridge>-<UTC time>-<pid>.jsonl``, one sample per
file.
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import BOOLEAN, INTEGER, NUMBER, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

health = SourceEntity(
    system="bridges",
    entity="health",
    seed_ref="003 §4.2.1 (MQTT, OPC-UA), §8.1 (integration health); issue #14 §5",
    description=(
        "One health sample of a bridge: connected state, messages per second, lag, "
        "redeliveries and reconnects since the bridge started."
    ),
    schema=pa.DataFrameSchema(
        {
            "bridge": field("$.bridge", required=True, accepted=("mqtt", "opcua")),
            "sampled_at": field("$.sampled_at", TIMESTAMP, required=True),
            "pid": field("$.pid", INTEGER, required=True),
            "endpoint": field("$.endpoint", description="broker or server URL, no credentials"),
            "running": field("$.running", BOOLEAN, required=True),
            "connected": field("$.connected", BOOLEAN, required=True),
            "messages_per_second": field("$.messages_per_second", NUMBER, non_negative_value=True),
            "lag_seconds": field("$.lag_seconds", NUMBER),
            "messages_received": field("$.messages_received", INTEGER, non_negative_value=True),
            "messages_written": field("$.messages_written", INTEGER, non_negative_value=True),
            "malformed": field("$.malformed", INTEGER, non_negative_value=True),
            "redeliveries": field("$.redeliveries", INTEGER, non_negative_value=True),
            "reconnects": field("$.reconnects", INTEGER, non_negative_value=True),
        },
        name="bridges.health",
    ),
)

ENTITIES = (health,)
