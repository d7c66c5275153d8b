"""Suite-wide settings.

The test worlds hold 30 days of events before today (``generate_world``'s default ``as_of``), so
runs of the main job cover the last 31 UTC days rather than the production default of 45: every
day that has data is built, and the daily microbatch marts run 14 fewer empty day batches per
materialization (traceloom_pipelines/partitions.py).
"""

import os

os.environ.setdefault("TRACELOOM_RUN_DAYS", "31")
