"""Who reads what in BI (issue #16 §3): the BI users of the environment, and the DuckDB
connection each kind of reader gets — built server-side, where the BI tool meets the lake, so no
SQL a reader types can widen it.

Two kinds of reader (``deploy/bi/superset_config.py`` picks one per query from the Superset
roles of the logged-in user, which ``deploy/bi/bootstrap.py`` sets from the environment):

- **tenant reader** (roles ``TraceLoom tenant <tenant_id>``): :func:`tenant_connection`, an
  in-memory DuckDB with one view per mart over that tenant's partitions of the masked Parquet
  export (``$TRACELOOM_DATA_DIR/marts/<mart>/tenant_id=<tenant>/``, PII hashed or redacted,
  :mod:`traceloom_pipelines.marts_export`). The lake is not attached; file access is limited to
  exactly those partition folders (``allowed_directories``, ``enable_external_access = false``),
  extensions cannot be loaded and no setting can change (``lock_configuration``).
- **privileged reader** (:data:`PRIVILEGED_ROLES`): :func:`lake_connection`, the lake attached
  read-only (every tenant, unmasked, latest snapshot), locked down the same way except for the
  lake's own data files.

A user with neither gets no connection (:class:`BiAccessDenied`).

Users come from ``TRACELOOM_BI_USERS`` = ``user:reader:tenant[+tenant...]:<hash>`` or
``user:pii:*:<hash>`` entries separated by commas; ``<hash>`` is a Werkzeug password hash (what
Superset stores; make one with ``deploy/bi/bootstrap.py --hash-password``, which reads the
password from standard input). Passwords are never configured, logged or shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from traceloom_pipelines import duckdb_extensions, lake
from traceloom_pipelines.landing.drops import FOLDER_NAME, is_folder_name, tenant_list

USERS_ENV = "TRACELOOM_BI_USERS"
READER, PRIVILEGED = "reader", "pii"
TENANT_ROLE_PREFIX = "TraceLoom tenant "
PII_ROLE = "TraceLoom PII"
READER_ROLE = "TraceLoom reader"  # the permissions every BI user needs (the lake database)
# Superset's Admin can change the database connection anyway: it is privileged by nature.
PRIVILEGED_ROLES = frozenset({"Admin", PII_ROLE})
MARTS_SCHEMA = "marts"


class BiAccessDenied(PermissionError):
    """The BI user has no tenant role and no privileged role: no connection."""


@dataclass(frozen=True)
class BiUser:
    """One BI user of ``TRACELOOM_BI_USERS``.

    Attributes:
        name: Superset login name (matches ``FOLDER_NAME``).
        access: ``reader`` (masked marts of ``tenants`` only) or ``pii`` (unmasked, every
            tenant: the privileged role).
        tenants: the tenant ids a reader reads; ``()`` for ``pii``.
        password_hash: Werkzeug hash (never the password).
    """

    name: str
    access: str
    tenants: tuple[str, ...]
    password_hash: str

    def roles(self) -> tuple[str, ...]:
        """The TraceLoom role names this user holds in Superset (besides Gamma and sql_lab)."""
        if self.access == PRIVILEGED:
            return (READER_ROLE, PII_ROLE)
        return (READER_ROLE, *(TENANT_ROLE_PREFIX + t for t in self.tenants))


def parse_users(spec: str) -> tuple[BiUser, ...]:
    """Users of ``user:reader:tenant[+tenant...]:<hash>`` and ``user:pii:*:<hash>`` entries
    separated by commas (a hash may contain ``:``; it is everything after the third).

    Raises:
        ValueError: on a malformed entry or a name used twice (naming the entry's position or
            user, never its hash).
    """
    users: list[BiUser] = []
    for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        where = f"{USERS_ENV} entry {position}"
        parts = entry.split(":", 3)
        if len(parts) != 4 or not parts[3]:
            raise ValueError(
                f"{where} must be user:reader:tenant[+tenant...]:hash or user:pii:*:hash"
            )
        name, access, tenant_spec, password_hash = parts
        if not is_folder_name(name):
            raise ValueError(f"{where}: user name must match {FOLDER_NAME.pattern}")
        if access == PRIVILEGED:
            if tenant_spec != "*":
                raise ValueError(f"{where}: {name!r} is pii, which reads every tenant: write '*'")
            tenants: tuple[str, ...] = ()
        elif access == READER:
            tenants = tenant_list(tenant_spec) or ()
            if not tenants:
                raise ValueError(f"{where}: tenants of {name!r} must match {FOLDER_NAME.pattern}")
        else:
            raise ValueError(f"{where}: access of {name!r} must be {READER!r} or {PRIVILEGED!r}")
        if "$" not in password_hash:
            raise ValueError(f"{where}: the password hash of {name!r} is not a Werkzeug hash")
        users.append(BiUser(name, access, tenants, password_hash))
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        raise ValueError(f"{USERS_ENV}: a user name appears twice")
    return tuple(users)


def load_users(environ: Mapping[str, str] | None = None) -> tuple[BiUser, ...]:
    """The BI users of ``$TRACELOOM_BI_USERS`` (none when unset: only the admin logs in).

    Raises:
        ValueError: an entry is malformed.
    """
    environ = os.environ if environ is None else environ
    return parse_users(environ.get(USERS_ENV, ""))


def reader_of(role_names: Iterable[str]) -> tuple[bool, tuple[str, ...]]:
    """``(privileged, tenants)`` of a user holding Superset roles ``role_names``.

    Raises:
        BiAccessDenied: neither a privileged role nor a tenant role.
    """
    names = set(role_names)
    tenants = tuple(
        sorted(n[len(TENANT_ROLE_PREFIX) :] for n in names if n.startswith(TENANT_ROLE_PREFIX))
    )
    if names & PRIVILEGED_ROLES:
        return True, ()
    if not tenants or not all(is_folder_name(t) for t in tenants):
        raise BiAccessDenied("this BI user has no TraceLoom tenant role: no data")
    return False, tenants


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _new_connection() -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB, UTC, extensions only from the wheels and never downloaded."""
    con = duckdb.connect(":memory:", config=duckdb_extensions.connect_config())
    con.execute("set TimeZone = 'UTC'")
    return con


def _lock(con: duckdb.DuckDBPyConnection, directories: list[str]) -> None:
    con.execute("set allowed_directories = ?", [directories])
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def tenant_connection(marts_dir: Path, tenants: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    """A tenant reader's connection: schema ``marts`` with one view per exported mart over the
    partitions ``<marts_dir>/<mart>/tenant_id=<tenant>/`` of ``tenants`` (columns as exported,
    PII masked, ``tenant_id`` VARCHAR last), and access to nothing else.

    A mart with no row of these tenants is an empty table with the mart's columns; a mart with
    no row at all (no file) is absent.

    Raises:
        ValueError: a tenant id is not a folder name.
    """
    if not tenants or not all(is_folder_name(t) for t in tenants):
        raise ValueError(f"tenant ids must match {FOLDER_NAME.pattern}")
    con = _new_connection()
    con.execute(f"create schema {MARTS_SCHEMA}")
    allowed: list[str] = []
    exported = marts_dir.iterdir() if marts_dir.is_dir() else ()  # none before the first export
    for mart in sorted(p for p in exported if p.is_dir() and not p.name.startswith(".")):
        folders = [mart / f"tenant_id={t}" for t in tenants if (mart / f"tenant_id={t}").is_dir()]
        options = "hive_partitioning = true, hive_types = {'tenant_id': varchar}"
        relation = f"{MARTS_SCHEMA}.{mart.name}"
        if folders:
            files = ", ".join(_literal(f"{folder}/*.parquet") for folder in folders)
            con.execute(
                f"create view {relation} as select * from read_parquet([{files}], {options})"
            )
            allowed += [f"{folder}/" for folder in folders]
            continue
        any_file = next(mart.glob("tenant_id=*/*.parquet"), None)
        if any_file is not None:  # the columns only: no row of another tenant is kept
            con.execute(
                f"create table {relation} as select * from "
                f"read_parquet({_literal(str(any_file))}, {options}) limit 0"
            )
    _lock(con, allowed)
    return con


def lake_connection(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A privileged reader's connection: the lake of ``data_dir`` attached read-only as ``lake``
    at its latest snapshot and in use (``marts.<mart>``: every tenant, unmasked), then locked
    down: file access only under the lake's data path (not applied to an ``s3://`` path), no
    extension loads, no setting changes.

    Raises:
        FileNotFoundError: the embedded lake does not exist yet (run the pipeline first).
    """
    config = lake.LakeConfig.from_env(data_dir)
    con = _new_connection()
    lake.attach(con, config, read_only=True)
    if config.data_path.startswith("s3://"):
        con.execute("set lock_configuration = true")
    else:
        _lock(con, [config.data_path])
    return con
