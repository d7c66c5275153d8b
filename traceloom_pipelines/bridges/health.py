"""The bridges' health files: ``<data_dir>/bridges/<bridge>/health.json`` (issue 14 §5).

:func:`health_path`, :func:`write_json_atomically`, :func:`lag_seconds` and :class:`RateMeter`
serve every bridge; :class:`BridgeHealth` is the MQTT bridge's document (the OPC-UA bridge's is
:class:`traceloom_pipelines.bridges.opcua.OpcuaHealth`).

Rewritten atomically (temporary file, then rename) every ``TRACELOOM_MQTT_HEALTH_SECONDS``
and once more when the bridge stops; a reader always sees one complete JSON object (MQTT)::

    {
      "bridge": "mqtt",
      "updated_at": "2026-01-05T10:00:02.000Z",     UTC
      "pid": 1234,
      "client_id": "traceloom-mqtt-…",
      "broker": "mqtt://host:1883",                 never credentials
      "running": true,                               false once it stopped
      "connected": true,
      "subscribed": true,                            the broker granted every subscription
      "messages_per_second": 812.5,                  received, since the previous write
      "lag_seconds": 0.42,                           now − newest payload timestamp (UTC), or null
      "messages_received": 10345,
      "messages_written": 10300,                     in drop files
      "malformed": 3,                                written as quarantine lines
      "unroutable": 0,                               topic not attributable: logged, not landed
      "redeliveries": 12,                            messages the broker flagged DUP
      "reconnects": 1,                               connections after the first
      "last_drop_file": "acme/mes/production_counts/mqtt-….jsonl"   relative to landing/
    }

Every minute, when its connection comes or goes and when it stops, a bridge also writes a
*sample* of that document as a drop file (:class:`HealthSamples`), which ``raw/bridges/health``
lands (contract: traceloom_pipelines/sources/bridges/contract.py) and
``fct_integration_health`` reports.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from traceloom_pipelines.landing.drops import write_drop_file
from traceloom_pipelines.sources.dagster.contract import PLATFORM_TENANT

log = logging.getLogger(__name__)

HEALTH_SAMPLE_SECONDS = 60.0  # a health sample lands every minute (and when a bridge stops)


def health_path(data_dir: Path, bridge: str = "mqtt") -> Path:
    """``<data_dir>/bridges/<bridge>/health.json``."""
    return Path(data_dir) / "bridges" / bridge / "health.json"


def utc_iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an aware datetime."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_json_atomically(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` through ``.<name>.tmp`` and a rename.

    Raises:
        OSError: the folder cannot be created or the file written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(partial, path)


def write_health(
    health, path: Path, running: bool = True, samples: HealthSamples | None = None
) -> None:
    """Rewrite a bridge's health file from ``health.snapshot(now UTC, monotonic seconds,
    running)`` (any object with that method: :class:`BridgeHealth`, the OPC-UA bridge's
    health), and offer the document to ``samples``. A failure is logged, never raised: health
    must not stop the bridge."""
    try:
        document = health.snapshot(datetime.now(UTC), time.monotonic(), running)
        write_json_atomically(path, document)
        if samples is not None:
            samples.offer(document, time.monotonic())
    except OSError as error:
        log.warning("cannot write %s: %s", path, error)


def health_sample(document: dict) -> dict:
    """The contract's record (``bridges/health``) of a health document of either bridge:
    ``messages_*`` are the OPC-UA bridge's ``samples_*``; counters absent from a bridge's
    document (an OPC-UA bridge has no redeliveries) are 0; ``endpoint`` is the broker's or
    server's URL (never credentials); ``sampled_at`` is the document's ``updated_at`` (UTC)."""
    return {
        "bridge": document["bridge"],
        "sampled_at": document["updated_at"],
        "pid": document["pid"],
        "endpoint": document.get("broker") or document.get("endpoint"),
        "running": document["running"],
        "connected": document["connected"],
        "messages_per_second": document.get(
            "messages_per_second", document.get("samples_per_second", 0.0)
        ),
        "lag_seconds": document.get("lag_seconds"),
        "messages_received": document.get("messages_received", document.get("samples_received", 0)),
        "messages_written": document.get("messages_written", document.get("samples_written", 0)),
        "malformed": document.get("malformed", 0),
        "redeliveries": document.get("redeliveries", 0),
        "reconnects": document.get("reconnects", 0),
    }


@dataclass
class HealthSamples:
    """Writes a bridge's health sample as a drop file every ``every_s`` seconds, and at once
    when the connected state changes or the bridge stops (``running`` false), so a lost
    connection is reported with the next health write, not a minute later: one JSONL line in
    ``landing/platform/bridges/health/<bridge>-<UTC time>-<pid>.jsonl`` (atomic: temporary
    file, fsync, rename). ``landing_root``: the data directory's ``landing/``."""

    landing_root: Path
    every_s: float = HEALTH_SAMPLE_SECONDS
    _next_at: float | None = None
    _connected: bool | None = None

    def offer(self, document: dict, monotonic: float) -> Path | None:
        """Write ``document``'s sample if one is due (``monotonic``: :func:`time.monotonic`
        seconds now); returns the drop file written, or None.

        Raises:
            OSError: the drop file cannot be written.
        """
        due = (
            self._next_at is None
            or monotonic >= self._next_at
            or not document["running"]
            or document["connected"] != self._connected
        )
        if not due:
            return None
        self._next_at = monotonic + self.every_s
        self._connected = document["connected"]
        sample = health_sample(document)
        stamp = sample["sampled_at"].replace("-", "").replace(":", "").replace(".", "")
        return write_drop_file(
            self.landing_root,
            PLATFORM_TENANT,
            "bridges",
            "health",
            f"{sample['bridge']}-{stamp}-{sample['pid']}.jsonl",
            [json.dumps(sample)],
        )


def lag_seconds(now: datetime, newest_event: datetime | None) -> float | None:
    """``now`` − ``newest_event`` in seconds (3 decimals), or None before the first event; both
    aware datetimes (compared in UTC)."""
    return None if newest_event is None else round((now - newest_event).total_seconds(), 3)


@dataclass
class RateMeter:
    """Events per second between two readings of a growing counter (one reader: the thread that
    writes the health file)."""

    _count: int = 0
    _at: float | None = None

    def per_second(self, count: int, monotonic: float) -> float:
        """``count``'s growth per second since the previous call (1 decimal; 0.0 the first
        time). ``monotonic``: :func:`time.monotonic` seconds now."""
        elapsed = None if self._at is None else monotonic - self._at
        rate = (count - self._count) / elapsed if elapsed else 0.0
        self._count, self._at = count, monotonic
        return round(rate, 1)


@dataclass
class BridgeHealth:
    """Counters the bridge's threads update (under :attr:`lock`) and the health file shows.

    ``newest_event`` is the newest payload timestamp seen (aware, UTC); ``reconnects`` counts
    successful connections after the first.
    """

    client_id: str
    broker: str
    connected: bool = False
    subscribed: bool = False
    messages_received: int = 0
    messages_written: int = 0
    malformed: int = 0
    unroutable: int = 0
    redeliveries: int = 0
    connects: int = 0
    newest_event: datetime | None = None
    last_drop_file: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rate: RateMeter = field(default_factory=RateMeter, repr=False)

    def snapshot(self, now: datetime, monotonic: float, running: bool = True) -> dict:
        """The health document at ``now`` (aware UTC); ``monotonic`` (seconds) times the rate."""
        with self.lock:
            received = self.messages_received
            return {
                "bridge": "mqtt",
                "updated_at": utc_iso(now),
                "pid": os.getpid(),
                "client_id": self.client_id,
                "broker": self.broker,
                "running": running,
                "connected": self.connected and running,
                "subscribed": self.subscribed and running,
                "messages_per_second": self._rate.per_second(received, monotonic),
                "lag_seconds": lag_seconds(now, self.newest_event),
                "messages_received": received,
                "messages_written": self.messages_written,
                "malformed": self.malformed,
                "unroutable": self.unroutable,
                "redeliveries": self.redeliveries,
                "reconnects": max(0, self.connects - 1),
                "last_drop_file": self.last_drop_file,
            }
