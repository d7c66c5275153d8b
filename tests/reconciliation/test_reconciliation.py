"""Nightly reconciliation end to end: a small demo world landed, dbt built for real, the report
asset materialized (the main job of tests/main_job.py's shared world, on this module's copy);
the inventory and labour discrepancies found are exactly the answer key's (precision = recall =
1.0, same classification), within-tolerance differences are not reported, and the rendered
Markdown/HTML of a tenant-day holds its totals and each of its discrepancies.
"""

from __future__ import annotations

import html
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from tests.main_job import copy_built_world
from traceloom_pipelines.dbt import (
    dbt_resource,
    traceloom_dbt_daily_models,
)
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.partitions import RANGE_END_TAG, RANGE_START_TAG, main_run_tags
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sql import run_query

REPORT_KEY = dg.AssetKey(["reports", "nightly_reconciliation"])


@pytest.fixture(scope="module")
def world(main_job_world, tmp_path_factory):
    """This module's copy of the shared world after its main job (tests/main_job.py): every
    source landed, dbt built with its tests, the report asset materialized. ``result`` is that
    run; ``built_dir`` the data directory it ran on (the copy's is ``dir``)."""
    copy = copy_built_world(main_job_world, tmp_path_factory.mktemp("reconciliation"))
    con = connect(copy.data_dir, read_only=True)
    yield {
        "dir": copy.data_dir,
        "built_dir": main_job_world.data_dir,
        "key": main_job_world.key,
        "result": main_job_world.result,
        "con": con,
    }
    con.close()


def _rows(con, sql: str) -> set[tuple]:
    return set(con.execute(sql).fetchall())


def _precision_recall(got: set, expected: set) -> tuple[float, float]:
    hits = len(got & expected)
    return (hits / len(got) if got else 1.0), (hits / len(expected) if expected else 1.0)


def test_materialization_succeeds_with_every_new_dbt_test(world):
    result = world["result"]
    assert result.success, [
        e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    new_models = (
        "stg_wms__stock_events",
        "stg_mes__labor_bookings",
        "rpt_inventory_reconciliation",
        "rpt_labor_reconciliation",
        "rpt_reconciliation_daily_totals",
        "rpt_work_order_reconciliation_daily",
    )
    ours = [c for c in checks if c.asset_key.path[-1] in new_models]
    assert {c.asset_key.path[-1] for c in ours} == set(new_models)
    assert all(c.passed for c in ours), [
        (c.asset_key.to_user_string(), c.check_name) for c in ours if not c.passed
    ]


def test_answer_key_has_every_classification_for_every_tenant(world):
    key = world["key"]
    for tenant in key["tenants"]:
        for kind in ("inventory_reconciliation", "labor_reconciliation"):
            classes = {e["classification"] for e in key[kind] if e["tenant_id"] == tenant}
            assert classes == {"low", "high", "within_tolerance"}, (tenant, kind)


def test_inventory_discrepancies_are_exactly_the_answer_key(world):
    got = _rows(
        world["con"],
        "select tenant_id, material_id, cast(consumption_date as varchar), severity "
        "from marts.rpt_inventory_reconciliation",
    )
    expected = {
        (e["tenant_id"], e["material_id"], e["day"], e["classification"])
        for e in world["key"]["inventory_reconciliation"]
        if e["classification"] != "within_tolerance"
    }
    assert _precision_recall(got, expected) == (1.0, 1.0), got ^ expected
    values = {
        (t, m, d): (mes, wms)
        for t, m, d, mes, wms in world["con"]
        .execute(
            "select tenant_id, material_id, cast(consumption_date as varchar), "
            "mes_implied_consumption, wms_recorded_consumption "
            "from marts.rpt_inventory_reconciliation"
        )
        .fetchall()
    }
    for e in world["key"]["inventory_reconciliation"]:
        if e["classification"] != "within_tolerance":
            mes, wms = values[(e["tenant_id"], e["material_id"], e["day"])]
            assert mes == pytest.approx(e["mes_consumption"], abs=0.01)
            assert wms == pytest.approx(e["wms_consumption"], abs=0.01)


def test_labor_discrepancies_are_exactly_the_answer_key(world):
    got = _rows(
        world["con"],
        "select tenant_id, employee_id, cast(labor_date as varchar), severity "
        "from marts.rpt_labor_reconciliation",
    )
    expected = {
        (e["tenant_id"], e["employee_id"], e["day"], e["classification"])
        for e in world["key"]["labor_reconciliation"]
        if e["classification"] != "within_tolerance"
    }
    assert _precision_recall(got, expected) == (1.0, 1.0), got ^ expected


def test_work_order_reconciliation_stays_exact(world):
    got = _rows(
        world["con"],
        "select tenant_id, erp_work_order_id, discrepancy_type "
        "from marts.rpt_work_order_reconciliation_daily",
    )
    expected = {
        (d["tenant_id"], d["erp_work_order_id"], d["discrepancy_type"])
        for d in world["key"]["reconciliation"]
    }
    assert got == expected


def _normalized(text: str | None) -> str | None:
    """Staging's free-text normalisation (dbt macro normalized_text), case kept."""
    if text is None:
        return None
    return " ".join(text.split()) or None


def test_description_mismatches_are_exactly_the_answer_key(world):
    """ERP product_name vs MES PartDescription (003 §3.4's low-risk description update): every
    injected real difference and nothing else, low risk, auto-synced ERP -> MES."""
    rows = (
        world["con"]
        .execute(
            "select tenant_id, erp_work_order_id, severity, proposed_action, rule, "
            "erp_description, mes_description from marts.rpt_work_order_reconciliation_daily "
            "where discrepancy_type = 'description_mismatch'"
        )
        .fetchall()
    )
    expected = {
        (d["tenant_id"], d["erp_work_order_id"]): d
        for d in world["key"]["reconciliation"]
        if d["discrepancy_type"] == "description_mismatch"
    }
    assert {t for t, _ in expected} == set(world["key"]["tenants"])
    got = {(r[0], r[1]) for r in rows}
    assert _precision_recall(got, set(expected)) == (1.0, 1.0), got ^ set(expected)
    for tenant, wo, severity, action, rule, erp, mes in rows:
        entry = expected[(tenant, wo)]
        assert (severity, action) == ("low", "auto-sync: update MES description from ERP")
        assert "PartDescription" in rule
        assert (erp, mes) == (
            _normalized(entry["erp_description"]),
            _normalized(entry["mes_description"]),
        )
    # case is significant: a recapitalised name is a real description update
    assert any(d["erp_description"].upper() == d["mes_description"] for d in expected.values()), (
        "no case-only change in the answer key"
    )
    (summary,) = (
        world["con"]
        .execute(
            "select sum(description_mismatch_count) "
            "from marts.rpt_work_order_reconciliation_summary"
        )
        .fetchone()
    )
    assert summary == len(expected)


def test_whitespace_only_description_differences_are_not_reported(world):
    """MES descriptions that differ from ERP only in padding, doubled spaces, tabs, line breaks or
    no-break spaces land as sent, are normalised in staging, and are no discrepancy."""
    con = world["con"]
    spaced = world["key"]["description_whitespace_only"]
    assert {d["tenant_id"] for d in spaced} == set(world["key"]["tenants"])
    for d in spaced:
        tenant, wo = d["tenant_id"], d["erp_work_order_id"]
        raw = {
            text
            for (text,) in con.execute(
                'select "PartDescription" from raw.mes__work_orders '
                'where tenant_id = ? and "JobNumber" = ?',
                [tenant, wo],
            ).fetchall()
        }
        assert raw == {d["mes_description"]} and d["mes_description"] != d["erp_description"]
        erp, mes = con.execute(
            "select erp_description, mes_description "
            "from intermediate.int_work_orders_joined_to_mes "
            "where tenant_id = ? and erp_work_order_id = ?",
            [tenant, wo],
        ).fetchone()
        assert erp == mes == d["erp_description"]
        for relation in (
            "intermediate.int_work_order_discrepancies_classified",
            "marts.rpt_work_order_reconciliation_daily",
        ):
            assert not con.execute(
                f"select discrepancy_type from {relation} "
                "where tenant_id = ? and erp_work_order_id = ?",
                [tenant, wo],
            ).fetchall(), (relation, d)


def test_report_shows_description_mismatches_in_the_seed_format(world):
    """The tenant-day's Markdown (003 §3.4's text layout) and HTML hold each description mismatch
    with both descriptions and the auto-sync action."""
    con = world["con"]
    rows = con.execute(
        "select tenant_id, reconciliation_date, erp_work_order_id, erp_description, "
        "mes_description from marts.rpt_work_order_reconciliation_daily "
        "where discrepancy_type = 'description_mismatch'"
    ).fetchall()
    assert rows
    for tenant, day, wo, erp, mes in rows:
        folder = world["dir"] / "reports" / tenant / day.isoformat()
        markdown = (folder / "reconciliation.md").read_text(encoding="utf-8")
        entry = markdown[markdown.index(f"Work Order {wo}") :]
        entry = entry[: entry.find("\n\n", 1) if "\n\n" in entry else len(entry)]
        assert "Discrepancy: description mismatch" in entry, entry
        assert f"Description in ERP: {erp}" in entry, entry
        assert f"Description in MES: {mes}" in entry, entry
        assert "Action: Auto-sync scheduled (update MES description from ERP)" in entry, entry
        page = html.unescape((folder / "reconciliation.html").read_text(encoding="utf-8"))
        assert f"Work Order {wo}" in page and erp in page and mes in page
        assert 'data-type="description_mismatch"' in page or "description_mismatch" in page


def test_within_tolerance_differences_exist_but_are_not_reported(world):
    con = world["con"]
    key = world["key"]
    inventory = [
        e for e in key["inventory_reconciliation"] if e["classification"] == "within_tolerance"
    ]
    labor = [e for e in key["labor_reconciliation"] if e["classification"] == "within_tolerance"]
    assert inventory and labor
    for e in inventory:
        (diff,) = con.execute(
            "select wms_recorded_consumption - mes_implied_consumption "
            "from intermediate.int_material_consumption_compared "
            "where tenant_id = ? and material_id = ? and consumption_date = ?",
            [e["tenant_id"], e["material_id"], e["day"]],
        ).fetchone()
        assert abs(diff) > 0.1  # a real difference, inside the tolerance
        assert not con.execute(
            "select 1 from marts.rpt_inventory_reconciliation "
            "where tenant_id = ? and material_id = ? and consumption_date = ?",
            [e["tenant_id"], e["material_id"], e["day"]],
        ).fetchall()
    for e in labor:
        (diff,) = con.execute(
            "select booked_hours - attended_hours "
            "from intermediate.int_labor_hours_attended_vs_booked "
            "where tenant_id = ? and employee_id = ? and labor_date = ?",
            [e["tenant_id"], e["employee_id"], e["day"]],
        ).fetchone()
        assert 0.04 < abs(diff) <= 0.25
        assert not con.execute(
            "select 1 from marts.rpt_labor_reconciliation "
            "where tenant_id = ? and employee_id = ? and labor_date = ?",
            [e["tenant_id"], e["employee_id"], e["day"]],
        ).fetchall()


def test_classification_rule_and_action_are_consistent(world):
    for mart in ("rpt_inventory_reconciliation", "rpt_labor_reconciliation"):
        rows = world["con"].execute(f"select severity, proposed_action, rule from marts.{mart}")
        for severity, action, rule in rows.fetchall():
            assert rule
            assert (severity == "low") == action.startswith("auto-sync")
            assert (severity == "low") == ("-LOW" in rule)


def _materialization(result) -> dg.AssetMaterialization:
    """The report asset's materialization: one per daily partition of the run's window, all
    carrying the metadata of the whole window."""
    events = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == REPORT_KEY
    ]
    window = main_run_tags()
    first, last = window[RANGE_START_TAG], window[RANGE_END_TAG]
    assert sorted(m.partition for m in events)[0] == first
    assert sorted(m.partition for m in events)[-1] == last
    assert len({m.partition for m in events}) == len(events)
    return events[0]


def test_report_asset_metadata_counts_reports_and_discrepancies(world):
    con = world["con"]
    metadata = _materialization(world["result"]).metadata
    (days,) = con.execute("select count(*) from marts.rpt_reconciliation_daily_totals").fetchone()
    assert metadata["reports"].value == days
    for kind, mart in (
        ("work_order", "rpt_work_order_reconciliation_daily"),
        ("inventory", "rpt_inventory_reconciliation"),
        ("labor", "rpt_labor_reconciliation"),
    ):
        (count,) = con.execute(f"select count(*) from marts.{mart}").fetchone()
        assert metadata[f"discrepancies_{kind}"].value == count
    assert Path(metadata["reports_dir"].value) == world["built_dir"] / "reports"
    reports = list((world["dir"] / "reports").rglob("reconciliation.*"))
    assert len(reports) == 2 * days
    assert not list((world["dir"] / "reports").rglob("*.tmp"))


def test_rendered_report_holds_the_totals_and_each_discrepancy_of_the_day(world):
    con = world["con"]
    tenant, day = con.execute(
        "select tenant_id, reconciliation_date from marts.rpt_reconciliation_daily_totals "
        "order by discrepancy_count desc, inventory_discrepancy_count + labor_discrepancy_count "
        "desc, tenant_id, reconciliation_date limit 1"
    ).fetchone()
    totals = dict(
        zip(
            [
                "erp",
                "mes",
                "count",
                "high",
                "low",
            ],
            con.execute(
                "select erp_work_order_count, mes_work_order_count, discrepancy_count, "
                "manual_review_count, auto_sync_count from marts.rpt_reconciliation_daily_totals "
                "where tenant_id = ? and reconciliation_date = ?",
                [tenant, day],
            ).fetchone(),
            strict=True,
        )
    )
    assert totals["count"] >= 2
    expected = [
        (f"Work Order {wo}", severity)
        for wo, severity in con.execute(
            "select erp_work_order_id, severity from marts.rpt_work_order_reconciliation_daily "
            "where tenant_id = ? and reconciliation_date = ?",
            [tenant, day],
        ).fetchall()
    ]
    expected += [
        (f"Material {m}", severity)
        for m, severity in con.execute(
            "select material_id, severity from marts.rpt_inventory_reconciliation "
            "where tenant_id = ? and consumption_date = ?",
            [tenant, day],
        ).fetchall()
    ]
    expected += [
        (f"Employee {e}", severity)
        for e, severity in con.execute(
            "select employee_id, severity from marts.rpt_labor_reconciliation "
            "where tenant_id = ? and labor_date = ?",
            [tenant, day],
        ).fetchall()
    ]
    assert len(expected) == totals["count"]
    folder = world["dir"] / "reports" / tenant / day.isoformat()
    for name in ("reconciliation.md", "reconciliation.html"):
        text = (folder / name).read_text(encoding="utf-8")
        text = html.unescape(text) if name.endswith(".html") else text
        assert f"Date: {day.isoformat()}" in text
        assert f"Total Work Orders in ERP: {totals['erp']}" in text
        assert f"Total Work Orders in MES: {totals['mes']}" in text
        assert f"Discrepancies Found: {totals['count']}" in text
        assert f"{totals['high']} manual review, {totals['low']} auto-sync" in text
        positions = {}
        for subject, severity in expected:
            assert subject in text, (name, subject)
            positions[subject] = (text.index(subject), severity)
        # high risk (manual review) first
        ordered = [sev for _, sev in sorted(positions.values())]
        assert ordered == sorted(ordered, key=lambda s: s != "high"), ordered
        if name.endswith(".md"):
            assert text.count("Action: ") >= totals["count"]
        else:  # the HTML page has the action in a table column
            assert text.count('<td class="action">') == totals["count"]
    markdown = (folder / "reconciliation.md").read_text(encoding="utf-8")
    for number in range(1, totals["count"] + 1):
        assert f"\n{number}. " in markdown


def test_report_states_its_lake_snapshot_and_time_travel_reproduces_it(world):
    """Each report names the lake snapshot it was computed on; reading the mart at that snapshot
    (`traceloom sql --snapshot N`) gives the report's totals, also after the lake moved on."""
    con = world["con"]
    tenant, day, count = con.execute(
        "select tenant_id, reconciliation_date, discrepancy_count "
        "from marts.rpt_reconciliation_daily_totals order by discrepancy_count desc limit 1"
    ).fetchone()
    markdown = (
        world["dir"] / "reports" / tenant / day.isoformat() / "reconciliation.md"
    ).read_text()
    found = re.search(r"Computed on lake snapshot (\d+)", markdown)
    assert found, markdown[:500]
    snapshot = int(found.group(1))
    assert snapshot == _materialization(world["result"]).metadata["lake_snapshot_id"].value
    assert f"Discrepancies Found: {count}" in markdown

    query = (
        "select discrepancy_count from marts.rpt_reconciliation_daily_totals "
        f"where tenant_id = '{tenant}' and reconciliation_date = '{day.isoformat()}'"
    )
    out = io.StringIO()
    run_query(world["dir"], query, fmt="json", out=out, snapshot=snapshot)
    assert json.loads(out.getvalue()) == [{"discrepancy_count": count}]
    # the lake moves on (a later commit); the snapshot still reads what the report showed
    writer = connect(world["dir"])
    try:
        writer.execute(
            "update marts.rpt_reconciliation_daily_totals set discrepancy_count = -1 "
            "where tenant_id = ? and reconciliation_date = ?",
            [tenant, day],
        )
        out = io.StringIO()
        run_query(world["dir"], query, fmt="json", out=out, snapshot=snapshot)
        assert json.loads(out.getvalue()) == [{"discrepancy_count": count}]
        assert writer.execute(query).fetchall() == [(-1,)]
    finally:
        writer.execute(
            "update marts.rpt_reconciliation_daily_totals set discrepancy_count = ? "
            "where tenant_id = ? and reconciliation_date = ?",
            [count, tenant, day],
        )
        writer.close()


# Runs last in this module: it rewrites the warehouse (and puts it back).
def test_backfill_of_three_days_rebuilds_those_days_only(world):
    """A range run of three daily partitions replaces exactly those UTC days in the daily marts
    (macros/daily_window.sql) and leaves every other day as it was — shown by marking every row
    stale first: the three days come back right, the others stay marked."""
    world["con"].close()
    path = world["dir"]
    marts = {
        "fct_production_daily": ("production_date", "units_produced"),
        "fct_labor_hours": ("shift_date", "worked_hours"),
    }
    con = connect(path)
    before = {
        mart: con.execute(f"select * from marts.{mart} order by all").fetchall() for mart in marts
    }
    days = [
        d
        for (d,) in con.execute(
            "select distinct production_date from marts.fct_production_daily order by 1"
        ).fetchall()
    ]
    first = days[len(days) // 2]
    last = first + timedelta(days=2)
    for mart, (_day_column, measure) in marts.items():
        con.execute(f"update marts.{mart} set {measure} = -1")
    con.close()

    result = dg.materialize(
        [traceloom_dbt_daily_models],
        resources={
            "warehouse": WarehouseResource(data_dir=str(world["dir"])),
            "dbt": dbt_resource(),
        },
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        selection=[dg.AssetKey(["marts", mart]) for mart in marts],
    )
    assert result.success
    materialized = {
        (e.asset_key.path[-1], e.event_specific_data.materialization.partition)
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    window = [(first + timedelta(days=i)).isoformat() for i in range(3)]
    assert materialized == {(mart, day) for mart in marts for day in window}

    con = connect(path)
    try:
        for mart, (day_column, measure) in marts.items():
            rows = con.execute(f"select * from marts.{mart} order by all").fetchall()
            columns = [c[0] for c in con.execute(f"select * from marts.{mart} limit 0").description]
            day_at = columns.index(day_column)
            assert len(rows) == len(before[mart])
            inside = [r for r in before[mart] if first <= r[day_at] <= last]
            assert inside, f"{mart} has no rows in {first}..{last}"
            assert [r for r in rows if first <= r[day_at] <= last] == inside
            outside = [r for r in rows if not first <= r[day_at] <= last]
            assert outside and all(r[columns.index(measure)] == -1 for r in outside)
    finally:
        con.close()
    world["con"] = connect(path, read_only=True)
