"""Bridges from streaming protocols to drop files (issue 14).

A bridge subscribes to a plant's message broker and turns every message into a line of a JSONL
drop file under ``landing/<tenant>/<system>/<entity>/``, written atomically
(:func:`traceloom_pipelines.landing.drops.write_drop_file`), so the drop sensors and the landing
pick them up like any other drop. :mod:`traceloom_pipelines.bridges.mqtt` is the MQTT bridge
(``traceloom mqtt-bridge``, 003 §4.2.1), :mod:`traceloom_pipelines.bridges.opcua` the OPC-UA
bridge for machine status (``traceloom opcua-bridge``, 003 §4.2.1); both use
:mod:`~traceloom_pipelines.bridges.process` (one process per data directory, file names) and
:mod:`~traceloom_pipelines.bridges.health` (the health file).
"""
