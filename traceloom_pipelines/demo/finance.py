"""The demo world's cost contract (000 §4.2 Financial / Cost Data): expedite options for every
lane its POs ship on, and a late-delivery chargeback rule for most of its customers.

``finance/expedite_options`` is the forwarders' rate card as finance exports it (CSV): per lane
(route origin → destination of the POs, UN/LOCODE) air (3 days port to port, 4 from South
Asia) and sea-air (12 days, 14 to Europe) priced per unit with a minimum charge, rail from
Chinese ports to Europe (18 days) and an express sea service to North America (12 days) priced
per shipment, all in USD like the POs. One air line was re-priced later (the later
``updatedAt`` wins) and one cheaper line expired before ``as_of`` (it must not be used).

``finance/chargeback_rules`` (JSON) holds one rule per customer except the last (a customer
without vendor-compliance penalties: its POs get no cost of doing nothing): grace days, a flat
fee, a percent of the PO value per day late and a cap. The first customer's terms changed: an
old, lenient rule that ended 40 days before ``as_of`` and the current, strict one (no grace,
3 % a day), under which expediting a late PO pays. One record carries a currency
that is not ISO 4217 (``US$``) and is quarantined (``currency:iso_4217``).
"""

from __future__ import annotations

import math

from traceloom_pipelines.demo.clock import DAY, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.po_risk import Twin
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder, _day_number

EUROPE = ("NL", "DE", "GB")
SOUTH_ASIA = ("BD", "LK", "IN")
EXPEDITE_COLUMNS = (
    "optionId",
    "originPort",
    "destinationPort",
    "mode",
    "carrier",
    "transitDays",
    "costBasis",
    "rate",
    "minimumCharge",
    "currency",
    "validFrom",
    "validTo",
    "updatedAt",
)
# industry → (air rate per unit, sea-air rate per unit) ranges, USD
UNIT_RATES = {"apparel": ((0.95, 1.4), (0.55, 0.8)), "appliances": ((6.0, 9.0), (3.5, 5.0))}


def _lanes(pos: list[PurchaseOrder]) -> list[tuple[str, str]]:
    lanes = {
        (po.latest["routeTemplate"]["origin"], po.latest["routeTemplate"]["destination"])
        for po in pos
    }
    return sorted(lanes)


def _expedite_rows(world: TenantWorld, pos: list[PurchaseOrder]) -> list[dict]:
    """Rate-card rows of every lane (module docstring), in option id order."""
    rng = world.rng("finance_expedite")
    air, sea_air = UNIT_RATES[world.profile.industry]
    valid_from = date_of(world.window_start - 60 * DAY)
    valid_to = date_of(world.as_of + 180 * DAY)
    exported = iso_s(world.window_start)
    rows = []
    for n, (origin, destination) in enumerate(_lanes(pos), start=1):
        to_europe = destination[:2] in EUROPE
        lane = {"originPort": origin, "destinationPort": destination}
        common = {"currency": "USD", "validFrom": valid_from, "validTo": valid_to}
        options = [
            ("AIR", "air", "Skyline Forwarding", 4 if origin[:2] in SOUTH_ASIA else 3,
             "per_unit", round(rng.uniform(*air), 2), 1500),
            ("SAIR", "sea_air", "Gulf Bridge Logistics", 14 if to_europe else 12,
             "per_unit", round(rng.uniform(*sea_air), 2), 900),
        ]  # fmt: skip
        if to_europe and origin.startswith("CN"):
            options.append(
                ("RAIL", "rail", "Silk Rail Express", 18, "per_shipment",
                 round(rng.uniform(5800, 7200), -1), None)
            )  # fmt: skip
        if not to_europe:
            options.append(
                ("XSEA", "sea_express", "Pacific Express Line", 12, "per_shipment",
                 round(rng.uniform(2400, 3600), -1), None)
            )  # fmt: skip
        for suffix, mode, carrier, days, basis, rate, minimum in options:
            rows.append(
                {
                    "optionId": f"EXP-{world.index + 1}{n:03d}-{suffix}",
                    **lane,
                    "mode": mode,
                    "carrier": carrier,
                    "transitDays": days,
                    "costBasis": basis,
                    "rate": rate,
                    "minimumCharge": minimum,
                    **common,
                    "updatedAt": exported,
                }
            )
    return rows


def _chargeback_rules(world: TenantWorld) -> tuple[list[dict], list[dict]]:
    """(current rules, superseded or expired rules) of the tenant's customers."""
    rng = world.rng("finance_chargebacks")
    customers = world.profile.customers
    ws, as_of = world.window_start, world.as_of
    current, old = [], []
    for n, customer in enumerate(customers[:-1], start=1):
        rule = {
            "ruleId": f"CB-{world.index + 1}{n:02d}",
            "customer": customer,
            "graceDays": rng.choice((0, 1, 2, 3)),
            "flatFee": rng.choice((0, 250, 500)),
            "percentPerDay": rng.choice((0.5, 1.0, 1.5, 2.0)),
            "capPercent": rng.choice((5, 10, 15)),
            "currency": "USD",
            "validFrom": date_of(ws - 300 * DAY),
            "validTo": None,
            "updatedAt": iso_s(ws),
        }
        current.append(rule)
    # the first customer's new terms are strict (on-time-in-full: no grace, a fee and 3 % a day,
    # up to a quarter of the PO value); its old terms were lenient
    first = current[0]
    strict = {"graceDays": 0, "flatFee": 1000, "percentPerDay": 3.0, "capPercent": 25}
    old.append(
        {
            **first,
            "ruleId": f"{first['ruleId']}-2025",
            "graceDays": 7,
            "percentPerDay": 0.25,
            "validFrom": date_of(ws - 400 * DAY),
            "validTo": date_of(as_of - 40 * DAY),
            "updatedAt": iso_s(ws - 400 * DAY),
        }
    )
    first.update(strict, validFrom=date_of(as_of - 39 * DAY))
    return current, old


def finance_drops(
    world: TenantWorld, pos: list[PurchaseOrder]
) -> tuple[list[EntityDrops], list[dict], dict]:
    """``finance/{expedite_options,chargeback_rules}`` drops of one tenant, the tags of their
    quarantined records (answer key ``quarantine``) and the records that land, the latest per
    id: ``{"options": [...], "rules": [...]}``."""
    options = EntityDrops(world.name, "finance", "expedite_options")
    rows = _expedite_rows(world, pos)
    export = f"expedite_options_{date_of(world.window_start)}_export.csv"
    options.add(export, "csv", rows, columns=EXPEDITE_COLUMNS)
    # a re-priced air line (later updatedAt wins) and a cheaper line that expired before as_of
    air = next(r for r in rows if r["mode"] == "air")
    changes = [
        {**air, "rate": round(air["rate"] * 1.15, 2), "updatedAt": iso_s(world.as_of - 6 * DAY)},
        {
            **air,
            "optionId": air["optionId"].replace("-AIR", "-AIRPROMO"),
            "rate": round(air["rate"] / 2, 2),
            "minimumCharge": 0,
            "validTo": date_of(world.as_of - 10 * DAY),
            "updatedAt": iso_s(world.as_of - 25 * DAY),
        },
    ]
    name = f"expedite_options_{date_of(world.as_of - 6 * DAY)}_changes.csv"
    options.add(name, "csv", changes, columns=EXPEDITE_COLUMNS)

    rules = EntityDrops(world.name, "finance", "chargeback_rules")
    current, old = _chargeback_rules(world)
    bad = {**current[-1], "ruleId": f"CB-{world.index + 1}99", "currency": "US$"}
    tag = {
        "kind": "quarantine",
        "tenant_id": world.name,
        "system": "finance",
        "entity": "chargeback_rules",
        "failed_checks": ["currency:iso_4217"],
        "defect": "unknown_currency",
    }
    items = [dumps(r) for r in old + current] + [(dumps(bad), tag)]
    rules.add(f"chargeback_rules_{date_of(world.window_start)}.json", "array", items)
    state = {
        "options": list({r["optionId"]: r for r in rows + changes}.values()),
        "rules": old + current,
    }
    return [options, rules], [tag], state


def _valid_on(record: dict, day: object) -> bool:
    return record["validFrom"] <= day and (record["validTo"] is None or record["validTo"] >= day)


def price_delay(
    po: dict,
    lateness_days: int | None,
    voyage_days: float | None,
    rules: list[dict],
    options: list[dict],
    day: object,
) -> dict:
    """The cost rule of ``fct_po_delay_risk`` (its yml; issue #16 §4, 000 §4.2) in Python, for
    the answer key and the tests.

    Args:
        po: ``customer``, ``currency``, ``quantity``, ``unit_price``, ``route_origin``,
            ``route_destination`` of the PO.
        lateness_days: expected DELIVERED day − requested delivery day (negative = early); None
            without a requested date.
        voyage_days: expected DEPARTED → ARRIVED in days (fractional); None once departed.
        rules, options: the tenant's chargeback rules and expedite options as exported (field
            names of the finance contract), the latest record per id.
        day: the as-of day, comparable with ``validFrom`` / ``validTo`` (ISO text or dates).

    Returns:
        The mart's cost columns: ``expected_delay_days``, ``chargeback_rule_id``,
        ``cost_of_doing_nothing`` and ``cheapest_expedite_cost`` (in the PO's currency, rounded
        to cents), ``expedite_option_id``, ``cheapest_expedite_mode``, ``expedite_saves_days``,
        ``expedite_meets_window``, ``recommended_action``.
    """
    valid = sorted(
        (r for r in rules if r["customer"] == po["customer"] and _valid_on(r, day)),
        key=lambda r: r["ruleId"],
    )
    rule = max(valid, key=lambda r: r["validFrom"], default=None)  # latest validFrom, lowest id
    value = None if po["unit_price"] is None else po["quantity"] * po["unit_price"]
    cost = None
    if rule and rule["currency"] == po["currency"] and None not in (lateness_days, value):
        beyond = lateness_days - rule["graceDays"]
        cost = 0.0
        if beyond > 0:
            cost = (rule["flatFee"] or 0) + (rule["percentPerDay"] or 0) / 100 * value * beyond
            if rule["capPercent"] is not None:
                cost = min(cost, rule["capPercent"] / 100 * value)
    late = max(lateness_days or 0, 0)
    grace = rule["graceDays"] if rule else 0
    candidates = []
    for x in options if voyage_days is not None else ():
        if (
            (x["originPort"], x["destinationPort"]) == (po["route_origin"], po["route_destination"])
            and x["currency"] == po["currency"]
            and _valid_on(x, day)
            and voyage_days - x["transitDays"] >= 1
        ):
            saves = math.floor(voyage_days - x["transitDays"])
            premium = x["rate"] * (po["quantity"] if x["costBasis"] == "per_unit" else 1)
            meets = late - saves <= grace
            price = max(x["minimumCharge"] or 0, premium)
            candidates.append((not meets, price, -saves, x["optionId"], x["mode"], saves, meets))
    best = min(candidates, default=None)
    cost = None if cost is None else round(cost, 2)
    expedite = bool(cost and best and best[6] and round(best[1], 2) < cost)
    return {
        "expected_delay_days": None if lateness_days is None else late,
        "chargeback_rule_id": rule["ruleId"] if rule else None,
        "cost_of_doing_nothing": cost,
        "expedite_option_id": best[3] if best else None,
        "cheapest_expedite_mode": best[4] if best else None,
        "cheapest_expedite_cost": round(best[1], 2) if best else None,
        "expedite_saves_days": best[5] if best else None,
        "expedite_meets_window": best[6] if best else None,
        "recommended_action": "expedite" if expedite else "wait",
    }


def cost_of_delay_key(
    world: TenantWorld, pos: list[PurchaseOrder], twins: list[Twin], state: dict
) -> list[dict]:
    """Answer-key ``cost_of_delay``: the mart's cost columns (:func:`price_delay`) of every open
    PO of the tenant whose customer has a chargeback rule, from the generator's own twins
    (expected times) and the finance records it dropped (``state``, :func:`finance_drops`)."""
    by_id = {po.po_id: po.latest for po in pos}
    day = date_of(world.as_of)
    out = []
    for twin in twins:
        latest = by_id[twin.po_id]
        if not twin.is_open:
            continue
        po = {
            "customer": latest["customer"],
            "currency": latest["currency"],
            "quantity": latest["quantity"],
            "unit_price": latest["price"],
            "route_origin": latest["routeTemplate"]["origin"],
            "route_destination": latest["routeTemplate"]["destination"],
        }
        lateness = twin.expected["DELIVERED"] // DAY - _day_number(latest["requestedDeliveryDate"])
        e = twin.expected
        voyage = None if twin.departed else (e["ARRIVED"] - e["DEPARTED"]) / DAY
        costs = price_delay(po, lateness, voyage, state["rules"], state["options"], day)
        if costs["chargeback_rule_id"] is not None:
            out.append({"tenant_id": world.name, "po_id": twin.po_id, **costs})
    return out
