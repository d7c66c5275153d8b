"""The OPC-UA bridge's settings, read from the environment only (003 §4.2.1 OPC-UA configuration).

=========================================  ===================================================
variable                                   meaning (default)
=========================================  ===================================================
``TRACELOOM_OPCUA_URL``                    the server's endpoint, ``opc.tcp://host[:port][/path]``
                                           (``opc.tcp://127.0.0.1:4840``; the seed's
                                           ``EndpointUrl``)
``TRACELOOM_OPCUA_TENANT``                 every sample belongs to this tenant (required)
``TRACELOOM_OPCUA_USERNAME``               user of the session (anonymous when unset)
``TRACELOOM_OPCUA_PASSWORD``               its password (never logged nor shown)
``TRACELOOM_OPCUA_SECURITY``               ``Policy,Mode,client-cert,client-key[,server-cert]``,
                                           e.g. ``Basic256Sha256,SignAndEncrypt,cert.der,
                                           key.pem`` (asyncua's security string; no security
                                           when unset)
``TRACELOOM_OPCUA_NODES``                  comma-separated status node ids, e.g.
                                           ``ns=2;s=MES.Machines.M-203.Status`` (default:
                                           browse ``Objects/MES/Machines/<id>/Status``)
``TRACELOOM_OPCUA_INTERVAL_SECONDS``       publishing interval of the subscription, seconds
                                           (30: the seed's ``SubscriptionInterval``)
``TRACELOOM_OPCUA_KEEPALIVE_SECONDS``      seconds between two probes of the server (10: the
                                           seed's ``KeepAliveInterval``)
``TRACELOOM_OPCUA_RECONNECT_MAX_SECONDS``  longest wait between two connection attempts; the
                                           wait doubles from 1 s up to it (60)
``TRACELOOM_OPCUA_BATCH_SAMPLES``          samples per drop file at most (5000)
``TRACELOOM_OPCUA_BATCH_SECONDS``          age of the oldest sample of an open batch before it
                                           is written, seconds (2)
``TRACELOOM_OPCUA_HEALTH_SECONDS``         seconds between health file writes (2)
=========================================  ===================================================

The tenant never comes from the server's data: one bridge process serves one tenant's server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from asyncua import ua

from traceloom_pipelines.bridges.config import positive_setting
from traceloom_pipelines.landing.drops import is_folder_name

_DEFAULT_URL = "opc.tcp://127.0.0.1:4840"
_SECURITY_MODES = ("Sign", "SignAndEncrypt")


@dataclass(frozen=True)
class OpcuaSettings:
    """Where the bridge connects, what it subscribes to, and how it batches.

    Attributes:
        url: the endpoint, ``opc.tcp://host:port[/path]`` (never credentials).
        tenant: the tenant every sample lands under (``landing/<tenant>/mes/machine_status``).
        username, password: session credentials or None; ``password`` is left out of ``repr``.
        security: asyncua's security string (``Policy,Mode,cert,key[,server_cert]``) or None.
        nodes: status node ids to subscribe to; empty: browse the server for them.
        interval_seconds: publishing interval requested for the subscription (seconds).
        keepalive_seconds: seconds between two probes of the server's state.
        reconnect_max_seconds: the backoff between connection attempts doubles up to this.
        batch_samples: a batch is written once it holds this many samples.
        batch_seconds: ... or once its oldest sample is this old (seconds).
        health_seconds: seconds between two writes of the health file.
    """

    url: str
    tenant: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str | None = None
    nodes: tuple[str, ...] = ()
    interval_seconds: float = 30.0
    keepalive_seconds: float = 10.0
    reconnect_max_seconds: float = 60.0
    batch_samples: int = 5000
    batch_seconds: float = 2.0
    health_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpcuaSettings:
        """Read the settings from ``env`` (default ``os.environ``); see the module docstring.

        Raises:
            ValueError: a malformed endpoint URL (or one carrying credentials: they belong in
                ``TRACELOOM_OPCUA_USERNAME`` / ``_PASSWORD``), no tenant or one that is not a
                folder name, a password without a user, a malformed security string or node id,
                an interval or batch size that is not a positive number.
        """
        env = os.environ if env is None else env
        tenant = env.get("TRACELOOM_OPCUA_TENANT", "").strip()
        if not is_folder_name(tenant):
            raise ValueError(
                f"TRACELOOM_OPCUA_TENANT must name the tenant of the server's samples: {tenant!r}"
            )
        username = env.get("TRACELOOM_OPCUA_USERNAME") or None
        password = env.get("TRACELOOM_OPCUA_PASSWORD") or None
        if password is not None and username is None:
            raise ValueError("TRACELOOM_OPCUA_PASSWORD is set without TRACELOOM_OPCUA_USERNAME")
        return cls(
            url=parse_endpoint_url(env.get("TRACELOOM_OPCUA_URL") or _DEFAULT_URL),
            tenant=tenant,
            username=username,
            password=password,
            security=parse_security(env.get("TRACELOOM_OPCUA_SECURITY", "")),
            nodes=parse_nodes(env.get("TRACELOOM_OPCUA_NODES", "")),
            interval_seconds=positive_setting(env, "TRACELOOM_OPCUA_INTERVAL_SECONDS", 30.0),
            keepalive_seconds=positive_setting(env, "TRACELOOM_OPCUA_KEEPALIVE_SECONDS", 10.0),
            reconnect_max_seconds=positive_setting(
                env, "TRACELOOM_OPCUA_RECONNECT_MAX_SECONDS", 60.0
            ),
            batch_samples=int(positive_setting(env, "TRACELOOM_OPCUA_BATCH_SAMPLES", 5000)),
            batch_seconds=positive_setting(env, "TRACELOOM_OPCUA_BATCH_SECONDS", 2.0),
            health_seconds=positive_setting(env, "TRACELOOM_OPCUA_HEALTH_SECONDS", 2.0),
        )


def parse_endpoint_url(url: str) -> str:
    """``url`` stripped, once it is checked to be ``opc.tcp://host[:port][/path]``.

    Raises:
        ValueError: another scheme, no host, a bad port, or user info in the URL.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme != "opc.tcp":
        raise ValueError(f"TRACELOOM_OPCUA_URL must start with opc.tcp://: {parts.scheme!r}")
    if parts.username or parts.password:
        raise ValueError(
            "TRACELOOM_OPCUA_URL must not carry credentials; use TRACELOOM_OPCUA_USERNAME and "
            "TRACELOOM_OPCUA_PASSWORD"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as error:
        raise ValueError(f"TRACELOOM_OPCUA_URL has a bad port: {error}") from None
    if not parts.hostname:
        raise ValueError("TRACELOOM_OPCUA_URL names no host")
    return url


def parse_security(text: str) -> str | None:
    """The security string, checked for shape (``Policy,Mode,cert,key[,server_cert]``), or None
    when ``text`` is blank.

    Raises:
        ValueError: fewer than four or more than five parts, an empty part, or a mode other than
            ``Sign`` / ``SignAndEncrypt``.
    """
    text = text.strip()
    if not text:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not 4 <= len(parts) <= 5 or not all(parts) or parts[1] not in _SECURITY_MODES:
        raise ValueError(
            "TRACELOOM_OPCUA_SECURITY must be Policy,Mode,client-cert,client-key[,server-cert] "
            f"with Mode one of {_SECURITY_MODES}"
        )
    return ",".join(parts)


def parse_nodes(text: str) -> tuple[str, ...]:
    """The comma-separated node ids of ``text`` (blank: none).

    Raises:
        ValueError: one of them is not a node id (``ns=2;s=…``, ``i=…``).
    """
    nodes = tuple(part.strip() for part in text.split(",") if part.strip())
    for node in nodes:
        try:
            ua.NodeId.from_string(node)
        except (ValueError, ua.UaError) as error:
            raise ValueError(f"TRACELOOM_OPCUA_NODES: not a node id: {node!r} ({error})") from None
    return nodes
