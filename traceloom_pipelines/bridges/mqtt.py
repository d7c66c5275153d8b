"""``traceloom mqtt-bridge``: MES and sensor messages from an MQTT broker into drop files (003
§4.2.1, 001 INT-001).

One process per data directory (a lock file under ``<data_dir>/bridges/mqtt/`` refuses a
second). It connects with a fixed client id and a persistent session (MQTT 5 clean start off
with a session expiry interval, or MQTT 3.1.1 clean session off), subscribes at QoS 1 to the
MES and sensor topics (:mod:`traceloom_pipelines.bridges.topics`) and acknowledges
**manually**: a message is acknowledged (PUBACK) only after the drop file holding it has been
written atomically (:func:`~traceloom_pipelines.landing.drops.write_drop_file`: ``.part``,
fsync, rename, fsync of the folder). An acknowledged message therefore survives ``kill -9``; an
unacknowledged one is redelivered by the broker when the bridge reconnects, and lands once: the
landing skips exact duplicates by record hash.

Messages are batched: a batch is written once it holds ``TRACELOOM_MQTT_BATCH_MESSAGES`` messages
or its oldest message is ``TRACELOOM_MQTT_BATCH_SECONDS`` old, as one file per tenant and entity,
``landing/<tenant>/<mes|iot>/<entity>/mqtt-<UTC yyyymmddThhmmssffffff>Z-<pid>-<n>.jsonl``, one
message per line. SIGTERM and SIGINT write the open batch, acknowledge it, disconnect (the broker
keeps the session and queues messages meanwhile) and exit 0. Reconnects back off from 1 s to 60 s.

Broker limits that matter (Mosquitto's names): the bridge holds up to a batch of unacknowledged
messages, so the broker must send that many before the first acknowledgement. With MQTT 5 the
bridge announces a receive maximum of 65,535 (Mosquitto otherwise sends its
``max_inflight_messages``, default 20); with MQTT 3.1.1 raise ``max_inflight_messages`` to the
batch size. While the bridge is away the broker queues at most ``max_queued_messages`` per
session (default 1,000) and drops the rest: size it for the outage to be covered
(messages per second × seconds).

Settings: :mod:`traceloom_pipelines.bridges.config`. Health file:
:mod:`traceloom_pipelines.bridges.health`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from traceloom_pipelines.bridges.config import MqttSettings
from traceloom_pipelines.bridges.health import (
    BridgeHealth,
    HealthSamples,
    health_path,
    write_health,
)
from traceloom_pipelines.bridges.process import drop_file_name, hold_lock
from traceloom_pipelines.bridges.topics import Line, Route, Unroutable, route, subscriptions
from traceloom_pipelines.bridges.topics import to_line as message_line
from traceloom_pipelines.landing.drops import write_drop_file

log = logging.getLogger("traceloom.bridges.mqtt")

FILE_PREFIX = "mqtt-"
KEEPALIVE_SECONDS = 30
# unacknowledged QoS 1 messages the broker may send (MQTT 5 CONNECT; the protocol's maximum)
RECEIVE_MAXIMUM = 65_535
RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS = 1, 60
_WRITE_RETRY_MAX_SECONDS = 30.0
_UNROUTABLE_LOG_EVERY = 1000


@dataclass(frozen=True)
class Received:
    """A message received and not yet acknowledged.

    Attributes:
        mid: its packet id on the connection it came on; qos: 0, 1 or 2.
        topic: the topic, or None when it is not UTF-8.
        payload: the payload bytes.
        connection: the number of the connection it came on (acknowledged only on that one).
    """

    mid: int
    qos: int
    topic: str | None
    payload: bytes
    connection: int


class MqttBridge:
    """The bridge of one data directory: batches messages into drop files, then acknowledges.

    Args:
        settings: broker, session, subscriptions and batching.
        data_dir: the data directory; files go to ``<data_dir>/landing``, the health file to
            ``<data_dir>/bridges/mqtt/health.json``.
    """

    def __init__(self, settings: MqttSettings, data_dir: Path):
        self.settings = settings
        self.landing = Path(data_dir) / "landing"
        self.health_file = health_path(data_dir)
        self.health_samples = HealthSamples(self.landing)
        self.health = BridgeHealth(settings.client_id, settings.broker)
        self.stop_event = threading.Event()
        self._cond = threading.Condition()
        self._pending: list[Received] = []
        self._oldest: float | None = None  # monotonic time the oldest pending message came
        self._connection = 0
        self._files = 0
        self.client = self._make_client()

    # -- the paho client (its callbacks run on paho's network thread) -----------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.warning("broker %s refused the connection: %s", self.settings.broker, reason_code)
            return
        with self._cond:
            self._connection += 1
        with self.health.lock:
            self.health.connected = True
            self.health.subscribed = False
            self.health.connects += 1
        log.info(
            "connected to %s as %s (session present: %s)",
            self.settings.broker,
            self.settings.client_id,
            flags.session_present,
        )
        filters = subscriptions(self.settings)
        if self.settings.protocol == "5":
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])

    def _on_connect_fail(self, _client, _userdata) -> None:
        log.warning("cannot reach %s; retrying with backoff", self.settings.broker)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        with self.health.lock:
            self.health.connected = self.health.subscribed = False
        if not self.stop_event.is_set():
            log.warning("disconnected from %s: %s", self.settings.broker, reason_code)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure or code.value < 1]
        if refused:
            log.error("subscriptions refused or downgraded below QoS 1: %s", ", ".join(refused))
            return
        with self.health.lock:
            self.health.subscribed = True
        log.info("subscribed at QoS 1: %s", ", ".join(subscriptions(self.settings)))

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            topic: str | None = message.topic
        except UnicodeDecodeError:
            topic = None
        with self._cond:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(
                Received(message.mid, message.qos, topic, message.payload, self._connection)
            )
            if len(self._pending) in (1, self.settings.batch_limit):
                self._cond.notify()  # a batch opened (its age counts from now), or is full
        with self.health.lock:
            self.health.messages_received += 1
            self.health.redeliveries += int(bool(message.dup))

    # -- batches (main thread) --------------------------------------------------------------
    def _take_due_batch(self, timeout: float) -> list[Received]:
        """Wait up to ``timeout`` seconds for a batch to become due; return it (or [])."""
        s = self.settings
        with self._cond:
            if len(self._pending) < s.batch_limit:
                if self._oldest is not None:
                    timeout = min(timeout, self._oldest + s.batch_seconds - time.monotonic())
                if timeout > 0:
                    self._cond.wait(timeout)
            due = len(self._pending) >= s.batch_limit or (
                self._oldest is not None and time.monotonic() >= self._oldest + s.batch_seconds
            )
            return self._take() if due else []

    def _take(self) -> list[Received]:
        with self._cond:
            batch, self._pending, self._oldest = self._pending, [], None
            return batch

    def _file_name(self) -> str:
        self._files += 1
        return drop_file_name(FILE_PREFIX, self._files)

    def _ack(self, records: list[Received]) -> None:
        """Acknowledge ``records`` that came on the current connection (older ones are
        redelivered by the broker on the new connection and land as duplicates)."""
        with self._cond:
            current = self._connection
        for record in records:
            if record.qos > 0 and record.connection == current:
                self.client.ack(record.mid, record.qos)

    def _route(self, record: Received) -> Route | None:
        if record.topic is None:
            reason = "topic is not UTF-8"
        else:
            try:
                return route(self.settings, record.topic)
            except Unroutable as error:
                reason = str(error)
        with self.health.lock:
            self.health.unroutable += 1
            count = self.health.unroutable
        if count <= 20 or count % _UNROUTABLE_LOG_EVERY == 0:
            log.warning("not landed (%s): topic %r (%d such messages)", reason, record.topic, count)
        return None

    def flush(self, batch: list[Received]) -> bool:
        """Write ``batch`` as drop files (one per tenant and entity, at most
        ``batch_messages`` lines each), acknowledging each file's messages once it is written.

        Returns False when a file could not be written (disk full, permissions): its messages
        and the rest are put back, unacknowledged, to be written again.
        """
        groups: dict[Route, list[tuple[Received, Line]]] = {}
        unroutable: list[Received] = []
        for record in batch:
            where = self._route(record)
            if where is None:
                unroutable.append(record)
                continue
            groups.setdefault(where, []).append(
                (record, message_line(record.topic or "", record.payload, where.system))
            )
        self._ack(unroutable)
        size = self.settings.batch_messages
        chunks = [
            (where, items[i : i + size])
            for where, items in groups.items()
            for i in range(0, len(items), size)
        ]
        for index, (where, items) in enumerate(chunks):
            try:
                path = write_drop_file(
                    self.landing,
                    where.tenant_id,
                    where.system,
                    where.entity,
                    self._file_name(),
                    (line.text for _, line in items),
                )
            except OSError as error:
                log.error("cannot write a drop file under %s: %s", self.landing, error)
                unwritten = [record for _, rest in chunks[index:] for record, _ in rest]
                with self._cond:
                    self._pending[0:0] = unwritten
                    self._oldest = time.monotonic()
                return False
            self._ack([record for record, _ in items])
            newest = max((line.event_time for _, line in items if line.event_time), default=None)
            with self.health.lock:
                self.health.messages_written += len(items)
                self.health.malformed += sum(1 for _, line in items if line.malformed)
                if newest is not None:
                    self.health.newest_event = max(newest, self.health.newest_event or newest)
                self.health.last_drop_file = path.relative_to(self.landing).as_posix()
        return True

    def write_health(self, running: bool = True) -> None:
        """Rewrite the health file (a failure is logged, never fatal)."""
        write_health(self.health, self.health_file, running, self.health_samples)

    # -- the process --------------------------------------------------------------------
    def run(self) -> None:
        """Connect, then write batches until :attr:`stop_event` is set; then write the open
        batch, acknowledge it and disconnect (the broker keeps the session)."""
        s = self.settings
        if s.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = s.session_expiry_seconds
            properties.ReceiveMaximum = RECEIVE_MAXIMUM
            self.client.connect_async(
                s.host, s.port, KEEPALIVE_SECONDS, clean_start=False, properties=properties
            )
        else:
            self.client.connect_async(s.host, s.port, KEEPALIVE_SECONDS)
        self.client.loop_start()
        retry_delay = 1.0
        next_health = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if time.monotonic() >= next_health:
                    self.write_health()
                    next_health = time.monotonic() + s.health_seconds
                batch = self._take_due_batch(min(0.5, max(0.0, next_health - time.monotonic())))
                if batch and not self.flush(batch):
                    self.stop_event.wait(retry_delay)
                    retry_delay = min(retry_delay * 2, _WRITE_RETRY_MAX_SECONDS)
                elif batch:
                    retry_delay = 1.0
        finally:
            batch = self._take()
            if batch and not self.flush(batch):
                log.error("exiting with messages not written; the broker will redeliver them")
            self.client.disconnect()
            self.client.loop_stop()
            self.write_health(running=False)
            log.info("stopped")


def run_bridge(data_dir: Path) -> None:
    """Run the bridge of ``data_dir`` in the foreground until SIGTERM or SIGINT.

    Raises:
        ValueError: the settings in the environment are invalid
            (:meth:`MqttSettings.from_env`).
        RuntimeError: another bridge runs for the same data directory.
    """
    settings = MqttSettings.from_env(data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    lock = hold_lock(data_dir, "mqtt")
    bridge = MqttBridge(settings, data_dir)

    def stop(signum: int, _frame) -> None:
        log.info("%s: writing the open batch, then stopping", signal.Signals(signum).name)
        bridge.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "mqtt bridge for %s: broker %s, client id %s, batches of %d messages or %.1f s",
        bridge.landing,
        settings.broker,
        settings.client_id,
        settings.batch_messages,
        settings.batch_seconds,
    )
    try:
        bridge.run()
    finally:
        os.close(lock)
