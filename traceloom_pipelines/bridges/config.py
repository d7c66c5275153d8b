"""The MQTT bridge's settings, read from the environment only (003 §4.2.1 broker configuration).

==========================================  ==================================================
variable                                    meaning (default)
==========================================  ==================================================
``TRACELOOM_MQTT_URL``                      ``mqtt://host:port`` or ``mqtts://host:port`` (TLS)
                                            (``mqtt://127.0.0.1:1883``; ports 1883 / 8883)
``TRACELOOM_MQTT_USERNAME``                 broker user (none)
``TRACELOOM_MQTT_PASSWORD``                 broker password (none; never logged nor shown)
``TRACELOOM_MQTT_CA_FILE``                  CA bundle for ``mqtts://`` (the system's CAs)
``TRACELOOM_MQTT_CLIENT_ID``                the fixed client id of the persistent session
                                            (``traceloom-mqtt-<hash of host and data dir>``)
``TRACELOOM_MQTT_TENANT``                   every message belongs to this tenant, topics
                                            ``mes/...`` (fixed-tenant mode)
``TRACELOOM_MQTT_TENANT_PREFIXES``          topics ``<tenant>/mes/...``: a comma-separated list
                                            of the tenants to subscribe to, or ``+`` for any
                                            (topic-prefix mode); exactly one of the two is set
``TRACELOOM_MQTT_TOPIC_ROOT``               levels before the tenant / ``mes`` level, e.g.
                                            ``site-dg01`` (none)
``TRACELOOM_MQTT_BATCH_MESSAGES``           messages per drop file at most (5000)
``TRACELOOM_MQTT_BATCH_SECONDS``            age of the oldest message of an open batch before
                                            it is written, seconds (2)
``TRACELOOM_MQTT_HEALTH_SECONDS``           seconds between health file writes (2)
``TRACELOOM_MQTT_SESSION_EXPIRY_SECONDS``   how long the broker keeps the session (and queues
                                            messages) while the bridge is away (604800: 7 days)
``TRACELOOM_MQTT_PROTOCOL``                 ``5`` (MQTT 5, default) or ``3.1.1``
``TRACELOOM_MQTT_BROKER_INFLIGHT``          MQTT 3.1.1 only: how many unacknowledged messages
                                            the broker sends before it waits for
                                            acknowledgements (20: Mosquitto's
                                            ``max_inflight_messages``); batches are written at
                                            this size so the broker never stalls
==========================================  ==================================================

MQTT 5 tells the broker how many unacknowledged messages the bridge takes (Receive Maximum,
65,535). MQTT 3.1.1 cannot: the broker's own window applies (Mosquitto: 20), and since the bridge
acknowledges a message only once its drop file is written, a batch larger than the window would
stall the broker until the batch's age ran out; meanwhile the broker queues at most
``max_queued_messages`` (1,000) for the session and drops the rest. With 3.1.1, raise the
broker's ``max_inflight_messages`` and set ``TRACELOOM_MQTT_BROKER_INFLIGHT`` to match for larger
files.

The tenant never comes from a payload: it is configured, or it is the topic level the broker
routed the message by (whose publish rights the broker's ACLs control).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from traceloom_pipelines.landing.drops import is_folder_name

ANY_TENANT = "+"
PROTOCOLS = ("5", "3.1.1")
_DEFAULT_URL = "mqtt://127.0.0.1:1883"
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttSettings:
    """Where the bridge connects, what it subscribes to, and how it batches.

    Attributes:
        host, port: the broker.
        tls: connect with TLS (``mqtts://``), verifying the broker against ``ca_file`` or the
            system's CAs.
        ca_file: CA bundle path or None.
        username, password: credentials or None; ``password`` is left out of ``repr``.
        client_id: fixed client id: the broker keeps the session (subscriptions, unacknowledged
            messages) under it.
        tenant: the fixed tenant, or None in topic-prefix mode.
        tenant_prefixes: topic-prefix mode: the tenants subscribed to, or ``("+",)`` for any;
            empty in fixed-tenant mode.
        topic_root: topic levels before the tenant / ``mes`` level, without slashes at either
            end ("" for none).
        batch_messages: a batch is written once it holds this many messages.
        batch_seconds: ... or once its oldest message is this old (seconds).
        health_seconds: seconds between two writes of the health file.
        session_expiry_seconds: MQTT 5 session expiry interval sent on connect (seconds).
        protocol: ``"5"`` or ``"3.1.1"``.
        broker_inflight: MQTT 3.1.1: the broker's window of unacknowledged messages.
    """

    host: str
    port: int
    client_id: str
    tenant: str | None = None
    tenant_prefixes: tuple[str, ...] = ()
    topic_root: str = ""
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    batch_messages: int = 5000
    batch_seconds: float = 2.0
    health_seconds: float = 2.0
    session_expiry_seconds: int = 7 * 24 * 3600
    protocol: str = "5"
    broker_inflight: int = 20

    @property
    def batch_limit(self) -> int:
        """Messages per batch at most: ``batch_messages``, and with MQTT 3.1.1 no more than the
        broker's window (:attr:`broker_inflight`), which it would not exceed before the batch is
        acknowledged."""
        if self.protocol == "5":
            return self.batch_messages
        return min(self.batch_messages, self.broker_inflight)

    @property
    def broker(self) -> str:
        """``mqtt[s]://host:port`` for logs (never credentials)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> MqttSettings:
        """Read the settings from ``env`` (default ``os.environ``); see the module docstring.

        Raises:
            ValueError: a malformed URL (or one carrying credentials: they belong in
                ``TRACELOOM_MQTT_USERNAME`` / ``_PASSWORD``), neither or both tenant modes,
                a tenant name that is not a folder name, a topic root with wildcards or empty
                levels, a batch size or interval that is not a positive number.
        """
        env = os.environ if env is None else env
        host, port, tls = parse_broker_url(env.get("TRACELOOM_MQTT_URL") or _DEFAULT_URL)
        tenant = env.get("TRACELOOM_MQTT_TENANT", "").strip() or None
        prefixes = tuple(
            t.strip() for t in env.get("TRACELOOM_MQTT_TENANT_PREFIXES", "").split(",") if t.strip()
        )
        if (tenant is None) == (not prefixes):
            raise ValueError(
                "set exactly one of TRACELOOM_MQTT_TENANT (every message is this tenant's) and "
                "TRACELOOM_MQTT_TENANT_PREFIXES (tenants from topics <tenant>/mes/...: a list "
                "or +)"
            )
        for name in (tenant,) if tenant else prefixes:
            if not (is_folder_name(name) or (name == ANY_TENANT and len(prefixes) == 1)):
                raise ValueError(f"not a valid tenant id: {name!r}")
        root = env.get("TRACELOOM_MQTT_TOPIC_ROOT", "").strip().strip("/")
        levels = root.split("/") if root else []
        if any(not level or "+" in level or "#" in level for level in levels):
            raise ValueError(f"TRACELOOM_MQTT_TOPIC_ROOT has empty or wildcard levels: {root!r}")
        protocol = env.get("TRACELOOM_MQTT_PROTOCOL", "5").strip()
        if protocol not in PROTOCOLS:
            raise ValueError(f"TRACELOOM_MQTT_PROTOCOL must be one of {PROTOCOLS}: {protocol!r}")
        return cls(
            host=host,
            port=port,
            tls=tls,
            ca_file=env.get("TRACELOOM_MQTT_CA_FILE") or None,
            username=env.get("TRACELOOM_MQTT_USERNAME") or None,
            password=env.get("TRACELOOM_MQTT_PASSWORD") or None,
            client_id=env.get("TRACELOOM_MQTT_CLIENT_ID", "").strip()
            or default_client_id(data_dir),
            tenant=tenant,
            tenant_prefixes=prefixes,
            topic_root=root,
            batch_messages=int(positive_setting(env, "TRACELOOM_MQTT_BATCH_MESSAGES", 5000)),
            batch_seconds=positive_setting(env, "TRACELOOM_MQTT_BATCH_SECONDS", 2.0),
            health_seconds=positive_setting(env, "TRACELOOM_MQTT_HEALTH_SECONDS", 2.0),
            session_expiry_seconds=int(
                positive_setting(env, "TRACELOOM_MQTT_SESSION_EXPIRY_SECONDS", 7 * 24 * 3600)
            ),
            protocol=protocol,
            broker_inflight=int(positive_setting(env, "TRACELOOM_MQTT_BROKER_INFLIGHT", 20)),
        )


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of ``mqtt://host[:port]`` or ``mqtts://host[:port]``.

    Raises:
        ValueError: another scheme, no host, a bad port, or user info in the URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(
            f"TRACELOOM_MQTT_URL must start with mqtt:// or mqtts://: {parts.scheme!r}"
        )
    if parts.username or parts.password:
        raise ValueError(
            "TRACELOOM_MQTT_URL must not carry credentials; use TRACELOOM_MQTT_USERNAME and "
            "TRACELOOM_MQTT_PASSWORD"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise ValueError(f"TRACELOOM_MQTT_URL has a bad port: {error}") from None
    if not parts.hostname:
        raise ValueError("TRACELOOM_MQTT_URL names no host")
    return parts.hostname, port, parts.scheme == "mqtts"


def default_client_id(data_dir: Path) -> str:
    """A client id fixed for this host and data directory: ``traceloom-mqtt-<12 hex>``."""
    key = f"{socket.gethostname()}:{Path(data_dir).resolve()}".encode()
    return "traceloom-mqtt-" + hashlib.sha256(key).hexdigest()[:12]


def positive_setting(env: Mapping[str, str], name: str, default: float) -> float:
    """The number in ``env[name]``, or ``default`` when unset or blank.

    Raises:
        ValueError: the value is not a number, or not greater than 0.
    """
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} is not a number: {text!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0: {text!r}")
    return value
