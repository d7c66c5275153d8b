"""``traceloom opcua-bridge``: machine status from an OPC-UA server into drop files (003 §4.2.1).

One process per data directory (a lock file under ``<data_dir>/bridges/opcua/`` refuses a
second). It connects with asyncua, finds the machine status objects
(:mod:`traceloom_pipelines.bridges.opcua_nodes`) and creates one data-change subscription with
the seed's publishing interval (``TRACELOOM_OPCUA_INTERVAL_SECONDS``, 30 s) on their variables.
The values of one publish response are merged per machine into one sample: a line in the shape of
the MES ``machine_status`` contract, with the configured tenant (never one from the server).

Samples are batched like the MQTT bridge's messages: a batch is written once it holds
``TRACELOOM_OPCUA_BATCH_SAMPLES`` samples or its oldest sample is ``TRACELOOM_OPCUA_BATCH_SECONDS``
old, as ``landing/<tenant>/mes/machine_status/opcua-<UTC yyyymmddThhmmssffffff>Z-<pid>-<n>.jsonl``
written atomically (:func:`~traceloom_pipelines.landing.drops.write_drop_file`: ``.part``, fsync,
rename). OPC-UA has no redelivery: a sample taken while the bridge is down is lost, the next one
(at most an interval later) carries the machine's state. After ``kill -9`` the open batch (at
most ``batch_seconds`` of samples) is lost; SIGTERM and SIGINT write it and exit 0.

When the server goes away (connection or subscription lost, a probe of the server state failing
every ``TRACELOOM_OPCUA_KEEPALIVE_SECONDS``) the bridge closes the session and connects again,
backing off from 1 s to ``TRACELOOM_OPCUA_RECONNECT_MAX_SECONDS`` (60 s), then browses and
subscribes anew. The server's first notification repeats every current value: a sample equal to
the machine's previous one is not written again (a repeat that still reaches a file, e.g. after
the bridge restarted, is an exact duplicate the landing skips by record hash). This loop is the
bridge's own: asyncua's auto-reconnect is not used (it is not in every asyncua version).

Health file ``<data_dir>/bridges/opcua/health.json`` (:class:`OpcuaHealth`), rewritten
atomically every ``TRACELOOM_OPCUA_HEALTH_SECONDS`` and once more when the bridge stops.
Settings: :mod:`traceloom_pipelines.bridges.opcua_config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from asyncua import Client, Node, ua

from traceloom_pipelines.bridges.health import (
    HealthSamples,
    RateMeter,
    health_path,
    lag_seconds,
    utc_iso,
    write_health,
)
from traceloom_pipelines.bridges.opcua_config import OpcuaSettings
from traceloom_pipelines.bridges.opcua_nodes import (
    ENTITY,
    SYSTEM,
    discover,
    event_time,
    sample_line,
    sample_record,
)
from traceloom_pipelines.bridges.process import drop_file_name, hold_lock
from traceloom_pipelines.landing.drops import write_drop_file

log = logging.getLogger("traceloom.bridges.opcua")

BRIDGE = "opcua"
FILE_PREFIX = "opcua-"
RECONNECT_MIN_SECONDS = 1.0
# values of one publish response arrive as separate callbacks: a machine's sample is taken
# this long after its first changed value, so all of the response's values are in it
SETTLE_SECONDS = 0.05
_CONNECT_TIMEOUT_SECONDS = 30.0
_DISCONNECT_TIMEOUT_SECONDS = 5.0
_WRITE_RETRY_MAX_SECONDS = 30.0


@dataclass
class OpcuaHealth:
    """Counters the bridge updates (one asyncio loop: no lock) and the health file shows.

    ``newest_event`` is the newest ``LastUpdateTimestamp`` seen (aware, UTC); ``connects``
    counts sessions established, ``reconnects`` in the file is ``connects - 1``.
    """

    endpoint: str
    tenant: str
    connected: bool = False
    machines: int = 0
    monitored_items: int = 0
    samples_received: int = 0
    samples_written: int = 0
    connects: int = 0
    newest_event: datetime | None = None
    last_drop_file: str | None = None
    _rate: RateMeter = field(default_factory=RateMeter, repr=False)

    def snapshot(self, now: datetime, monotonic: float, running: bool = True) -> dict:
        """The health document at ``now`` (aware UTC); ``monotonic`` (seconds) times the rate::

            {"bridge": "opcua", "updated_at": "…Z", "pid": 1234, "endpoint": "opc.tcp://…",
             "tenant": "acme", "running": true, "connected": true, "machines": 12,
             "monitored_items": 84, "samples_per_second": 0.4, "lag_seconds": 12.5,
             "samples_received": 480, "samples_written": 476, "reconnects": 0,
             "last_drop_file": "acme/mes/machine_status/opcua-….jsonl"}

        ``samples_per_second`` counts samples taken since the previous write, ``lag_seconds`` is
        now − newest ``LastUpdateTimestamp`` (UTC) or null, ``last_drop_file`` is relative to
        ``landing/``.
        """
        return {
            "bridge": BRIDGE,
            "updated_at": utc_iso(now),
            "pid": os.getpid(),
            "endpoint": self.endpoint,
            "tenant": self.tenant,
            "running": running,
            "connected": self.connected and running,
            "machines": self.machines,
            "monitored_items": self.monitored_items,
            "samples_per_second": self._rate.per_second(self.samples_received, monotonic),
            "lag_seconds": lag_seconds(now, self.newest_event),
            "samples_received": self.samples_received,
            "samples_written": self.samples_written,
            "reconnects": max(0, self.connects - 1),
            "last_drop_file": self.last_drop_file,
        }


class _Handler:
    """asyncua subscription handler: hands every value to the bridge, flags a lost subscription."""

    def __init__(self, bridge: OpcuaBridge, items: dict[ua.NodeId, tuple[str, str]]):
        self.bridge, self.items, self.lost = bridge, items, asyncio.Event()

    def datachange_notification(self, node: Node, value: object, data) -> None:
        """A value changed; a value with a bad or uncertain status code is ignored (the
        machine's sample keeps the field's last good value, or waits for a first one)."""
        item = self.items.get(node.nodeid)
        data_value = data.monitored_item.Value
        if item is None or not data_value.StatusCode.is_good():
            return
        self.bridge.on_value(*item, value, data_value.SourceTimestamp)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        log.warning("subscription status changed: %s", getattr(status.Status, "name", status))
        self.lost.set()


class OpcuaBridge:
    """The bridge of one data directory: status samples into drop files.

    Args:
        settings: endpoint, credentials, nodes, interval and batching.
        data_dir: files go to ``<data_dir>/landing``, the health file to
            ``<data_dir>/bridges/opcua/health.json``.
    """

    def __init__(self, settings: OpcuaSettings, data_dir: Path):
        self.settings = settings
        self.landing = Path(data_dir) / "landing"
        self.health_file = health_path(data_dir, BRIDGE)
        self.health_samples = HealthSamples(self.landing)
        self.health = OpcuaHealth(settings.url, settings.tenant)
        self.stop_event = asyncio.Event()
        self._values: dict[str, dict[str, object]] = {}  # machine → field → value
        self._fields: dict[str, set[str]] = {}  # machine → fields subscribed to
        self._source_time: dict[str, datetime] = {}  # machine → newest source timestamp
        self._changed: set[str] = set()
        self._last_line: dict[str, str] = {}  # machine → its latest sample, across sessions
        self._sample_timer: asyncio.TimerHandle | None = None
        self._pending: list[str] = []
        self._oldest: float | None = None  # monotonic time the oldest pending sample came
        self._files = 0

    # -- samples ----------------------------------------------------------------------------
    def on_value(self, machine: str, name: str, value: object, source: datetime | None) -> None:
        """A value of ``machine``'s ``name`` variable arrived (``source``: its source time)."""
        self._values.setdefault(machine, {})[name] = value
        if source is not None:
            newest = self._source_time.get(machine)
            self._source_time[machine] = source if newest is None else max(newest, source)
        self._changed.add(machine)
        if self._sample_timer is None:
            loop = asyncio.get_running_loop()
            self._sample_timer = loop.call_later(SETTLE_SECONDS, self.take_samples)

    def take_samples(self) -> None:
        """One sample per machine whose values changed, once every subscribed field has a value
        (the first notification of a subscription brings them all) and unless it equals the
        machine's previous sample."""
        if self._sample_timer is not None:
            self._sample_timer.cancel()
            self._sample_timer = None
        for machine in sorted(self._changed):
            values = self._values.get(machine, {})
            if not self._fields.get(machine, set()) <= values.keys():
                continue
            record = sample_record(machine, values, self._source_time.get(machine))
            line = sample_line(record)
            if self._last_line.get(machine) == line:
                continue
            self._last_line[machine] = line
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(line)
            self.health.samples_received += 1
            moment = event_time(record)
            if moment is not None:
                self.health.newest_event = max(moment, self.health.newest_event or moment)
        self._changed.clear()

    def _batch_due(self) -> bool:
        s = self.settings
        return len(self._pending) >= s.batch_samples or (
            self._oldest is not None and time.monotonic() >= self._oldest + s.batch_seconds
        )

    async def flush(self) -> bool:
        """Write the pending samples as drop files of at most ``batch_samples`` lines.

        Returns False when a file could not be written (disk full, permissions): the samples not
        written stay pending, to be written again.
        """
        size = self.settings.batch_samples
        while self._pending:
            lines = self._pending[:size]
            self._files += 1
            try:
                path = await asyncio.to_thread(
                    write_drop_file,
                    self.landing,
                    self.settings.tenant,
                    SYSTEM,
                    ENTITY,
                    drop_file_name(FILE_PREFIX, self._files),
                    lines,
                )
            except OSError as error:
                log.error("cannot write a drop file under %s: %s", self.landing, error)
                self._oldest = time.monotonic()
                return False
            del self._pending[: len(lines)]
            self.health.samples_written += len(lines)
            self.health.last_drop_file = path.relative_to(self.landing).as_posix()
        self._oldest = None
        return True

    def write_health(self, running: bool = True) -> None:
        """Rewrite the health file (a failure is logged, never fatal)."""
        write_health(self.health, self.health_file, running, self.health_samples)

    # -- the connection ---------------------------------------------------------------------
    def _client(self) -> Client:
        s = self.settings
        client = Client(s.url, watchdog_intervall=s.keepalive_seconds)
        if s.username is not None:
            client.set_user(s.username)
            if s.password is not None:
                client.set_password(s.password)
        return client

    async def _session(self) -> None:
        """Connect, subscribe, and return when the stop event is set; raise when the
        connection or the subscription is lost (or cannot be established)."""
        s = self.settings
        client = self._client()
        connected = False
        try:
            if s.security:
                await client.set_security_string(s.security)
            await asyncio.wait_for(client.connect(), _CONNECT_TIMEOUT_SECONDS)
            connected = True
            nodes = await discover(client, s.nodes)
            items = {
                variable.nodeid: (status.machine_id, name)
                for status in nodes
                for name, variable in status.fields.items()
            }
            self._values, self._source_time = {}, {}
            self._fields = {status.machine_id: set(status.fields) for status in nodes}
            handler = _Handler(self, items)
            subscription = await client.create_subscription(s.interval_seconds * 1000, handler)
            variables = [v for status in nodes for v in status.fields.values()]
            handles = await subscription.subscribe_data_change(variables)
            refused = [v for v, h in zip(variables, handles, strict=True) if not isinstance(h, int)]
            for variable in refused:  # a sample waits only for the fields monitored
                machine, name = items[variable.nodeid]
                self._fields[machine].discard(name)
                log.warning("the server refused to monitor %s", variable.nodeid.to_string())
            accepted = len(variables) - len(refused)
            self.health.connected = True
            self.health.connects += 1
            self.health.machines, self.health.monitored_items = len(nodes), accepted
            log.info(
                "connected to %s: %d machines, %d monitored items, publishing every %.1f s",
                s.url,
                len(nodes),
                accepted,
                s.interval_seconds,
            )
            while not self.stop_event.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 1.0)
                if handler.lost.is_set():
                    raise ConnectionError("the server ended the subscription")
                await client.check_connection()  # raises once the connection is lost
        finally:
            self.health.connected = False
            self.take_samples()
            with contextlib.suppress(Exception):
                if connected:
                    await asyncio.wait_for(client.disconnect(), _DISCONNECT_TIMEOUT_SECONDS)
                else:
                    client.disconnect_socket()  # a connect that failed or timed out half-way

    async def _connection_loop(self) -> None:
        """Sessions one after the other until the stop event is set, backing off from
        :data:`RECONNECT_MIN_SECONDS` to ``settings.reconnect_max_seconds`` after a failure."""
        delay = RECONNECT_MIN_SECONDS
        while not self.stop_event.is_set():
            connects = self.health.connects
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: reconnect, never exit
                if self.health.connects > connects:
                    delay = RECONNECT_MIN_SECONDS  # it was up: the first retry is quick
                log.warning(
                    "OPC-UA server %s: %s; reconnecting in %.0f s",
                    self.settings.url,
                    str(error) or type(error).__name__,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
                delay = min(delay * 2, self.settings.reconnect_max_seconds)

    # -- the process ------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until :attr:`stop_event` is set; then write the open batch and the health file
        and close the session."""
        s = self.settings
        connection = asyncio.create_task(self._connection_loop())
        next_health = time.monotonic()
        retry_at, retry_delay = 0.0, 1.0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now >= next_health:
                    self.write_health()
                    next_health = now + s.health_seconds
                if self._batch_due() and now >= retry_at:
                    if await self.flush():
                        retry_delay = 1.0
                    else:
                        retry_at = time.monotonic() + retry_delay
                        retry_delay = min(retry_delay * 2, _WRITE_RETRY_MAX_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 0.1)
        finally:
            self.stop_event.set()
            try:
                await asyncio.wait_for(connection, _DISCONNECT_TIMEOUT_SECONDS * 2)
            except Exception:  # a timeout or anything else: stopping regardless
                log.warning("the session did not close cleanly")
            self.take_samples()
            if not await self.flush():
                log.error("exiting with %d samples not written", len(self._pending))
            self.write_health(running=False)
            log.info("stopped")


def run_bridge(data_dir: Path) -> None:
    """Run the bridge of ``data_dir`` in the foreground until SIGTERM or SIGINT (then return).

    Raises:
        ValueError: the settings in the environment are invalid (:meth:`OpcuaSettings.from_env`).
        RuntimeError: another OPC-UA bridge runs for the same data directory.
    """
    settings = OpcuaSettings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    lock = hold_lock(data_dir, BRIDGE)
    try:
        asyncio.run(_main(settings, data_dir))
    finally:
        os.close(lock)


async def _main(settings: OpcuaSettings, data_dir: Path) -> None:
    bridge = OpcuaBridge(settings, data_dir)
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        log.info("%s: writing the open batch, then stopping", signal.Signals(signum).name)
        bridge.stop_event.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    log.info(
        "opcua bridge for %s: server %s, tenant %s, interval %.1f s, batches of %d samples "
        "or %.1f s",
        bridge.landing,
        settings.url,
        settings.tenant,
        settings.interval_seconds,
        settings.batch_samples,
        settings.batch_seconds,
    )
    await bridge.run()
