"""Gateway clients: who may push, for which tenant, at what rate — read from the environment.

Each client holds one API key; the gateway stores only the key's SHA-256 (hex), so the
configuration itself holds no secret. A client is configured by either

* ``TRACELOOM_GATEWAY_CLIENTS`` = ``client_id:tenant_id:sha256hex[:requests_per_minute],...``, or
* ``TRACELOOM_GATEWAY_CLIENTS_FILE`` = path of a JSON list of
  ``{"client_id", "tenant_id", "key_sha256", "rate_per_minute"?}`` objects.

The tenant of every accepted payload is the tenant of the authenticated client, never a value
from the body (000 §1 "tenant-aware"). The key arrives as ``Authorization: Bearer <key>``
(ERP webhook, 003 §3.3) or ``X-API-Key: <key>`` (HR attendance, 003 §5.3).

Make a key's hash with ``printf %s "$KEY" | sha256sum``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Names that are safe as one folder of the landing tree and as a log field; landing checks
# tenant folders against the same pattern.
from traceloom_pipelines.landing.drops import FOLDER_NAME, is_folder_name

CLIENTS_ENV = "TRACELOOM_GATEWAY_CLIENTS"
CLIENTS_FILE_ENV = "TRACELOOM_GATEWAY_CLIENTS_FILE"

# 003 §3.3: "100 requests per minute per client".
DEFAULT_RATE_PER_MINUTE = 100

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Client:
    """One pushing system.

    Attributes:
        client_id: name used in logs, state and rate limiting (``erp-sap``).
        tenant_id: the tenant every payload of this client lands under.
        key_sha256: lowercase hex SHA-256 of the client's API key (never the key).
        rate_per_minute: requests allowed per minute (token bucket size and refill).
    """

    client_id: str
    tenant_id: str
    key_sha256: str
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE


def key_sha256(key: str) -> str:
    """Lowercase hex SHA-256 of an API key (UTF-8), the form clients are configured with."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _client(client_id: str, tenant_id: str, digest: str, rate: object, where: str) -> Client:
    if not is_folder_name(client_id):
        raise ValueError(f"{where}: client id {client_id!r} must match {FOLDER_NAME.pattern}")
    if not is_folder_name(tenant_id):
        raise ValueError(
            f"{where}: tenant id of client {client_id!r} must match {FOLDER_NAME.pattern}"
        )
    digest = digest.strip().lower()
    if not _SHA256_HEX.match(digest):
        # The value is not echoed: a misconfigured entry may hold a raw key.
        raise ValueError(f"{where}: key of client {client_id!r} is not a 64-digit hex SHA-256")
    try:
        per_minute = int(rate) if rate not in (None, "") else DEFAULT_RATE_PER_MINUTE
    except (TypeError, ValueError):
        raise ValueError(f"{where}: rate of client {client_id!r} is not an integer") from None
    if per_minute < 1:
        raise ValueError(f"{where}: rate of client {client_id!r} must be at least 1 per minute")
    return Client(client_id, tenant_id, digest, per_minute)


def parse_clients(spec: str) -> tuple[Client, ...]:
    """Clients from ``client_id:tenant_id:sha256hex[:per_minute]`` entries separated by commas.

    Raises:
        ValueError: on a malformed entry (naming the entry's position or client, never its key).
    """
    clients = []
    for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(
                f"{CLIENTS_ENV} entry {position} must be client_id:tenant_id:sha256[:per_minute]"
            )
        rate = parts[3] if len(parts) == 4 else None
        clients.append(
            _client(parts[0], parts[1], parts[2], rate, f"{CLIENTS_ENV} entry {position}")
        )
    return tuple(clients)


def read_clients_file(path: Path) -> tuple[Client, ...]:
    """Clients from a JSON list of ``{"client_id", "tenant_id", "key_sha256", "rate_per_minute"?}``.

    Raises:
        ValueError: if the file is not such a list or an entry is malformed.
        OSError: if the file cannot be read.
    """
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{CLIENTS_FILE_ENV} {path} is not JSON: {error.msg}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{CLIENTS_FILE_ENV} {path} must hold a JSON list of objects")
    clients = []
    for position, entry in enumerate(entries, start=1):
        missing = {"client_id", "tenant_id", "key_sha256"} - entry.keys()
        if missing:
            raise ValueError(f"{path} entry {position} lacks {', '.join(sorted(missing))}")
        clients.append(
            _client(
                str(entry["client_id"]),
                str(entry["tenant_id"]),
                str(entry["key_sha256"]),
                entry.get("rate_per_minute"),
                f"{path} entry {position}",
            )
        )
    return tuple(clients)


def load_clients(environ: Mapping[str, str] | None = None) -> tuple[Client, ...]:
    """Every configured client: ``$TRACELOOM_GATEWAY_CLIENTS`` plus ``…_CLIENTS_FILE``.

    Raises:
        ValueError: if no client is configured, an entry is malformed, or two clients share an
            id or a key.
    """
    environ = os.environ if environ is None else environ
    clients = list(parse_clients(environ.get(CLIENTS_ENV, "")))
    if environ.get(CLIENTS_FILE_ENV):
        clients.extend(read_clients_file(Path(environ[CLIENTS_FILE_ENV])))
    if not clients:
        raise ValueError(
            f"no gateway client configured: set {CLIENTS_ENV} or {CLIENTS_FILE_ENV} "
            "(see traceloom_pipelines/gateway/auth.py)"
        )
    ids = [c.client_id for c in clients]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"duplicate gateway client ids: {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    if len({c.key_sha256 for c in clients}) != len(clients):
        raise ValueError("two gateway clients share one API key; give each client its own key")
    return tuple(clients)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The request's API key: ``Authorization: Bearer <key>``, else ``X-API-Key``; or None."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def authenticate(headers: Mapping[str, str], clients: tuple[Client, ...]) -> Client | None:
    """The client whose key the request presents, or None (missing or unknown key).

    Every configured hash is compared in constant time, so timing does not reveal which
    clients exist.
    """
    key = presented_key(headers)
    if key is None:
        return None
    digest = key_sha256(key)
    found = None
    for client in clients:
        if hmac.compare_digest(client.key_sha256, digest):
            found = client
    return found
