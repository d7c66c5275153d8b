"""Every asset has an owner, ownership tags and a link to its code, from one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from traceloom_pipelines import ownership
from traceloom_pipelines.dbt import MANIFEST, TRANSLATOR
from traceloom_pipelines.definitions import defs


def _specs():
    return [spec for assets_def in defs.assets for spec in assets_def.specs]


def test_every_asset_has_one_owner_and_the_tags_of_its_group():
    specs = _specs()
    assert len(specs) > 100
    for spec in specs:
        assert spec.owners == ownership.owners_of(spec.group_name), spec.key
        assert spec.owners[0].startswith("team:")
        for key, value in ownership.tags_of(spec.group_name).items():
            assert spec.tags.get(key) == value, (spec.key, key)


def test_personal_data_is_tagged_where_it_lives_and_nowhere_downstream():
    by_key = {spec.key.to_user_string(): spec for spec in _specs()}
    assert by_key["raw/hr/employees"].tags["pii"] == "true"
    assert by_key["raw/hr/attendance"].tags["pii"] == "true"
    assert by_key["raw/erp/purchase_orders"].tags["pii"] == "false"
    assert by_key["raw/port/vessels_arrived"].tags["tenant_scope"] == "shared"
    assert by_key["raw/mes/production_counts"].tags["tenant_scope"] == "per_tenant"
    marts = [spec for spec in by_key.values() if spec.tags.get("layer") == "marts"]
    assert marts and all("pii" not in spec.tags for spec in marts)


def test_dbt_docs_show_the_same_owners_as_dagster():
    """``+meta: {owner}`` in dbt_project.yml mirrors ownership.py for every model and seed."""
    checked = 0
    for node in MANIFEST["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        group = TRANSLATOR.get_group_name(node)
        assert node["meta"].get("owner") == ownership.owners_of(group)[0], node["unique_id"]
        checked += 1
    assert checked > 80


def test_every_asset_links_to_an_existing_file_of_its_code():
    for spec in _specs():
        references = spec.metadata["dagster/code_references"].code_references
        assert references, spec.key
        for reference in references:
            assert Path(reference.file_path).is_file(), (spec.key, reference.file_path)
    fct = next(s for s in _specs() if s.key.to_user_string() == "marts/fct_production_daily")
    paths = [r.file_path for r in fct.metadata["dagster/code_references"].code_references]
    assert any(p.endswith("models/marts/production/fct_production_daily.sql") for p in paths)


def test_an_unknown_group_is_an_error_not_an_asset_without_owner():
    with pytest.raises(ValueError, match="GROUP_DOMAINS"):
        ownership.owners_of("raw_newsystem")
    with pytest.raises(ValueError, match="layer"):
        ownership.owners_of("gold_orders")
