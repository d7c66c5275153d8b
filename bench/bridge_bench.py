"""Benchmark: the MQTT bridge, from the broker to drop files to landed rows (issue 14).

One run, on a temporary data directory, against the real Mosquitto at ``--broker`` (default
``mqtt://127.0.0.1:1883``):

1. ``traceloom mqtt-bridge`` (the venv's console script) runs as a subprocess with a unique
   client id and topic root, fixed tenant ``bench``, and its default batching
   (``TRACELOOM_MQTT_BATCH_MESSAGES`` 5000, ``TRACELOOM_MQTT_BATCH_SECONDS`` 2 s unless
   ``--batch-messages`` / ``--batch-seconds`` say otherwise); publishing starts once its health
   file says it is subscribed.
2. ``--publishers`` publisher processes (paho-mqtt, MQTT 3.1.1, in-flight window
   ``--inflight`` messages each, default 100: paho scans its whole window on every PUBACK, so a
   window of thousands makes a publisher slower, not faster) publish ``--messages`` production
   counts in the seed's payload shape (003 §4.2.1: ``machine_id``, ``work_order_id``,
   ``timestamp``, ``units_produced``, ``cumulative_units``, ``quality_status``,
   ``cycle_time_seconds``) at QoS 1, at ``--rate`` in all (see below), on
   ``<root>/mes/production/L1/machine/M-<k>/count``. Two benchmark-only fields, which the
   contract does not read, ride along: ``bench_seq`` (unique per message) and
   ``bench_published_ns`` (UTC wall clock in ns, taken just before ``publish()``).
3. This process polls the drop folder every ``--poll-ms`` ms and records, per drop file, the
   wall-clock time it first saw it under its final name. The bridge writes ``.part``, fsyncs and
   renames, so a file seen under its final name is complete: that moment is when its messages
   became available to the landing. **Latency** of a message = first-seen time of its file −
   its ``bench_published_ns`` (same machine, same clock; an upper bound by at most one poll
   interval). The file's mtime (last write to ``.part``, before fsync and rename; a lower
   bound) is reported beside it as a cross-check.
4. Once every message is in a file, the bridge is stopped (SIGTERM) and the files are landed
   with the landing code itself (:func:`traceloom_pipelines.landing.loader.land_entity` on the
   ``mes/production_counts`` entity, a fresh embedded lake, the machine registry landed first
   and not timed).

Reported: **broker → drop files** msg/s = N / (last file seen − first publish, s);
**drop files → lake** rows/s = rows read / landing seconds; **end to end** msg/s =
N / (broker → drop files seconds + landing seconds), i.e. the two stages one after the other (in
production the drop sensor lands while the bridge writes, so the pipelined rate is the slower
stage's, also shown); the publishers' own rate (N / (last PUBACK − first publish)) tells whether
the publishers rather than the bridge were the limit. Latency p50 / p99 / max in ms. Pass/fail:
end-to-end msg/s ≥ :data:`TARGET_MSG_PER_S` (5,000, issue 14).

Printed and written to ``bench/results/bridge_<UTC timestamp>.json``, ``bench/results/bridge.md``
and as the ``bridge`` section of ``bench/results/latest.md`` (other sections are kept).

Mosquitto drops QoS 1 messages for a client that falls behind, online too, once its in-flight
window and ``max_queued_messages`` (default 1,000) are used up (its log says "Outgoing messages
are being dropped for client …"); messages that never reach a drop file are reported as missing
(the run fails) once no new drop file came for ``--stall`` seconds (30).

The issue's target is a *sustained* rate, so by default the publishers are paced: ``--rate``
7,000 msg/s in all (above the 5,000 target, so the bridge must drain faster than the target for
the whole run) for ``--messages`` 100,000 (about 14 s, so the last batch's age timer, up to
``TRACELOOM_MQTT_BATCH_SECONDS``, is a small part of the measured time). A paced run passes only
with 0 messages missing. ``--rate 0`` publishes as fast as the publishers can (a burst: on this
2-CPU machine ~25,000 msg/s, about 3× what the bridge drains), which measures the bridge's
drain rate but makes Mosquitto drop what exceeds its per-client queue (``max_queued_messages``).

Usage: ``python -m bench.bridge_bench [--messages 100000] [--publishers 2] [--inflight 100]
[--rate 7000]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest_bench import RESULTS_DIR, write_latest_section

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_MSG_PER_S = 5_000
TENANT = "bench"
MACHINES = 10
READY_TIMEOUT_S = 60.0


# -- publishers (each in its own process) -------------------------------------------------------
def _payload(seq: int, machine: str) -> bytes:
    """One production count in the seed's shape plus ``bench_seq`` and ``bench_published_ns``
    (UTC wall clock, ns), taken as late as possible before ``publish()``."""
    now_ns = time.time_ns()
    stamp = datetime.fromtimestamp(now_ns / 1e9, UTC).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "machine_id": machine,
            "work_order_id": f"WO-{4600 + seq % 50}",
            "timestamp": stamp[:-6] + "Z",
            "units_produced": 1,
            "cumulative_units": seq,
            "quality_status": "pass",
            "cycle_time_seconds": 44.8,
            "bench_seq": seq,
            "bench_published_ns": now_ns,
        }
    ).encode()


def _publisher(
    index: int,
    count: int,
    publishers: int,
    root: str,
    host: str,
    port: int,
    inflight: int,
    rate: float,
    start: mp.Event,
    results: mp.Queue,
) -> None:
    """Publish messages ``index, index + publishers, …`` (``count`` of them) at QoS 1 once
    ``start`` is set, at most ``rate`` messages/s (0: as fast as possible); wait for every
    PUBACK (at most 300 s); put ``{"index", "published", "acked", "first_ns",
    "last_publish_ns", "last_puback_ns"}`` (UTC wall clock, ns) on ``results``."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{root}-pub-{index}",
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)  # no limit on paho's own queue beyond the window
    acked = [0, 0]  # count, time of the latest (ns)

    def on_publish(*_args) -> None:
        acked[0] += 1
        acked[1] = time.time_ns()

    client.on_publish = on_publish
    client.connect(host, port, keepalive=60)
    client.loop_start()
    report = {"index": index, "published": 0, "acked": 0}
    try:
        start.wait()
        report["first_ns"] = time.time_ns()
        started = time.monotonic()
        for k in range(count):
            if rate and (ahead := started + k / rate - time.monotonic()) > 0:
                time.sleep(ahead)
            seq = index + k * publishers
            client.publish(
                f"{root}/mes/production/L1/machine/M-{seq % MACHINES + 1}/count",
                _payload(seq, f"M-{seq % MACHINES + 1}"),
                qos=1,
            )
        report["published"] = count
        report["last_publish_ns"] = time.time_ns()
        deadline = time.monotonic() + 300
        while acked[0] < count and time.monotonic() < deadline:
            time.sleep(0.005)
        report["acked"], report["last_puback_ns"] = acked
    finally:
        client.disconnect()
        client.loop_stop()
        results.put(report)


# -- the bridge ---------------------------------------------------------------------------------
def _bridge_command() -> list[str]:
    """The venv's ``traceloom`` console script (``python -m traceloom_pipelines.cli`` if absent)."""
    script = Path(sys.executable).parent / "traceloom"
    return [str(script)] if script.exists() else [sys.executable, "-m", "traceloom_pipelines.cli"]


def _start_bridge(data_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``traceloom mqtt-bridge`` on ``data_dir``; return once its health file says
    subscribed (at most :data:`READY_TIMEOUT_S` s)."""
    from traceloom_pipelines.bridges.health import health_path

    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*_bridge_command(), "--data-dir", str(data_dir), "mqtt-bridge"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bridge exited {process.returncode}: {log.read_text()}")
        try:
            health = json.loads(health_path(data_dir).read_text())
        except (OSError, ValueError):
            health = {}
        if health.get("pid") == process.pid and health.get("subscribed") is True:
            return process
        time.sleep(0.05)
    _stop(process)
    raise RuntimeError(f"the bridge did not subscribe within {READY_TIMEOUT_S:.0f} s: {log}")


def _stop(process: subprocess.Popen) -> int:
    """SIGTERM ``process`` (the bridge writes its open batch and exits 0); SIGKILL after 30 s.
    Returns its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=30)


def _forget_session(host: str, port: int, client_id: str) -> None:
    """Connect as ``client_id`` with clean start and session expiry 0, then disconnect: the
    broker drops the bridge's persistent session (nothing is left behind on it)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(host, port, keepalive=10, clean_start=True, properties=properties)
    client.loop_start()
    time.sleep(0.3)
    client.disconnect()
    client.loop_stop()


# -- measurement --------------------------------------------------------------------------------
def _poll_drops(folder: Path, expected: int, poll_s: float, stall_s: float) -> dict[str, int]:
    """Poll ``folder`` every ``poll_s`` seconds until its ``*.jsonl`` files hold ``expected``
    lines, or no new file came for ``stall_s`` seconds (messages were lost); return
    ``{file name: first-seen UTC wall clock, ns}``."""
    seen: dict[str, int] = {}
    lines = 0
    last_new = time.monotonic()
    while lines < expected and time.monotonic() < last_new + stall_s:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            entries = []
        now = time.time_ns()
        for entry in entries:
            if entry.name.endswith(".jsonl") and entry.name not in seen:
                seen[entry.name] = now
                last_new = time.monotonic()
                with open(entry.path, "rb") as handle:
                    lines += handle.read().count(b"\n")
        if lines < expected:
            time.sleep(poll_s)
    return seen


def _percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _latencies(folder: Path, seen: dict[str, int]) -> dict:
    """Per-message latency from ``bench_published_ns`` to its file's first-seen time and to its
    file's mtime (ms), message counts (distinct, duplicate lines) and the last seen time (ns)."""
    by_seen: list[float] = []
    by_mtime: list[float] = []
    seqs: set[int] = set()
    lines = 0
    for name, seen_ns in seen.items():
        path = folder / name
        mtime_ns = path.stat().st_mtime_ns
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            lines += 1
            record = json.loads(line)
            seqs.add(record["bench_seq"])
            by_seen.append((seen_ns - record["bench_published_ns"]) / 1e6)
            by_mtime.append((mtime_ns - record["bench_published_ns"]) / 1e6)

    def summary(values: list[float]) -> dict:
        if not values:
            return {}
        return {
            "p50_ms": round(statistics.median(values), 1),
            "p99_ms": round(_percentile(values, 0.99), 1),
            "max_ms": round(max(values), 1),
        }

    return {
        "lines": lines,
        "distinct": len(seqs),
        "seen": summary(by_seen),
        "mtime": summary(by_mtime),
        "last_seen_ns": max(seen.values(), default=0),
    }


def _land(data_dir: Path) -> dict:
    """Land the drop files of ``data_dir`` into its (fresh, embedded) lake; time only the
    production counts. Returns counts and seconds."""
    from traceloom_pipelines.landing.loader import land_entity
    from traceloom_pipelines.landing.warehouse import connect
    from traceloom_pipelines.sources.mes.contract import machines, production_counts

    for name in [k for k in os.environ if k.startswith("TRACELOOM_LAKE_")]:
        del os.environ[name]  # the embedded lake of the temporary data directory
    con = connect(data_dir)
    landing = data_dir / "landing"
    land_entity(con, machines, landing)  # reference data for known_machine_id (not timed)
    started = time.perf_counter()
    result = land_entity(con, production_counts, landing)
    seconds = time.perf_counter() - started
    con.close()
    total = result.total
    return {
        "seconds": round(seconds, 3),
        "rows_read": total.rows_read,
        "rows_landed": total.rows_landed,
        "rows_quarantined": total.rows_quarantined,
        "rows_duplicate": total.rows_duplicate,
        "rows_per_second": round(total.rows_read / seconds) if seconds else 0,
    }


def _write_machines(data_dir: Path) -> None:
    """The tenant's machine registry (M-1 … M-:data:`MACHINES`) as a drop file."""
    folder = data_dir / "landing" / TENANT / "mes" / "machines"
    folder.mkdir(parents=True, exist_ok=True)
    registry = [
        {
            "machine_id": f"M-{k}",
            "factory": "FAC-1",
            "line": "L1",
            "machine_type": "sewing",
            "ideal_cycle_time_seconds": 40,
            "is_active": True,
        }
        for k in range(1, MACHINES + 1)
    ]
    (folder / "machines.json").write_text(json.dumps({"machines": registry}))


def run_benchmark(args: argparse.Namespace) -> dict:
    """Start the bridge, publish, poll, land (see the module docstring); return the report."""
    from traceloom_pipelines.bridges.config import parse_broker_url

    host, port, _tls = parse_broker_url(args.broker)
    root = f"tl-bench-{uuid.uuid4().hex[:12]}"
    client_id = f"{root}-bridge"
    n, publishers = args.messages, args.publishers
    env = {
        "TRACELOOM_MQTT_URL": args.broker,
        "TRACELOOM_MQTT_CLIENT_ID": client_id,
        "TRACELOOM_MQTT_TENANT": TENANT,
        "TRACELOOM_MQTT_TOPIC_ROOT": root,
        "TRACELOOM_MQTT_HEALTH_SECONDS": "0.5",
        "TRACELOOM_MQTT_SESSION_EXPIRY_SECONDS": "300",
    }
    if args.batch_messages:
        env["TRACELOOM_MQTT_BATCH_MESSAGES"] = str(args.batch_messages)
    if args.batch_seconds:
        env["TRACELOOM_MQTT_BATCH_SECONDS"] = str(args.batch_seconds)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="traceloom-bench-bridge-") as tmp:
        data_dir = Path(tmp) / "data"
        folder = data_dir / "landing" / TENANT / "mes" / "production_counts"
        _write_machines(data_dir)
        context = mp.get_context("spawn")
        start, results = context.Event(), context.Queue()
        workers = [
            context.Process(
                target=_publisher,
                args=(i, len(range(i, n, publishers)), publishers, root, host, port)
                + (args.inflight, args.rate / publishers, start, results),
            )
            for i in range(publishers)
        ]
        bridge = _start_bridge(data_dir, env, Path(tmp) / "bridge.log")
        try:
            for worker in workers:
                worker.start()
            time.sleep(2.0)  # the publishers import paho and connect
            start.set()
            seen = _poll_drops(folder, n, args.poll_ms / 1000, args.stall)
            reports = [results.get(timeout=330) for _ in workers]
        finally:
            start.set()
            for worker in workers:
                worker.join(timeout=330)
                if worker.is_alive():
                    worker.kill()
                    worker.join()
            bridge_exit = _stop(bridge)
            _forget_session(host, port, client_id)
        load_after = os.getloadavg()[0]
        measured = _latencies(folder, seen)
        landing = _land(data_dir)

    first_ns = min(r["first_ns"] for r in reports)
    to_drop_s = (measured["last_seen_ns"] - first_ns) / 1e9
    publish_s = (max(r["last_puback_ns"] for r in reports) - first_ns) / 1e9
    missing = n - measured["distinct"]
    drop_rate = round(measured["distinct"] / to_drop_s) if to_drop_s > 0 else 0
    end_to_end_s = to_drop_s + landing["seconds"]
    end_to_end = round(landing["rows_landed"] / end_to_end_s) if end_to_end_s > 0 else 0
    complete = missing == 0 and landing["rows_landed"] == n
    return {
        "benchmark": "mqtt_bridge",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "broker": args.broker,
        "messages": n,
        "publishers": publishers,
        "inflight": args.inflight,
        "rate": args.rate,
        "batch_messages": args.batch_messages or 5000,
        "batch_seconds": args.batch_seconds or 2.0,
        "poll_ms": args.poll_ms,
        "published": sum(r["published"] for r in reports),
        "pubacks": sum(r["acked"] for r in reports),
        "publish_seconds": round(publish_s, 3),
        "publish_msg_per_s": round(n / publish_s) if publish_s > 0 else 0,
        "drop_files": len(seen),
        "drop_lines": measured["lines"],
        "missing": missing,
        "to_drop_seconds": round(to_drop_s, 3),
        "to_drop_msg_per_s": drop_rate,
        "latency_seen": measured["seen"],
        "latency_mtime": measured["mtime"],
        "landing": landing,
        "end_to_end_seconds": round(end_to_end_s, 3),
        "end_to_end_msg_per_s": end_to_end,
        "pipelined_msg_per_s": min(drop_rate, landing["rows_per_second"]),
        "bridge_exit": bridge_exit,
        "target_msg_per_s": TARGET_MSG_PER_S,
        "passed": complete and end_to_end >= TARGET_MSG_PER_S,
    }


def _markdown(r: dict) -> str:
    land, seen, mtime = r["landing"], r["latency_seen"], r["latency_mtime"]
    verdict = "**PASS**" if r["passed"] else "**FAIL**"
    return "\n".join(
        [
            f"# MQTT bridge benchmark ({r['measured_at']})",
            "",
            f"{r['messages']:,} production counts (seed payload + `bench_seq`, "
            f"`bench_published_ns`) at QoS 1 from {r['publishers']} publisher processes, "
            + (f"paced at {r['rate']:,.0f} msg/s in all " if r["rate"] else "unpaced ")
            + f"(in-flight window {r['inflight']:,}) through Mosquitto ({r['broker']}) to "
            f"`traceloom mqtt-bridge` (batches of {r['batch_messages']:,} messages or "
            f"{r['batch_seconds']} s), then `land_entity` on a fresh embedded lake; "
            f"{r['cpus']} CPUs, 1-min load average {r['load_before']} before / "
            f"{r['load_after']} after publishing (other processes share the machine). "
            f"Drop folder polled every {r['poll_ms']} ms.",
            "",
            "| stage | messages | seconds | msg/s |",
            "|---|---|---|---|",
            f"| publishers → broker (last PUBACK) | {r['pubacks']:,} | {r['publish_seconds']} | "
            f"{r['publish_msg_per_s']:,} |",
            f"| broker → drop files ({r['drop_files']} files, {r['missing']:,} missing) | "
            f"{r['drop_lines']:,} | {r['to_drop_seconds']} | {r['to_drop_msg_per_s']:,} |",
            f"| drop files → lake (landed {land['rows_landed']:,}, quarantined "
            f"{land['rows_quarantined']:,}, duplicate {land['rows_duplicate']:,}) | "
            f"{land['rows_read']:,} | {land['seconds']} | {land['rows_per_second']:,} |",
            f"| end to end (first publish → landed, stages in turn) | {land['rows_landed']:,} | "
            f"{r['end_to_end_seconds']} | {r['end_to_end_msg_per_s']:,} |",
            f"| pipelined (slower stage) | | | {r['pipelined_msg_per_s']:,} |",
            "",
            "| latency publish → drop file | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|",
            f"| file first seen under its final name (upper bound) | {seen.get('p50_ms')} | "
            f"{seen.get('p99_ms')} | {seen.get('max_ms')} |",
            f"| file mtime, before fsync and rename (lower bound) | {mtime.get('p50_ms')} | "
            f"{mtime.get('p99_ms')} | {mtime.get('max_ms')} |",
            "",
            f"Target ≥ {r['target_msg_per_s']:,} msg/s end to end: {verdict} "
            f"({r['end_to_end_msg_per_s']:,} msg/s"
            + ("" if r["missing"] == 0 else f"; {r['missing']:,} messages missing")
            + ").",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages to publish")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--inflight", type=int, default=100, help="QoS 1 window per publisher")
    parser.add_argument(
        "--rate", type=float, default=7_000, help="msg/s in all (0: unpaced, a burst)"
    )
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--batch-messages", type=int, help="bridge batch size (default 5000)")
    parser.add_argument("--batch-seconds", type=float, help="bridge batch age, s (default 2)")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="drop folder poll interval")
    parser.add_argument(
        "--stall", type=float, default=30.0, help="s without a new drop file: stop waiting"
    )
    args = parser.parse_args()
    report = run_benchmark(args)
    markdown = _markdown(report)
    print(markdown, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"bridge_{stamp}.json").write_text(json.dumps(report, indent=2))
    (RESULTS_DIR / "bridge.md").write_text(markdown + "\n")
    write_latest_section("bridge", markdown)
    print(f"results: {RESULTS_DIR / f'bridge_{stamp}.json'}, {RESULTS_DIR / 'bridge.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
