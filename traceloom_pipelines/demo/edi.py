"""EDI partner files of the demo world (seed 001: EDI transactions with suppliers): per tenant a
few trading partners (its first suppliers) send X12 850 / 855 / 856 (even partners) or EDIFACT
ORDERS / ORDRSP / DESADV (odd partners) into ``landing/<tenant>/edi/<entity>/<partner id>/``.

What the partners send, for the POs of their supplier (``EDI_SHARE`` of them, at least two)
plus a few POs that only EDI carries (``EDI_ONLY_SHARE``, at least one per partner: repeat
orders of one of the supplier's ERP POs, so their buyer item numbers are SKUs the ERP knows):

- **850 / ORDERS**: the PO as first ordered (revision 1: lines, price, requested delivery
  date), one interchange per partner and day of the PO's creation. Its interchange date (its
  ``updated_at``, midnight UTC) is never later than the ERP's revisions, so an ERP PO stays won
  by its ERP route (an ERP change of the same day also wins the tie); an EDI-only PO lands as
  route ``edi`` (customer and supplier as the EDI party ids: N1 / NAD codes).
- **855 / ORDRSP**: one acknowledgment per PO, 1–3 days after it was created (when that is
  before ``as_of``): accepted (BAK02 AD / BGM 29, lines IA / 5), accepted with a changed first
  line (AC / 4, that line IQ / 3 with one lot less), or rejected without lines (RJ / 27).
- **856 / DESADV**: a ship notice per PO that has departed: for an ERP PO the day its logistics
  shipment departed (only when the carrier reported the shipment after that day, so the
  carrier's booking stays the PO twin's shipment; the notice names no container, so sensor
  excursions keep their booking), for an EDI-only PO 5–12 days after its creation (with a
  container). Milestones: DEPARTED ACT (ship date) and DELIVERED EST (estimated delivery).

Defects (once per tenant, the way partners' files go wrong): the first X12 interchange's IEA02
does not match its ISA13 (as in the real sample ``x12_850_indice_basic.edi``): the envelope
defect is quarantined (``_envelope:iea_control_number_mismatch``) and its transactions land;
an EDI-only PO's 850 is sent a second time in its interchange with an empty BEG03 (a partner's
mapping error): quarantined (``_transaction:missing_po_number``), nothing of it lands.

Draws come from the tenant's ``edi`` random stream only (``masters.py``), and this module runs
after every other source's drops, so the other sources' files do not change.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from traceloom_pipelines.demo.clock import DAY, date_of
from traceloom_pipelines.demo.drops import EntityDrops
from traceloom_pipelines.demo.logistics import CARRIERS, Shipment
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder, _day_number
from traceloom_pipelines.sources.edi.acknowledgments import safe_name

EDI_SHARE = 0.25  # of a trading partner's ERP POs that it also exchanges by EDI
EDI_ONLY_SHARE = 0.3  # EDI-only POs per partner, relative to its shared ones
MAX_PARTNERS = 3
ENTITY_OF = {
    "850": "purchase_orders",
    "855": "po_acknowledgments",
    "856": "ship_notices",
    "ORDERS": "purchase_orders",
    "ORDRSP": "po_acknowledgments",
    "DESADV": "ship_notices",
}
_X12_SETS = {"purchase_orders": "850", "po_acknowledgments": "855", "ship_notices": "856"}
_EDIFACT_SETS = {
    "purchase_orders": "ORDERS",
    "po_acknowledgments": "ORDRSP",
    "ship_notices": "DESADV",
}
_FUNCTIONAL_ID = {"850": "PO", "855": "PR", "856": "SH"}
IEA_DEFECT = "_envelope:iea_control_number_mismatch"
BROKEN_DEFECT = "_transaction:missing_po_number"


def gln(base12: str) -> str:
    """A 13-digit GLN: ``base12`` and its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(base12)))
    return f"{base12}{(10 - total % 10) % 10}"


def _code(text: str, length: int) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())[:length]


@dataclass(frozen=True)
class Partner:
    """A trading partner: the supplier it is, its interchange id and standard."""

    supplier: str
    partner_id: str
    standard: str  # X12 or EDIFACT
    clock: str  # HHMM of its interchanges

    @property
    def folder(self) -> str:
        """The partner's sub-folder in the drop folders (and in the outbound folder)."""
        return safe_name(self.partner_id)


@dataclass
class _Txn:
    set_id: str
    body: list[str]  # segments between ST/SE (UNH/UNT), without terminators
    records: int  # line records it lands (0: rejected, one quarantined row)


@dataclass
class _Interchange:
    partner: Partner
    entity: str
    day: int  # epoch day
    control: int
    txns: list[_Txn] = field(default_factory=list)
    iea_mismatch: bool = False

    @property
    def folder_name(self) -> str:
        return self.partner.folder


def _partners(world: TenantWorld) -> list[Partner]:
    out = []
    for j, supplier in enumerate(world.suppliers[:MAX_PARTNERS]):
        if j % 2 == 0:
            pid, standard = f"{_code(supplier, 12)}{j + 1:02d}", "X12"
        else:
            pid, standard = gln(f"579{world.index:03d}{j + 1:06d}"), "EDIFACT"
        out.append(Partner(supplier, pid, standard, f"{6 + j:02d}{(7 * j) % 60:02d}"))
    return out


def _receiver(world: TenantWorld, standard: str) -> str:
    if standard == "X12":
        return f"TL{_code(world.name, 13)}"
    return gln(f"400{world.index:03d}000000")


def _customer_code(customer: str) -> str:
    return f"C-{_code(customer, 10)}"


def _ymd(day: int) -> str:
    return date_of(day * DAY).replace("-", "")


# -- message bodies -----------------------------------------------------------------------------


def _order_body(p: Partner, po: dict, day: int, broken: bool = False) -> list[str]:
    unit = "EA" if p.standard == "X12" else "PCE"
    rdd = po["requestedDeliveryDate"].replace("-", "")
    buyer = _customer_code(po["customer"])
    lines = po["lineItems"]
    if p.standard == "X12":
        body = [
            f"BEG*00*SA*{'' if broken else po['poId']}**{_ymd(day)}",
            f"CUR*BY*{po['currency']}",
            f"N1*BY*{po['customer']}*92*{buyer}",
            f"N1*SE*{p.supplier}*92*{p.partner_id}",
            f"DTM*002*{rdd}",
        ]
        for k, line in enumerate(lines, start=1):
            body.append(f"PO1*{k}*{line['lineQuantity']}*{unit}*{po['price']}**BP*{line['sku']}")
        return [*body, f"CTT*{len(lines)}"]
    body = [
        f"BGM+220+{po['poId']}+9",
        f"DTM+137:{_ymd(day)}:102",
        f"DTM+2:{rdd}:102",
        f"NAD+BY+{buyer}::92",
        f"NAD+SU+{p.partner_id}::9",
        f"CUX+2:{po['currency']}:9",
    ]
    for k, line in enumerate(lines, start=1):
        body += [
            f"LIN+{k}",
            f"PIA+5+{line['sku']}:IN",
            f"QTY+21:{line['lineQuantity']}:{unit}",
            f"PRI+AAA:{po['price']}",
        ]
    return [*body, "UNS+S"]


def _ack_lines(po: dict, kind: str, step: int, schedule: str) -> list[dict]:
    """Per line: (line item id, status word, acknowledged quantity, scheduled date)."""
    if kind == "rejected":
        return []
    out = []
    for k, line in enumerate(po["lineItems"], start=1):
        changed = kind == "accepted_with_changes" and k == 1
        quantity = max(step, line["lineQuantity"] - step) if changed else line["lineQuantity"]
        out.append(
            {
                "line_item_id": f"{po['poId']}-{k:02d}",
                "line_ack_status": "accepted_with_changes" if changed else "accepted",
                "ordered_quantity": line["lineQuantity"],
                "acknowledged_quantity": float(quantity),
                "acknowledged_delivery_date": schedule,
            }
        )
    return out


ACK_CODES = {  # status word → (X12 BAK02, EDIFACT BGM 1225)
    "accepted": ("AD", "29"),
    "accepted_with_changes": ("AC", "4"),
    "rejected": ("RJ", "27"),
}


def _ack_body(p: Partner, po: dict, ordered_day: int, day: int, order_no: str, lines) -> list:
    kind_code = {"X12": 0, "EDIFACT": 1}[p.standard]
    status = "rejected" if not lines else None
    if status is None:
        changed = any(line["line_ack_status"] != "accepted" for line in lines)
        status = "accepted_with_changes" if changed else "accepted"
    code = ACK_CODES[status][kind_code]
    if p.standard == "X12":
        body = [f"BAK*00*{code}*{po['poId']}*{_ymd(ordered_day)}****{order_no}*{_ymd(day)}"]
        for k, line in enumerate(lines, start=1):
            source = po["lineItems"][k - 1]
            ack = "IA" if line["line_ack_status"] == "accepted" else "IQ"
            when = line["acknowledged_delivery_date"].replace("-", "")
            body += [
                f"PO1*{k}*{line['ordered_quantity']}*EA*{po['price']}**BP*{source['sku']}",
                f"ACK*{ack}*{int(line['acknowledged_quantity'])}*EA*068*{when}",
            ]
        return body
    body = [
        f"BGM+231+{order_no}+{code}",
        f"DTM+137:{_ymd(day)}:102",
        f"RFF+ON:{po['poId']}",
        f"DTM+171:{_ymd(ordered_day)}:102",
    ]
    for k, line in enumerate(lines, start=1):
        action = "5" if line["line_ack_status"] == "accepted" else "3"
        when = line["acknowledged_delivery_date"].replace("-", "")
        body += [
            f"LIN+{k}+{action}",
            f"PIA+5+{po['lineItems'][k - 1]['sku']}:IN",
            f"QTY+21:{line['ordered_quantity']}:PCE",
            f"QTY+113:{int(line['acknowledged_quantity'])}:PCE",
            f"DTM+2:{when}:102",
        ]
    return body


def _asn_body(p: Partner, po: dict, notice: dict) -> list[str]:
    ship, eta = notice["ship_date"].replace("-", ""), notice["estimated_date"].replace("-", "")
    lines = po["lineItems"]
    if p.standard == "X12":
        body = [
            f"BSN*00*{notice['shipment_id']}*{ship}*1200",
            "HL*1**S",
            f"TD5**2*{notice['carrier']}*{notice['mode']}",
        ]
        if notice["container"]:
            body.append(f"TD3*CN*{notice['container'][:4]}*{notice['container'][4:]}")
        body += [
            f"REF*BM*{notice['bill_of_lading']}",
            f"DTM*011*{ship}",
            f"DTM*017*{eta}",
            "HL*2*1*O",
            f"PRF*{po['poId']}",
        ]
        for k, line in enumerate(lines, start=1):
            body += [
                f"HL*{k + 2}*2*I",
                f"LIN*{k}*BP*{line['sku']}",
                f"SN1*{k}*{line['lineQuantity']}*EA",
            ]
        return body
    body = [
        f"BGM+351+{notice['shipment_id']}+9",
        f"DTM+137:{ship}:102",
        f"DTM+11:{ship}:102",
        f"DTM+132:{eta}:102",
        f"RFF+ON:{po['poId']}",
        f"RFF+BM:{notice['bill_of_lading']}",
        f"TDT+20++{'4' if notice['mode'] == 'A' else '1'}++{notice['carrier']}:172:ZZZ",
    ]
    if notice["container"]:
        body.append(f"EQD+CN+{notice['container']}")
    body.append("CPS+1")
    for k, line in enumerate(lines, start=1):
        body += [f"LIN+{k}", f"PIA+5+{line['sku']}:IN", f"QTY+12:{line['lineQuantity']}:PCE"]
    return body


# -- interchanges -------------------------------------------------------------------------------


def render_interchange(ic: _Interchange, receiver: str) -> str:
    """The interchange's text: one group (X12) / the messages (EDIFACT), counts and control
    numbers right except an IEA02 off by one when ``iea_mismatch``."""
    p, day = ic.partner, ic.day
    if p.standard == "X12":
        isa = (
            f"ISA*00*{'':10}*00*{'':10}*ZZ*{p.partner_id:<15}*ZZ*{receiver:<15}*"
            f"{_ymd(day)[2:]}*{p.clock}*U*00401*{ic.control:09d}*0*P*>"
        )
        fid = _FUNCTIONAL_ID[ic.txns[0].set_id]
        segments = [
            isa,
            f"GS*{fid}*{p.partner_id}*{receiver}*{_ymd(day)}*{p.clock}*{ic.control}*X*004010",
        ]
        for n, txn in enumerate(ic.txns, start=1):
            st = f"{n:04d}"
            segments += [f"ST*{txn.set_id}*{st}", *txn.body, f"SE*{len(txn.body) + 2}*{st}"]
        iea = ic.control + 1 if ic.iea_mismatch else ic.control
        segments += [f"GE*{len(ic.txns)}*{ic.control}", f"IEA*1*{iea:09d}"]
        return "~\n".join(segments) + "~\n"
    ref = f"{p.partner_id[-4:]}{ic.control}"
    segments = [
        f"UNB+UNOC:3+{p.partner_id}:14+{receiver}:14+{_ymd(day)[2:]}:{p.clock}+{ref}",
    ]
    for n, txn in enumerate(ic.txns, start=1):
        segments += [f"UNH+{n}+{txn.set_id}:D:96A:UN", *txn.body, f"UNT+{len(txn.body) + 2}+{n}"]
    segments.append(f"UNZ+{len(ic.txns)}+{ref}")
    return "UNA:+.? '" + "".join(f"{s}'" for s in segments)


def _rows(ic: _Interchange) -> int:
    return int(ic.iea_mismatch) + sum(t.records or 1 for t in ic.txns)


class _Outbox:
    """Interchanges of one tenant by (partner, entity, day), with their control numbers."""

    def __init__(self) -> None:
        self.interchanges: dict[tuple[str, str, int], _Interchange] = {}
        self.counters: dict[str, int] = {}

    def add(self, p: Partner, entity: str, day: int, txn: _Txn) -> tuple[_Interchange, int]:
        """Add ``txn`` to the partner's interchange of that entity and day: (interchange,
        1-based transaction number)."""
        key = (p.partner_id, entity, day)
        ic = self.interchanges.get(key)
        if ic is None:
            n = self.counters.get(p.partner_id, 0) + 1
            self.counters[p.partner_id] = n
            ic = _Interchange(p, entity, day, 1000 * (1 + len(self.counters)) + n)
            self.interchanges[key] = ic
        ic.txns.append(txn)
        return ic, len(ic.txns)


# -- the tenant's EDI world ---------------------------------------------------------------------


def _edi_only_po(
    world: TenantWorld, rng: random.Random, p: Partner, j: int, n: int, template: PurchaseOrder
) -> dict:
    """A PO that only EDI carries (payload in the ERP drop shape, so the bodies are shared): a
    repeat order of the ERP PO ``template``: its customer, product and some of its SKUs (the
    buyer's item numbers), new quantities and a new price."""
    profile = world.profile
    created_day = rng.randint(world.window_start // DAY + 1, world.as_of // DAY - 20)
    latest = template.latest
    plo, phi = next(
        (r for _c, name, _d, r in profile.products if name == latest["product"]),
        profile.products[0][3],
    )
    po_id = (
        f"PO-{date_of(created_day * DAY)[:4]}-{900_000 + world.index * 10_000 + j * 1000 + n:06d}"
    )
    step = profile.lot_step
    skus = [line["sku"] for line in latest["lineItems"]]
    lines = [
        {
            "lineItemId": f"{po_id}-{k:02d}",
            "sku": sku,
            "lineQuantity": rng.randint(5, 60) * step,
        }
        for k, sku in enumerate(rng.sample(skus, rng.randint(min(2, len(skus)), len(skus))), 1)
    ]
    return {
        "poId": po_id,
        "customer": latest["customer"],
        "supplier": p.supplier,
        "product": latest["product"],
        "price": round(rng.uniform(plo, phi), 2),
        "currency": "USD",
        "requestedDeliveryDate": date_of((created_day + rng.randint(60, 90)) * DAY),
        "lineItems": lines,
        "_created_day": created_day,
        "_edi_only": True,
    }


def _po_id(po: PurchaseOrder) -> str:
    return po.po_id


def _set_id(p: Partner, entity: str) -> str:
    return (_X12_SETS if p.standard == "X12" else _EDIFACT_SETS)[entity]


def _departed_notice(world: TenantWorld, s: Shipment) -> tuple[int, int] | None:
    """(ship day, estimated delivery day) of an ERP PO's shipment that departed before as_of
    and that the carrier reported after the ship day began (module docstring), else None."""
    departed = s.actual.get("DEPARTED")
    if departed is None or departed >= world.as_of:
        return None
    day = departed // DAY
    if not any(day * DAY < r.reported_at < world.as_of for r in s.reports):
        return None
    eta = max(s.planned.get("DELIVERED", departed), s.actual.get("DELIVERED", departed))
    return day, max(day + 1, eta // DAY)


def edi_drops(
    world: TenantWorld, pos: list[PurchaseOrder], shipments: list[Shipment]
) -> tuple[list[EntityDrops], list[dict], dict]:
    """``edi/{purchase_orders,po_acknowledgments,ship_notices}`` drops of one tenant (module
    docstring), the tags of their quarantined records (answer key ``quarantine``, rows known
    here) and the tenant's part of the answer key's ``edi`` section (see ``generate_world``)."""
    rng = world.rng("edi")
    partners = _partners(world)
    box = _Outbox()
    by_po = {s.po.po_id: s for s in shipments}
    step = world.profile.lot_step
    expected: dict = {
        "purchase_orders": [],
        "acknowledgments": [],
        "ship_notices": [],
        "erp_won": [],
        # (buyer item number, product name) of every PO line sent: master_data's edi_item truth
        "items": set(),
    }
    broken_at: tuple[_Interchange, int] | None = None
    for j, p in enumerate(partners):
        own = sorted((po for po in pos if po.latest["supplier"] == p.supplier), key=_po_id)
        n_shared = min(len(own), max(2, round(len(own) * EDI_SHARE)))
        shared = sorted(rng.sample(own, n_shared), key=_po_id)
        n_only = max(1, round(len(shared) * EDI_ONLY_SHARE))
        templates = own or sorted(pos, key=_po_id)
        only = [
            _edi_only_po(world, rng, p, j, n, templates[rng.randrange(len(templates))])
            for n in range(1, n_only + 1)
        ]
        orders = [(po.payloads[0], po.times[0] // DAY, po) for po in shared]
        orders += [(o, o.pop("_created_day"), None) for o in only]
        for index, (order, day, erp) in enumerate(orders):
            set_id = _set_id(p, "purchase_orders")
            lines = len(order["lineItems"])
            box.add(p, "purchase_orders", day, _Txn(set_id, _order_body(p, order, day), lines))
            expected["items"].update((line["sku"], order["product"]) for line in order["lineItems"])
            if erp is None:
                expected["purchase_orders"].append(_canonical(world, p, order, day))
                if broken_at is None and p.standard == "X12":
                    txn = _Txn(set_id, _order_body(p, order, day, broken=True), 0)
                    broken_at = box.add(p, "purchase_orders", day, txn)
            else:
                expected["erp_won"].append(
                    {"tenant_id": world.name, "po_id": order["poId"], "source_route": "drop"}
                )
            _acknowledge(world, rng, box, p, order, day, index, step, expected)
            shipment = None if erp is None else by_po.get(erp.po_id)
            _ship(world, rng, box, p, order, day, shipment, expected)
    return _entities(world, box, broken_at, expected)


def _canonical(world: TenantWorld, p: Partner, order: dict, day: int) -> dict:
    lines = order["lineItems"]
    return {
        "tenant_id": world.name,
        "po_id": order["poId"],
        "source_route": "edi",
        "revision": 1,
        "po_status": "open",
        "customer": _customer_code(order["customer"]),
        "supplier": p.partner_id,
        "product": lines[0]["sku"],
        "quantity": float(sum(line["lineQuantity"] for line in lines)),
        "unit": "pcs",
        "unit_price": order["price"],
        "currency": order["currency"],
        "requested_delivery_date": order["requestedDeliveryDate"],
        "line_count": len(lines),
        "updated_at": f"{date_of(day * DAY)}T00:00:00Z",
    }


def _acknowledge(world, rng, box, p, order, day, index, step, expected) -> None:
    ack_day = day + rng.randint(1, 3)
    if ack_day * DAY >= world.as_of:
        return
    # every partner's third PO rejected, its second accepted with changes (then every fifth /
    # third), the others accepted
    kind = (
        "rejected" if index % 5 == 2 else "accepted_with_changes" if index % 3 == 1 else "accepted"
    )
    schedule_day = _day_number(order["requestedDeliveryDate"]) - rng.randint(20, 30)
    lines = _ack_lines(order, kind, step, date_of(schedule_day * DAY))
    order_no = f"SO-{_code(p.partner_id, 4)}-{rng.randint(10_000, 99_999)}"
    set_id = _set_id(p, "po_acknowledgments")
    body = _ack_body(p, order, day, ack_day, order_no, lines)
    box.add(p, "po_acknowledgments", ack_day, _Txn(set_id, body, max(1, len(lines))))
    code = ACK_CODES[kind][0 if p.standard == "X12" else 1]
    expected["acknowledgments"].append(
        {
            "tenant_id": world.name,
            "po_id": order["poId"],
            "ack_status": kind,
            "ack_code": code,
            "acknowledged_at": f"{date_of(ack_day * DAY)}T00:00:00Z",
            "supplier_order_number": order_no,
            "ack_partner_id": p.partner_id,
            "acknowledgment_count": 1,
            "lines": [{k: v for k, v in line.items() if k != "ordered_quantity"} for line in lines],
        }
    )


def _ship(world, rng, box, p, order, day, shipment, expected) -> None:
    """A ship notice of ``order`` (module docstring): for an ERP PO from its logistics
    ``shipment`` (None: no notice), for an EDI-only PO (``order`` carries ``_edi_only``)."""
    if order.get("_edi_only"):
        ship_day = day + rng.randint(5, 12)
        eta_day = ship_day + rng.randint(25, 40)
        carrier = CARRIERS[rng.randrange(len(CARRIERS))]
        container = f"{carrier[:3]}U{rng.randint(0, 9_999_999):07d}"
        mode, bill = "M", f"{carrier}{rng.randint(100_000_000, 999_999_999)}"
    elif shipment is not None and (dates := _departed_notice(world, shipment)) is not None:
        ship_day, eta_day = dates
        carrier, container = shipment.carrier, None
        mode, bill = ("A" if shipment.air else "M"), shipment.booking
        order = shipment.po.latest  # what ships: the latest revision's lines
    else:
        return
    if ship_day * DAY >= world.as_of:
        return
    n = len(expected["ship_notices"]) + 1
    notice = {
        "shipment_id": f"ASN-{_code(p.partner_id, 6)}-{world.index + 1}{n:04d}",
        "ship_date": date_of(ship_day * DAY),
        "estimated_date": date_of(eta_day * DAY),
        "carrier": carrier,
        "mode": mode,
        "container": container,
        "bill_of_lading": bill,
    }
    txn = _Txn(_set_id(p, "ship_notices"), _asn_body(p, order, notice), len(order["lineItems"]))
    ic, number = box.add(p, "ship_notices", ship_day, txn)
    reported = f"{notice['ship_date']}T00:00:00Z"
    expected["ship_notices"].append(
        {
            "tenant_id": world.name,
            "shipment_id": notice["shipment_id"],
            "po_id": order["poId"],
            "carrier": carrier,
            "container_number": container,
            "reported_at": reported,
            "milestones": [
                {"milestone": "DEPARTED", "classifier": "ACT", "event_at": reported},
                {
                    "milestone": "DELIVERED",
                    "classifier": "EST",
                    "event_at": f"{notice['estimated_date']}T00:00:00Z",
                },
            ],
            "_where": (ic, number),
        }
    )


def _file_name(ic: _Interchange) -> str:
    suffix = "x12" if ic.partner.standard == "X12" else "edifact"
    return f"{ic.folder_name}/{ic.txns[0].set_id}_{_ymd(ic.day)}_{ic.control}.{suffix}"


def _entities(
    world: TenantWorld, box: _Outbox, broken_at: tuple[_Interchange, int] | None, expected: dict
) -> tuple[list[EntityDrops], list[dict], dict]:
    x12 = [ic for ic in box.interchanges.values() if ic.partner.standard == "X12"]
    first = min(
        x12, key=lambda ic: (ic.entity != "purchase_orders", ic.day, ic.control), default=None
    )
    if first is not None:
        first.iea_mismatch = True
    drops = {e: EntityDrops(world.name, "edi", e) for e in _X12_SETS}
    tags: list[dict] = []
    for ic in sorted(box.interchanges.values(), key=lambda i: (i.entity, _file_name(i))):
        ent = drops[ic.entity]
        text = render_interchange(ic, _receiver(world, ic.partner.standard))
        drop = ent.add(_file_name(ic), "raw", [text], rows=_rows(ic))
        defects = []
        if ic.iea_mismatch:
            defects.append((1, IEA_DEFECT, "iea_control_number_mismatch"))
        if broken_at is not None and broken_at[0] is ic:
            before = sum(t.records or 1 for t in ic.txns[: broken_at[1] - 1])
            defects.append((int(ic.iea_mismatch) + before + 1, BROKEN_DEFECT, "missing_po_number"))
        for row, check, defect in defects:
            tags.append(
                {
                    "kind": "quarantine",
                    "tenant_id": world.name,
                    "system": "edi",
                    "entity": ic.entity,
                    "failed_checks": [check],
                    "defect": defect,
                    "source_file": drop.rel,
                    "source_row": row,
                }
            )
    for ent in drops.values():
        ent.sort()
    for notice in expected["ship_notices"]:
        ic, number = notice.pop("_where")
        if ic.partner.standard == "X12":
            control, txn = f"{ic.control:09d}", f"{number:04d}"
        else:
            control, txn = f"{ic.partner.partner_id[-4:]}{ic.control}", str(number)
        notice["source_event_id"] = f"{ic.partner.partner_id}:{control}:{txn}"
    interchanges: dict[tuple[str, str], int] = {}
    for ic in box.interchanges.values():
        key = (ic.partner.partner_id, ic.partner.standard)
        interchanges[key] = interchanges.get(key, 0) + 1
    expected["functional_acknowledgments"] = [
        {
            "tenant_id": world.name,
            "partner_id": pid,
            "folder": safe_name(pid),
            "standard": standard,
            "kind": "997" if standard == "X12" else "CONTRL",
            "files": n,
        }
        for (pid, standard), n in sorted(interchanges.items())
    ]
    return list(drops.values()), tags, expected
