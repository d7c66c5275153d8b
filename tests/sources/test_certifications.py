"""The certifications source: certificate CSVs, audit and requirement JSON through the pandera
contract into DuckDB, and fct_certification_coverage after a real dbt build of a small demo world,
checked against its answer key."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

from traceloom_pipelines.demo.certifications import BADGES, CERTIFICATE_COLUMNS
from traceloom_pipelines.landing.loader import land_entity
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.sources.certifications.contract import audits, certificates, requirements

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "certificate_types.csv"


def test_certificate_csv_audits_and_requirements_land_with_reasons(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    folder = landing / "acme-apparel" / "certifications"
    (folder / "certificates").mkdir(parents=True)
    with (folder / "certificates" / "certs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CERTIFICATE_COLUMNS)
        writer.writeheader()
        base = {
            "certificateId": "CERT-1",
            "certificateType": "OEKO-TEX",
            "holderSite": "FAC-DG-01",
            "holderName": "Dongguan Everbright Knitting Mill",
            "scope": "STANDARD 100, class II",
            "issuer": "Hohenstein",
            "validFrom": "2025-04-01",
            "validTo": "2026-03-31",
            "status": "active",
            "updatedAt": "2026-01-05T08:00:00+08:00",
        }
        writer.writerow(base)
        writer.writerow({**base, "certificateId": "CERT-2", "validTo": "31/03/2026"})
        writer.writerow({**base, "certificateId": "CERT-3", "status": "revoked"})
    (folder / "audits").mkdir()
    (folder / "audits" / "a.json").write_text(
        json.dumps(
            [
                {
                    "auditId": "A1",
                    "site": "FAC-DG-01",
                    "auditDate": "2026-01-10",
                    "result": "pass",
                    "score": 88.5,
                    "updatedAt": "2026-01-12T00:00:00Z",
                },
                {
                    "auditId": "A2",
                    "site": "FAC-DG-01",
                    "auditDate": "2026-01-10",
                    "result": "pass",
                    "score": -3,
                    "updatedAt": "2026-01-12T00:00:00Z",
                },
            ]
        )
    )
    (folder / "requirements").mkdir()
    (folder / "requirements" / "r.json").write_text(
        json.dumps(
            [{"certificateType": "BSCI", "required": "yes", "updatedAt": "2026-01-01T00:00:00Z"}]
        )
    )
    con = connect(tmp_path)
    try:
        for entity in (certificates, audits, requirements):
            land_entity(con, entity, landing)
        assert run(
            con,
            'select "certificateId", "validFrom", "validTo", "updatedAt" '
            "from raw.certifications__certificates",
        ) == [("CERT-1", date(2025, 4, 1), date(2026, 3, 31), datetime(2026, 1, 5))]
        assert run(con, 'select "auditId", score from raw.certifications__audits') == [("A1", 88.5)]
        reasons = run(
            con,
            "select entity, json_extract_string(record, '$.certificateId'), failed_checks "
            "from audit.quarantine order by 1, 2",
        )
        assert reasons == [
            ("audits", None, ["score:non_negative"]),
            ("certificates", "CERT-2", ["validTo:is_date"]),
            ("certificates", "CERT-3", ["status:isin"]),
            ("requirements", None, ["required:is_boolean"]),
        ]
    finally:
        con.close()


def test_badge_seed_matches_the_demo_world() -> None:
    with SEED.open(newline="") as handle:
        seed = {row["certificate_type"]: row["badge"] for row in csv.DictReader(handle)}
    assert {t: seed[t] for t in BADGES} == BADGES


def test_certification_coverage_is_exactly_the_answer_key(logistics_world) -> None:
    done = logistics_world["dbt"]
    assert done.returncode == 0, done.stdout[-4000:]
    key, con = logistics_world["key"], logistics_world["con"]
    got = {
        (t, p): (f, v, m, e, b)
        for t, p, f, v, m, e, b in con.execute(
            "select tenant_id, po_id, factory, valid_certificate_types, "
            "missing_certificate_types, expired_certificate_types, esg_badges "
            "from marts.fct_certification_coverage"
        ).fetchall()
    }
    expected = {
        (c["tenant_id"], c["po_id"]): (
            c["factory"],
            c["valid_certificate_types"],
            c["missing_certificate_types"],
            c["expired_certificate_types"],
            c["esg_badges"],
        )
        for c in key["certification_coverage"]
    }
    assert got == expected
    values = list(expected.values())
    assert any(v[2] for v in values) and any(v[3] for v in values)  # missing and expired occur
    assert any(not v[2] and not v[3] for v in values)  # and fully covered POs


def test_suspension_and_retired_requirement_follow_the_latest_record(logistics_world) -> None:
    con = logistics_world["con"]
    suspended = con.execute(
        "select count(*) from staging.stg_certifications__certificates "
        "where certificate_status = 'suspended'"
    ).fetchone()[0]
    assert suspended == 1
    retired = con.execute(
        "select tenant_id, certificate_type from staging.stg_certifications__requirements "
        "where not is_required order by 1"
    ).fetchall()
    assert retired == [("acme-apparel", "GOTS"), ("borealis-appliances", "ISO 45001")]
    required = con.execute(
        "select distinct tenant_id, required_certificate_types "
        "from marts.fct_certification_coverage order by 1"
    ).fetchall()
    assert required == [
        ("acme-apparel", ["BSCI", "OEKO-TEX", "WRAP"]),
        ("borealis-appliances", ["ISO 14001", "ISO 9001"]),
    ]
