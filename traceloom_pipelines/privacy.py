"""Personal data for BI readers (seed 004, issue #16 §3): which columns are PII, and their masked
form in the Parquet export that BI readers without the privileged role read.

Tags: a contract field says ``pii=PiiTag(kind, masking)`` (``landing/checks.py``), and every dbt
model column the field reaches says the same in its ``meta`` (``{pii: direct|quasi, masking:
hash|redact}``); ``tests/test_privacy.py`` holds the two together. The marts' tags decide the
masking (:func:`mart_masking`):

- ``hash``: ``'h:' || first 24 hex digits of HMAC-SHA-256(key, tenant_id || U+001F || value)``
  (value as text). The same id gives the same pseudonym in every mart of one tenant (joins keep
  working), another tenant's pseudonym of the same id differs, and without the key a pseudonym
  cannot be recomputed from a guessed id (an employee id space is small enough to enumerate,
  which is why a plain or salted-but-public hash would not do).
- ``redact``: null.

The key is ``TRACELOOM_PII_HASH_KEY`` (production: from the secret store, at least 32 bytes of
entropy); without it one is generated once into ``$TRACELOOM_DATA_DIR/secrets/pii_hash_key``
(mode 0600). It is never logged. A new key gives every id a new pseudonym on the next export.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import duckdb

from traceloom_pipelines.landing.checks import PII_MASKINGS
from traceloom_pipelines.landing.warehouse import quote, run

HASH_KEY_ENV = "TRACELOOM_PII_HASH_KEY"
PSEUDONYM_PREFIX = "h:"
PSEUDONYM_HEX_DIGITS = 24  # 96 bits: no collision among any tenant's ids in practice
_SEPARATOR = "\x1f"  # unit separator: "a" + "bc" and "ab" + "c" hash differently


def pii_hash_key(data_dir: Path) -> bytes:
    """The pseudonym key: ``$TRACELOOM_PII_HASH_KEY`` (UTF-8), else the key in
    ``<data_dir>/secrets/pii_hash_key``, generated on first use (32 random bytes as URL-safe
    text, mode 0600). Never logged or returned in metadata.

    Raises:
        ValueError: ``TRACELOOM_PII_HASH_KEY`` is set but shorter than 16 characters.
    """
    if os.environ.get(HASH_KEY_ENV):
        key = os.environ[HASH_KEY_ENV]
        if len(key) < 16:
            raise ValueError(f"{HASH_KEY_ENV} is shorter than 16 characters")
        return key.encode("utf-8")
    path = data_dir / "secrets" / "pii_hash_key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def pseudonym(key: bytes, tenant_id: str, value: str) -> str:
    """The masked form of ``value`` of ``tenant_id`` (the module docstring's ``hash``); what
    the export's SQL computes, in Python (tests, and a privileged person resolving one id)."""
    digest = hmac.new(key, f"{tenant_id}{_SEPARATOR}{value}".encode(), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hexdigest()[:PSEUDONYM_HEX_DIGITS]


def mart_masking(manifest: dict) -> dict[str, dict[str, str]]:
    """``{mart: {column: "hash" | "redact"}}`` of every mart column tagged PII in its dbt
    ``meta`` (marts without PII are absent).

    Raises:
        ValueError: a tagged column's ``masking`` is not ``hash`` or ``redact``.
    """
    found: dict[str, dict[str, str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["fqn"][1:2] != ["marts"]:
            continue
        for column, spec in node["columns"].items():
            meta = spec.get("meta") or {}
            if "pii" not in meta:
                continue
            if meta.get("masking") not in PII_MASKINGS:
                raise ValueError(
                    f"{node['name']}.{column}: meta masking must be one of {PII_MASKINGS}"
                )
            found.setdefault(node["name"], {})[column] = meta["masking"]
    return found


def masked_select(
    con: duckdb.DuckDBPyConnection, relation: str, masking: dict[str, str], key: bytes
) -> tuple[str, list]:
    """``(sql, parameters)`` selecting every column of ``relation`` (``schema.table``, quoted)
    in order, with the columns of ``masking`` hashed (as VARCHAR) or redacted (null of the
    column's type); ``relation`` must have ``tenant_id``. The key travels as parameters, never
    in the SQL text.

    Raises:
        ValueError: a column of ``masking`` is not in ``relation``.
    """
    columns = run(con, f"select column_name, column_type from (describe {relation})")
    missing = set(masking) - {name for name, _ in columns}
    if missing:
        raise ValueError(f"{relation} has no column {sorted(missing)} tagged PII in dbt")
    padded = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)
    parameters: list = []
    select = []
    for name, column_type in columns:
        column = quote(name)
        how = masking.get(name)
        if how == "hash":  # HMAC-SHA-256 in SQL: H(outer || H(inner || message))
            message = f"encode(tenant_id || chr(31) || cast({column} as varchar))"
            select.append(
                f"case when {column} is null then null else '{PSEUDONYM_PREFIX}' || "
                f"left(sha256(?::blob || unhex(sha256(?::blob || {message}))), "
                f"{PSEUDONYM_HEX_DIGITS}) end as {column}"
            )
            parameters += [outer, inner]
        elif how == "redact":
            select.append(f"cast(null as {column_type}) as {column}")
        else:
            select.append(column)
    return f"select {', '.join(select)} from {relation}", parameters
