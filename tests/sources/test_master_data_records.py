"""The ``erp_sku`` key of identity resolution (issue #16 §2): an EDI purchase order's item number
(the buyer's SKU) is the product of the ERP PO lines that carry the same SKU, drop route or
OData, and only when exactly one product carries it (traceloom_pipelines/master_data/records.py
and resolve.py), on raw tables shaped as landing writes them."""

from __future__ import annotations

import duckdb
import pytest

from traceloom_pipelines.master_data.records import load_records
from traceloom_pipelines.master_data.resolve import deterministic_links

ERP_POS = """create table raw.erp__purchase_orders as select * from (values
    ('t1', 'PO-1', 'Fleece Hoodie', 'h1'),
    ('t1', 'PO-2', 'Rain  Jacket', 'h2'),
    ('t1', 'PO-3', 'Fleece Hoodie', 'h3'),
    ('t2', 'PO-9', 'Fleece Hoodie', 'h9')
) as v (tenant_id, "poId", product, _record_hash)"""
ERP_LINES = """create table raw.erp__purchase_order_lines as select * from (values
    ('t1', 'PO-1', 'ACM-FH-BLK-M', 'h1'),
    ('t1', 'PO-1', 'ACM-SHARED', 'h1'),
    ('t1', 'PO-2', 'ACM-RJ-RED-L', 'h2'),
    ('t1', 'PO-2', 'ACM-SHARED', 'h2'),
    ('t1', 'PO-3', 'ACM-FH-BLK-M', 'h3'),
    ('t2', 'PO-9', 'ACM-RJ-RED-L', 'h9')
) as v (tenant_id, "poId", sku, _parent_record_hash)"""
ODATA_ITEMS = """create table raw.erp__purchase_order_items_odata as select * from (values
    ('t1', '4500000001', 'ACM-FH-GRY-S', 'Fleece Hoodie')
) as v (tenant_id, "PurchaseOrder", "Material", "PurchaseOrderItemText")"""
EDI_LINES = """create table raw.edi__purchase_orders as select * from (values
    ('t1', 'P1', 'ACM-FH-BLK-M', null, null),
    ('t1', 'P1', 'ACM-RJ-RED-L', null, null),
    ('t1', 'P1', 'ACM-FH-GRY-S', null, null),
    ('t1', 'P1', 'ACM-SHARED', null, null),
    ('t1', 'P1', 'NEVER-ORDERED', null, null),
    ('t1', 'P1', null, 'VP-77', null),
    ('t1', 'P1', '  ', null, '06912340000017'),
    ('t1', 'P1', null, null, null)
) as v (tenant_id, partner_id, buyer_item_number, vendor_part_number, gtin)"""


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("create schema raw")
    for ddl in (ERP_POS, ERP_LINES, EDI_LINES):
        con.execute(ddl)
    yield con
    con.close()


def _items(con) -> dict[str, str | None]:
    records = load_records(con, "products")
    items = records[records["source"] == "edi_item"]
    assert set(items["tenant_id"]) == {"t1"}
    return dict(zip(items["source_id"], items["erp_product"], strict=True))


def test_an_edi_item_number_resolves_to_the_product_of_the_erp_lines_with_that_sku(con) -> None:
    # every line with an item id gives one record; the id is the buyer's item number, else the
    # vendor's part number, else the GTIN; the line without any id gives none
    assert _items(con) == {
        "ACM-FH-BLK-M": "Fleece Hoodie",
        # the ERP line of tenant t2 carries it for another product: tenants never mix
        "ACM-RJ-RED-L": "Rain Jacket",
        # no drop line carries it (the OData items are not landed here)
        "ACM-FH-GRY-S": None,
        # two products carry it: ambiguous, not keyed
        "ACM-SHARED": None,
        "NEVER-ORDERED": None,
        "VP-77": None,
        "06912340000017": None,
    }
    links = deterministic_links(load_records(con, "products"), "products")
    assert links[("t1", "edi_item:ACM-FH-BLK-M", "erp_po_product:Fleece Hoodie")] == "erp_sku"
    assert links[("t1", "edi_item:ACM-RJ-RED-L", "erp_po_product:Rain Jacket")] == "erp_sku"
    linked = {r for key in links for r in key[1:]}
    assert not {"edi_item:ACM-SHARED", "edi_item:NEVER-ORDERED", "edi_item:VP-77"} & linked


def test_the_odata_items_key_skus_too(con) -> None:
    con.execute(ODATA_ITEMS)
    assert _items(con)["ACM-FH-GRY-S"] == "Fleece Hoodie"


def test_without_erp_po_lines_edi_items_are_records_without_a_key() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(EDI_LINES)
    assert set(_items(con).values()) == {None}
