"""ERP over SAP OData v2: literals, paging both ways, incremental pulls, landing and the canonical
purchase orders — real HTTP on loopback (pytest-httpserver), a real DuckDB file, a real dbt build.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.sources.erp_support import (
    build_purchase_order_marts,
    land_both_routes,
    mount_service,
    served_queries,
)
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.demo.odata_service import ODataPurchaseOrderService
from traceloom_pipelines.integration.http import SourceHttpClient
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.sources.erp.connector import ErpODataResource
from traceloom_pipelines.sources.erp.contract import purchase_orders_odata
from traceloom_pipelines.sources.erp.odata import (
    ODataLiteralError,
    ODataProtocolError,
    fetch_purchase_orders,
    normalize_entity,
    parse_date_literal,
)

TENANT = "acme-apparel"
USER, PASSWORD = "TRACELOOM_COMM", "s3cret-Pa55"
SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV/A_PurchaseOrder"


# -- helpers ------------------------------------------------------------------------------------
def _drop_po(i: int, updated: str, *, revision: int = 1, status: str = "open") -> dict:
    """A drop-route PO payload (000 §2.1 shape) for the demo service to serve."""
    po_id = f"PO-2025-{i:06d}"
    lines = [
        {
            "lineItemId": f"{po_id}-01",
            "sku": "SKU-A",
            "color": "Red",
            "size": "M",
            "lineQuantity": 120,
        },
        {
            "lineItemId": f"{po_id}-02",
            "sku": "SKU-B",
            "color": "Blue",
            "size": "L",
            "lineQuantity": 24,
        },
    ]
    return {
        "poId": po_id,
        "revision": revision,
        "poStatus": status,
        "updatedAt": updated,
        "customer": "Harbor & Pine",
        "supplier": "Everbright Textile Group",
        "factory": "FAC-DG-01",
        "product": "Performance leggings",
        "quantity": 144,
        "unit": "pcs",
        "price": 11.25,
        "currency": "USD",
        "shipWindowStart": "2025-12-01",
        "shipWindowEnd": "2025-12-15",
        "requestedDeliveryDate": "2026-01-10",
        "routeTemplate": {"origin": "CNSZX", "ports": ["CNSZX", "NLRTM"], "destination": "NLRTM"},
        "lineItems": lines,
    }


def _write_drops(landing: Path, records: list[dict]) -> None:
    folder = landing / TENANT / "erp" / "purchase_orders"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "po_export.json").write_text(json.dumps(records), encoding="utf-8")


def _resource(httpserver, **kwargs) -> ErpODataResource:
    config = {
        "base_url": httpserver.url_for("/") + "{tenant}/erp",
        "tenants": TENANT,
        "username": USER,
        "password": PASSWORD,
        "timeout_s": 5.0,
        "max_attempts": 2,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        **kwargs,
    }
    return ErpODataResource(**config)


def _client(httpserver) -> SourceHttpClient:
    return SourceHttpClient("erp-test", httpserver.url_for("/"), max_attempts=1)


# -- literals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("/Date(1700000000000)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        # +0060: one hour east of UTC; the milliseconds are local, so UTC is an hour earlier
        ("/Date(1700000000000+0060)/", datetime(2023, 11, 14, 21, 13, 20, tzinfo=UTC)),
        ("/Date(1700000000000-0300)/", datetime(2023, 11, 15, 3, 13, 20, tzinfo=UTC)),
        ("/Date(1700000000123+0000)/", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
        ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
    ],
)
def test_every_date_literal_form_becomes_utc(literal, expected):
    assert parse_date_literal(literal) == expected


@pytest.mark.parametrize(
    "literal", ["/Date(abc)/", "/Date(1700000000000+60)/", "Date(1700000000000)", "2023-11-14"]
)
def test_unparseable_date_literal_is_a_clear_error(literal):
    with pytest.raises(ODataLiteralError, match="literal"):
        parse_date_literal(literal)


def test_normalize_drops_metadata_and_deferred_and_unwraps_results():
    entity = {
        "__metadata": {"uri": "x", "type": "API_PURCHASEORDER_PROCESS_SRV.A_PurchaseOrderType"},
        "PurchaseOrder": "4500000001",
        "CreationDate": "/Date(1700006400000)/",
        "LastChangeDateTime": "/Date(1700000000000+0060)/",
        "to_PurchaseOrderNote": {"__deferred": {"uri": "y"}},
        "to_PurchaseOrderItem": {
            "results": [
                {"__metadata": {}, "OrderQuantity": "12.500", "to_ScheduleLine": {"results": []}}
            ]
        },
    }
    problems: list[str] = []
    assert normalize_entity(entity, problems) == {
        "PurchaseOrder": "4500000001",
        "CreationDate": "2023-11-15",
        "LastChangeDateTime": "2023-11-14T21:13:20Z",
        "to_PurchaseOrderItem": [{"OrderQuantity": "12.500", "to_ScheduleLine": []}],
    }
    assert problems == []


# -- paging -------------------------------------------------------------------------------------
def test_server_driven_paging_follows_next_across_pages(tmp_path, httpserver):
    updated = datetime(2025, 11, 1, tzinfo=UTC)
    drops = [
        _drop_po(i, f"{(updated + timedelta(minutes=i)):%Y-%m-%dT%H:%M:%SZ}") for i in range(11)
    ]
    _write_drops(tmp_path / "landing", drops)
    service = ODataPurchaseOrderService(tmp_path / "landing", server_page_size=4)
    mount_service(httpserver, service)

    client = SourceHttpClient("erp-test", httpserver.url_for(f"/{TENANT}/erp"), max_attempts=1)
    records, mark = fetch_purchase_orders(client, page_size=100)

    assert [r["PurchaseOrder"] for r in records] == [d["poId"] for d in drops]
    queries = served_queries(service)
    assert [q.get("$skiptoken") for q in queries] == [None, "4", "8"]  # 3 pages via __next
    assert all(q["$top"] == "100" and q["$skip"] == "0" for q in queries)
    assert mark == updated + timedelta(minutes=10)


def test_client_paging_by_top_and_skip_when_no_next_comes(tmp_path, httpserver):
    updated = datetime(2025, 11, 1, tzinfo=UTC)
    drops = [_drop_po(i, f"{(updated + timedelta(hours=i)):%Y-%m-%dT%H:%M:%SZ}") for i in range(7)]
    _write_drops(tmp_path / "landing", drops)
    service = ODataPurchaseOrderService(tmp_path / "landing", server_page_size=None)
    mount_service(httpserver, service)

    client = SourceHttpClient("erp-test", httpserver.url_for(f"/{TENANT}/erp"), max_attempts=1)
    records, _ = fetch_purchase_orders(client, page_size=3)

    assert sorted(r["PurchaseOrder"] for r in records) == sorted(d["poId"] for d in drops)
    assert len(records) == 7
    queries = served_queries(service)
    assert [(q["$top"], q["$skip"]) for q in queries] == [("3", "0"), ("3", "3"), ("3", "6")]
    assert all("$skiptoken" not in q for q in queries)


def test_old_envelope_without_results_and_a_server_ignoring_top(httpserver):
    entities = [
        {"PurchaseOrder": f"45000000{i:02d}", "LastChangeDateTime": "/Date(1700000000000)/"}
        for i in range(5)
    ]
    httpserver.expect_request(SERVICE).respond_with_json({"d": entities})

    records, _ = fetch_purchase_orders(_client(httpserver), page_size=2)

    assert [r["PurchaseOrder"] for r in records] == [e["PurchaseOrder"] for e in entities]
    assert len(httpserver.log) == 1  # 5 > $top=2: the server sent everything at once


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({"error": {"code": "SY/530"}}, "no 'd'", id="no-d-member"),
        pytest.param({"d": "oops"}, "unexpected OData 'd' member", id="d-not-an-object"),
        pytest.param({"d": {"results": ["4500000001"]}}, "not an object", id="entity-not-object"),
    ],
)
def test_an_answer_that_is_not_odata_is_a_protocol_error(httpserver, payload, message):
    httpserver.expect_request(SERVICE).respond_with_json(payload)
    with pytest.raises(ODataProtocolError, match=message) as raised:
        fetch_purchase_orders(_client(httpserver), page_size=2)
    assert raised.value.error_class == "protocol"


def test_a_change_time_that_is_not_a_timestamp_does_not_move_the_mark(httpserver):
    entities = [
        {"PurchaseOrder": "4500000001", "LastChangeDateTime": "/Date(1700000000000)/"},
        {"PurchaseOrder": "4500000002", "LastChangeDateTime": "2023-13-45T99:00:00Z"},
    ]
    httpserver.expect_request(SERVICE).respond_with_json({"d": {"results": entities}})
    records, mark = fetch_purchase_orders(_client(httpserver), page_size=10)
    # Both kept (the contract quarantines the second); the mark comes from the first only.
    assert [r["LastChangeDateTime"] for r in records] == [
        "2023-11-14T22:13:20Z",
        "2023-13-45T99:00:00Z",
    ]
    assert mark == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


# -- literals and decimals through landing ---------------------------------------------------------
def _sap_po(po: str, changed: str, quantity: str, price: str) -> dict:
    return {
        "__metadata": {"id": f"x/A_PurchaseOrder('{po}')", "type": "A_PurchaseOrderType"},
        "PurchaseOrder": po,
        "Supplier": "17300001",
        "DocumentCurrency": "EUR",
        "CreationDate": "/Date(1699920000000)/",
        "LastChangeDateTime": changed,
        "to_PurchaseOrderNote": {"__deferred": {"uri": "x"}},
        "to_PurchaseOrderItem": {
            "results": [
                {
                    "__metadata": {"type": "A_PurchaseOrderItemType"},
                    "PurchaseOrderItem": "10",
                    "Material": "TG11",
                    "Plant": "1010",
                    "OrderQuantity": quantity,
                    "PurchaseOrderQuantityUnit": "PC",
                    "NetPriceAmount": price,
                    "NetPriceQuantity": "1",
                    "IsCompletelyDelivered": False,
                    "PurchasingDocumentDeletionCode": "",
                    "to_ScheduleLine": {
                        "results": [{"ScheduleLineDeliveryDate": "/Date(1701302400000)/"}]
                    },
                }
            ]
        },
    }


def test_date_forms_and_decimals_land_and_a_bad_literal_is_quarantined(tmp_path, httpserver):
    pos = [
        _sap_po("4500000001", "/Date(1700000000000)/", "120.000", "12.50"),
        _sap_po("4500000002", "/Date(1700000000000+0060)/", "0.125", "1999.99"),
        _sap_po("4500000003", "/Date(1700000000000-0300)/", "1000000.000", "0.01"),
        _sap_po("4500000004", "/Date(yesterday)/", "5.000", "1.00"),
    ]
    httpserver.expect_request(f"/{TENANT}{SERVICE}").respond_with_json({"d": {"results": pos}})
    resource = ErpODataResource(
        base_url=httpserver.url_for("/") + "{tenant}", tenants=TENANT, page_size=50
    )
    landing = tmp_path / "landing"
    logs: list[str] = []

    batch = resource.pull(
        entity=purchase_orders_odata,
        landing_root=landing,
        tenant_id=TENANT,
        cursor=None,
        log=logs.append,
    )
    assert batch.next_cursor == "2023-11-15T03:13:20Z"  # the -0300 one is the latest in UTC
    assert batch.metadata["unparseable_literals"] == 1
    assert any("/Date(yesterday)/" in line for line in logs)

    con = connect(tmp_path)
    result = land_entity(con, purchase_orders_odata, landing)
    total = result.total
    assert (total.rows_read, total.rows_landed, total.rows_quarantined) == (4, 3, 1)
    landed = con.sql(
        'select "PurchaseOrder", "LastChangeDateTime", "CreationDate"::varchar '
        "from raw.erp__purchase_orders_odata order by 1"
    ).fetchall()
    assert landed == [
        ("4500000001", datetime(2023, 11, 14, 22, 13, 20), "2023-11-14"),
        ("4500000002", datetime(2023, 11, 14, 21, 13, 20), "2023-11-14"),
        ("4500000003", datetime(2023, 11, 15, 3, 13, 20), "2023-11-14"),
    ]
    items = con.sql(
        'select "PurchaseOrder", "OrderQuantity", "NetPriceAmount", '
        '"ScheduleLineDeliveryDate"::varchar from raw.erp__purchase_order_items_odata order by 1'
    ).fetchall()
    assert items == [
        ("4500000001", 120.0, 12.5, "2023-11-30"),
        ("4500000002", 0.125, 1999.99, "2023-11-30"),
        ("4500000003", 1_000_000.0, 0.01, "2023-11-30"),
    ]
    quarantined = con.sql("select failed_checks, record from audit.quarantine").fetchall()
    assert len(quarantined) == 1
    reasons, record = quarantined[0]
    assert list(reasons) == ["LastChangeDateTime:is_timestamp"]
    assert json.loads(record)["LastChangeDateTime"] == "/Date(yesterday)/"  # nothing lost
    con.close()


# -- incremental pulls ----------------------------------------------------------------------------
def test_incremental_pull_filters_from_the_cursor_and_lands_only_changes(tmp_path, httpserver):
    base = datetime(2025, 11, 1, tzinfo=UTC)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    first = [_drop_po(i, f"{(base + timedelta(hours=i)):{iso}}") for i in range(6)]
    later = [
        _drop_po(1, f"{(base + timedelta(days=2)):{iso}}", revision=2, status="cancelled"),
        _drop_po(4, f"{(base + timedelta(days=3)):{iso}}", revision=2, status="closed"),
    ]
    landing = tmp_path / "landing"
    _write_drops(landing, first + later)
    service = ODataPurchaseOrderService(
        landing, user=USER, password=PASSWORD, server_page_size=2, as_of=base + timedelta(days=1)
    )
    mount_service(httpserver, service)
    resource = _resource(httpserver, page_size=50)
    con = connect(tmp_path)

    batch = resource.pull(
        entity=purchase_orders_odata,
        landing_root=landing,
        tenant_id=TENANT,
        cursor=None,
        log=lambda _m: None,
    )
    assert "$filter" not in served_queries(service)[0]  # first pull: everything
    assert batch.next_cursor == "2025-11-01T05:00:00Z"
    assert land_entity(con, purchase_orders_odata, landing).total.rows_landed == 6

    service.as_of = None  # the ERP's clock moves on: two orders change
    service.requests.clear()
    second = resource.pull(
        entity=purchase_orders_odata,
        landing_root=landing,
        tenant_id=TENANT,
        cursor=batch.next_cursor,
        log=lambda _m: None,
    )
    query = served_queries(service)[0]
    # the default look-back of 10 minutes starts the filter before the mark (late commits)
    assert query["$filter"] == "LastChangeDateTime ge datetimeoffset'2025-11-01T04:50:00.000Z'"
    assert second.metadata["filter_from"] == "2025-11-01T04:50:00Z"
    assert second.next_cursor == "2025-11-04T00:00:00Z"
    # PO 5 (at the mark) comes back byte-identical and is skipped as an exact duplicate
    assert second.metadata["records"] == 3
    counts = land_entity(con, purchase_orders_odata, landing).total
    assert (counts.rows_read, counts.rows_landed, counts.rows_duplicate) == (3, 2, 1)
    changed = con.sql(
        'select "PurchaseOrder", count(*) from raw.erp__purchase_orders_odata '
        "group by 1 having count(*) > 1 order by 1"
    ).fetchall()
    assert changed == [("PO-2025-000001", 2), ("PO-2025-000004", 2)]

    # the same window pulled again writes the same file: the landing ledger skips it
    again = resource.pull(
        entity=purchase_orders_odata,
        landing_root=landing,
        tenant_id=TENANT,
        cursor=batch.next_cursor,
        log=lambda _m: None,
    )
    assert again.files == second.files
    assert land_entity(con, purchase_orders_odata, landing).total.rows_read == 0
    con.close()


def test_wrong_credentials_are_refused_and_nothing_is_written(tmp_path, httpserver):
    landing = tmp_path / "landing"
    _write_drops(landing, [_drop_po(1, "2025-11-01T00:00:00Z")])
    mount_service(httpserver, ODataPurchaseOrderService(landing, user=USER, password=PASSWORD))
    resource = _resource(httpserver, password="wrong")
    from traceloom_pipelines.integration.http import SourceRequestError

    with pytest.raises(SourceRequestError) as raised:
        resource.pull(
            entity=purchase_orders_odata,
            landing_root=landing,
            tenant_id=TENANT,
            cursor=None,
            log=lambda _m: None,
        )
    assert raised.value.status == 401
    assert not (landing / TENANT / "erp" / "purchase_orders_odata").exists()
    letters = resource.take_dead_letters()
    assert letters and "wrong" not in json.dumps([lt.as_dict() for lt in letters], default=str)
    assert base64.b64encode(f"{USER}:wrong".encode()).decode() not in str(letters)


# -- a demo world by both routes, built by dbt ---------------------------------------------------
CANONICAL_PO_COLUMNS = (
    "tenant_id, po_id, po_status, updated_at, customer, supplier, factory, product, quantity, "
    "unit, unit_price, currency, ship_window_start_date, ship_window_end_date, "
    "requested_delivery_date, route_origin, route_ports, route_destination"
)
CANONICAL_LINE_COLUMNS = (
    "tenant_id, po_id, line_item_id, line_number, sku, color, size, line_quantity"
)
UPDATED_AT_INSTANT = "timezone('UTC', updated_at) as updated_at"
QUANTITY = CANONICAL_PO_COLUMNS.split(", ").index("quantity")
STATUS = CANONICAL_PO_COLUMNS.split(", ").index("po_status")


def _as_by_odata(drop_rows: list[tuple]) -> list[tuple]:
    """Canonical drop-route POs as the OData route gives them: a cancelled PO has every SAP
    item deleted (deletion code L), so its quantity is 0 there (issue #13), while the drop
    export keeps the ordered quantity."""
    return [
        row[:QUANTITY] + (0.0,) + row[QUANTITY + 1 :] if row[STATUS] == "cancelled" else row
        for row in drop_rows
    ]


@pytest.fixture(scope="module")
def both_routes(tmp_path_factory):
    """One tenant's demo world landed by the drop route and pulled over OData (served from the
    same world, server-driven paging, basic auth), then ``dbt build`` of the PO models."""
    from pytest_httpserver import HTTPServer

    data_dir = tmp_path_factory.mktemp("odata_world")
    landing = data_dir / "landing"
    key = generate_world(
        landing, data_dir / "demo" / "answer_key.json", seed=5, scale=0.004, tenants=(TENANT,)
    )
    server = HTTPServer(host="127.0.0.1")
    server.start()
    try:
        service = ODataPurchaseOrderService(
            landing, user=USER, password=PASSWORD, server_page_size=9
        )
        mount_service(server, service)
        resource = _resource(server, page_size=25)
        batch = resource.pull(
            entity=purchase_orders_odata,
            landing_root=landing,
            tenant_id=TENANT,
            cursor=None,
            log=lambda _m: None,
        )
    finally:
        server.clear()
        server.stop()
    drop_result, odata_result = land_both_routes(data_dir, landing)
    build = build_purchase_order_marts(data_dir)
    con = connect(data_dir, read_only=True)
    yield {
        "key": key,
        "batch": batch,
        "requests": list(service.requests),
        "drop": drop_result,
        "odata": odata_result,
        "build": build,
        "con": con,
    }
    con.close()


def test_dbt_build_of_both_routes_passes_every_test(both_routes):
    build = both_routes["build"]
    assert build.returncode == 0, build.stdout[-4000:]
    assert "ERROR=0" in build.stdout.replace(" ", "")


def test_pulled_world_lands_every_po_in_raw(both_routes):
    expected = both_routes["key"]["expected"][TENANT]["purchase_orders"]
    odata = both_routes["odata"].total
    assert (odata.rows_read, odata.rows_landed, odata.rows_quarantined) == (expected, expected, 0)
    assert both_routes["batch"].metadata["server_pages"] >= 3
    assert (
        both_routes["odata"].total.child_rows_landed
        == both_routes["key"]["expected"][TENANT]["purchase_order_lines"]
    )


def test_odata_route_gives_the_same_canonical_pos_as_the_drop_route(both_routes):
    con = both_routes["con"]
    drop = con.sql(
        f"select {CANONICAL_PO_COLUMNS} from staging.stg_erp__purchase_orders"
    ).fetchall()
    odata = con.sql(
        f"select {CANONICAL_PO_COLUMNS} from staging.stg_erp__purchase_orders_odata"
    ).fetchall()
    assert len(drop) == both_routes["key"]["expected"][TENANT]["purchase_orders"]
    assert sorted(odata) == sorted(_as_by_odata(drop))
    statuses = {row[2] for row in drop}
    assert {"open", "closed"} <= statuses  # the status mapping is exercised, not just "open"

    drop_lines = con.sql(
        f"select {CANONICAL_LINE_COLUMNS} from staging.stg_erp__purchase_order_lines"
    ).fetchall()
    odata_lines = con.sql(
        f"select {CANONICAL_LINE_COLUMNS} from staging.stg_erp__purchase_order_items_odata"
    ).fetchall()
    assert len(drop_lines) == both_routes["key"]["expected"][TENANT]["purchase_order_lines"]
    assert sorted(odata_lines) == sorted(drop_lines)


def test_both_routes_meet_in_one_canonical_mart(both_routes):
    con = both_routes["con"]
    rows = con.sql(
        "select source_route, count(*), count(distinct po_id) from marts.fct_purchase_orders "
        "group by 1"
    ).fetchall()
    expected = both_routes["key"]["expected"][TENANT]["purchase_orders"]
    # same POs, same updated_at by both routes: the live OData record wins the tie
    assert rows == [("odata", expected, expected)]
    mart = con.sql(f"select {CANONICAL_PO_COLUMNS} from marts.fct_purchase_orders").fetchall()
    # staging's naive UTC updated_at, as the mart's instant (timestamp with time zone)
    drop = con.sql(
        f"select {CANONICAL_PO_COLUMNS.replace('updated_at', UPDATED_AT_INSTANT)} "
        "from staging.stg_erp__purchase_orders"
    ).fetchall()
    assert sorted(mart) == sorted(_as_by_odata(drop))
    lines = con.sql(
        "select count(*) from marts.fct_purchase_order_lines where source_route = 'odata'"
    ).fetchall()[0][0]
    assert lines == both_routes["key"]["expected"][TENANT]["purchase_order_lines"]


def test_mart_lines_keep_sap_item_numbers_and_deleted_items_count_for_nothing(both_routes):
    """Issue #13 items 3 and 8 through the demo world: every OData line keeps SAP's item
    number verbatim (S/4 sends "10", "20" …) beside the canonical `<po>-NN`; the items of a
    cancelled PO (all deleted, code L) are kept as lines but count neither in the PO's
    quantity nor in line_quantity_total, which are 0, not null."""
    con = both_routes["con"]
    lines = con.sql(
        "select line_item_id, item_number, is_deleted, po_status "
        "from marts.fct_purchase_order_lines join marts.fct_purchase_orders "
        "using (tenant_id, po_id, source_route)"
    ).fetchall()
    assert lines
    for line_item_id, item_number, is_deleted, status in lines:
        assert int(item_number) == 10 * int(line_item_id.rsplit("-", 1)[1])
        assert is_deleted == (status == "cancelled")
    totals = con.sql(
        "select po_status, quantity, line_quantity_total, line_count from marts.fct_purchase_orders"
    ).fetchall()
    for status, quantity, line_total, line_count in totals:
        assert line_count > 0
        if status == "cancelled":
            assert (quantity, line_total) == (0.0, 0.0)
        else:
            assert quantity == line_total > 0


def test_ingestion_asset_pulls_lands_and_then_advances_the_cursor(tmp_path, httpserver):
    import dagster as dg

    from traceloom_pipelines.landing.assets import build_ingestion_asset
    from traceloom_pipelines.resources import WarehouseResource
    from traceloom_pipelines.sources.erp.connector import RESOURCE_KEY

    landing = tmp_path / "landing"
    _write_drops(landing, [_drop_po(i, f"2025-11-0{i + 1}T08:00:00Z") for i in range(5)])
    service = ODataPurchaseOrderService(landing, user=USER, password=PASSWORD, server_page_size=2)
    mount_service(httpserver, service)
    asset = build_ingestion_asset(purchase_orders_odata, puller=RESOURCE_KEY)
    resources = {
        "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        RESOURCE_KEY: _resource(httpserver),
    }

    assert dg.materialize([asset], resources=resources).success
    con = connect(tmp_path)
    state = con.sql(
        "select tenant_id, cursor from audit.connector_state "
        "where source = 'erp' and entity = 'purchase_orders_odata'"
    ).fetchall()
    assert state == [(TENANT, "2025-11-05T08:00:00Z")]
    assert con.sql("select count(*) from raw.erp__purchase_orders_odata").fetchall() == [(5,)]
    con.close()

    service.requests.clear()
    assert dg.materialize([asset], resources=resources).success
    assert served_queries(service)[0]["$filter"] == (  # the mark less the 10-minute look-back
        "LastChangeDateTime ge datetimeoffset'2025-11-05T07:50:00.000Z'"
    )
    con = connect(tmp_path)
    assert con.sql("select count(*) from raw.erp__purchase_orders_odata").fetchall() == [(5,)]
    con.close()


def test_ingestion_asset_records_a_non_odata_answer_as_a_failed_pull_of_that_tenant(
    tmp_path, httpserver
):
    """One tenant's SAP system answers JSON that is not OData (and echoes the password): that
    tenant's pull fails its check with class ``protocol``, the message is scrubbed, its cursor
    stays put; the other tenant's purchase orders land and its cursor moves."""
    import dagster as dg

    from traceloom_pipelines.landing.assets import PULL_CHECK, build_ingestion_asset
    from traceloom_pipelines.resources import WarehouseResource
    from traceloom_pipelines.sources.erp.connector import RESOURCE_KEY

    other = "borealis-appliances"
    pos = [_sap_po(f"450000000{i}", "/Date(1700000000000)/", "1.000", "2.00") for i in (1, 2)]
    httpserver.expect_request(f"/{TENANT}{SERVICE}").respond_with_json({"d": {"results": pos}})
    httpserver.expect_request(f"/{other}{SERVICE}").respond_with_json(
        {"error": {"message": f"user {USER} with password {PASSWORD} is locked"}}
    )
    resource = _resource(
        httpserver, base_url=httpserver.url_for("/") + "{tenant}", tenants=f"{TENANT},{other}"
    )
    result = dg.materialize(
        [build_ingestion_asset(purchase_orders_odata, puller=RESOURCE_KEY)],
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path)), RESOURCE_KEY: resource},
        raise_on_error=False,
    )
    assert result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK]
    assert (check.passed, check.metadata["failed_tenants"].value) == (False, other)
    failure = check.metadata["pull_failures"].value[other]
    assert failure["failure_class"] == "protocol"
    assert "not an OData v2 JSON payload" in failure["error"]
    con = connect(tmp_path, read_only=True)
    try:
        runs = con.sql("select tenant_id, status, error from audit.connector_runs").fetchall()
        state = con.sql("select tenant_id, cursor from audit.connector_state").fetchall()
        landed = con.sql(
            'select tenant_id, "PurchaseOrder" from raw.erp__purchase_orders_odata order by 2'
        ).fetchall()
    finally:
        con.close()
    assert PASSWORD not in json.dumps(failure) and PASSWORD not in json.dumps(runs)
    statuses = {tenant: status for tenant, status, _ in runs}
    assert statuses == {TENANT: "landed", other: "pull_failed"}
    assert state == [(TENANT, "2023-11-14T22:13:20Z")]
    assert landed == [(TENANT, "4500000001"), (TENANT, "4500000002")]


def test_demo_server_serves_the_odata_route(tmp_path, monkeypatch):
    from traceloom_pipelines.demo.odata_service import demo_routes
    from traceloom_pipelines.demo.serve import serve

    monkeypatch.setenv("TRACELOOM_ERP_ODATA_USER", USER)
    monkeypatch.setenv("TRACELOOM_ERP_ODATA_PASSWORD", PASSWORD)
    landing = tmp_path / "landing"
    drops = [_drop_po(i, f"2025-11-01T0{i}:00:00Z") for i in range(4)]
    _write_drops(landing, drops)
    with serve(landing, port=0, extra_routes=demo_routes(landing)) as server:
        resource = ErpODataResource(
            base_url=f"{server.url}/{{tenant}}/erp",
            tenants=TENANT,
            username=USER,
            password=PASSWORD,
            max_attempts=1,
        )
        batch = resource.pull(
            entity=purchase_orders_odata,
            landing_root=landing,
            tenant_id=TENANT,
            cursor=None,
            log=lambda _m: None,
        )
    assert batch.metadata["records"] == 4
    lines = batch.files[0].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["PurchaseOrder"] for line in lines] == [d["poId"] for d in drops]
