"""A BI-style reader of the lake, run as its own process: ``python -m tests.lake.reader``.

Every ``--interval`` seconds it opens one read transaction on the lake (a new read-only
connection each time with ``--mode reconnect``, as a BI tool or ``traceloom sql`` does; one
connection kept open for the whole session with ``--mode persistent``, as a dashboard server
does) and records, as one JSON line in ``--out``: the snapshot id the transaction reads, the
answer of every query in :data:`QUERIES` (``None`` for a table absent at that snapshot), the
latency, or the error. It stops when ``--stop`` exists. :func:`answer_at` recomputes an answer
from time travel (``at (version => id)``), so a test can check each recorded answer against the
snapshot it claims to be.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from traceloom_pipelines.landing.warehouse import connect

# name → (schema, table, aggregates over the table aliased ``t``; ``hash(t)`` hashes whole rows).
QUERIES: dict[str, tuple[str, str, str]] = {
    "raw.erp__purchase_orders": ("raw", "erp__purchase_orders", "count(*), sum(hash(t))"),
    "raw.mes__production_counts": ("raw", "mes__production_counts", "count(*), sum(hash(t))"),
    "raw.hr__attendance": ("raw", "hr__attendance", "count(*), sum(hash(t))"),
    "audit.batches": ("audit", "batches", "count(*), sum(rows_landed), sum(rows_quarantined)"),
    "audit.quarantine": ("audit", "quarantine", "count(*), sum(hash(t))"),
    "marts.fct_work_orders": ("marts", "fct_work_orders", "count(*), sum(hash(t))"),
    "marts.fct_production_daily": ("marts", "fct_production_daily", "count(*), sum(hash(t))"),
    "marts.dim_employees": ("marts", "dim_employees", "count(*), sum(hash(t))"),
}


def _sql(schema: str, table: str, aggregates: str, version: int | None = None) -> str:
    at = f" at (version => {int(version)})" if version is not None else ""
    return f"select {aggregates} from (select * from {schema}.{table}{at}) t"


def _jsonable(row: tuple) -> list:
    # sums of hashes are HUGEINTs: keep them exact as text
    return [str(v) if isinstance(v, int) and abs(v) > 2**53 else v for v in row]


def read_once(con: duckdb.DuckDBPyConnection) -> dict:
    """One read transaction: ``{"snapshot": id, "answer": {name: [values] | None}}``."""
    con.execute("begin transaction").fetchall()
    try:
        snapshot = con.execute("select id from lake.current_snapshot()").fetchall()[0][0]
        present = {
            name
            for (name,) in con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_catalog = 'lake'"
            ).fetchall()
        }
        answer: dict[str, list | None] = {}
        for name, (schema, table, aggregates) in QUERIES.items():
            if f"{schema}.{table}" not in present:
                answer[name] = None
                continue
            row = con.execute(_sql(schema, table, aggregates)).fetchall()[0]
            answer[name] = _jsonable(row)
    finally:
        con.execute("commit").fetchall()
    return {"snapshot": snapshot, "answer": answer}


def answer_at(con: duckdb.DuckDBPyConnection, snapshot: int) -> dict[str, list | None]:
    """The answer of :data:`QUERIES` at ``snapshot`` by time travel (``None``: table absent)."""
    answer: dict[str, list | None] = {}
    for name, (schema, table, aggregates) in QUERIES.items():
        try:
            row = con.execute(_sql(schema, table, aggregates, snapshot)).fetchall()[0]
        except duckdb.CatalogException:
            answer[name] = None
            continue
        answer[name] = _jsonable(row)
    return answer


def run_reader(data_dir: Path, mode: str, out: Path, stop: Path, interval: float) -> None:
    """Poll until ``stop`` exists (see the module docstring); one JSON line per poll."""
    catalog = data_dir / "lake" / "catalog.sqlite"
    while not catalog.exists() and not stop.exists():
        time.sleep(0.05)  # nothing to read before the first writer creates the lake
    con: duckdb.DuckDBPyConnection | None = None
    with out.open("a") as sink:
        next_at = time.monotonic()
        while not stop.exists():
            started = time.monotonic()
            record: dict = {"t": time.time()}
            try:
                if con is None:
                    con = connect(data_dir, read_only=True)
                    # one thread, as a dashboard's query pool gives each query: these reads
                    # are small, and two cores run the pipeline under test beside them
                    con.execute("set threads = 1")
                record.update(read_once(con))
            except Exception as error:  # every failure is data for the test
                record["error"] = f"{type(error).__name__}: {error}"
                if con is not None:
                    con.close()
                con = None
            if mode == "reconnect" and con is not None:
                con.close()
                con = None
            record["latency"] = time.monotonic() - started
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic())
    if con is not None:
        con.close()


def main() -> None:
    """Command line: ``--data-dir D --mode reconnect|persistent --out F --stop F``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=["reconnect", "persistent"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    run_reader(args.data_dir, args.mode, args.out, args.stop, args.interval)


if __name__ == "__main__":
    main()
