"""The source records identity resolution reads: every spelling of a supplier or product in the
landed raw tables, one row per (tenant, source, source id), with the attributes matching compares.

Read from ``raw`` (the latest record per id, as the staging views keep it), not from the dbt
views: resolution then runs between landing and the dbt build, so every model reading its
tables (the dims, the canonical ids of fct_purchase_orders / fct_work_orders) is built after it
in the same run, the first run on a new lake included, and the main job keeps its two dbt steps.

Record columns (all VARCHAR; null when the source does not give it):
``tenant_id``, ``record_id`` (``<source>:<source_id>``), ``source``, ``source_id``, ``name``,
``tax_id``, ``duns``, ``gln``, ``gtin``, ``edi_partner_id``, ``country``, ``city``,
``product_id`` (ERP product id a record carries), ``erp_product`` (the ERP product string an
ERP PO's product or an EDI item number belongs to: the ``erp_sku`` key), ``name_norm``,
``name_compact``, ``city_norm`` (normalised by :func:`normalise_name` / :func:`normalise_city`).

Sources (seed 004 "canonical ids"): suppliers — ``erp_vendor`` (erp/vendors),
``erp_po_supplier`` (the supplier string of the ERP POs, drop and OData routes),
``edi_partner`` (partner ids of the EDI interchanges), ``cert_holder``
(certifications/holders), ``shipper`` (logistics/shippers); products — ``erp_product``
(erp/products), ``mes_part`` (MES work orders' part numbers), ``erp_po_product`` (the product
string of the ERP POs), ``certified_product`` (certifications/certified_products),
``edi_item`` (the item numbers of the EDI purchase-order lines: the buyer's SKU).
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import pandas as pd

from traceloom_pipelines.landing.warehouse import table_exists

RECORD_COLUMNS = (
    "tenant_id",
    "source",
    "source_id",
    "name",
    "tax_id",
    "duns",
    "gln",
    "gtin",
    "edi_partner_id",
    "country",
    "city",
    "product_id",
    "erp_product",
)
# Source priority of the survivorship rule (lower wins): the ERP master is the system of record.
SUPPLIER_SOURCES = ("erp_vendor", "erp_po_supplier", "edi_partner", "cert_holder", "shipper")
PRODUCT_SOURCES = ("erp_product", "erp_po_product", "mes_part", "certified_product", "edi_item")


def _text(column: str) -> str:
    """Whitespace-normalised text, as dbt's ``normalized_text`` macro makes it."""
    return f"nullif(trim(regexp_replace({column}, '[\\s\\pZ]+', ' ', 'g')), '')"


def _blank(column: str) -> str:
    return f"nullif(trim({column}), '')"


def _latest(table: str, key: str) -> str:
    """The latest record (``updatedAt``, then the most recently landed) per tenant and key."""
    return (
        f"(select * from raw.{table} qualify row_number() over (partition by tenant_id, "
        f'"{key}" order by "updatedAt" desc, _ingested_at desc, _source_file desc, '
        f"_source_row desc) = 1)"
    )


# (raw tables read, SELECT of the records) per source; a source whose raw table does not exist
# yet (nothing landed on a new lake) contributes no records.
SUPPLIER_PARTS = (
    (
        ("erp__vendors",),
        f"""select tenant_id, 'erp_vendor' as source, "vendorId" as source_id,
       {_text('"vendorName"')} as name, {_blank('"taxId"')} as tax_id, {_blank("duns")} as duns,
       {_blank("gln")} as gln, null as gtin, {_blank('"ediPartnerId"')} as edi_partner_id,
       upper({_blank("country")}) as country, {_blank("city")} as city, null as product_id,
       null as erp_product
from {_latest("erp__vendors", "vendorId")}""",
    ),
    (
        ("erp__purchase_orders",),
        f"""select distinct tenant_id, 'erp_po_supplier', {_text("supplier")}, {_text("supplier")},
       null, null, null, null, null, null, null, null, null
from raw.erp__purchase_orders where {_text("supplier")} is not null""",
    ),
    (
        ("erp__purchase_orders_odata",),
        f"""select distinct tenant_id, 'erp_po_supplier', {_text('"Supplier"')},
       {_text('"Supplier"')}, null, null, null, null, null, null, null, null, null
from raw.erp__purchase_orders_odata where {_text('"Supplier"')} is not null""",
    ),
    (
        ("edi__purchase_orders",),
        """select distinct tenant_id, 'edi_partner', partner_id, null,
       null, null, null, null, partner_id, null, null, null, null
from raw.edi__purchase_orders where partner_id is not null""",
    ),
    (
        ("certifications__holders",),
        f"""select tenant_id, 'cert_holder', "holderId", {_text('"holderName"')},
       null, {_blank("duns")}, null, null, null, upper({_blank("country")}), {_blank("city")},
       null, null
from {_latest("certifications__holders", "holderId")}""",
    ),
    (
        ("logistics__shippers",),
        f"""select tenant_id, 'shipper', "shipperId", {_text('"shipperName"')},
       null, null, null, null, null, upper({_blank("country")}), {_blank("city")}, null, null
from {_latest("logistics__shippers", "shipperId")}""",
    ),
)

# Where a SKU's ERP product string comes from: (raw tables, SELECT tenant_id, sku, product).
SKU_ROUTES = (
    (
        ("erp__purchase_order_lines", "erp__purchase_orders"),
        f"""select l.tenant_id, {_blank("l.sku")}, {_text("p.product")}
from raw.erp__purchase_order_lines l join raw.erp__purchase_orders p
    on p.tenant_id = l.tenant_id and p._record_hash = l._parent_record_hash""",
    ),
    (
        ("erp__purchase_order_items_odata",),
        f"""select tenant_id, {_blank('"Material"')}, {_text('"PurchaseOrderItemText"')}
from raw.erp__purchase_order_items_odata""",
    ),
)


def _edi_items(present: set[str]) -> str:
    """Records of the EDI purchase-order lines' item numbers (``edi_item``): source id the
    buyer's item number (else the vendor's part number, else the GTIN, as
    ``stg_edi__purchase_orders`` picks a PO's product), its GTIN, and in ``erp_product`` the
    ERP product string of the ERP PO lines carrying that SKU (drop lines through their PO,
    OData items through their text) when exactly one product carries it; null otherwise."""
    item = (
        f"coalesce({_blank('buyer_item_number')}, {_blank('vendor_part_number')}, {_blank('gtin')})"
    )
    routes = [sql for tables, sql in SKU_ROUTES if set(tables) <= present]
    sku_map = (
        "select null as tenant_id, null as sku, null as product where false"
        if not routes
        else f"""select tenant_id, sku, min(product) as product
from ({" union all ".join(routes)}) as lines (tenant_id, sku, product)
where sku is not null and product is not null
group by tenant_id, sku having count(distinct product) = 1"""
    )
    return f"""select items.tenant_id, 'edi_item', items.item, null, null, null, null, items.gtin,
       null, null, null, null, skus.product
from (select tenant_id, {item} as item, min({_blank("gtin")}) as gtin
      from raw.edi__purchase_orders where {item} is not null group by all) as items
left join ({sku_map}) as skus on skus.tenant_id = items.tenant_id and skus.sku = items.item"""


PRODUCT_PARTS = (
    (
        ("erp__products",),
        f"""select tenant_id, 'erp_product' as source, "productId" as source_id,
       {_text('"productName"')} as name, null as tax_id, null as duns, null as gln,
       {_blank("gtin")} as gtin, null as edi_partner_id, null as country, null as city,
       "productId" as product_id, null as erp_product
from {_latest("erp__products", "productId")}""",
    ),
    (
        ("erp__purchase_orders",),
        f"""select distinct tenant_id, 'erp_po_product', {_text("product")}, {_text("product")},
       null, null, null, null, null, null, null, null, {_text("product")}
from raw.erp__purchase_orders where {_text("product")} is not null""",
    ),
    (
        ("mes__work_orders",),
        f"""select tenant_id, 'mes_part', "PartNumber",
       min({_text('"PartDescription"')}), null, null, null, null, null, null, null,
       "PartNumber", null
from raw.mes__work_orders where "PartNumber" is not null
group by tenant_id, "PartNumber" """,
    ),
    (
        ("certifications__certified_products",),
        f"""select tenant_id, 'certified_product', "articleNumber", {_text('"articleName"')},
       null, null, null, {_blank("gtin")}, null, null, null, null, null
from {_latest("certifications__certified_products", "articleNumber")}""",
    ),
    (("edi__purchase_orders",), _edi_items),
)

# The raw tables read (the asset's dependencies): "<system>__<entity>".
RAW_INPUTS = tuple(
    sorted(
        {t for _tables, _ in SUPPLIER_PARTS + PRODUCT_PARTS for t in _tables}
        | {t for tables, _ in SKU_ROUTES for t in tables}
    )
)


# Legal-form tokens dropped before names are compared (after punctuation is removed).
LEGAL_FORMS = {
    "co",
    "company",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "inc",
    "llc",
    "gmbh",
    "jsc",
    "j s c",
    "joint stock company",
    "plc",
    "sa",
    "ag",
}
ABBREVIATIONS = {"grp": "group", "hldgs": "holdings", "intl": "international"}


def normalise_name(name: str | None) -> str | None:
    """Lower case ASCII, punctuation as space, abbreviations spelled out, legal forms dropped:
    ``"PEARL RIVER KNITTING CO., LTD."`` → ``"pearl river knitting"``; None stays None."""
    if name is None:
        return None
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    for form in sorted(LEGAL_FORMS, key=len, reverse=True):
        text = re.sub(rf"(?:^| ){form}(?= |$)", " ", text)
    words = [ABBREVIATIONS.get(w, w) for w in text.split()]
    # plural article names ("hoodies") compare as the singular
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words) or None


def normalise_city(city: str | None) -> str | None:
    """Lower case letters only: ``"Hai Phong"`` and ``"HAIPHONG"`` → ``"haiphong"``."""
    if city is None:
        return None
    return re.sub(r"[^a-z]", "", city.lower()) or None


def load_records(con: duckdb.DuckDBPyConnection, kind: str) -> pd.DataFrame:
    """The ``kind`` (``suppliers`` or ``products``) records of every tenant from the lake's
    raw tables (module docstring for the columns), sorted by tenant and record id; a source
    whose raw table does not exist yet contributes none."""
    parts = SUPPLIER_PARTS if kind == "suppliers" else PRODUCT_PARTS
    present = {t for t in RAW_INPUTS if table_exists(con, "raw", t)}
    selects = [
        sql(present) if callable(sql) else sql for tables, sql in parts if set(tables) <= present
    ]
    if not selects:
        return pd.DataFrame(
            columns=[*RECORD_COLUMNS, "record_id", "name_norm", "name_compact", "city_norm"]
        )
    frame = con.execute("\nunion all\n".join(selects)).df()
    frame.columns = list(RECORD_COLUMNS)
    frame = frame.astype(object).where(frame.notna(), None)
    frame["record_id"] = frame["source"] + ":" + frame["source_id"]
    frame["name_norm"] = frame["name"].map(normalise_name)
    frame["name_compact"] = frame["name_norm"].map(lambda n: n.replace(" ", "") if n else None)
    frame["city_norm"] = frame["city"].map(normalise_city)
    frame = frame.drop_duplicates(["tenant_id", "record_id"])
    return frame.sort_values(["tenant_id", "record_id"]).reset_index(drop=True)
