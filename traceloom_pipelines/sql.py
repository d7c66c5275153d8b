"""``traceloom sql``: one documented, read-only way into the lake for analysts and scripts.

Opens the lake read-only (:func:`traceloom_pipelines.landing.warehouse.connect`), so a query never
blocks a run and never sees a half-committed one: it reads the latest committed snapshot, or the
one named with ``--snapshot`` (time travel: every table as it was at that snapshot).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from traceloom_pipelines.landing.warehouse import connect

FORMATS = ("table", "csv", "json")


def _jsonable(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo:  # the marts' instants (timestamptz)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def run_query(
    data_dir: Path,
    query: str,
    fmt: str = "table",
    out: TextIO | None = None,
    snapshot: int | None = None,
    max_rows: int = 1000,
) -> int:
    """Run ``query`` read-only on the lake of ``data_dir`` and write its result to ``out``
    (default: ``sys.stdout`` as it is at call time).

    Args:
        fmt: ``table`` (DuckDB's box rendering, at most ``max_rows`` rows shown), ``csv`` (header
            then rows, every row) or ``json`` (an array of objects, timestamps ISO-8601 UTC).
        snapshot: read the lake as of this snapshot id instead of the latest.

    Returns:
        the number of result rows.

    Raises:
        ValueError: on an unknown format. duckdb.Error: on a bad query or a write attempt
        (the lake is attached read-only).
    """
    out = out if out is not None else sys.stdout  # looked up per call (redirections, capture)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    con = connect(data_dir, read_only=True, snapshot=snapshot, verify_each_load=True)
    try:
        relation = con.sql(query)
        if relation is None:  # a statement without a result (e.g. SET)
            return 0
        if fmt == "table":
            rows = relation.fetchall()
            relation = con.sql(query)
            text = str(relation.limit(max_rows)) if rows else "(no rows)"
            out.write(text if text.endswith("\n") else text + "\n")
            if len(rows) > max_rows:
                out.write(f"({len(rows)} rows, {max_rows} shown; --format csv prints all)\n")
            return len(rows)
        columns = [c[0] for c in relation.description]
        rows = relation.fetchall()
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
        else:
            json.dump(
                [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                out,
                indent=1,
            )
            out.write("\n")
        return len(rows)
    finally:
        con.close()
