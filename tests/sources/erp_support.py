"""What the ERP purchase-order tests share: landing both routes and building their marts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from werkzeug import Request, Response

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo.odata_service import ODataPurchaseOrderService
from traceloom_pipelines.landing.loader import LandingResult, land_entity
from traceloom_pipelines.landing.warehouse import connect, ensure_tables
from traceloom_pipelines.sources.catalog import all_entities
from traceloom_pipelines.sources.erp.contract import purchase_orders, purchase_orders_odata


def land_both_routes(data_dir: Path, landing: Path) -> tuple[LandingResult, LandingResult]:
    """Land the drop-file and the OData purchase orders under ``landing`` into ``data_dir``'s
    lake: (drop result, OData result). The EDI route's raw tables, which the canonical purchase
    orders also union, are created empty."""
    con = connect(data_dir)
    try:
        for entity in all_entities():
            if entity.system == "edi":
                ensure_tables(con, entity)
        return land_entity(con, purchase_orders, landing), land_entity(
            con, purchase_orders_odata, landing
        )
    finally:
        con.close()


def build_purchase_order_marts(data_dir: Path, *marts: str) -> subprocess.CompletedProcess:
    """``dbt build`` of ``fct_purchase_orders``, ``fct_purchase_order_lines``, the other
    ``marts`` named and everything upstream (with their tests; tests of other marts that
    reference them are not built) on ``data_dir``'s lake; the finished process (output
    captured, not checked)."""
    return run_dbt(
        data_dir,
        [
            "build",
            "--select",
            "+fct_purchase_orders",
            "+fct_purchase_order_lines",
            *(f"+{mart}" for mart in marts),
            "--indirect-selection",
            "cautious",
        ],
        capture_output=True,
        text=True,
    )


def mount_service(httpserver, service: ODataPurchaseOrderService) -> None:
    """Serve ``service`` on the loopback test server (a werkzeug adapter over ``handle``)."""

    def handler(request: Request) -> Response:
        status, headers, body = service.handle(
            request.method,
            request.path,
            request.query_string.decode("latin-1"),
            dict(request.headers),
        )
        return Response(body, status=status, headers=headers)

    httpserver.expect_request(re.compile(r"^/[^/]+/erp/.*")).respond_with_handler(handler)


def served_queries(service: ODataPurchaseOrderService) -> list[dict[str, str]]:
    """The query parameters of each request ``service`` answered (last value of each)."""
    return [{k: v[-1] for k, v in parse_qs(urlsplit(r).query).items()} for r in service.requests]
