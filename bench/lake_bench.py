"""Benchmark: the main job with steps side by side vs one at a time, on each lake catalog, and
what a reader of the lake waits for while a run writes it.

One demo world is generated; every measurement runs on its own identical copy, in a fresh
subprocess (``run_main_job(data_dir, serial=...)``), on a fresh Dagster instance (a temporary
``DAGSTER_HOME`` with the project's ``dagster.yaml``) and a fresh lake:

- catalogs: ``sqlite`` (embedded: one writer at a time, the writer lock) and ``postgres``
  (``TRACELOOM_LAKE_CATALOG=postgres``, a new database per measurement on
  ``$TRACELOOM_LAKE_PG_HOST``/``_PORT``/``_USER``/``_PASSWORD``, default 127.0.0.1:5432 postgres);
- steps: ``parallel`` (the multiprocess executor, steps side by side) and ``serial``
  (in the run's own process, one step at a time); the ratio serial/parallel is the speedup of
  running steps side by side;
- a reader process (one connection kept open, as a dashboard server does) runs
  :data:`READER_QUERY` every 0.2 s from the start of each run until ``--idle-s`` seconds after
  it: latency p50/p99 during the run (once the table exists) vs idle (the finished lake).

Printed and written to ``bench/results/lake_<UTC timestamp>.json`` and as the ``lake`` section of
``bench/results/latest.md`` (the ingestion section is kept).

Usage: ``python -m bench.lake_bench [--scale 0.05] [--seed 7] [--catalogs sqlite postgres]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest_bench import RESULTS_DIR, write_latest_section

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READ_INTERVAL_S = 0.2
READER_QUERY = (
    "select tenant_id, count(*), sum(units_produced) from raw.mes__production_counts group by 1"
)
PG_DEFAULTS = {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres", "PASSWORD": ""}


# -- workers (run in their own process) ---------------------------------------------------------
def _worker_run(data_dir: Path, serial: bool, result: Path) -> int:
    """Run the main job once; write ``{"seconds", "success"}`` to ``result``."""
    from traceloom_pipelines.cli import run_main_job

    started = time.perf_counter()
    success = run_main_job(data_dir, serial=serial)
    result.write_text(
        json.dumps({"seconds": round(time.perf_counter() - started, 2), "success": success})
    )
    return 0 if success else 1


def _worker_reader(data_dir: Path, out: Path, stop: Path) -> int:
    """Run :data:`READER_QUERY` every 0.2 s on one read-only connection until ``stop`` exists;
    one JSON line per read: wall time, latency, and ``ok``/``missing`` (no table yet)/error."""
    import duckdb

    from traceloom_pipelines.landing.warehouse import connect

    con = None
    lake_seen = False  # until the run has created the lake, a failed read is "missing"
    with out.open("w") as sink:
        next_at = time.monotonic()
        while not stop.exists():
            record: dict = {"t": time.time()}
            try:
                if con is None:
                    con = connect(data_dir, read_only=True)
                started = time.perf_counter()
                lake_seen = True
                con.execute(READER_QUERY).fetchall()
                record["latency"] = time.perf_counter() - started
                record["status"] = "ok"
            except duckdb.CatalogException:
                record["status"] = "missing"  # the run has not created the table yet
            except Exception as error:  # a failed read is a result too
                status = f"error: {type(error).__name__}: {error}"[:300]
                record["status"] = status if lake_seen else "missing"
                if con is not None:
                    con.close()
                con = None
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            next_at = max(next_at + READ_INTERVAL_S, time.monotonic())
            time.sleep(max(0.0, next_at - time.monotonic()))
    if con is not None:
        con.close()
    return 0


# -- one measurement ----------------------------------------------------------------------------
def _pg_settings() -> dict[str, str]:
    return {
        k: os.environ.get(f"TRACELOOM_LAKE_PG_{k}", default) for k, default in PG_DEFAULTS.items()
    }


@contextmanager
def _pg_database(catalog: str):
    """A fresh PostgreSQL database for a ``postgres`` measurement (dropped afterwards)."""
    if catalog != "postgres":
        yield None
        return
    import psycopg2

    pg = _pg_settings()
    name = f"traceloom_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(
        dbname="postgres",
        host=pg["HOST"],
        port=pg["PORT"],
        user=pg["USER"],
        password=pg["PASSWORD"] or None,
        connect_timeout=10,
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'create database "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def _env(data_dir: Path, home: Path, catalog: str, database: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELOOM_LAKE_")}
    env.update(
        DAGSTER_HOME=str(home),
        TRACELOOM_DATA_DIR=str(data_dir),
        # the demo world holds 30 days: build those, not the production default window
        TRACELOOM_RUN_DAYS=os.environ.get("TRACELOOM_RUN_DAYS", "31"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    if catalog == "postgres":
        env["TRACELOOM_LAKE_CATALOG"] = "postgres"
        env.update({f"TRACELOOM_LAKE_PG_{k}": v for k, v in _pg_settings().items()})
        env["TRACELOOM_LAKE_PG_DB"] = database or ""
    return env


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _lake_facts(env: dict[str, str], data_dir: Path) -> dict:
    """Snapshots and raw rows of the lake after the run (read in a subprocess: its catalog)."""
    code = (
        "import json,sys; from pathlib import Path\n"
        "from traceloom_pipelines.landing.warehouse import connect\n"
        "con = connect(Path(sys.argv[1]), read_only=True)\n"
        "snaps = con.execute('select count(*) from lake.snapshots()').fetchall()[0][0]\n"
        'tables = con.execute("select table_name from information_schema.tables '
        "where table_catalog = 'lake' and table_schema = 'raw'\").fetchall()\n"
        "rows = sum(con.execute(f'select count(*) from raw.\"{t}\"').fetchall()[0][0] "
        "for (t,) in tables)\n"
        "print(json.dumps({'snapshots': snaps, 'raw_rows': rows}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(template: Path, workdir: Path, catalog: str, steps: str, idle_s: float) -> dict:
    """One main-job run (``steps``: parallel or serial) on a fresh copy of ``template``, with
    the reader polling during the run and ``idle_s`` seconds after it."""
    base = workdir / f"{catalog}-{steps}"
    data_dir = base / "data"
    for part in ("landing", "demo"):
        shutil.copytree(template / part, data_dir / part)
    home = base / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with _pg_database(catalog) as database:
        env = _env(data_dir, home, catalog, database)
        stop, reads, result = base / "stop", base / "reads.jsonl", base / "result.json"
        reader = subprocess.Popen(
            [sys.executable, "-m", "bench.lake_bench", "--worker-reader", str(data_dir)]
            + [str(reads), str(stop)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
        )
        log = base / "run.log"
        load_before = os.getloadavg()[0]
        started_at, started = time.time(), time.perf_counter()
        with log.open("w") as sink:
            rc = subprocess.run(
                [sys.executable, "-m", "bench.lake_bench", "--worker-run", str(data_dir)]
                + [steps, str(result)],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            ).returncode
        process_seconds = time.perf_counter() - started
        ended_at = time.time()
        load_after = os.getloadavg()[0]
        time.sleep(idle_s)
        stop.touch()
        reader.wait(timeout=120)
        facts = _lake_facts(env, data_dir) if rc == 0 else {}
    run = json.loads(result.read_text()) if result.exists() else {"seconds": None}
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{catalog}/{steps}: the main job failed (exit {rc}):\n{tail}")
    records = [json.loads(line) for line in reads.read_text().splitlines()]
    during = [r for r in records if started_at <= r["t"] <= ended_at]
    idle = [r for r in records if r["t"] > ended_at + 1.0]
    return {
        "catalog": catalog,
        "steps": steps,
        "seconds": run["seconds"],
        "process_seconds": round(process_seconds, 2),
        # 1-minute load average of the machine before and after the run (others' work too)
        "load_average": [round(load_before, 1), round(load_after, 1)],
        **facts,
        "reads_during": {
            "reads": len(during),
            "missing_table": sum(r["status"] == "missing" for r in during),
            "errors": sum(r["status"].startswith("error") for r in during),
            **_percentiles([r["latency"] for r in during if r["status"] == "ok"]),
        },
        "reads_idle": {
            "reads": len(idle),
            "errors": sum(r["status"].startswith("error") for r in idle),
            **_percentiles([r["latency"] for r in idle if r["status"] == "ok"]),
        },
        "first_error": next(
            (r["status"] for r in records if r["status"].startswith("error")), None
        ),
    }


def run_benchmark(scale: float, seed: int, catalogs: list[str], idle_s: float) -> dict:
    """Generate the world, measure every catalog × (parallel, serial), return the report."""
    from traceloom_pipelines.cli import install_public_samples
    from traceloom_pipelines.demo import generate_world

    results = []
    with tempfile.TemporaryDirectory(prefix="traceloom-lake-bench-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template"
        generate_world(
            template / "landing", template / "demo" / "answer_key.json", seed=seed, scale=scale
        )
        install_public_samples(template)
        files = [p for p in (template / "landing").rglob("*") if p.is_file()]
        world = {"files": len(files), "mib": round(sum(p.stat().st_size for p in files) / 2**20, 1)}
        for catalog in catalogs:
            for steps in ("parallel", "serial"):
                r = measure(template, workdir, catalog, steps, idle_s)
                results.append(r)
                d, i = r["reads_during"], r["reads_idle"]
                print(
                    f"{catalog}/{steps}: {r['seconds']}s, {r.get('snapshots')} snapshots; reads "
                    f"during p50 {d['p50_ms']} ms p99 {d['p99_ms']} ms ({d['reads']} reads, "
                    f"{d['errors']} errors), idle p50 {i['p50_ms']} ms p99 {i['p99_ms']} ms",
                    flush=True,
                )
    speedups = {}
    for catalog in catalogs:
        by = {r["steps"]: r for r in results if r["catalog"] == catalog}
        speedups[catalog] = round(by["serial"]["seconds"] / by["parallel"]["seconds"], 2)
    return {
        "benchmark": "lake_main_job_and_readers",
        "scale": scale,
        "seed": seed,
        "world": world,
        "run_days": int(os.environ.get("TRACELOOM_RUN_DAYS", "31")),
        "cpus": os.cpu_count(),
        "reader_query": READER_QUERY,
        "read_interval_s": READ_INTERVAL_S,
        "idle_s": idle_s,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": results,
        "speedup_serial_over_parallel": speedups,
    }


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _markdown(report: dict) -> str:
    world = report["world"]
    lines = [
        f"# Lake benchmark ({report['measured_at']})",
        "",
        f"Main job on one demo world (scale {report['scale']}, seed {report['seed']}: "
        f"{world['files']} files, {world['mib']} MiB; {report['run_days']} daily-mart days), "
        f"each run in a fresh process, instance and lake; {report['cpus']} CPUs. Reader: "
        f"`{report['reader_query']}` every {report['read_interval_s']} s on one open "
        f"connection, during the run and for {report['idle_s']:.0f} s after it (idle).",
        "",
        "| catalog | steps | wall s | serial/parallel | snapshots | "
        "reads during (no table yet, errors) | during p50 ms | during p99 ms | idle p50 ms | "
        "idle p99 ms | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        d, i = r["reads_during"], r["reads_idle"]
        ratio = report["speedup_serial_over_parallel"][r["catalog"]]
        lines.append(
            f"| {r['catalog']} | {r['steps']} | {r['seconds']} | "
            f"{ratio if r['steps'] == 'parallel' else ''} | {r.get('snapshots', '–')} | "
            f"{d['reads']} ({d['missing_table']}, {d['errors']}) | {_ms(d['p50_ms'])} | "
            f"{_ms(d['p99_ms'])} | "
            f"{_ms(i['p50_ms'])} | {_ms(i['p99_ms'])} | "
            f"{'/'.join(str(x) for x in r.get('load_average', [])) or '–'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--catalogs", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument("--idle-s", type=float, default=20.0, help="reader seconds after a run")
    parser.add_argument("--worker-run", nargs=3, metavar=("DATA_DIR", "STEPS", "RESULT"))
    parser.add_argument("--worker-reader", nargs=3, metavar=("DATA_DIR", "OUT", "STOP"))
    args = parser.parse_args()
    if args.worker_run:
        data_dir, steps, result = args.worker_run
        return _worker_run(Path(data_dir), steps == "serial", Path(result))
    if args.worker_reader:
        data_dir, out, stop = args.worker_reader
        return _worker_reader(Path(data_dir), Path(out), Path(stop))
    report = run_benchmark(args.scale, args.seed, args.catalogs, args.idle_s)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"lake_{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    write_latest_section("lake", _markdown(report))
    print(f"speedup serial/parallel: {report['speedup_serial_over_parallel']}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
