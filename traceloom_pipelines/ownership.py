"""Who owns which assets, and the tags that say what they hold: one table for the whole project.

Every asset belongs to a Dagster group (``raw_<system>``, ``staging_<system>``, ``intermediate``,
``marts_<area>``, ``reference``, ``bi``, ``reports``, ``platform``). :data:`GROUP_DOMAINS` maps a
group's last part (the source system or mart area) to a business domain, :data:`DOMAIN_OWNERS`
a domain to the team that answers for its data. :func:`with_ownership` applies both, plus tags,
to every asset of the Definitions (``definitions.py``); dbt shows the same owners in its docs
through ``+meta: {owner: ...}`` in ``dbt_project/dbt_project.yml``, which a test holds equal to
this table.

Tags (Dagster asset tags, filterable in the UI's catalog):

- ``domain``: the business domain (``procurement``, ``manufacturing`` …).
- ``source_system``: for raw and staging assets, the system the data comes from (``erp`` …).
- ``layer``: ``raw``, ``staging``, ``intermediate``, ``marts``, ``reference``, ``bi``,
  ``reports`` or ``platform``.
- ``pii``: ``"true"`` on assets that hold personal data (names, employee ids): HR's raw and
  staging assets. Marts never do (tests/test_main_job.py checks that no PII reaches them).
- ``tenant_scope``: ``per_tenant`` (every row carries ``tenant_id``) or ``shared`` (public
  reference data such as port statistics and weather that serves every tenant).
"""

from __future__ import annotations

import dagster as dg

DOMAIN_OWNERS: dict[str, str] = {
    "procurement": "team:procurement-data",
    "manufacturing": "team:manufacturing-data",
    "workforce": "team:people-analytics",
    "inventory": "team:inventory-data",
    "logistics": "team:logistics-data",
    "reconciliation": "team:operations-control-tower",
    "platform": "team:data-platform",
}

# Source system or mart area (the part of the group name after the layer) -> domain.
GROUP_DOMAINS: dict[str, str] = {
    "erp": "procurement",
    "certifications": "procurement",
    "edi": "procurement",
    "finance": "procurement",
    "orders": "procurement",
    "suppliers": "procurement",
    "master_data": "procurement",
    "mes": "manufacturing",
    "factory": "manufacturing",
    "iot": "manufacturing",
    "production": "manufacturing",
    "hr": "workforce",
    "workforce": "workforce",
    "wms": "inventory",
    "inventory": "inventory",
    "logistics": "logistics",
    "port": "logistics",
    "weather": "logistics",
    "ais": "logistics",
    "maritime": "logistics",
    "reconciliation": "reconciliation",
    "reports": "reconciliation",
    "dagster": "platform",
    "bridges": "platform",
    "audit": "platform",
    "platform": "platform",
    "intermediate": "platform",
    "reference": "platform",
    "bi": "platform",
}

LAYERS = ("raw", "staging", "intermediate", "marts", "reference", "bi", "reports", "platform")
SOURCE_LAYERS = ("raw", "staging")
PII_SOURCES = frozenset({"hr"})
# Public feeds that serve every tenant alike (no tenant's own data).
SHARED_SOURCES = frozenset({"port", "weather", "ais"})


def split_group(group: str) -> tuple[str, str]:
    """``"raw_erp"`` -> ``("raw", "erp")``; ``"marts_orders"`` -> ``("marts", "orders")``;
    a group without a part after the layer (``"bi"``) -> ``("bi", "bi")``.

    Raises:
        ValueError: the group's layer is not one of :data:`LAYERS`.
    """
    layer, _, rest = group.partition("_")
    if layer not in LAYERS:
        raise ValueError(f"asset group {group!r}: layer {layer!r} is not one of {LAYERS}")
    return layer, rest or layer


def domain_of(group: str) -> str:
    """The business domain of an asset group.

    Raises:
        ValueError: the group (its layer or its system/area) is in no table: add it to
            :data:`GROUP_DOMAINS` rather than leave an asset without an owner.
    """
    _, part = split_group(group)
    if part not in GROUP_DOMAINS:
        raise ValueError(f"asset group {group!r}: {part!r} has no domain in GROUP_DOMAINS")
    return GROUP_DOMAINS[part]


def owners_of(group: str) -> list[str]:
    """The owners (Dagster owner strings, ``team:<name>``) of an asset group."""
    return [DOMAIN_OWNERS[domain_of(group)]]


def tags_of(group: str) -> dict[str, str]:
    """The ownership tags of an asset group (see the module docstring)."""
    layer, part = split_group(group)
    tags = {"domain": domain_of(group), "layer": layer}
    if layer in SOURCE_LAYERS:
        tags["source_system"] = part
        tags["pii"] = "true" if part in PII_SOURCES else "false"
        tags["tenant_scope"] = "shared" if part in SHARED_SOURCES else "per_tenant"
    return tags


def _apply(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.group_name is None:
        raise ValueError(f"asset {spec.key.to_user_string()} has no group: ownership needs one")
    return spec.replace_attributes(
        owners=owners_of(spec.group_name), tags={**spec.tags, **tags_of(spec.group_name)}
    )


def with_ownership(assets: list) -> list:
    """``assets`` (AssetsDefinitions and AssetSpecs) with owners and tags set from this table.

    Raises:
        ValueError: an asset without a group, or of a group no table knows.
    """
    return list(dg.map_asset_specs(_apply, assets))
