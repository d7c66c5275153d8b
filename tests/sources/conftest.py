"""Shared fixtures of the source tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.master_data.assets import resolve_lake
from traceloom_pipelines.sources.catalog import all_entities

# What the logistics, certification and supplier marts read.
# factory, weather, ais and port: the PO digital twin (fct_po_timeline, fct_po_delay_risk);
# edi: the third purchase-order and milestone route (the partners' files of
# tests/sources/test_edi_demo.py);
# iot: sensor excursions, a delay-risk signal and a timeline flag; finance: the delay risk's
# cost of delay.
LOGISTICS_WORLD_SYSTEMS = (
    "edi",
    "iot",
    "erp",
    "mes",
    "logistics",
    "certifications",
    "finance",
    "factory",
    "weather",
    "ais",
    "port",
)
LOGISTICS_MARTS = (
    "fct_purchase_order_lines",
    "fct_shipment_milestones",
    "fct_certification_coverage",
    "fct_supplier_performance",
    "fct_po_timeline",
    "fct_po_delay_risk",
    # golden records (issue #16 §2; tests/sources/test_master_data.py)
    "dim_suppliers",
    "dim_products",
    "dim_trading_partners",
)


@pytest.fixture(scope="session")
def logistics_world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small demo world (two tenants, scale 0.01, as of 2026-03-01) whose ERP, EDI, MES, factory,
    logistics, certification, finance and public weather / AIS / port drops are landed into a real
    DuckDB file, suppliers and products are resolved (master_data), then ``dbt build`` of the
    logistics / certification / supplier / PO twin marts and the golden-record dims
    and everything upstream, tests included (dbt var ``po_twin_as_of`` = the world's as_of).

    Yields ``{"dir", "key", "con" (read-only), "dbt_stdout"}``.
    """
    data_dir = tmp_path_factory.mktemp("logistics_world")
    key = generate_world(
        data_dir / "landing",
        data_dir / "demo" / "answer_key.json",
        seed=7,
        scale=0.01,
        as_of=datetime(2026, 3, 1, tzinfo=UTC),
    )
    con = connect(data_dir)
    try:
        for entity in all_entities():
            if entity.system in LOGISTICS_WORLD_SYSTEMS:
                land_entity(con, entity, data_dir / "landing")
        # identity resolution between landing and dbt, as the main job runs it
        resolve_lake(con)
    finally:
        con.close()
    command = [
        "build",
        "--select",
        *(f"+{mart}" for mart in LOGISTICS_MARTS),
        "--indirect-selection",
        "cautious",
        # the PO twin is evaluated at the world's as_of, not at the wall clock
        "--vars",
        json.dumps({"po_twin_as_of": key["as_of"]}),
    ]
    done = run_dbt(data_dir, command, capture_output=True, text=True)
    con = connect(data_dir, read_only=True)
    yield {"dir": data_dir, "key": key, "con": con, "dbt": done}
    con.close()
