"""Finance source contract: the cost contract that prices a PO's delay (000 §4.2 "Financial /
Cost Data": PO value, margin, penalties for late delivery, cost options for expedited routes).

Drop folders: ``landing/<tenant>/finance/{expedite_options,chargeback_rules}/`` — the periodic
CSV or JSON exports of the tenant's finance / ERP module (000 §4.2: "secure, limited-scope
integration to finance/ERP modules"). Each export re-sends whole records; a later ``updatedAt``
supersedes an earlier record of the same id. Checked daily (rate cards and customer terms change
by the week, not by the hour).

- ``expedite_options``: the forwarders' rate card for upgrading a PO's main carriage on a lane
  (origin port → destination port, UN/LOCODE as in the PO's route template) to a faster mode:
  the mode's port-to-port transit days and its premium over the booked freight, per unit of the
  PO's quantity or per shipment, with a minimum charge, in an ISO 4217 currency, valid for a
  date range.
- ``chargeback_rules``: what a customer charges back for a late delivery (its vendor compliance
  terms): after ``graceDays`` past the requested delivery date, a flat fee once plus a percent of
  the PO value per day late, capped at a percent of the PO value.

``fct_po_delay_risk`` prices every open PO's expected lateness with these (cost of doing nothing
vs the cheapest expedite option); its yml has the rule.
"""

from __future__ import annotations

import pandera.polars as pa

from traceloom_pipelines.landing.checks import DATE, INTEGER, NUMBER, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

SEED_REF = "000 §4.2 (Financial / Cost Data)"

EXPEDITE_MODES = ("air", "sea_air", "sea_express", "rail", "road")
COST_BASES = ("per_unit", "per_shipment")
# ISO 4217 codes of the currencies legal tender somewhere on 2026-01-01 (CLDR territory
# currencies, as babel lists them); funds and precious-metal codes (XAU, USN …) are not prices.
ISO_4217_CURRENCIES = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
    "GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF "
    "KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
    "MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD "
    "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX "
    "USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"
).split()
UN_LOCODE = r"^[A-Z]{2}[A-Z2-9]{3}$"


def currency_field(path: str, description: str) -> pa.Column:
    """A required ISO 4217 currency code (``USD``; upper case, as exported): anything else fails
    ``iso_4217``."""
    column = field(path, required=True, description=description)
    return column.set_checks(
        [pa.Check.isin(ISO_4217_CURRENCIES, name="iso_4217", error="iso_4217")]
    )


def locode_field(path: str, description: str) -> pa.Column:
    """A required UN/LOCODE (two-letter country, three-character location: ``CNSZX``); anything
    else fails ``is_un_locode``."""
    column = field(path, required=True, description=description)
    return column.set_checks(
        [pa.Check.str_matches(UN_LOCODE, name="is_un_locode", error="is_un_locode")]
    )


def amount_field(path: str, description: str, *, required: bool = False) -> pa.Column:
    """A money amount or percentage: a number, never negative (``non_negative``)."""
    return field(path, NUMBER, required=required, non_negative_value=True, description=description)


def validity_fields() -> dict[str, pa.Column]:
    """``validFrom`` (required) and ``validTo`` (empty = open-ended) dates, and ``updatedAt``
    (the later one supersedes an earlier record of the same id)."""
    return {
        "validFrom": field("$.validFrom", DATE, required=True),
        "validTo": field("$.validTo", DATE, description="Last valid day; open-ended if empty."),
        "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
    }


expedite_options = SourceEntity(
    system="finance",
    entity="expedite_options",
    seed_ref=SEED_REF,
    description=(
        "Expedite options per lane and mode (the forwarders' rate card): transit days and the "
        "premium over the booked freight, per unit or per shipment, valid for a date range."
    ),
    schema=pa.DataFrameSchema(
        {
            "optionId": field("$.optionId", required=True, description="Rate-card line id."),
            "originPort": locode_field("$.originPort", "Lane origin port (UN/LOCODE)."),
            "destinationPort": locode_field(
                "$.destinationPort", "Lane destination port (UN/LOCODE)."
            ),
            "mode": field("$.mode", required=True, accepted=EXPEDITE_MODES),
            "carrier": field("$.carrier", description="Forwarder or carrier quoting the option."),
            "transitDays": field(
                "$.transitDays",
                INTEGER,
                required=True,
                non_negative_value=True,
                description="Port-to-port days of the mode on the lane (departure to arrival).",
            ),
            "costBasis": field("$.costBasis", required=True, accepted=COST_BASES),
            "rate": amount_field(
                "$.rate", "Premium per unit of the PO's quantity, or per shipment.", required=True
            ),
            "minimumCharge": amount_field("$.minimumCharge", "Least premium charged per shipment."),
            "currency": currency_field("$.currency", "ISO 4217 currency of rate and minimum."),
            **validity_fields(),
        },
        name="finance.expedite_options",
    ),
)

chargeback_rules = SourceEntity(
    system="finance",
    entity="chargeback_rules",
    seed_ref=SEED_REF,
    description=(
        "Late-delivery chargeback rules per customer (vendor compliance terms): grace days, a "
        "flat fee, a percent of PO value per day late and a cap, valid for a date range."
    ),
    schema=pa.DataFrameSchema(
        {
            "ruleId": field("$.ruleId", required=True, description="Rule id."),
            "customer": field(
                "$.customer", required=True, description="Customer, as on the PO (`customer`)."
            ),
            "graceDays": field(
                "$.graceDays",
                INTEGER,
                required=True,
                non_negative_value=True,
                description="Days late past the requested delivery date that cost nothing.",
            ),
            "flatFee": amount_field(
                "$.flatFee", "Charged once when the delivery is later than the grace days."
            ),
            "percentPerDay": amount_field(
                "$.percentPerDay", "Percent of the PO value per day late beyond the grace days."
            ),
            "capPercent": amount_field(
                "$.capPercent", "Most charged back, in percent of the PO value; uncapped if empty."
            ),
            "currency": currency_field("$.currency", "ISO 4217 currency of the flat fee."),
            **validity_fields(),
        },
        name="finance.chargeback_rules",
    ),
)

ENTITIES = (expedite_options, chargeback_rules)
