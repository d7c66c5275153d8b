"""Benchmark: the full main job as the world grows (issue #11, "scale curve"), side by side.

For each scale (default 0.5, 1, 2 and 4; seed 7) a demo world is generated in its own temporary
data directory with a fresh Dagster instance, then one ``traceloom run --no-demo`` (the first,
full run: everything lands, dbt builds, export and reports) is measured:

- CPU seconds: the machine's busy CPU time during the run (``/proc/stat``: the run, its step
  processes, dbt and everything they start; run it on an otherwise idle machine);
- wall seconds from start to exit;
- peak memory: the largest sum of the proportional set size (PSS: each shared page divided among
  the processes mapping it, so the forkserver's preloaded pages that its steps share are
  counted once) of the run's process tree (the run, the forkserver, its steps, dbt), sampled
  every 0.2 s (MiB).

Generating the world is not measured. Each scale's CPU is also given as a ratio to scale 1's;
issue #11's target: scale 4 ≤ 4× scale 1 CPU (the run's cost grows no faster than its data).

Printed and written to ``bench/results/scale_<UTC timestamp>.json`` and as the ``scale``
section of ``bench/results/latest.md``.

Usage: ``python -m bench.scale_bench [--scales 0.5 1 2 4] [--seed 7] [--run-days 45]``
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
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.incremental_bench import PROJECT_ROOT, TRACELOOM, busy_cpu_seconds, lake_files
from bench.ingest_bench import save_results

SAMPLE_S = 0.2
MIB = 2**20


def pss_bytes(pid: int) -> int:
    """Proportional set size of process ``pid`` (``/proc/<pid>/smaps_rollup``); 0 when gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_pss(process: psutil.Process) -> int:
    """PSS bytes of ``process`` and all its descendants (those gone meanwhile count 0)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    return sum(pss_bytes(member.pid) for member in members)


def measured_run(data_dir: Path, env: dict[str, str], log: Path) -> dict:
    """One ``traceloom run --no-demo`` on ``data_dir``: ``wall_s``, ``cpu_s`` (machine busy CPU
    seconds), ``peak_pss_mib`` (process tree), ``exit`` and ``lake_files`` after it."""
    command = [str(TRACELOOM), "--data-dir", str(data_dir), "run", "--no-demo"]
    cpu, started, peak = busy_cpu_seconds(), time.perf_counter(), 0
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT
        )
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, tree_pss(watched))
            time.sleep(SAMPLE_S)
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(busy_cpu_seconds() - cpu, 1),
        "peak_pss_mib": round(peak / MIB, 1),
        "exit": proc.returncode,
        "lake_files": lake_files(data_dir),
    }


def one_scale(scale: float, seed: int, run_days: int, work: Path) -> dict:
    """Generate the world of ``scale`` under ``work`` and measure its full main job."""
    from traceloom_pipelines.cli import install_public_samples
    from traceloom_pipelines.demo import generate_world

    data_dir, home = work / "data", work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    generate_world(
        data_dir / "landing", data_dir / "demo" / "answer_key.json", seed=seed, scale=scale
    )
    install_public_samples(data_dir)
    drops = [p for p in (data_dir / "landing").rglob("*") if p.is_file()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELOOM_LAKE_")}
    env.update(
        DAGSTER_HOME=str(home),
        TRACELOOM_DATA_DIR=str(data_dir),
        TRACELOOM_RUN_DAYS=str(run_days),
        PATH=f"{TRACELOOM.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    log = work / "run.log"
    run = measured_run(data_dir, env, log)
    if run["exit"]:
        print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
    return {
        "scale": scale,
        "files": len(drops),
        "mib": round(sum(p.stat().st_size for p in drops) / MIB, 1),
        **run,
    }


def markdown(result: dict) -> str:
    rows = result["scales"]
    base = next((r for r in rows if r["scale"] == 1.0), rows[0])
    lines = [
        f"# Scale curve ({result['at']})",
        "",
        f"The full main job (`traceloom run --no-demo`, first run) on demo worlds of seed "
        f"{result['seed']} at each scale, each in a fresh data directory and instance, one after "
        f"the other; {result['run_days']} daily-mart days, {result['cpus']} CPUs. CPU = machine "
        "busy CPU seconds during the run; peak memory = the largest PSS sum of the run's process "
        "tree (shared pages counted once).",
        "",
        f"| scale | drop files | MiB | wall s | CPU s | CPU vs scale {base['scale']:g} | "
        "peak PSS MiB | exit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scale']:g} | {r['files']} | {r['mib']} | {r['wall_s']} | {r['cpu_s']} | "
            f"{r['cpu_s'] / (base['cpu_s'] or 1.0):.2f} | {r['peak_pss_mib']} | {r['exit']} |"
        )
    top = max(rows, key=lambda r: r["scale"])
    ratio = top["cpu_s"] / (base["cpu_s"] or 1.0)
    allowed = top["scale"] / base["scale"]
    verdict = "PASS" if ratio <= allowed else "FAIL"
    lines += [
        "",
        f"Target: scale {top['scale']:g} ≤ {allowed:g}× scale {base['scale']:g} CPU: "
        f"**{verdict}** ({ratio:.2f}×).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-days", type=int, default=45)
    args = parser.parse_args(argv)

    rows = []
    for scale in args.scales:
        work = Path(tempfile.mkdtemp(prefix=f"traceloom-scale-{scale:g}-"))
        try:
            rows.append(one_scale(scale, args.seed, args.run_days, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
        "run_days": args.run_days,
        "cpus": os.cpu_count(),
        "scales": rows,
    }
    save_results("scale", result, markdown(result))
    return 1 if any(r["exit"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
