"""The end-of-run summary: rows per mart and tenant, quarantined rows per reason, discrepancies.

Reads the warehouse read-only; used by ``traceloom run`` and ``traceloom summary``.
"""

from pathlib import Path

from traceloom_pipelines.landing.warehouse import connect, run


def _table_exists(con, schema: str, name: str) -> bool:
    return bool(
        run(
            con,
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        )[0][0]
    )


def collect_summary(data_dir: Path) -> dict[str, list[tuple]]:
    """Sections of the summary as rows of tuples.

    Returns:
        ``{"marts": [(mart, tenant_id, rows)], "raw": [(table, rows)],
        "quarantine": [(system/entity, failed check, rows)],
        "discrepancies": [(tenant_id, discrepancy_type, severity, rows)]}``.
    """
    con = connect(data_dir, read_only=True)
    try:
        marts = [
            r[0]
            for r in run(
                con,
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1",
            )
        ]
        mart_rows = []
        for mart in marts:
            mart_rows += [
                (mart, tenant, rows)
                for tenant, rows in run(
                    con, f'select tenant_id, count(*) from marts."{mart}" group by 1 order by 1'
                )
            ]
        raw_rows = [
            (name, run(con, f'select count(*) from raw."{name}"')[0][0])
            for (name,) in run(
                con,
                "select table_name from information_schema.tables "
                "where table_schema = 'raw' order by 1",
            )
        ]
        quarantine = run(
            con,
            "select source_system || '/' || entity, check_name, count(*) from ("
            "  select source_system, entity, unnest(failed_checks) as check_name "
            "  from audit.quarantine) group by all order by 1, 2",
        )
        discrepancies = []
        if _table_exists(con, "marts", "rpt_work_order_reconciliation_daily"):
            discrepancies = run(
                con,
                "select tenant_id, discrepancy_type, severity, count(*) "
                "from marts.rpt_work_order_reconciliation_daily group by all order by all",
            )
    finally:
        con.close()
    return {
        "marts": mart_rows,
        "raw": raw_rows,
        "quarantine": quarantine,
        "discrepancies": discrepancies,
    }


def format_summary(summary: dict[str, list[tuple]]) -> str:
    """Plain-text rendering of :func:`collect_summary`."""
    out = ["", "== Rows per mart and tenant =="]
    out += [f"  {mart:<45} {tenant:<22} {rows:>10,}" for mart, tenant, rows in summary["marts"]]
    out += ["", "== Rows landed per raw table =="]
    out += [f"  {name:<45} {rows:>10,}" for name, rows in summary["raw"]]
    out += ["", "== Quarantined rows per reason =="]
    out += [
        f"  {entity:<32} {check:<45} {rows:>8,}" for entity, check, rows in summary["quarantine"]
    ]
    if not summary["quarantine"]:
        out.append("  none")
    out += ["", "== Work-order discrepancies found (ERP vs MES) =="]
    out += [
        f"  {tenant:<22} {kind:<20} {sev:<6} {rows:>8,}"
        for tenant, kind, sev, rows in summary["discrepancies"]
    ]
    if not summary["discrepancies"]:
        out.append("  none")
    return "\n".join(out)
