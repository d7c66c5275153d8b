"""The finance source (000 §4.2) and the cost of delay in fct_po_delay_risk (issue #16 §4).

The contract test lands a hand-made rate card and chargeback rules into a real lake. The cost
tests read the small demo world of ``logistics_world`` (landed, dbt-built): for every open PO
they price the expected lateness and the expedite options in Python, from the landed finance
records (latest ``updatedAt`` per id) and the PO's expected timeline, and compare the mart.
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from traceloom_pipelines.demo.finance import price_delay
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.finance.contract import chargeback_rules, expedite_options

COST_COLUMNS = (
    "expected_delay_days",
    "chargeback_rule_id",
    "cost_of_doing_nothing",
    "expedite_option_id",
    "cheapest_expedite_mode",
    "cheapest_expedite_cost",
    "expedite_saves_days",
    "expedite_meets_window",
    "recommended_action",
)


def _rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def test_contract_quarantines_bad_currency_amounts_and_ports(tmp_path) -> None:
    folder = tmp_path / "landing" / "acme" / "finance"
    (folder / "expedite_options").mkdir(parents=True)
    (folder / "chargeback_rules").mkdir(parents=True)
    (folder / "expedite_options" / "rates.csv").write_text(
        "optionId,originPort,destinationPort,mode,transitDays,costBasis,rate,minimumCharge,"
        "currency,validFrom,validTo,updatedAt\n"
        "X-1,CNSZX,USLAX,air,3,per_unit,1.25,1500,USD,2026-01-01,,2026-01-02T00:00:00Z\n"
        "X-2,CNSZX,USLAX,air,3,per_unit,-1.25,1500,USD,2026-01-01,,2026-01-02T00:00:00Z\n"
        "X-3,Shenzhen,USLAX,rail,18,per_shipment,5000,,EUR,2026-01-01,,2026-01-02T00:00:00Z\n"
        "X-4,CNSZX,USLAX,teleport,1,per_kg,5,,usd,2026-01-01,,2026-01-02T00:00:00Z\n",
        encoding="utf-8",
    )
    rules = [
        {"ruleId": "R-1", "customer": "Harbor & Pine", "graceDays": 2, "flatFee": 250,
         "percentPerDay": 1.5, "capPercent": 10, "currency": "EUR", "validFrom": "2026-01-01",
         "updatedAt": "2026-01-02T00:00:00Z"},
        {"ruleId": "R-2", "customer": "Harbor & Pine", "graceDays": -1, "percentPerDay": 1,
         "currency": "US$", "validFrom": "2026-01-01", "updatedAt": "2026-01-02T00:00:00Z"},
    ]  # fmt: skip
    (folder / "chargeback_rules" / "rules.json").write_text(json.dumps(rules), encoding="utf-8")
    con = connect(tmp_path)
    try:
        options = land_entity(con, expedite_options, tmp_path / "landing").total
        landed_rules = land_entity(con, chargeback_rules, tmp_path / "landing").total
        assert (options.rows_landed, options.rows_quarantined) == (1, 3)
        assert (landed_rules.rows_landed, landed_rules.rows_quarantined) == (1, 1)
        assert run(
            con,
            "select entity, source_row, failed_checks from audit.quarantine "
            "order by entity, source_row",
        ) == [
            ("chargeback_rules", 2, ["currency:iso_4217", "graceDays:non_negative"]),
            ("expedite_options", 2, ["rate:non_negative"]),
            ("expedite_options", 3, ["originPort:is_un_locode"]),
            ("expedite_options", 4, ["costBasis:isin", "currency:iso_4217", "mode:isin"]),
        ]
        assert run(
            con,
            'select tenant_id, "optionId", "transitDays", rate, "minimumCharge", currency, '
            '"validTo" from raw.finance__expedite_options',
        ) == [("acme", "X-1", 3, 1.25, 1500.0, "USD", None)]
        assert run(
            con,
            'select "ruleId", "graceDays", "flatFee", "percentPerDay", "capPercent", currency '
            "from raw.finance__chargeback_rules",
        ) == [("R-1", 2, 250.0, 1.5, 10.0, "EUR")]
    finally:
        con.close()


# -- the cost of delay on the demo world -------------------------------------------------------


def _latest(con, table: str, key: str) -> list[dict]:
    """The landed records of a finance table, the latest updatedAt (then landing order) per id."""
    rows = _rows(con, f"select * from raw.{table}")
    rows.sort(
        key=lambda r: (r["updatedAt"], r["_ingested_at"], r["_source_file"], r["_source_row"])
    )
    return list({(r["tenant_id"], r[key]): r for r in rows}.values())


def _expected_costs(con) -> dict[tuple[str, str], dict]:
    """fct_po_delay_risk's cost rule (``price_delay``, the rule of its yml in Python) on the
    landed finance records, the POs and their expected timeline as the marts hold them."""
    rules = _latest(con, "finance__chargeback_rules", "ruleId")
    options = _latest(con, "finance__expedite_options", "optionId")
    stages: dict[tuple[str, str], dict] = {}
    for r in _rows(
        con,
        "select tenant_id, po_id, stage, expected_at, stage_status, as_of_at "
        "from marts.fct_po_timeline where is_po_open",
    ):
        stages.setdefault((r["tenant_id"], r["po_id"]), {})[r["stage"]] = r
    pos = {
        (p["tenant_id"], p["po_id"]): p
        for p in _rows(con, "select * from marts.fct_purchase_orders")
    }
    out = {}
    for (tenant, po_id), stage in stages.items():
        po = pos[(tenant, po_id)]
        day = stage["DELIVERED"]["as_of_at"].astimezone(UTC).date()
        delivered = stage["DELIVERED"]["expected_at"].astimezone(UTC).date()
        voyage = None
        if stage["DEPARTED"]["stage_status"] != "done":
            span = stage["ARRIVED"]["expected_at"] - stage["DEPARTED"]["expected_at"]
            voyage = span.total_seconds() / 86400
        out[(tenant, po_id)] = price_delay(
            po,
            (delivered - po["requested_delivery_date"]).days,
            voyage,
            [r for r in rules if r["tenant_id"] == tenant],
            [x for x in options if x["tenant_id"] == tenant],
            day,
        )
    return out


def _mart_costs(con) -> dict[tuple[str, str], dict]:
    rows = _rows(
        con, f"select tenant_id, po_id, {', '.join(COST_COLUMNS)} from marts.fct_po_delay_risk"
    )
    return {(r["tenant_id"], r["po_id"]): {c: r[c] for c in COST_COLUMNS} for r in rows}


def _assert_costs_equal(got: dict, want: dict, po_key: tuple[str, str]) -> None:
    """The mart's costs equal ``want``, money to the cent."""
    got = dict(got)
    for column in ("cost_of_doing_nothing", "cheapest_expedite_cost"):
        if want[column] is not None and got[column] is not None:
            assert got[column] == pytest.approx(want[column], abs=0.011), (po_key, column)
            got[column] = want[column]
    assert got == want, po_key


@pytest.mark.slow
def test_cost_of_delay_matches_the_rule_computed_from_the_landed_contract(
    logistics_world,
) -> None:
    done, con = logistics_world["dbt"], logistics_world["con"]
    assert done.returncode == 0, done.stdout[-4000:]
    expected = _expected_costs(con)
    got = _mart_costs(con)
    assert set(got) == set(expected)
    for po_key, want in expected.items():
        _assert_costs_equal(got[po_key], want, po_key)
    # the demo world exercises every branch of the rule
    actions = [e["recommended_action"] for e in expected.values()]
    assert "expedite" in actions and "wait" in actions
    assert any(e["chargeback_rule_id"] is None for e in expected.values())  # no rule: null cost
    assert any(e["expedite_option_id"] is None for e in expected.values())  # departed: no option
    assert any(
        e["cost_of_doing_nothing"]
        and e["expedite_meets_window"]
        and e["recommended_action"] == "wait"
        for e in expected.values()
    )  # an expedite dearer than the chargeback


@pytest.mark.slow
def test_cost_of_delay_is_the_answer_key(logistics_world) -> None:
    """The generator's own expectation (its twins' expected times and the finance records it
    dropped) for every open PO whose customer has a rule."""
    key, con = logistics_world["key"], logistics_world["con"]
    got = _mart_costs(con)
    assert key["cost_of_delay"]
    for entry in key["cost_of_delay"]:
        po_key = (entry["tenant_id"], entry["po_id"])
        want = {c: entry[c] for c in COST_COLUMNS}
        _assert_costs_equal(got[po_key], want, po_key)
    assert {e["recommended_action"] for e in key["cost_of_delay"]} == {"expedite", "wait"}


@pytest.mark.slow
def test_expedite_recommendation_for_a_late_po_in_numbers(logistics_world) -> None:
    """One PO spelled out: the strict customer's late PO whose sea-air upgrade costs less than
    the chargeback it avoids."""
    con = logistics_world["con"]
    (row,) = _rows(
        con,
        "select r.*, p.customer, p.quantity, p.unit_price from marts.fct_po_delay_risk r "
        "join marts.fct_purchase_orders p using (tenant_id, po_id) "
        "where r.recommended_action = 'expedite' order by r.tenant_id, r.po_id limit 1",
    )
    ((grace, fee, per_day, cap),) = run(
        con,
        'select "graceDays", "flatFee", "percentPerDay", "capPercent" '
        'from raw.finance__chargeback_rules where tenant_id = ? and "ruleId" = ?',
        [row["tenant_id"], row["chargeback_rule_id"]],
    )
    value = row["quantity"] * row["unit_price"]
    late = row["expected_delay_days"] - grace
    chargeback = min(fee + per_day / 100 * value * late, cap / 100 * value)
    assert row["cost_of_doing_nothing"] == pytest.approx(chargeback, abs=0.011)
    assert late > 0 and row["expedite_saves_days"] >= late
    assert row["cheapest_expedite_cost"] < row["cost_of_doing_nothing"]
    assert row["expedite_meets_window"] is True and row["currency"] == "USD"
