"""Certificates, audits and required certificate types of the demo world's factories (000 §4.1),
and the certificate coverage every PO must get in ``fct_certification_coverage``.

Per industry profile the tenant requires a set of certificate types of every factory
(:data:`REQUIRED`); factories hold most of them, some have one that lapses (expired before or
during a PO's ship window), one is missing a type altogether, one certificate is suspended by a
later re-send (the latest ``updatedAt`` wins), and a retired requirement is re-sent as
``required: false``. Extra certificates (not required) still earn ESG badges.
"""

from __future__ import annotations

from traceloom_pipelines.demo.clock import DAY, date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops, dumps
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder

# industry → (required types, optional extras, a requirement retired later)
REQUIRED = {
    "apparel": (("BSCI", "OEKO-TEX", "WRAP"), ("SA8000", "GOTS", "ISO 14001"), "GOTS"),
    "appliances": (("ISO 9001", "ISO 14001"), ("ISO 45001", "SA8000", "BSCI"), "ISO 45001"),
}
# certificate type → ESG badge (mirrors dbt_project/seeds/certificate_types.csv; a test keeps
# the two in step)
BADGES = {
    "BSCI": "Ethical sourcing",
    "SA8000": "Social accountability",
    "WRAP": "Responsible production",
    "OEKO-TEX": "Tested for harmful substances",
    "GOTS": "Organic textiles",
    "ISO 14001": "Environmental management",
    "ISO 9001": "Quality management",
    "ISO 45001": "Occupational health and safety",
}
ISSUERS = ("SGS", "Bureau Veritas", "Intertek", "TÜV SÜD", "amfori", "Hohenstein")
CERTIFICATE_COLUMNS = (
    "certificateId",
    "certificateType",
    "holderSite",
    "holderName",
    "scope",
    "issuer",
    "validFrom",
    "validTo",
    "status",
    "updatedAt",
)


def _certificates(world: TenantWorld) -> tuple[list[dict], list[dict]]:
    """(initial export rows, later change rows) of the tenant's certificates."""
    rng = world.rng("certifications")
    required, extras, _ = REQUIRED[world.profile.industry]
    as_of, ws = world.as_of, world.window_start
    exported, changed = [], []
    serial = 0
    for i, factory in enumerate(world.factories):
        types = list(required) + [t for t in extras if rng.random() < 0.4]
        # factory 1: one required certificate is suspended later (see below), one
        # required type lapsed 20-60 days ago and another is missing; factory 2: one lapses
        # 20-40 days from now (inside some ship windows); later factories: 10 % lapsed
        if i == 1:
            types.remove(required[1])
        for ctype in types:
            serial += 1
            start = as_of - rng.randint(120, 900) * DAY
            end = start + 3 * 365 * DAY
            if (i == 1 and ctype == required[0]) or (i >= 3 and rng.random() < 0.1):
                end = as_of - rng.randint(20, 60) * DAY
                start = end - 3 * 365 * DAY
            elif i == 2 and ctype == required[0]:
                end = as_of + rng.randint(20, 40) * DAY
            row = {
                "certificateId": f"CERT-{world.index + 1}{serial:04d}",
                "certificateType": ctype,
                "holderSite": factory.code,
                "holderName": factory.name,
                "scope": f"{world.profile.industry} manufacturing at {factory.name}",
                "issuer": ISSUERS[rng.randrange(len(ISSUERS))],
                "validFrom": date_of(start),
                "validTo": date_of(end),
                "status": "active" if end >= as_of else "expired",
                "updatedAt": iso_s(ws + rng.randint(1, 6) * 3_600_000),
            }
            exported.append(row)
            if i == 1 and ctype == required[-1]:
                # suspended after a failed surveillance audit: re-sent in a later change file
                changed.append({**row, "status": "suspended", "updatedAt": iso_s(as_of - 5 * DAY)})
    return exported, changed


def _audits(world: TenantWorld, certificates: list[dict]) -> list[dict]:
    rng = world.rng("audits")
    out = []
    for n, cert in enumerate(sorted(certificates, key=lambda c: c["certificateId"]), start=1):
        score = round(rng.uniform(52, 98), 1)
        result = "pass" if score >= 75 else "conditional_pass" if score >= 60 else "fail"
        day = world.as_of - rng.randint(10, 300) * DAY
        out.append(
            {
                "auditId": f"AUD-{world.index + 1}{n:05d}",
                "site": cert["holderSite"],
                "certificateId": cert["certificateId"],
                "auditType": rng.choice(("surveillance", "recertification", "initial")),
                "auditDate": date_of(day),
                "result": result,
                "score": score,
                "auditor": cert["issuer"],
                "updatedAt": iso_s(day + 2 * DAY),
            }
        )
    return out


def certification_drops(world: TenantWorld) -> tuple[list[EntityDrops], dict]:
    """``certifications/{certificates,audits,requirements}`` drops of one tenant and the state
    they describe: ``{"certificates": latest rows, "required": [types]}``."""
    exported, changed = _certificates(world)
    required, _, retired = REQUIRED[world.profile.industry]
    ws, as_of = world.window_start, world.as_of
    certs = EntityDrops(world.name, "certifications", "certificates")
    export_name = f"certificates_{date_of(ws)}_export.csv"
    certs.add(export_name, "csv", exported, columns=CERTIFICATE_COLUMNS)
    if changed:
        name = f"certificates_{date_of(as_of - 5 * DAY)}_changes.csv"
        certs.add(name, "csv", changed, columns=CERTIFICATE_COLUMNS)
    audits = EntityDrops(world.name, "certifications", "audits")
    audits.add(f"audits_{date_of(ws)}.json", "array", [dumps(a) for a in _audits(world, exported)])
    requirements = EntityDrops(world.name, "certifications", "requirements")
    rows = [
        {"certificateType": t, "required": True, "updatedAt": iso_s(ws)}
        for t in (*required, retired)
    ]
    requirements.add(f"requirements_{date_of(ws)}.json", "array", [dumps(r) for r in rows])
    retire = {"certificateType": retired, "required": False, "updatedAt": iso_s(ws + 3 * DAY)}
    requirements.add(f"requirements_{date_of(ws + 3 * DAY)}.json", "array", [dumps(retire)])
    latest = {row["certificateId"]: row for row in exported}
    latest.update({row["certificateId"]: row for row in changed})
    state = {"certificates": list(latest.values()), "required": sorted(required)}
    return [certs, audits, requirements], state


def coverage_key(world: TenantWorld, pos: list[PurchaseOrder], state: dict) -> list[dict]:
    """Answer-key ``certification_coverage``: per PO (latest revision) the certificate types its
    factory holds valid across the whole ship window, the required types missing or expired,
    and the ESG badges — the rule of ``fct_certification_coverage``:

    valid: an ``active`` certificate with ``validFrom ≤ shipWindowStart`` and ``validTo ≥
    shipWindowEnd``; missing: a required type the factory holds no certificate of; expired: a
    required type it holds, but none valid across the window; badges: the badges of the valid
    types (:data:`BADGES`), sorted.
    """
    out = []
    for po in sorted(pos, key=lambda p: p.po_id):
        latest = po.latest
        start, end = latest["shipWindowStart"], latest["shipWindowEnd"]
        held = [c for c in state["certificates"] if c["holderSite"] == latest["factory"]]
        valid = sorted(
            {
                c["certificateType"]
                for c in held
                if c["status"] == "active" and c["validFrom"] <= start and c["validTo"] >= end
            }
        )
        held_types = {c["certificateType"] for c in held}
        missing = sorted(t for t in state["required"] if t not in held_types)
        expired = sorted(t for t in state["required"] if t in held_types and t not in valid)
        out.append(
            {
                "tenant_id": world.name,
                "po_id": po.po_id,
                "factory": latest["factory"],
                "valid_certificate_types": valid,
                "missing_certificate_types": missing,
                "expired_certificate_types": expired,
                "esg_badges": sorted({BADGES[t] for t in valid if t in BADGES}),
            }
        )
    return out


def coverage_without_factory(world: TenantWorld, po_ids: list[str], state: dict) -> list[dict]:
    """Answer-key ``certification_coverage`` of POs that name no factory (EDI-only POs,
    ``demo/edi.py``): no certificate held, so every required type is missing."""
    return [
        {
            "tenant_id": world.name,
            "po_id": po_id,
            "factory": None,
            "valid_certificate_types": [],
            "missing_certificate_types": sorted(state["required"]),
            "expired_certificate_types": [],
            "esg_badges": [],
        }
        for po_id in sorted(po_ids)
    ]
