"""Benchmark: validated ingestion of MES production counts vs DuckDB's native JSON reader.

For each scale, the demo world's production-count files (JSON Lines, one file per tenant and
day) are loaded three ways, each in a fresh subprocess and a fresh lake or DuckDB file:

- ``traceloom``: the platform's path (read in chunks, hash, dedupe, pandera validation,
  quarantine, typed insert into ``raw`` of a fresh embedded lake: SQLite catalog, Parquet);
- ``lake_native``: the baseline issue #11 defines: DuckDB's own ``read_json`` of the same files
  into a table of the same lake (fresh, same catalog, Parquet data files) with the contract's
  typed columns, the tenant from the path and an md5 hash column, in one ``create table … as
  select``; no validation, no dedupe, no quarantine;
- ``duckdb_native``: ``create table … as select * from read_json(<files>)`` into a plain DuckDB
  file, no hash (the fastest DuckDB can go; kept to show what the lake's storage costs).

Printed and written to ``bench/results/ingest_<UTC timestamp>.json`` and as the ``ingest``
section of ``bench/results/latest.md`` (other sections, e.g. ``bench.lake_bench``'s, are kept):
rows, seconds, rows/s, the ratios traceloom/lake_native (issue #11's target: ≥ 0.8) and
traceloom/duckdb_native, and peak RSS (MiB) of each subprocess (each a fresh interpreter, so
its peak is its own).

Usage: ``python -m bench.ingest_bench [--scales 0.2 1.0 5.0] [--seed 7]`` (scale 1: ~1M rows)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def save_results(name: str, result: dict, markdown: str) -> Path:
    """Write ``result`` to ``bench/results/<name>_<UTC timestamp>.json`` and ``markdown`` as the
    ``name`` section of ``bench/results/latest.md``; print the markdown. Returns the JSON path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS_DIR / f"{name}_{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    write_latest_section(name, markdown)
    print(markdown)
    return path


def write_latest_section(name: str, markdown: str) -> Path:
    """Replace the ``name`` section of ``bench/results/latest.md`` with ``markdown`` (append it
    when absent); every other section stays. A ``latest.md`` without section markers (written
    before there were sections) is the ``ingest`` section."""
    path = RESULTS_DIR / "latest.md"
    text = path.read_text() if path.exists() else ""
    if text.strip() and "<!-- " not in text:
        text = f"<!-- ingest:start -->\n{text.rstrip()}\n<!-- ingest:end -->\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail.strip() else "")
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def peak_rss_kib() -> int:
    """This process's peak resident set size (KiB): ``VmHWM`` of ``/proc/self/status``, the
    high-water mark of this process image's own memory. Not ``getrusage``'s ``ru_maxrss``:
    Linux keeps that across ``fork`` and ``exec``, so a worker started by the parent that
    generated the world reported the parent's peak (issue #11: 700.6 MiB for both tools)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _worker(mode: str, landing: Path, target: Path) -> dict:
    """Run one measurement in this process; return timing and peak memory.

    ``target``: the data directory of a fresh lake (``traceloom``) or a DuckDB file (native).
    """
    import duckdb

    from traceloom_pipelines.landing.loader import land_entity
    from traceloom_pipelines.landing.warehouse import connect
    from traceloom_pipelines.sources.mes.contract import machines, production_counts

    files = sorted(landing.glob("*/mes/production_counts/*.jsonl"))
    file_list = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    if mode == "traceloom":
        con = connect(target)  # the embedded lake of the data directory ``target``
        land_entity(con, machines, landing)  # reference data for known_machine_id
        started = time.perf_counter()
        result = land_entity(con, production_counts, landing)
        elapsed = time.perf_counter() - started
        rows = result.total.rows_read
        con.close()
    else:
        if mode == "lake_native":
            con = connect(target)
            columns = ", ".join(f"{name}: '{kind}'" for name, kind in native_columns().items())
            statement = f"""
                create table raw.native_production_counts as
                select parse_path(filename)[-4] as tenant_id,
                       machine_id, work_order_id, timezone('UTC', "timestamp") as "timestamp",
                       units_produced, cumulative_units, quality_status, cycle_time_seconds,
                       md5(to_json(r)::varchar) as _record_hash
                from read_json({file_list}, format = 'newline_delimited', ignore_errors = true,
                               filename = true, columns = {{{columns}}}) r
                """
        else:
            con = duckdb.connect(str(target))
            statement = (
                f"create table counts as select * from read_json({file_list}, "
                "format = 'newline_delimited', ignore_errors = true)"
            )
        started = time.perf_counter()
        con.execute(statement).fetchall()
        elapsed = time.perf_counter() - started
        # rows *read*: native skips malformed lines, so count lines like our reader does
        rows = sum(1 for f in files for line in f.open() if line.strip())
        con.close()
    peak_kib = peak_rss_kib()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_second": round(rows / elapsed),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "bytes": sum(f.stat().st_size for f in files),
        "files": len(files),
    }


def native_columns() -> dict[str, str]:
    """Column → DuckDB type of ``mes.production_counts`` as its contract lands them
    (``SourceEntity.fields``), for DuckDB's reader: timestamps read as ``TIMESTAMPTZ`` (the
    text carries its offset) and stored as naive UTC like ``raw.mes__production_counts``."""
    from traceloom_pipelines.landing.checks import TIMESTAMP
    from traceloom_pipelines.sources.mes.contract import production_counts

    return {
        name: "TIMESTAMPTZ" if kind == TIMESTAMP else kind
        for name, (_, kind) in production_counts.fields.items()
    }


def _measure(mode: str, landing: Path, workdir: Path) -> dict:
    lake_modes = ("traceloom", "lake_native")
    target = workdir / (f"{mode}-data" if mode in lake_modes else f"{mode}.duckdb")
    shutil.rmtree(target, ignore_errors=True)
    target.unlink(missing_ok=True)
    # the embedded lake, whatever catalog this shell's environment points at
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELOOM_LAKE_")}
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest_bench", "--worker", mode, str(landing), str(target)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_benchmark(scales: list[float], seed: int) -> dict:
    """Generate each scale's world in a temp dir and measure both readers on it."""
    from traceloom_pipelines.demo import generate_world

    results = []
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix="traceloom-bench-") as tmp:
            workdir = Path(tmp)
            landing = workdir / "landing"
            generate_world(landing, workdir / "answer_key.json", seed=seed, scale=scale)
            native = _measure("duckdb_native", landing, workdir)
            lake_native = _measure("lake_native", landing, workdir)
            ours = _measure("traceloom", landing, workdir)
            results.append(
                {
                    "scale": scale,
                    "traceloom": ours,
                    "lake_native": lake_native,
                    "duckdb_native": native,
                    "ratio": round(ours["rows_per_second"] / lake_native["rows_per_second"], 3),
                    "ratio_duckdb_file": round(
                        ours["rows_per_second"] / native["rows_per_second"], 3
                    ),
                }
            )
            print(
                f"scale {scale}: {ours['rows']:,} rows ({ours['bytes'] / 2**20:.0f} MiB) — "
                f"traceloom {ours['rows_per_second']:,} rows/s, peak {ours['peak_rss_mib']} MiB; "
                f"lake native {lake_native['rows_per_second']:,} rows/s, "
                f"peak {lake_native['peak_rss_mib']} MiB; ratio {results[-1]['ratio']}; "
                f"DuckDB file {native['rows_per_second']:,} rows/s",
                flush=True,
            )
    return {
        "benchmark": "mes_production_counts_ingestion",
        "seed": seed,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
    }


def _markdown(report: dict) -> str:
    lines = [
        f"# Ingestion benchmark ({report['measured_at']})",
        "",
        "MES production counts, each tool in a fresh process. *lake native*: DuckDB's "
        "`read_json` into the same lake with the typed columns and an md5 hash column "
        "(issue #11's baseline; target ratio ≥ 0.8); *DuckDB file*: `read_json` into a plain "
        "DuckDB file, no hash.",
        "",
        "| scale | rows | MiB | traceloom rows/s | lake native rows/s | ratio | "
        "DuckDB file rows/s | ratio vs file | traceloom peak MiB | lake native peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        t, n, f = r["traceloom"], r["lake_native"], r["duckdb_native"]
        lines.append(
            f"| {r['scale']} | {t['rows']:,} | {t['bytes'] / 2**20:.0f} | "
            f"{t['rows_per_second']:,} | {n['rows_per_second']:,} | {r['ratio']} | "
            f"{f['rows_per_second']:,} | {r['ratio_duckdb_file']} | "
            f"{t['peak_rss_mib']} | {n['peak_rss_mib']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.2, 1.0, 5.0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--worker", nargs=3, metavar=("MODE", "LANDING", "TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        mode, landing, target = args.worker
        print(json.dumps(_worker(mode, Path(landing), Path(target))))
        return 0
    report = run_benchmark(args.scales, args.seed)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"ingest_{stamp}.json").write_text(json.dumps(report, indent=2))
    write_latest_section("ingest", _markdown(report))
    print(f"results: {RESULTS_DIR / f'ingest_{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
