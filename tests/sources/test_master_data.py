"""Golden records (issue #16 §2, seed 004): identity resolution of the logistics world's suppliers
and products scored against the answer key's ``master_data``, the dims, the canonical ids on the
marts, and a replay that changes nothing (traceloom_pipelines/master_data/)."""

from __future__ import annotations

import itertools

from traceloom_pipelines.lake import current_snapshot
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.master_data.assets import resolve_lake
from traceloom_pipelines.master_data.resolve import KINDS

TABLE = {"suppliers": "supplier", "products": "product"}


def _same_entity_pairs(assignment: dict[tuple[str, str], str]) -> set[tuple[str, str, str]]:
    """(tenant, record_l, record_r) of every pair of records sharing a label."""
    groups: dict[tuple[str, str], list[str]] = {}
    for (tenant, record), label in assignment.items():
        groups.setdefault((tenant, label), []).append(record)
    return {
        (tenant, a, b)
        for (tenant, _), records in groups.items()
        for a, b in itertools.combinations(sorted(records), 2)
    }


def _truth(key: dict, kind: str) -> dict[tuple[str, str], str]:
    return {
        (e["tenant_id"], f"{e['source']}:{e['source_id']}"): e["entity"]
        for e in key["master_data"][kind]
    }


def test_resolution_matches_the_answer_key(logistics_world, record_property) -> None:
    key, con = logistics_world["key"], logistics_world["con"]
    for kind in KINDS:
        truth = _truth(key, kind)
        resolved = {
            (t, r): c
            for t, r, c in con.execute(
                f"select tenant_id, record_id, canonical_id from master_data.{TABLE[kind]}_clusters"
            ).fetchall()
        }
        # every resolved record is one the key knows, and every record of the key was resolved
        assert set(resolved) == set(truth), kind
        true_pairs, found_pairs = _same_entity_pairs(truth), _same_entity_pairs(resolved)
        hits = len(true_pairs & found_pairs)
        precision, recall = hits / len(found_pairs), hits / len(true_pairs)
        record_property(  # printed at the end of the session (tests/conftest.py)
            "score",
            f"identity resolution, {kind}: precision {precision:.3f}, recall {recall:.3f} "
            f"({len(found_pairs)} pairs found, {len(true_pairs)} true pairs in the answer key)",
        )
        assert precision >= 0.95 and recall >= 0.95, (kind, precision, recall)
        matches = con.execute(
            f"select tenant_id, record_id_l, record_id_r, method, decision "
            f"from master_data.{TABLE[kind]}_matches"
        ).fetchall()
        deterministic = {(t, a, b) for t, a, b, method, _ in matches if method == "deterministic"}
        # deterministic keys link only records of one entity, and every ERP vendor / product of
        # a tenant is keyed to its other ERP spellings
        assert deterministic and deterministic <= true_pairs, kind
        assert any(d == "review" for *_, d in matches), f"{kind}: the review band is empty"
        # every row of the resolution carries its tenant
        assert all(t for t, *_ in matches)


def test_dims_have_one_row_per_canonical_entity(logistics_world) -> None:
    con = logistics_world["con"]
    for dim, kind, column in (
        ("dim_suppliers", "supplier", "canonical_supplier_id"),
        ("dim_products", "product", "canonical_product_id"),
    ):
        rows = con.execute(
            f"select tenant_id, {column}, source_record_count from marts.{dim} order by all"
        ).fetchall()
        clusters = con.execute(
            f"select tenant_id, canonical_id, count(*) from master_data.{kind}_clusters "
            "group by all order by all"
        ).fetchall()
        assert rows == clusters, dim
    # golden names come from the ERP master; every EDI partner is a supplier with a golden name
    named = con.execute(
        'select d.supplier_name, v."vendorName" from marts.dim_suppliers d '
        "join raw.erp__vendors v on v.tenant_id = d.tenant_id "
        'and v."vendorId" = d.erp_vendor_ids[1]'
    ).fetchall()
    assert named and all(golden == vendor for golden, vendor in named)
    partners = con.execute(
        "select partner_id, supplier_name from marts.dim_trading_partners"
    ).fetchall()
    assert partners and all(name for _, name in partners)


def test_marts_carry_the_canonical_ids(logistics_world) -> None:
    con = logistics_world["con"]
    # every PO, ERP or EDI route, names its golden supplier and product; an EDI-only PO
    # (supplier = the partner id) the same supplier as the ERP POs of that supplier
    assert con.execute(
        "select count(*) filter (where canonical_supplier_id is null), "
        "count(*) filter (where canonical_product_id is null) "
        "from marts.fct_purchase_orders"
    ).fetchall()[0] == (0, 0)
    # an EDI-only PO's product is its first line's buyer item number (a SKU): its golden product
    # is the one of the ERP POs of the product the answer key says that SKU is
    product_of_sku = {
        (e["tenant_id"], e["source_id"]): e["entity"]
        for e in logistics_world["key"]["master_data"]["products"]
        if e["source"] == "edi_item"
    }
    golden_of_name = dict(
        ((t, p), c)
        for t, p, c in con.execute(
            "select distinct tenant_id, product, canonical_product_id "
            "from marts.fct_purchase_orders where source_route <> 'edi'"
        ).fetchall()
    )
    edi = con.execute(
        "select tenant_id, product, canonical_product_id from marts.fct_purchase_orders "
        "where source_route = 'edi'"
    ).fetchall()
    assert edi
    for tenant, sku, golden in edi:
        assert golden == golden_of_name[(tenant, product_of_sku[(tenant, sku)])], (tenant, sku)
    # POs of one product share its golden product (the product-keyed fct_work_orders is checked
    # on the main job's world, tests/test_main_job.py)
    assert (
        con.execute(
            "select count(*) from (select tenant_id, product from marts.fct_purchase_orders "
            "where source_route <> 'edi' group by all "
            "having count(distinct canonical_product_id) > 1)"
        ).fetchall()[0][0]
        == 0
    )
    mixed = con.execute(
        "select p.tenant_id, p.canonical_supplier_id, count(distinct p.source_route) "
        "from marts.fct_purchase_orders p join marts.dim_trading_partners t "
        "on t.tenant_id = p.tenant_id and t.canonical_supplier_id = p.canonical_supplier_id "
        "group by all"
    ).fetchall()
    assert mixed and all(routes == 2 for *_, routes in mixed), mixed
    # the supplier marts name the golden supplier of every row, as fct_purchase_orders does
    for mart in ("fct_supplier_performance", "fct_certification_coverage"):
        rows, unmapped = con.execute(
            f"select count(*), count(*) filter (where canonical_supplier_id is null) "
            f"from marts.{mart}"
        ).fetchall()[0]
        assert rows > 0 and unmapped == 0, (mart, rows, unmapped)


def test_replaying_the_resolution_changes_nothing(logistics_world) -> None:
    con = connect(logistics_world["dir"])
    try:
        before = current_snapshot(con)
        results = resolve_lake(con)
        assert [results[k][4] for k in KINDS] == [False, False]
        assert current_snapshot(con) == before
    finally:
        con.close()


def _serve_desk(data_dir, users: str):
    """The review desk's app on a loopback port in a thread: (url, server, thread)."""
    import socket
    import threading
    import time

    import uvicorn

    from traceloom_pipelines.review_desk.app import DeskSettings, create_app
    from traceloom_pipelines.review_desk.auth import USERS_ENV, load_users

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(DeskSettings(data_dir, load_users({USERS_ENV: users})))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def test_a_stewards_decisions_change_the_next_resolution_and_are_audited(
    logistics_world, tmp_path
) -> None:
    import re
    import shutil

    import requests

    from traceloom_pipelines.review_desk.auth import hash_password

    key = logistics_world["key"]
    data_dir = tmp_path / "data"
    shutil.copytree(logistics_world["dir"], data_dir, symlinks=True)
    truth = _truth(key, "suppliers")
    con = connect(data_dir, read_only=True)
    try:
        review = con.execute(
            "select tenant_id, record_id_l, record_id_r from master_data.supplier_matches "
            "where decision = 'review' order by match_probability desc, record_id_l"
        ).fetchall()
        linked = con.execute(
            "select tenant_id, record_id_l, record_id_r from master_data.supplier_matches "
            "where decision = 'linked' and method = 'probabilistic' order by all"
        ).fetchall()
    finally:
        con.close()
    # a review-band pair that is one supplier, and a linked pair of that tenant to split
    tenant, a, b = next(p for p in review if truth[(p[0], p[1])] == truth[(p[0], p[2])])
    _, c, d = next(p for p in linked if p[0] == tenant)
    password = "steward-Secret-1"
    url, server, thread = _serve_desk(data_dir, f"sam:{tenant}:{hash_password(password)}")
    try:
        auth = ("sam", password)
        page = requests.get(f"{url}/tenants/{tenant}/stewardship?type=supplier", auth=auth)
        assert page.status_code == 200 and a in page.text and b in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        for action, left, right in (("confirm", a, b), ("split", c, d)):
            done = requests.post(
                f"{url}/tenants/{tenant}/stewardship/{action}",
                data={
                    "csrf": csrf,
                    "type": "supplier",
                    "record_id_l": left,
                    "record_id_r": right,
                    "reason": f"{action} by test",
                },
                auth=auth,
                allow_redirects=False,
            )
            assert done.status_code == 303, done.text
        # another tenant's page is refused, and so is a form without the token
        assert requests.get(f"{url}/tenants/other/stewardship", auth=auth).status_code == 403
        refused = requests.post(
            f"{url}/tenants/{tenant}/stewardship/merge",
            data={"type": "supplier", "record_id_l": a, "record_id_r": c},
            auth=auth,
        )
        assert refused.status_code == 400
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    con = connect(data_dir)
    try:
        audited = con.execute(
            "select tenant_id, entity_type, action, record_id_l, record_id_r, actor, reason "
            "from audit.stewardship_decisions order by decided_at"
        ).fetchall()
        assert audited == [
            (tenant, "supplier", "confirm", *sorted((a, b)), "sam", "confirm by test"),
            (tenant, "supplier", "split", *sorted((c, d)), "sam", "split by test"),
        ]
        resolve_lake(con)
        canonical = dict(
            con.execute(
                "select record_id, canonical_id from master_data.supplier_clusters "
                "where tenant_id = ?",
                [tenant],
            ).fetchall()
        )
        assert canonical[a] == canonical[b]  # the confirmed pair is one supplier now
        assert canonical[c] != canonical[d]  # and the split stays split
        before = current_snapshot(con)
        assert [v[4] for v in resolve_lake(con).values()] == [False, False]  # replayed: same
        assert current_snapshot(con) == before
    finally:
        con.close()
