"""Master-data drops of one tenant's demo world (seed 004 "Identity resolution & MDM", issue #16
§2): the same suppliers and products under the spellings of different systems, and the truth
the golden records are scored against (answer key ``master_data``).

What lands (all drawn from the ``master_data`` random stream, so no other source's files change):

- ``erp/vendors``: the ERP vendor master, one record per supplier the tenant buys from (every
  supplier of the industry profile, also those without POs in the window) with its name as the
  POs spell it, tax id, DUNS, GLN (EDIFACT partners), country, city and the EDI partner id of the
  suppliers that trade by EDI; plus one duplicate vendor (the first supplier created again
  under another spelling with the same tax id), as vendor masters have.
- ``erp/products``: the ERP product master: product id (the work orders' ``product_id``),
  name (the POs' ``product``), GTIN-13, category, unit.
- ``certifications/holders``: the certification bodies' register of certificate holders: the
  suppliers under the certifier's spelling, with the DUNS for every other one.
- ``certifications/certified_products``: the articles the certifiers list (OEKO-TEX Standard
  100 articles, appliance safety listings) under their own article numbers and spellings,
  with the GTIN for every other one.
- ``logistics/shippers``: the carriers' shipper parties (who books the freight) under the
  carrier's spelling, without any registry id; and one forwarder that is no supplier of the
  tenant (a different company with a similar name elsewhere).

Spelling variants: case, punctuation, legal-form suffixes (``Co., Ltd.``, ``Ltd``, ``GmbH``,
``JSC`` …), dropped or swapped letters, transliterations (``Saigon`` → ``Sai Gon``).
"""

from __future__ import annotations

import random
import re

from traceloom_pipelines.demo.clock import date_of, iso_s
from traceloom_pipelines.demo.drops import EntityDrops
from traceloom_pipelines.demo.edi import _partners, gln
from traceloom_pipelines.demo.masters import TenantWorld
from traceloom_pipelines.demo.purchase_orders import PurchaseOrder
from traceloom_pipelines.demo.work_orders import WorkOrder

# UN/LOCODE of a factory's port → (ISO 3166 country, the city the supplier is registered in)
CITIES = {
    "CNSZX": ("CN", "Shenzhen"),
    "CNNGB": ("CN", "Ningbo"),
    "VNSGN": ("VN", "Ho Chi Minh City"),
    "BDCGP": ("BD", "Chattogram"),
    "VNHPH": ("VN", "Haiphong"),
    "CNXMN": ("CN", "Xiamen"),
    "LKCMB": ("LK", "Colombo"),
    "INTUT": ("IN", "Tiruppur"),
    "CNFOS": ("CN", "Foshan"),
    "CNTAO": ("CN", "Qingdao"),
    "CNSHA": ("CN", "Suzhou"),
    "CNZSN": ("CN", "Zhongshan"),
    "THLCH": ("TH", "Chonburi"),
    "MYPEN": ("MY", "Penang"),
    "CNTXG": ("CN", "Tianjin"),
}
# how another system spells a city
CITY_VARIANTS = {
    "Ho Chi Minh City": "HCMC",
    "Chattogram": "Chittagong",
    "Haiphong": "Hai Phong",
    "Penang": "Pulau Pinang",
}
TRANSLITERATIONS = {
    "Saigon": "Sai Gon",
    "Chattogram": "Chittagong",
    "Zhongshan": "Chungshan",
    "Suzhou": "Soochow",
    "Haier": "Hai Er",
    "Shunde": "Shun De",
    "Cixi": "Tzu-hsi",
}
LEGAL_FORMS = (
    ("Co.", ("Co., Ltd.", "Company Limited", "Co Ltd", "Co.,Ltd")),
    ("Group", ("Group Co., Ltd.", "Grp", "Group Ltd")),
    ("Holdings", ("Holdings Ltd", "Hldgs", "Holdings Co., Ltd.")),
    ("JSC", ("Joint Stock Company", "J.S.C.", "JSC.")),
    ("Trading", ("Trading Co., Ltd.", "Trading Ltd", "Trading GmbH")),
    ("Sourcing", ("Sourcing Ltd", "Sourcing Limited")),
)
SOURCE_KEYS = {
    "suppliers": ("erp_vendor", "erp_po_supplier", "edi_partner", "cert_holder", "shipper"),
    "products": ("erp_product", "mes_part", "erp_po_product", "certified_product", "edi_item"),
}
VENDOR_COLUMNS = (
    "vendorId",
    "vendorName",
    "taxId",
    "duns",
    "gln",
    "country",
    "city",
    "ediPartnerId",
    "updatedAt",
)
PRODUCT_COLUMNS = ("productId", "productName", "gtin", "category", "unit", "updatedAt")
HOLDER_COLUMNS = ("holderId", "holderName", "duns", "country", "city", "updatedAt")
ARTICLE_COLUMNS = ("articleNumber", "articleName", "holderId", "gtin", "updatedAt")
SHIPPER_COLUMNS = ("shipperId", "shipperName", "country", "city", "updatedAt")


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of a GTIN/GLN body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _typo(rng: random.Random, text: str) -> str:
    """One letter dropped or two neighbouring letters swapped, inside a word of 5+ letters."""
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return text
    i = long_words[rng.randrange(len(long_words))]
    w = words[i]
    k = rng.randint(1, len(w) - 3)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :] if rng.random() < 0.5 else w[:k] + w[k + 1 :]
    return " ".join(words)


def spelling_variant(rng: random.Random, name: str, strength: int) -> str:
    """Another system's spelling of ``name``: legal form, transliteration and (``strength`` ≥ 2)
    a typo, then case or punctuation of the system's habit. Never returns ``name`` itself."""
    out = name
    for word, forms in LEGAL_FORMS:
        if out.endswith(" " + word) or out.endswith(" " + word.rstrip(".")):
            out = out[: out.rfind(" ")] + " " + forms[rng.randrange(len(forms))]
            break
    else:
        out = f"{out} {rng.choice(('Ltd', 'Co., Ltd.', 'Limited'))}"
    for src, dst in TRANSLITERATIONS.items():
        if src in out and rng.random() < 0.6:
            out = out.replace(src, dst)
    if strength >= 2:
        out = _typo(rng, out)
    style = rng.randrange(3)
    if style == 0:
        out = out.upper()
    elif style == 1:
        out = re.sub(r"[.,&]", "", out)
        out = re.sub(r"\s+", " ", out)
    return out if out != name else out.upper()


def _vendor_names(world: TenantWorld) -> list[str]:
    """Every supplier the tenant buys from: the world's (on POs) then the rest of the profile."""
    names = list(world.suppliers)
    names += [s for s in world.profile.suppliers if s not in names]
    return names


def _location(world: TenantWorld, j: int) -> tuple[str, str]:
    """(country, city) of the ``j``-th supplier: where the profile's ``j``-th factory is."""
    port = world.profile.factories[j % len(world.profile.factories)][2]
    return CITIES.get(port, (port[:2], port[2:]))


def _product_id(code: str, k: int) -> str:
    """The ERP product id of the profile's product ``k`` (as ``demo/work_orders.py`` names it)."""
    return f"PROD-{code}" if "-" in code else f"PROD-{code}-{100 + 10 * k}"


def master_data_drops(
    world: TenantWorld,
    pos: list[PurchaseOrder],
    work_orders: list[WorkOrder],
    edi_items: set[tuple[str, str]] = frozenset(),
) -> tuple[list[EntityDrops], dict]:
    """The five master-data entities of one tenant (module docstring) and its part of the answer
    key's ``master_data``: ``{"suppliers": [...], "products": [...]}``, each entry
    ``{"tenant_id", "source", "source_id", "entity"}`` where ``entity`` names the real supplier
    or product (records with the same ``entity`` are the same); ``source`` is one of
    :data:`SOURCE_KEYS`, ``source_id`` the id the resolution keys the record by (vendor id,
    the PO's supplier or product string, EDI partner id, holder id, shipper id, product id,
    MES part number, article number, EDI item number). ``edi_items``: (buyer item number, product
    name) of every EDI purchase-order line the tenant's partners sent (``demo/edi.py``)."""
    rng = world.rng("master_data")
    ws = world.window_start
    updated = iso_s(ws + 2 * 3_600_000)
    partners = {p.supplier: p for p in _partners(world)}
    names = _vendor_names(world)
    vendors, holders, shippers = [], [], []
    key_sup: list[dict] = []

    def truth(source: str, source_id: str, entity: str, out: list[dict]) -> None:
        out.append(
            {"tenant_id": world.name, "source": source, "source_id": source_id, "entity": entity}
        )

    base = 100_000 + 10_000 * world.index
    for j, name in enumerate(names):
        country, city = _location(world, j)
        partner = partners.get(name)
        vendor_id = f"{base + j + 1:010d}"
        duns = f"{rng.randint(10, 99)}{rng.randint(1_000_000, 9_999_999)}"
        tax_id = f"{country}{rng.randint(10**11, 10**12 - 1)}"
        vendors.append(
            {
                "vendorId": vendor_id,
                "vendorName": name,
                "taxId": tax_id,
                "duns": duns,
                "gln": partner.partner_id
                if partner and partner.standard == "EDIFACT"
                else gln(f"69{world.index:01d}{j + 1:09d}"),
                "country": country,
                "city": city,
                "ediPartnerId": partner.partner_id if partner else "",
                "updatedAt": updated,
            }
        )
        truth("erp_vendor", vendor_id, name, key_sup)
        if partner:
            truth("edi_partner", partner.partner_id, name, key_sup)
        if j == 0:
            # the same supplier created again by another buyer: same tax id, another spelling
            dup_id = f"{base + 900 + j:010d}"
            vendors.append(
                {
                    **vendors[-1],
                    "vendorId": dup_id,
                    "vendorName": spelling_variant(rng, name, 1),
                    "gln": "",
                    "duns": "",
                    "ediPartnerId": "",
                }
            )
            truth("erp_vendor", dup_id, name, key_sup)
        holder_id = f"H-{world.index + 1}{j + 1:03d}"
        holders.append(
            {
                "holderId": holder_id,
                "holderName": spelling_variant(rng, name, 1 + (j % 2)),
                "duns": duns if j % 2 == 0 else "",
                "country": country,
                "city": CITY_VARIANTS.get(city, city) if j % 3 == 1 else city,
                "updatedAt": updated,
            }
        )
        truth("cert_holder", holder_id, name, key_sup)
        shipper_id = f"SHP{world.index + 1}{j + 1:04d}"
        shippers.append(
            {
                "shipperId": shipper_id,
                "shipperName": spelling_variant(rng, name, 1 + (j % 3 == 2)),
                "country": country,
                "city": city.upper() if j % 2 else city,
                "updatedAt": updated,
            }
        )
        truth("shipper", shipper_id, name, key_sup)
    # a forwarder that is no supplier: a name like the first supplier's, another country
    forwarder = f"{names[0].split(' ')[0]} Global Logistics"
    shippers.append(
        {
            "shipperId": f"SHP{world.index + 1}9001",
            "shipperName": forwarder,
            "country": "SG",
            "city": "Singapore",
            "updatedAt": updated,
        }
    )
    truth("shipper", f"SHP{world.index + 1}9001", forwarder, key_sup)
    po_suppliers = sorted({p["supplier"] for po in pos for p in po.payloads})
    for name in po_suppliers:
        truth("erp_po_supplier", name, name, key_sup)

    products, articles = [], []
    key_prod: list[dict] = []
    industry = world.profile.industry
    for k, (code, name, _desc, _price) in enumerate(world.profile.products):
        product_id = _product_id(code, k)
        gtin_body = f"{69 + world.index}{1000 + k:04d}{rng.randint(100000, 999999)}"
        gtin = gtin_body + _check_digit(gtin_body)
        products.append(
            {
                "productId": product_id,
                "productName": name,
                "gtin": gtin,
                "category": industry,
                "unit": world.profile.unit,
                "updatedAt": updated,
            }
        )
        truth("erp_product", product_id, name, key_prod)
        article = f"ART-{world.index + 1}{k + 1:03d}"
        articles.append(
            {
                "articleNumber": article,
                "articleName": _article_name(rng, name, k),
                "holderId": holders[k % len(holders)]["holderId"],
                "gtin": gtin if k % 2 == 0 else "",
                "updatedAt": updated,
            }
        )
        truth("certified_product", article, name, key_prod)
    names_by_id = {_product_id(c, k): n for k, (c, n, _, _) in enumerate(world.profile.products)}
    for part in sorted({wo.product_id for wo in work_orders if wo.mes}):
        truth("mes_part", part, names_by_id.get(part, part), key_prod)
    for name in sorted({p["product"] for po in pos for p in po.payloads}):
        truth("erp_po_product", name, name, key_prod)
    # the item numbers (buyer SKUs) of the EDI purchase orders: ``edi_items`` is
    # {(sku, product name)} of every line the partners sent (demo/edi.py)
    for sku, name in sorted(edi_items):
        truth("edi_item", sku, name, key_prod)

    day = date_of(ws)
    out = []
    for system, entity, rows, columns in (
        ("erp", "vendors", vendors, VENDOR_COLUMNS),
        ("erp", "products", products, PRODUCT_COLUMNS),
        ("certifications", "holders", holders, HOLDER_COLUMNS),
        ("certifications", "certified_products", articles, ARTICLE_COLUMNS),
        ("logistics", "shippers", shippers, SHIPPER_COLUMNS),
    ):
        ent = EntityDrops(world.name, system, entity)
        ent.add(f"{entity}_{day}_export.csv", "csv", rows, columns=columns)
        out.append(ent)
    return out, {"suppliers": key_sup, "products": key_prod}


def _article_name(rng: random.Random, name: str, k: int) -> str:
    """A certifier's article name: the product name reworded (word order, case, plural, typo)."""
    out = name
    if k % 3 == 0:
        out = out.upper()
    elif k % 3 == 1:
        out = _typo(rng, out.lower())
    else:
        out = f"{out}s"
    return out
