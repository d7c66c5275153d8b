"""Certifications source contract: certificate records, audit results and the certificate types a
tenant requires of its factories (000 §4.1 "Sustainability & Certification Data").

Drop folders: ``landing/<tenant>/certifications/{certificates,audits,requirements}/`` — the
periodic CSV or JSON feeds of the tenant's compliance team or a certification database. Each
feed re-sends whole records; a later ``updatedAt`` supersedes an earlier record of the same id.
Checked daily (000 §4.1 is a periodic feed; validity windows are days).

``requirements`` lists which certificate types the tenant's customers require of every factory
(its compliance profile: an apparel brand asks for BSCI and OEKO-TEX, an appliance buyer for ISO
9001); ``fct_certification_coverage`` checks every PO's factory against it.
"""

from __future__ import annotations

import pandera.polars as pa

from traceloom_pipelines.landing.checks import BOOLEAN, DATE, NUMBER, TIMESTAMP, field
from traceloom_pipelines.landing.entity import SourceEntity

SEED_REF = "000 §4.1 (Sustainability & Certification Data)"

CERTIFICATE_STATUSES = ("active", "suspended", "withdrawn", "expired")
AUDIT_RESULTS = ("pass", "conditional_pass", "fail")

certificates = SourceEntity(
    system="certifications",
    entity="certificates",
    seed_ref=SEED_REF,
    description="Certificates held by factory sites, with scope and validity window.",
    schema=pa.DataFrameSchema(
        {
            "certificateId": field("$.certificateId", required=True),
            "certificateType": field(
                "$.certificateType",
                required=True,
                description="Standard certified (BSCI, OEKO-TEX, ISO 9001, SA8000, WRAP …).",
            ),
            "holderSite": field(
                "$.holderSite", required=True, description="Factory code holding the certificate."
            ),
            "holderName": field("$.holderName", description="Site name as on the certificate."),
            "scope": field("$.scope", description="Certified scope (processes, products)."),
            "issuer": field("$.issuer", description="Certification body."),
            "validFrom": field("$.validFrom", DATE, required=True),
            "validTo": field("$.validTo", DATE, required=True, description="Last valid day."),
            "status": field("$.status", required=True, accepted=CERTIFICATE_STATUSES),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="certifications.certificates",
    ),
)

audits = SourceEntity(
    system="certifications",
    entity="audits",
    seed_ref=SEED_REF,
    description="Audit results and scores per factory site (and certificate, when tied to one).",
    schema=pa.DataFrameSchema(
        {
            "auditId": field("$.auditId", required=True),
            "site": field("$.site", required=True, description="Factory code audited."),
            "certificateId": field("$.certificateId", description="Certificate audited, if any."),
            "auditType": field("$.auditType", description="initial / surveillance / recert …"),
            "auditDate": field("$.auditDate", DATE, required=True),
            "result": field("$.result", required=True, accepted=AUDIT_RESULTS),
            "score": field(
                "$.score", NUMBER, non_negative_value=True, description="Audit score, 0–100."
            ),
            "auditor": field("$.auditor", description="Audit firm."),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="certifications.audits",
    ),
)

requirements = SourceEntity(
    system="certifications",
    entity="requirements",
    seed_ref=SEED_REF,
    description="Certificate types the tenant requires of every factory (its compliance profile).",
    schema=pa.DataFrameSchema(
        {
            "certificateType": field("$.certificateType", required=True),
            "required": field(
                "$.required", BOOLEAN, required=True, description="false retires a requirement."
            ),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="certifications.requirements",
    ),
)

holders = SourceEntity(
    system="certifications",
    entity="holders",
    seed_ref="000 §4.1; 004 (Identity resolution & MDM)",
    description=(
        "The certification database's register of certificate holders (supplier companies), "
        "spelled as the certifier registers them; DUNS when the holder gave one."
    ),
    schema=pa.DataFrameSchema(
        {
            "holderId": field("$.holderId", required=True, description="Certifier's holder id."),
            "holderName": field("$.holderName", required=True),
            "duns": field("$.duns", description="D-U-N-S number (9 digits)."),
            "country": field("$.country", description="ISO 3166-1 alpha-2 country."),
            "city": field("$.city"),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="certifications.holders",
    ),
)

certified_products = SourceEntity(
    system="certifications",
    entity="certified_products",
    seed_ref="000 §4.1; 004 (Identity resolution & MDM)",
    description=(
        "Articles the certifiers list for a holder (OEKO-TEX Standard 100 articles, appliance "
        "safety listings) under their own article numbers and names; GTIN when given."
    ),
    schema=pa.DataFrameSchema(
        {
            "articleNumber": field("$.articleNumber", required=True),
            "articleName": field("$.articleName", required=True),
            "holderId": field("$.holderId", description="Holder of the listing."),
            "gtin": field("$.gtin", description="GS1 GTIN-13, when the listing gives it."),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="certifications.certified_products",
    ),
)

ENTITIES = (certificates, audits, requirements, holders, certified_products)
