"""Identity resolution of suppliers and products (seed 004: canonical ids; deterministic keys when
available, probabilistic matching for fuzzy matches; stewardship decisions replayed).

:func:`resolve` turns the records of :mod:`traceloom_pipelines.master_data.records` into

- *matches*: every scored pair, one row per (tenant, record_id_l < record_id_r):
  ``match_probability`` (DOUBLE, 0..1), ``match_weight`` (DOUBLE, log2 Bayes factor; null for a
  deterministic link), ``method`` (``deterministic`` | ``probabilistic``), ``evidence``
  (VARCHAR: the key that joined them, or per comparison the level reached, e.g.
  ``name_norm: Jaro-Winkler >= 0.92; city_norm: exact; country: exact``), ``decision``
  (``linked`` | ``review`` | ``rejected``, after the thresholds of ``matching.yml``),
  ``steward_action`` (the replayed decision on the pair, or null);
- *clusters*: every record with its ``canonical_id``: connected components (networkx) of the
  linked pairs, after the stewards' merges were added and their splits cut.

Canonical ids are ``SUP-`` / ``PRD-`` + 12 hex of SHA-256 of ``tenant_id/record_id`` of the
cluster's anchor (its record of the highest-priority source, then the smallest record id), so
an id stays while its anchor does.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import networkx as nx
import pandas as pd
import yaml

from traceloom_pipelines.master_data.records import PRODUCT_SOURCES, SUPPLIER_SOURCES

CONFIG_PATH = Path(__file__).with_name("matching.yml")
KINDS = ("suppliers", "products")
ID_PREFIX = {"suppliers": "SUP", "products": "PRD"}
MATCH_COLUMNS = (
    "tenant_id",
    "record_id_l",
    "record_id_r",
    "match_probability",
    "match_weight",
    "method",
    "evidence",
    "decision",
    "steward_action",
)

# Deterministic keys: (evidence name, column). Two records of a tenant carrying the same
# non-null value of the column are linked. ``erp_name`` is the name of the ERP's own records only
# (vendor / product master and the ERP POs' strings): the ERP spells a PO's supplier and product
# as its masters do.
SUPPLIER_KEYS = (
    ("tax_id", "tax_id"),
    ("duns", "duns"),
    ("gln", "gln"),
    # the EDI partner id of an interchange, through the vendor master's EDI partner id
    ("edi_partner_id", "edi_partner_id"),
    ("erp_vendor_name", "erp_name"),
)
PRODUCT_KEYS = (
    ("gtin", "gtin"),
    # the MES part number is the ERP product id
    ("erp_product_id", "product_id"),
    ("erp_product_name", "erp_name"),
    # an EDI item number (the buyer's SKU) is the product of the ERP PO lines carrying that SKU
    ("erp_sku", "erp_product"),
)


@dataclass(frozen=True)
class Thresholds:
    """Match-probability thresholds of one kind (``matching.yml``)."""

    link_probability: float
    review_probability: float


def load_config(path: Path = CONFIG_PATH) -> dict:
    """``matching.yml`` as a dict: ``{kind: Thresholds, "training": {...}}``.

    Raises:
        ValueError: a review threshold above its link threshold, or one outside 0..1.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict = {"training": raw["training"]}
    for kind in KINDS:
        t = Thresholds(**raw[kind])
        if not 0 <= t.review_probability <= t.link_probability <= 1:
            raise ValueError(
                f"{path}: {kind}: need 0 <= review_probability <= link_probability <= 1"
            )
        out[kind] = t
    return out


def _pair(tenant: str, a: str, b: str) -> tuple[str, str, str]:
    return (tenant, a, b) if a < b else (tenant, b, a)


def deterministic_links(records: pd.DataFrame, kind: str) -> dict[tuple, str]:
    """``{(tenant_id, record_id_l, record_id_r): evidence}`` of the pairs a deterministic key
    joins (:data:`SUPPLIER_KEYS` / :data:`PRODUCT_KEYS`; evidence names the keys, ``+``-joined)."""
    frame = records.copy()
    # the ERP's own name strings: a PO's supplier/product string, the master's name
    erp_sources = ("erp_vendor", "erp_po_supplier", "erp_product", "erp_po_product")
    frame["erp_name"] = frame["name"].where(frame["source"].isin(erp_sources), None)
    keys = SUPPLIER_KEYS if kind == "suppliers" else PRODUCT_KEYS
    out: dict[tuple, str] = {}
    for evidence, column in keys:
        sub = frame[frame[column].notna()][["tenant_id", "record_id", column]]
        for (_tenant, _value), group in sub.groupby(["tenant_id", column]):
            ids = sorted(group["record_id"])
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    key = _pair(_tenant, a, b)
                    out[key] = "+".join(sorted({*out.get(key, "").split("+"), evidence} - {""}))
    return out


def _settings(kind: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            {"sql_condition": "name_norm_l IS NULL OR name_norm_r IS NULL", "is_null_level": True},
            {
                "sql_condition": "name_compact_l = name_compact_r",
                "label_for_charts": "exact (normalised)",
                "m_probability": 0.6,
                "u_probability": 0.001,
            },
            {
                "sql_condition": "jaro_winkler_similarity(name_compact_l, name_compact_r) >= 0.92",
                "label_for_charts": "Jaro-Winkler >= 0.92",
                "m_probability": 0.3,
                "u_probability": 0.005,
            },
            {
                # transliterations ("Soochow" / "Suzhou") keep the other words
                "sql_condition": "len(list_intersect(string_split(name_norm_l, ' '), "
                "string_split(name_norm_r, ' '))) >= 2",
                "label_for_charts": "two or more words shared",
                "m_probability": 0.1,
                "u_probability": 0.005,
            },
            {
                "sql_condition": "jaro_winkler_similarity(name_compact_l, name_compact_r) >= 0.8",
                "label_for_charts": "Jaro-Winkler >= 0.8",
                "m_probability": 0.08,
                "u_probability": 0.05,
            },
            {
                "sql_condition": "len(list_intersect(string_split(name_norm_l, ' '), "
                "string_split(name_norm_r, ' '))) = 1",
                "label_for_charts": "one word shared",
                "m_probability": 0.05,
                "u_probability": 0.05,
            },
            {
                "sql_condition": "ELSE",
                "label_for_charts": "different",
                "m_probability": 0.02,
                "u_probability": 0.944,
            },
        ],
    )
    comparisons = [name]
    blocking = [block_on("tenant_id")]
    if kind == "suppliers":
        comparisons += [
            cl.CustomComparison(
                output_column_name="city",
                comparison_levels=[
                    {
                        "sql_condition": "city_norm_l IS NULL OR city_norm_r IS NULL",
                        "is_null_level": True,
                    },
                    {
                        "sql_condition": "city_norm_l = city_norm_r",
                        "label_for_charts": "exact",
                        "m_probability": 0.8,
                        "u_probability": 0.1,
                    },
                    {
                        "sql_condition": "ELSE",
                        "label_for_charts": "different",
                        "m_probability": 0.2,
                        "u_probability": 0.9,
                    },
                ],
            ),
            cl.CustomComparison(
                output_column_name="country",
                comparison_levels=[
                    {
                        "sql_condition": "country_l IS NULL OR country_r IS NULL",
                        "is_null_level": True,
                    },
                    {
                        "sql_condition": "country_l = country_r",
                        "label_for_charts": "exact",
                        "m_probability": 0.97,
                        "u_probability": 0.3,
                    },
                    {
                        "sql_condition": "ELSE",
                        "label_for_charts": "different",
                        "m_probability": 0.03,
                        "u_probability": 0.7,
                    },
                ],
            ),
        ]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
        probability_two_random_records_match=0.05,
    )


# Which sources splink compares: those with a name of their own (the ERP's PO strings and the
# EDI partner ids are keyed deterministically only).
FUZZY_SOURCES = {
    "suppliers": ("erp_vendor", "cert_holder", "shipper"),
    "products": ("erp_product", "certified_product"),
}


def probabilistic_scores(
    records: pd.DataFrame, kind: str, labels: dict[tuple, str], training: dict
) -> pd.DataFrame:
    """Splink (DuckDB backend) scores of every same-tenant pair of the :data:`FUZZY_SOURCES`
    records: columns ``tenant_id``, ``record_id_l``, ``record_id_r``, ``match_probability``,
    ``match_weight``, ``evidence``. Trained deterministically: u by random sampling with the
    configured seed, m from ``labels`` (the deterministic links) where they reach a level, the
    comparisons' prior m elsewhere."""
    from splink import DuckDBAPI, Linker

    fuzzy = records[records["source"].isin(FUZZY_SOURCES[kind])].copy()
    empty = pd.DataFrame(
        columns=[
            "tenant_id",
            "record_id_l",
            "record_id_r",
            "match_probability",
            "match_weight",
            "evidence",
        ]
    )
    if len(fuzzy) < 2:
        return empty
    fuzzy["uid"] = fuzzy["tenant_id"] + "|" + fuzzy["record_id"]
    columns = ["uid", "tenant_id", "name_norm", "name_compact"]
    if kind == "suppliers":
        columns += ["city_norm", "country"]
    # one thread: DuckDB's seeded sampling is then repeatable run after run, so a replayed
    # resolution gives the same probabilities (and writes nothing)
    connection = duckdb.connect()
    connection.execute("set threads = 1").fetchall()
    db_api = DuckDBAPI(connection=connection)
    logging.getLogger("splink").setLevel(logging.WARNING)
    linker = Linker(
        db_api.register(fuzzy[columns].reset_index(drop=True)),
        _settings(kind),
        log_level=logging.WARNING,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training["max_pairs"], seed=training["seed"], min_count_per_level=None
    )
    fuzzy_ids = set(fuzzy["uid"])
    label_rows = [
        {"uid_l": f"{t}|{a}", "uid_r": f"{t}|{b}"}
        for (t, a, b) in sorted(labels)
        if f"{t}|{a}" in fuzzy_ids and f"{t}|{b}" in fuzzy_ids
    ]
    if label_rows:
        table = db_api.register(pd.DataFrame(label_rows), table_name="__labels")
        linker.training.estimate_m_from_pairwise_labels(table)
    scored = linker.inference.predict().as_pandas_dataframe()
    if scored.empty:
        return empty
    evidence = []
    names = [c for c in ("name", "city", "country") if f"gamma_{c}" in scored.columns]
    levels = {
        c.output_column_name: {
            lvl.comparison_vector_value: lvl.label_for_charts for lvl in c.comparison_levels
        }
        for c in linker._settings_obj.comparisons
    }
    for _, row in scored.iterrows():
        evidence.append(
            "; ".join(f"{c}: {levels[c].get(int(row[f'gamma_{c}']), 'null')}" for c in names)
        )
    left = scored["uid_l"].str.split("|", n=1, expand=True)
    right = scored["uid_r"].str.split("|", n=1, expand=True)
    out = pd.DataFrame(
        {
            "tenant_id": left[0],
            "a": left[1],
            "b": right[1],
            "match_probability": scored["match_probability"].astype(float).round(6),
            "match_weight": scored["match_weight"].astype(float).round(4),
            "evidence": evidence,
        }
    )
    out["record_id_l"] = out[["a", "b"]].min(axis=1)
    out["record_id_r"] = out[["a", "b"]].max(axis=1)
    return out.drop(columns=["a", "b"])


def resolve(
    records: pd.DataFrame, kind: str, decisions: pd.DataFrame, config: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matches, clusters) of ``kind`` (module docstring for their columns).

    ``decisions``: the stewards' decisions on ``kind`` (``tenant_id``, ``action`` = ``confirm``
    | ``merge`` | ``split``, ``record_id_l``, ``record_id_r``, ``decided_at``); the latest per
    pair counts: ``confirm``/``merge`` link the pair, ``split`` removes the pair's link and then
    cuts a minimum edge cut between the two records, so they never share a cluster.
    """
    thresholds: Thresholds = config[kind]
    det = deterministic_links(records, kind)
    scores = probabilistic_scores(records, kind, det, config["training"])
    rows: dict[tuple, dict] = {}
    for _, s in scores.iterrows():
        p = float(s["match_probability"])
        decision = (
            "linked"
            if p >= thresholds.link_probability
            else "review"
            if p >= thresholds.review_probability
            else "rejected"
        )
        rows[(s["tenant_id"], s["record_id_l"], s["record_id_r"])] = {
            "match_probability": p,
            "match_weight": float(s["match_weight"]),
            "method": "probabilistic",
            "evidence": s["evidence"],
            "decision": decision,
            "steward_action": None,
        }
    for key, evidence in det.items():
        rows[key] = {
            "match_probability": 1.0,
            "match_weight": None,
            "method": "deterministic",
            "evidence": evidence,
            "decision": "linked",
            "steward_action": None,
        }
    latest: dict[tuple, str] = {}
    if len(decisions):
        for _, d in decisions.sort_values("decided_at").iterrows():
            latest[_pair(d["tenant_id"], d["record_id_l"], d["record_id_r"])] = d["action"]
    known = set(records["tenant_id"] + "|" + records["record_id"])
    for key, action in latest.items():
        if f"{key[0]}|{key[1]}" not in known or f"{key[0]}|{key[2]}" not in known:
            continue  # a record that no longer exists: nothing to replay on
        row = rows.setdefault(
            key,
            {
                "match_probability": None,
                "match_weight": None,
                "method": "steward",
                "evidence": "steward decision",
                "decision": "linked",
                "steward_action": None,
            },
        )
        row["steward_action"] = action
        row["decision"] = "linked" if action in ("confirm", "merge") else "rejected"
    matches = pd.DataFrame(
        [
            {"tenant_id": k[0], "record_id_l": k[1], "record_id_r": k[2], **v}
            for k, v in rows.items()
        ],
        columns=list(MATCH_COLUMNS),
    ).sort_values(["tenant_id", "record_id_l", "record_id_r"], ignore_index=True)
    clusters = _clusters(records, kind, matches, latest)
    return matches, clusters


def _clusters(
    records: pd.DataFrame, kind: str, matches: pd.DataFrame, latest: dict[tuple, str]
) -> pd.DataFrame:
    priority = {
        s: i for i, s in enumerate(SUPPLIER_SOURCES if kind == "suppliers" else PRODUCT_SOURCES)
    }
    graph = nx.Graph()
    graph.add_nodes_from(zip(records["tenant_id"], records["record_id"], strict=True))
    linked = matches[matches["decision"] == "linked"]
    graph.add_edges_from(
        ((t, a), (t, b))
        for t, a, b in zip(
            linked["tenant_id"], linked["record_id_l"], linked["record_id_r"], strict=True
        )
    )
    for (t, a, b), action in sorted(latest.items()):
        if action == "split" and graph.has_node((t, a)) and graph.has_node((t, b)):
            if nx.has_path(graph, (t, a), (t, b)):
                graph.remove_edges_from(nx.minimum_edge_cut(graph, (t, a), (t, b)))
    canonical: dict[tuple, str] = {}
    for component in nx.connected_components(graph):
        anchor = min(component, key=lambda n: (n[0], priority.get(n[1].split(":", 1)[0], 99), n[1]))
        digest = hashlib.sha256(f"{anchor[0]}/{anchor[1]}".encode()).hexdigest()[:12]
        for node in component:
            canonical[node] = f"{ID_PREFIX[kind]}-{digest}"
    out = records.copy()
    out["canonical_id"] = [
        canonical[(t, r)] for t, r in zip(out["tenant_id"], out["record_id"], strict=True)
    ]
    out["source_priority"] = out["source"].map(lambda s: priority.get(s, 99)).astype(int)
    return out
