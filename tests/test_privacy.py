"""PII tags (issue #16 §3): the contracts and dbt agree, and the pseudonyms are keyed HMACs."""

from __future__ import annotations

import hashlib
import hmac
import json

import duckdb
import pytest

from traceloom_pipelines import privacy
from traceloom_pipelines.resources import PROJECT_ROOT
from traceloom_pipelines.sources.catalog import all_entities

MANIFEST = json.loads((PROJECT_ROOT / "dbt_project/target/manifest.json").read_text())


def _contract_pii() -> dict[str, dict[str, dict]]:
    """``{dbt source unique id: {field: {"pii", "masking"}}}`` of every tagged contract field,
    parent and child tables."""
    found: dict[str, dict[str, dict]] = {}
    for entity in all_entities():
        tables = [(entity.entity, entity.schema)] + [(c.name, c.schema) for c in entity.children]
        for table, schema in tables:
            tags = {
                name: column.metadata["pii"]
                for name, column in schema.columns.items()
                if (column.metadata or {}).get("pii")
            }
            if entity.children and table != entity.entity:
                # a child's rows carry the parent's key columns too (e.g. employee_id)
                parent = entity.schema.columns
                for key in next(c for c in entity.children if c.name == table).parent_columns:
                    if (parent[key].metadata or {}).get("pii"):
                        tags[key] = parent[key].metadata["pii"]
            if tags:
                found[f"source.traceloom.{entity.system}.{table}"] = tags
    return found


def _downstream_models(node_id: str) -> set[str]:
    seen, todo = set(), [node_id]
    while todo:
        for child in MANIFEST["child_map"].get(todo.pop(), []):
            if child.startswith("model.") and child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_every_pii_field_of_a_contract_is_tagged_alike_in_every_model_it_reaches():
    tagged = _contract_pii()
    assert {"source.traceloom.hr.employees", "source.traceloom.mes.labor_bookings"} <= set(tagged)
    checked, wrong = 0, []
    for source, fields in tagged.items():
        assert source in MANIFEST["sources"], f"{source}: no dbt source"
        for model in _downstream_models(source):
            columns = MANIFEST["nodes"][model]["columns"]
            for name, tag in fields.items():
                if name in columns:
                    checked += 1
                    meta = {k: v for k, v in columns[name]["meta"].items() if k in tag}
                    if meta != tag:
                        wrong.append(f"{model}.{name}: meta {meta or 'untagged'}, contract {tag}")
    assert not wrong, "\n".join(wrong)
    # staging, intermediate and the three workforce marts
    assert checked >= 15, checked


def test_every_pii_tag_in_dbt_is_a_known_kind_and_masking():
    for node in MANIFEST["nodes"].values():
        for name, column in (node.get("columns") or {}).items():
            meta = column.get("meta") or {}
            assert "contains_pii" not in meta, f"{node['name']}.{name}: use pii/masking"
            if "pii" in meta:
                assert meta["pii"] in ("direct", "quasi"), (node["name"], name)
                assert meta["masking"] in ("hash", "redact"), (node["name"], name)
    assert privacy.mart_masking(MANIFEST)["dim_employees"] == {
        "employee_id": "hash",
        "location": "hash",
    }


def test_the_sql_pseudonym_is_hmac_sha256_of_tenant_and_value_under_the_key():
    key = b"k" * 80  # longer than a SHA-256 block: HMAC hashes the key first
    con = duckdb.connect()
    con.execute(
        "create table t as select * from (values ('acme', 'E-001', 7), ('bor', 'E-001', 8), "
        "('acme', null, 9)) v(tenant_id, employee_id, n)"
    )
    sql, parameters = privacy.masked_select(con, "t", {"employee_id": "hash"}, key)
    assert key.hex() not in sql and "kkkk" not in sql  # the key travels as parameters
    rows = con.execute(sql, parameters).fetchall()
    expected = "h:" + hmac.new(key, b"acme\x1fE-001", hashlib.sha256).hexdigest()[:24]
    assert rows[0] == ("acme", expected, 7)
    assert rows[0][1] == privacy.pseudonym(key, "acme", "E-001")
    assert rows[1][1] != rows[0][1]  # another tenant, another pseudonym of the same id
    assert rows[2] == ("acme", None, 9)
    with pytest.raises(ValueError, match="no column"):
        privacy.masked_select(con, "t", {"first_name": "redact"}, key)


def test_the_hash_key_comes_from_the_environment_or_is_generated_once(tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.HASH_KEY_ENV, raising=False)
    first = privacy.pii_hash_key(tmp_path)
    assert len(first) >= 32 and privacy.pii_hash_key(tmp_path) == first
    assert (tmp_path / "secrets" / "pii_hash_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(privacy.HASH_KEY_ENV, "from-the-secret-store-0123456789")
    assert privacy.pii_hash_key(tmp_path) == b"from-the-secret-store-0123456789"
    monkeypatch.setenv(privacy.HASH_KEY_ENV, "short")
    with pytest.raises(ValueError, match="shorter than 16"):
        privacy.pii_hash_key(tmp_path)
