"""The lake tables of identity resolution (schema ``master_data``) and how a resolution is written.

Per kind (``supplier`` / ``product``):

- ``master_data.<kind>_matches``: every scored pair (columns of
  :data:`traceloom_pipelines.master_data.resolve.MATCH_COLUMNS`, ``resolved_at`` TIMESTAMP UTC);
- ``master_data.<kind>_clusters``: every source record with its ``canonical_id`` and the
  attributes the dims' survivorship rule picks from (``source_priority``: 0 = the ERP master).

DuckLake has no PRIMARY KEY/UNIQUE: (tenant_id, record_id_l, record_id_r) and (tenant_id,
record_id) are kept unique by :func:`write_resolution`, the only writer, which replaces a kind's
two tables in one transaction (with the lake's commit-conflict retries) and only when their
content changed, so a replayed resolution writes no new snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from traceloom_pipelines import lake

MATCHES_DDL = """create table if not exists master_data.{kind}_matches (
    tenant_id varchar not null,
    record_id_l varchar not null,
    record_id_r varchar not null,
    match_probability double,
    match_weight double,
    method varchar not null,
    evidence varchar,
    decision varchar not null,
    steward_action varchar,
    resolved_at timestamp not null
);"""
CLUSTERS_DDL = """create table if not exists master_data.{kind}_clusters (
    tenant_id varchar not null,
    record_id varchar not null,
    source varchar not null,
    source_id varchar not null,
    source_priority integer not null,
    canonical_id varchar not null,
    name varchar,
    name_norm varchar,
    tax_id varchar,
    duns varchar,
    gln varchar,
    gtin varchar,
    edi_partner_id varchar,
    country varchar,
    city varchar,
    product_id varchar,
    resolved_at timestamp not null
);"""
TABLE_KINDS = {"suppliers": "supplier", "products": "product"}
MASTER_DATA_DDL = "\n".join(
    ddl.format(kind=kind) for kind in TABLE_KINDS.values() for ddl in (MATCHES_DDL, CLUSTERS_DDL)
)
CLUSTER_COLUMNS = (
    "tenant_id",
    "record_id",
    "source",
    "source_id",
    "source_priority",
    "canonical_id",
    "name",
    "name_norm",
    "tax_id",
    "duns",
    "gln",
    "gtin",
    "edi_partner_id",
    "country",
    "city",
    "product_id",
)


def _same(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns) -> bool:
    cols = ", ".join(columns)
    con.register("__new", frame[list(columns)])
    try:
        diff = con.execute(
            f"select count(*) from ((select {cols} from {table} except all select {cols} "
            f"from __new) union all (select {cols} from __new except all select {cols} "
            f"from {table}))"
        ).fetchall()[0][0]
    finally:
        con.unregister("__new")
    return diff == 0


def write_resolution(
    con: duckdb.DuckDBPyConnection, kind: str, matches: pd.DataFrame, clusters: pd.DataFrame
) -> bool:
    """Replace ``master_data.<kind>_matches`` and ``_clusters`` with ``matches`` / ``clusters``
    (every tenant at once) when their content differs from what the lake holds; ``resolved_at``
    is now (UTC). Returns whether anything was written.

    Raises:
        duckdb.Error: the write failed after the lake's commit-conflict retries.
    """
    from traceloom_pipelines.master_data.resolve import MATCH_COLUMNS

    singular = TABLE_KINDS[kind]
    matches_table = f"master_data.{singular}_matches"
    clusters_table = f"master_data.{singular}_clusters"
    matches = matches.astype(object).where(matches.notna(), None)
    clusters = clusters.astype(object).where(clusters.notna(), None)
    if _same(con, matches_table, matches, MATCH_COLUMNS) and _same(
        con, clusters_table, clusters, CLUSTER_COLUMNS
    ):
        return False
    now = datetime.now(UTC).replace(tzinfo=None)
    m = matches[list(MATCH_COLUMNS)].assign(resolved_at=now)
    c = clusters[list(CLUSTER_COLUMNS)].assign(resolved_at=now)
    # typed frames: a column of Nones must still insert as DOUBLE / INTEGER
    m["match_probability"] = pd.to_numeric(m["match_probability"], errors="coerce")
    m["match_weight"] = pd.to_numeric(m["match_weight"], errors="coerce")
    c["source_priority"] = c["source_priority"].astype(int)

    def work() -> None:
        con.register("__matches", m)
        con.register("__clusters", c)
        try:
            con.execute(f"delete from {matches_table}").fetchall()
            con.execute(f"insert into {matches_table} by name select * from __matches").fetchall()
            con.execute(f"delete from {clusters_table}").fetchall()
            con.execute(f"insert into {clusters_table} by name select * from __clusters").fetchall()
        finally:
            con.unregister("__matches")
            con.unregister("__clusters")

    lake.transaction(con, work)
    return True


def load_decisions(con: duckdb.DuckDBPyConnection, kind: str) -> pd.DataFrame:
    """The stewards' decisions on ``kind`` from ``audit.stewardship_decisions``: ``tenant_id``,
    ``action``, ``record_id_l``, ``record_id_r``, ``decided_at`` (oldest first)."""
    return con.execute(
        "select tenant_id, action, record_id_l, record_id_r, decided_at "
        "from audit.stewardship_decisions where entity_type = ? order by decided_at, decision_id",
        [TABLE_KINDS[kind]],
    ).df()
