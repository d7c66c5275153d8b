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

from traceloom_pipelines.demo.clock import DAY, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder

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


def finance_drops(world: TenantWorld, pos: list[PurchaseOrder]) -> tuple[list[EntityDrops], list]:
    """``finance/{expedite_options,chargeback_rules}`` drops of one tenant, and the tags of
    their quarantined records (answer key ``quarantine``)."""
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
    return [options, rules], [tag]
