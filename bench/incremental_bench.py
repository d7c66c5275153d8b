"""Benchmark: what a run costs when little or nothing is new (issue #11), side by side in one run.

One demo world is generated in a temporary data directory with a fresh Dagster instance. Three
``traceloom run --no-demo`` processes run one after the other on it:

1. ``full``: the first run (everything lands, dbt builds, export and reports);
2. ``no change``: the same again with no new file (the run plan finds nothing due: no run);
3. ``MES delta``: after one new MES production-count file of ``--delta-rows`` records (a minute
   of a busy plant: records of the world's latest file, moved to today 00:00-00:59 UTC) lands.

Then every cadence job (``traceloom_pipelines/cadence.py``: the jobs the schedules launch, which
land their entities; what the new data reaches is the automation sensor's) is executed once, one
after the other, with ``dagster job execute`` on the same instance, after a second MES delta file
(an hour later): launch to success, wall and CPU seconds, against the cadence's period (the time
between two ticks of its cron). The MES every-minute job must finish within its minute.

CPU seconds are the machine's busy CPU time during each run (``/proc/stat``: the run, its step
processes, dbt and everything they start; run it on an otherwise idle machine); wall seconds
from start to exit. Each run's ratio is its CPU over the full run's. The lake's data files are
counted after each run (a no-change run must add none).

Printed and written to ``bench/results/incremental_<UTC timestamp>.json`` and as the
``incremental`` section of ``bench/results/latest.md``.

Issue #11's targets are at scale 1 (the default): no change and MES delta each ≤ 10% of full;
the MES every-minute cadence job done in under 60 s.

Usage: ``python -m bench.incremental_bench [--scale 1] [--seed 7] [--delta-rows 700]
[--run-days 45]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ingest_bench import save_results

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRACELOOM = Path(sys.executable).parent / "traceloom"
DAGSTER = Path(sys.executable).parent / "dagster"


def busy_cpu_seconds() -> float:
    """CPU seconds all cores of the machine spent busy since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def lake_files(data_dir: Path) -> int:
    """Data files of the embedded lake."""
    return sum(1 for p in (data_dir / "lake" / "data").rglob("*") if p.is_file())


def _timed(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Run ``command`` (output appended to ``log``): wall and busy CPU seconds, exit status."""
    cpu, started = busy_cpu_seconds(), time.perf_counter()
    with log.open("ab") as sink:
        rc = subprocess.call(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT
        )
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(busy_cpu_seconds() - cpu, 1),
        "exit": rc,
    }


def timed_run(data_dir: Path, env: dict[str, str], log: Path) -> dict:
    """One ``traceloom run --no-demo``: wall and busy CPU seconds, exit status, lake files."""
    command = [str(TRACELOOM), "--data-dir", str(data_dir), "run", "--no-demo"]
    return {**_timed(command, env, log), "lake_files": lake_files(data_dir)}


def timed_cadence(env: dict[str, str], log: Path, cadence) -> dict:
    """One ``dagster job execute`` of ``cadence``'s job: wall and busy CPU seconds, exit status,
    and the cadence's period in seconds (two consecutive ticks of its cron, UTC)."""
    from dagster._utils.schedules import cron_string_iterator

    ticks = cron_string_iterator(time.time(), cadence.cron, "UTC")
    first, second = next(ticks), next(ticks)
    command = [str(DAGSTER), "job", "execute", "-m", "traceloom_pipelines.definitions"]
    command += ["-j", f"{cadence.name}_job"]
    return {**_timed(command, env, log), "period_s": int((second - first).total_seconds())}


def write_mes_delta(landing: Path, rows: int, today: datetime) -> Path:
    """A new production-count drop file of the first tenant: ``rows`` records of its latest
    file with their timestamps moved to within the first hour of ``today`` (UTC), one per
    ``3600 / rows`` seconds. Returns its path."""
    tenant = sorted(p for p in landing.iterdir() if p.is_dir() and p.name != "public")[0]
    folder = tenant / "mes" / "production_counts"
    latest = sorted(folder.glob("*.jsonl"))[-1]
    records = []
    for line in latest.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "timestamp" in record:
            records.append(record)
        if len(records) == rows:
            break
    step = 3600 / max(len(records), 1)
    for index, record in enumerate(records):
        moment = today + timedelta(seconds=index * step)
        record["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = folder / f"production_counts_delta_{today:%Y%m%d}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def markdown(result: dict) -> str:
    runs = result["runs"]
    full = runs["full"]["cpu_s"] or 1.0
    lines = [
        f"# Incremental runs ({result['at']})",
        "",
        f"`traceloom run --no-demo` three times on one demo world (scale {result['scale']}, seed "
        f"{result['seed']}, {result['files']} drop files, {result['run_days']} daily-mart days), "
        f"{result['cpus']} CPUs; CPU = machine busy CPU seconds during the run.",
        "",
        "| run | wall s | CPU s | CPU vs full | lake data files after | exit |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        lines.append(
            f"| {name} | {run['wall_s']} | {run['cpu_s']} | {run['cpu_s'] / full:.2f} | "
            f"{run['lake_files']} | {run['exit']} |"
        )
    lines += [
        "",
        "Cadence jobs (they land; the `traceloom_automation` sensor refreshes downstream), each "
        "once with `dagster job execute` after a second MES delta; launch to success:",
        "",
        "| cadence job | period s | wall s | CPU s | wall / period | exit |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in result.get("cadences", {}).items():
        lines.append(
            f"| {name}_job | {run['period_s']} | {run['wall_s']} | {run['cpu_s']} | "
            f"{run['wall_s'] / run['period_s']:.3f} | {run['exit']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--delta-rows", type=int, default=700)
    parser.add_argument("--run-days", type=int, default=45)
    args = parser.parse_args(argv)

    from traceloom_pipelines.cli import install_public_samples
    from traceloom_pipelines.demo import generate_world

    work = Path(tempfile.mkdtemp(prefix="traceloom-incremental-"))
    try:
        data_dir, home = work / "data", work / "dagster_home"
        home.mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        generate_world(
            data_dir / "landing",
            data_dir / "demo" / "answer_key.json",
            seed=args.seed,
            scale=args.scale,
            as_of=today,
        )
        install_public_samples(data_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELOOM_LAKE_")}
        env.update(
            DAGSTER_HOME=str(home),
            TRACELOOM_DATA_DIR=str(data_dir),
            TRACELOOM_RUN_DAYS=str(args.run_days),
            PATH=f"{TRACELOOM.parent}{os.pathsep}{env.get('PATH', '')}",
        )
        files = sum(1 for p in (data_dir / "landing").rglob("*") if p.is_file())
        log = work / "runs.log"
        runs = {"full": timed_run(data_dir, env, log)}
        runs["no change"] = timed_run(data_dir, env, log)
        write_mes_delta(data_dir / "landing", args.delta_rows, today)
        runs[f"MES delta ({args.delta_rows} records)"] = timed_run(data_dir, env, log)
        write_mes_delta(data_dir / "landing", args.delta_rows, today + timedelta(hours=1))
        from traceloom_pipelines.cadence import CADENCES

        cadences = {c.name: timed_cadence(env, log, c) for c in CADENCES}
        result = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": args.scale,
            "seed": args.seed,
            "files": files,
            "run_days": args.run_days,
            "cpus": os.cpu_count(),
            "runs": runs,
            "cadences": cadences,
        }
        if any(run["exit"] for run in [*runs.values(), *cadences.values()]):
            print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    save_results("incremental", result, markdown(result))
    failed = any(run["exit"] for run in [*runs.values(), *result["cadences"].values()])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
