"""The traceloom console script.

traceloom demo generate    write the deterministic demo world into the landing folders
traceloom demo serve       serve the demo world as the HR, WMS, ERP and DCSA APIs (loopback)
traceloom run              (generate the demo world if absent, then) run the main job
traceloom run --no-demo    run the main job on whatever is in the landing folders
traceloom run --all        run the whole main job, not only what is new
traceloom run --select S   only the main job's assets Dagster selection S picks (e.g. 'key:"raw/*"')
traceloom sql "<query>"    read-only SQL on the lake (--format table|csv|json)
traceloom dbt <args>       dbt on the data directory's lake, as a run invokes it (e.g. build -s m)
traceloom summary          print the warehouse summary
traceloom contracts        print every source entity's contract as Markdown
traceloom gateway          run the push gateway in the foreground
traceloom review-desk      serve the review desk (dead letters, quarantine) in the foreground
traceloom review-desk --hash-password   a password hash for $TRACELOOM_REVIEW_DESK_USERS (stdin)
traceloom mqtt-bridge      MES and sensor messages from an MQTT broker into drop files
traceloom demo mqtt-publish  replay the demo world's MES streams and sensor readings to MQTT
traceloom opcua-bridge     machine status from an OPC-UA server into drop files (foreground)
traceloom demo opcua-serve   serve the demo world's machines as OPC-UA status nodes
"""

import argparse
import fcntl
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from traceloom_pipelines.resources import DATA_DIR_ENV, PROJECT_ROOT, default_data_dir


def _scale(text: str) -> float:
    """``--scale``: a positive number (1.0 ≈ 10k POs; see ``generate_world``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def _seed(text: str) -> int:
    """``--seed``: a whole number, 0 or more.

    Raises:
        argparse.ArgumentTypeError: not a whole number, or negative.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def writable_data_dir(data_dir: Path, what: str = "data directory") -> str | None:
    """Why ``data_dir`` cannot hold the landing folders and the lake (created if missing), or
    None when it can. A file is created and removed in it to be sure (``os.access`` says yes
    to root on any directory). ``what`` names the directory in the message."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the {what} {data_dir}: {error.strerror or error}"
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        return f"the {what} {data_dir} is not writable: {error.strerror or error}"
    return None


def review_desk(data_dir: Path, args: argparse.Namespace) -> int:
    """``traceloom review-desk``: serve the desk, or (``--hash-password``) print the scrypt hash
    of the password on standard input (one line; never echoed). Returns the exit code."""
    if args.hash_password:
        from traceloom_pipelines.review_desk.auth import hash_password

        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("traceloom review-desk: no password on standard input", file=sys.stderr)
            return 2
        print(hash_password(password))
        return 0
    from traceloom_pipelines.review_desk.app import serve

    problem = writable_data_dir(data_dir)
    try:
        if problem:
            raise ValueError(problem)
        serve(data_dir, host=args.host, port=args.port)
    except ValueError as error:
        print(f"traceloom review-desk: {error}", file=sys.stderr)
        return 2
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    data_dir = Path(args.data_dir).resolve() if args.data_dir else default_data_dir()
    os.environ[DATA_DIR_ENV] = str(data_dir)  # definitions and dbt read it
    return data_dir


def install_public_samples(data_dir: Path) -> list[Path]:
    """Copy the shipped public port samples (``data/samples``) into ``landing/public/``."""
    from traceloom_pipelines.sources.port.connector import install_port_samples

    return install_port_samples(PROJECT_ROOT / "data" / "samples" / "port", data_dir / "landing")


def generate(data_dir: Path, seed: int, scale: float, force: bool = False) -> None:
    """Write the demo world and its answer key (``<data_dir>/demo/answer_key.json``), with a
    progress bar on stderr when it is a terminal, else one line per stage (see console.py)."""
    from traceloom_pipelines.console import PhaseProgress
    from traceloom_pipelines.demo import generate_world

    landing = data_dir / "landing"
    if force:
        shutil.rmtree(landing, ignore_errors=True)
        shutil.rmtree(data_dir / "lake", ignore_errors=True)
    started = time.monotonic()
    print(f"generating the demo world (seed {seed}, scale {scale}) into {landing} ...", flush=True)
    with PhaseProgress("demo world") as progress:
        key = generate_world(
            landing,
            data_dir / "demo" / "answer_key.json",
            seed=seed,
            scale=scale,
            progress=progress,
        )
    print(
        f"demo world: seed {seed}, scale {scale}, tenants {', '.join(key['tenants'])} "
        f"written to {landing} in {time.monotonic() - started:.1f}s"
    )


def serve_demo(data_dir: Path, args: argparse.Namespace) -> int:
    """Serve ``<data_dir>/landing`` as the HR and WMS APIs until interrupted."""
    from dataclasses import fields

    from traceloom_pipelines.demo.odata_service import demo_routes as erp_odata_routes
    from traceloom_pipelines.demo.serve import Faults, serve

    faults = Faults()
    faults.update(
        {
            f.name: getattr(args, f.name)
            for f in fields(Faults)
            if getattr(args, f.name, None) is not None
        }
    )
    server = serve(
        data_dir / "landing",
        args.host,
        args.port,
        require_token=args.require_token,
        client_id=os.environ.get("TRACELOOM_DEMO_CLIENT_ID", ""),
        client_secret=os.environ.get("TRACELOOM_DEMO_CLIENT_SECRET", ""),
        faults=faults,
        extra_routes=erp_odata_routes(data_dir / "landing", require_token=args.require_token),
    )
    tenants = ", ".join(sorted(server.world)) or "none (generate a demo world first)"
    print(f"serving {data_dir / 'landing'} at {server.url} for tenants {tenants}")
    print(f"  HR:  {server.url}/{{tenant}}/hr/api/v1   WMS: {server.url}/{{tenant}}/wms/api/v1")
    print(f"  ERP OData: {server.url}/{{tenant}}/erp (service sap/opu/odata/sap/…_PROCESS_SRV)")
    print(f"  DCSA Track & Trace: {server.url}/{{tenant}}/v2/events")
    print(f"  faults: {server.url}/_faults   token: POST {server.url}/oauth/token")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def mqtt_publish(data_dir: Path, args: argparse.Namespace) -> int:
    """Replay the demo world's MES streams and sensor readings to the broker (``traceloom demo
    mqtt-publish``)."""
    import random
    from itertools import chain

    from traceloom_pipelines.demo.mqtt_publish import (
        publish,
        tenants_with_streams,
        with_defects,
        world_messages,
    )

    landing = data_dir / "landing"
    tenants = [args.tenant] if args.tenant else tenants_with_streams(landing)
    if not tenants or (args.no_tenant_prefix and len(tenants) != 1):
        print(
            "traceloom demo mqtt-publish: "
            + (
                "no MES streams or sensor readings under " + str(landing)
                if not tenants
                else "name one --tenant"
            ),
            file=sys.stderr,
        )
        return 2
    streams = chain.from_iterable(
        world_messages(landing, t, args.topic_root, tenant_prefix=not args.no_tenant_prefix)
        for t in tenants
    )
    try:
        counts = publish(
            with_defects(streams, args.defect_rate, random.Random(args.seed)),
            rate=args.rate,
            count=args.count,
        )
    except (OSError, ValueError, RuntimeError) as error:
        print(f"traceloom demo mqtt-publish: {error}", file=sys.stderr)
        return 1
    print(", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "nothing published")
    return 0


def run_main_job(
    data_dir: Path, serial: bool = False, everything: bool = False, select: str | None = None
) -> bool:
    """Materialize what is new in one run of the main job on the instance in ``$DAGSTER_HOME``
    (:mod:`traceloom_pipelines.run_plan`: the sources with new drop files or a pull, assets
    never materialized or whose code changed, and everything downstream of them; the daily
    marts for the last ``$TRACELOOM_RUN_DAYS`` days) with the definitions' executor (steps side
    by side in child processes; ``serial``: one after the other in this process); print the
    summary. ``everything``: the whole job. ``select``: a Dagster asset selection string; only
    the main job's assets it picks are considered (see :func:`main_job_selection`). Nothing new:
    no run (the summary still prints).
    Runs of earlier ``traceloom run`` processes that died are marked failed first.

    Progress goes to stderr. On a terminal: a bar (steps finished of the plan, the steps
    running), while the run's own output (Dagster's log, dbt's) goes to
    ``<data_dir>/logs/run_<UTC time>.log``, named at the end. Elsewhere (CI, a pipe): that
    output as it comes, plus one line per finished step.

    Returns:
        Whether the run succeeded.

    Raises:
        ValueError: ``select`` is not a valid selection or picks none of the main job's assets.
    """
    from contextlib import ExitStack
    from datetime import UTC, datetime, timedelta

    import dagster as dg

    from traceloom_pipelines.console import (
        PhaseProgress,
        RunWatcher,
        StepProgress,
        output_to_file,
        stderr_is_terminal,
    )
    from traceloom_pipelines.definitions import defs, main_job_def
    from traceloom_pipelines.jobs import main_job
    from traceloom_pipelines.partitions import main_run_tags
    from traceloom_pipelines.run_hygiene import fail_orphaned_local_runs, local_run_tags
    from traceloom_pipelines.run_plan import plan_run
    from traceloom_pipelines.summary import collect_summary, format_summary

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    terminal = stderr_is_terminal()
    log_path = data_dir / "logs" / f"run_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    # Two first `traceloom run`s on a new DAGSTER_HOME would both create the instance's SQLite
    # tables ("table snapshots already exists"): the first creates them, the other waits.
    with open(Path(os.environ["DAGSTER_HOME"]) / ".instance.lock", "a+") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        instance_cm = dg.DagsterInstance.get()
        fcntl.flock(guard, fcntl.LOCK_UN)
    with instance_cm as instance:
        for run_id in fail_orphaned_local_runs(instance):
            print(f"run {run_id}: its process is gone; marked failed")
        job_selection = main_job_selection(defs, main_job.selection, select)
        plan = None if everything else plan_run(instance, defs, job_selection, data_dir)
        if plan is not None:
            print(f"run plan: {plan.describe()}", file=sys.stderr)
        graph = defs.resolve_asset_graph()
        selection = plan.selection if plan is not None else job_selection.resolve(graph)
        run_config.update(execution_run_config(defs, selection, serial))
        if plan is not None and not plan.selection:
            print(format_summary(collect_summary(data_dir)))
            print(
                f"\nnothing new since the last run: no run launched in "
                f"{time.monotonic() - started:.0f}s (traceloom run --all runs the whole job)"
            )
            return True
        with ExitStack() as stack:
            # On a terminal the steps' and dbt's output would tear the bar: it goes to the log.
            bar_stream = stack.enter_context(output_to_file(log_path)) if terminal else None
            show = stack.enter_context(
                PhaseProgress("main job", terminal=terminal, stream=bar_stream)
            )

            def on_update(steps: StepProgress) -> None:
                show(steps.label(), steps.done, steps.total, plain=steps.last)

            stack.enter_context(
                RunWatcher(
                    instance, local_run_tags(), datetime.now(UTC) - timedelta(seconds=1), on_update
                )
            )
            with dg.execute_job(
                dg.reconstructable(main_job_def),
                instance=instance,
                raise_on_error=False,
                run_config=run_config,
                tags={**main_run_tags(), **local_run_tags()},
                asset_selection=sorted(selection),
            ) as result:
                success, run_id = result.success, result.run_id
    elapsed = time.monotonic() - started
    print(format_summary(collect_summary(data_dir)))
    status = "succeeded" if success else "FAILED"
    print(f"\nrun {run_id} {status} in {elapsed:.0f}s (make dev shows it in the Dagster UI)")
    if terminal:
        print(f"the run's Dagster and dbt output: {log_path}")
    return success


# A run of at most this many steps executes them one after another in its own process (a delta:
# a source's landing, the dbt steps it reaches, the export); a bigger one side by side in
# forkserver children (traceloom_pipelines/executors.py).
IN_PROCESS_MAX_STEPS = 8


def execution_run_config(defs, selection, serial: bool = False) -> dict:
    """The run config's ``execution`` for a main-job run of ``selection`` (asset keys) with the
    multiprocess lake executor: in the run's own process when the run has at most
    ``IN_PROCESS_MAX_STEPS`` steps (assets definitions) or ``serial`` is asked for, else the
    default (steps side by side). Other executors (Celery) keep their own: ``{}``."""
    from traceloom_pipelines.executors import in_process_run_config

    graph = defs.resolve_asset_graph()
    steps = {id(graph.get(key).assets_def) for key in selection}
    return in_process_run_config() if serial or len(steps) <= IN_PROCESS_MAX_STEPS else {}


def main_job_selection(defs, job_selection, select: str | None):
    """The main job's assets (``job_selection``) that the Dagster selection string ``select``
    picks (all of them when ``select`` is None), as an ``AssetSelection``.

    Raises:
        ValueError: ``select`` does not parse, or picks none of the job's assets.
    """
    import dagster as dg

    if select is None:
        return job_selection
    try:
        chosen = job_selection & dg.AssetSelection.from_string(select)
        keys = chosen.resolve(defs.resolve_asset_graph())
    except Exception as error:  # Dagster raises several kinds for a bad selection string
        raise ValueError(f"--select {select!r}: {error}") from error
    if not keys:
        raise ValueError(f"--select {select!r} picks none of the main job's assets")
    return dg.AssetSelection.assets(*keys)


def write_contracts(write_readme: bool) -> int:
    """Print the contract section, or splice it into README.md between its markers."""
    from traceloom_pipelines.sources.catalog import README_END, README_START, contract_markdown

    section = contract_markdown()
    if not write_readme:
        print(section)
        return 0
    readme = PROJECT_ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{section}\n{README_END}{tail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="traceloom", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", help=f"data directory (default ${DATA_DIR_ENV} or ./data)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the demo world").add_subparsers(
        dest="demo_command", required=True
    )
    gen = demo.add_parser("generate", help="write the demo world into the landing folders")
    gen.add_argument("--seed", type=_seed, default=7, help="random seed, 0 or more (default 7)")
    gen.add_argument("--scale", type=_scale, default=1.0, help="world size, > 0 (default 1)")
    gen.add_argument("--force", action="store_true", help="replace an existing landing folder")
    srv = demo.add_parser(
        "serve",
        help="serve the demo world in <data-dir>/landing as the HR and WMS APIs (loopback)",
        description="Routes, fault switches and the /_faults admin endpoint: "
        "traceloom_pipelines/demo/serve.py.",
    )
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8765)
    srv.add_argument(
        "--require-token",
        action="store_true",
        help="API routes need a bearer token from POST /oauth/token; the accepted client id "
        "and secret are read from $TRACELOOM_DEMO_CLIENT_ID / $TRACELOOM_DEMO_CLIENT_SECRET",
    )
    pub = demo.add_parser(
        "mqtt-publish",
        help="replay the demo world's MES streams and sensor readings to the MQTT broker "
        "($TRACELOOM_MQTT_URL)",
        description="Publishes production counts, inspections, downtime events and machine "
        "status of <data-dir>/landing at QoS 1 on [<root>/][<tenant>/]mes/<stream>/<line>/"
        "machine/<id>/<leaf>, and sensor readings on [<root>/][<tenant>/]devices/<device>/"
        "sensors/<sensor>/data. Stream defects (redeliveries, out-of-order timestamps, malformed "
        "payloads, unknown machines) are ON by default at --defect-rate 0.02; --defect-rate 0 "
        "publishes the world clean. See traceloom_pipelines/demo/mqtt_publish.py.",
    )
    pub.add_argument("--rate", type=_scale, default=100.0, help="messages per second (100)")
    pub.add_argument("--tenant", help="replay this tenant only (default: every tenant)")
    pub.add_argument("--count", type=int, help="stop after N messages (default: all)")
    pub.add_argument("--topic-root", default="", help="topic levels before the tenant / mes")
    pub.add_argument(
        "--no-tenant-prefix",
        action="store_true",
        help="publish on mes/... without the tenant level (a bridge with $TRACELOOM_MQTT_TENANT)",
    )
    pub.add_argument(
        "--defect-rate",
        type=float,
        default=0.02,
        help="share of defective messages (0.02; 0: none)",
    )
    pub.add_argument("--seed", type=int, default=7, help="random seed of the defects")
    opc = demo.add_parser(
        "opcua-serve",
        help="serve the demo world's machines as OPC-UA MES.Machines.<id>.Status nodes",
        description="See traceloom_pipelines/demo/opcua_server.py.",
    )
    opc.add_argument("--host", default="127.0.0.1")
    opc.add_argument("--port", type=int, default=4840)
    opc.add_argument("--interval", type=_scale, default=30.0, help="seconds between updates")
    opc.add_argument("--tenant", help="whose machines (default: the only tenant with any)")
    opc.add_argument("--seed", type=int, default=7, help="random seed of the status walk")
    for name, kind, text in (
        ("after", int, "answer this many API requests normally before any fault"),
        ("fail-500", int, "answer the next N API requests with 500"),
        ("rate-limit", int, "answer the next N API requests with 429"),
        ("retry-after", int, "Retry-After seconds sent with the 429s"),
        ("slow", int, "delay the next N API answers by --slow-s seconds"),
        ("slow-s", float, "delay of a slow answer, seconds"),
        ("malformed", int, "answer the next N API requests with a truncated JSON body"),
        ("client-error", int, "answer the next N API requests with --client-error-status"),
        ("client-error-status", int, "status of the injected client errors (400, 404)"),
        ("expire-token-after", int, "revoke every issued token after N API answers"),
        (
            "dcsa-next-page-header",
            int,
            "DCSA next page: 0 Next-Page-Cursor, 1 relative Next-Page link, 2 absolute link",
        ),
        ("dcsa-page-size", int, "DCSA pages hold at most N events, whatever limit asks"),
        ("dcsa-repeat-next-page", int, "1: DCSA pages read by cursor name themselves as next"),
        ("dcsa-carrier-spelling", int, "1: DCSA events spelled eventId, unLocationCode, Laden"),
    ):
        srv.add_argument(f"--{name}", type=kind, help=text)

    run_cmd = sub.add_parser("run", help="run the main job")
    run_cmd.add_argument(
        "--no-demo",
        action="store_true",
        help="do not generate anything: land only what is in the landing folder",
    )
    run_cmd.add_argument(
        "--all",
        action="store_true",
        dest="everything",
        help="run the whole main job, not only the sources with new files and what they reach",
    )
    run_cmd.add_argument(
        "--select",
        metavar="SELECTION",
        help="only the main job's assets this Dagster asset selection picks (with --all: all of "
        "them, else those of them that are due), e.g. 'key:\"raw/*\"' lands every source and "
        "builds nothing, '+key:\"marts/fct_work_orders\"' one mart and what it reads",
    )
    run_cmd.add_argument("--seed", type=_seed, default=7, help="random seed, 0 or more (default 7)")
    run_cmd.add_argument("--scale", type=_scale, default=1.0, help="world size, > 0 (default 1)")

    sql = sub.add_parser(
        "sql",
        help="run a read-only SQL query on the lake and print the result",
        description="Reads the latest committed lake snapshot (never blocks a run, never sees a "
        "half-written one). Tables: raw.*, audit.*, staging.*, intermediate.*, marts.*. "
        'Example: traceloom sql "select tenant_id, count(*) from marts.fct_work_orders '
        'group by 1"',
    )
    sql.add_argument("query", help="one SQL query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument(
        "--snapshot",
        type=int,
        help="read the lake as it was at this snapshot id (see: select * from lake.snapshots())",
    )

    dbt = sub.add_parser(
        "dbt",
        help="run dbt on the lake as a run does (e.g. traceloom dbt build --select fct_x)",
        description="Every argument goes to dbt (dbt's own help: traceloom dbt build --help). "
        "dbt gets the pipeline's environment for $TRACELOOM_DATA_DIR's lake, writes its target "
        "and logs under <data dir>/dbt/target/, starts from the data directory's saved parse "
        "and waits for a run's dbt step to end.",
        prefix_chars="+",  # every argument, options included, is dbt's
        add_help=False,
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)

    sub.add_parser("summary", help="print rows per mart, quarantine reasons, discrepancies")
    contracts = sub.add_parser("contracts", help="print every source entity's contract (Markdown)")
    contracts.add_argument(
        "--write-readme",
        action="store_true",
        help="replace the generated contract section of README.md",
    )

    gateway = sub.add_parser(
        "gateway",
        help="run the push gateway (clients from $TRACELOOM_GATEWAY_CLIENTS)",
    )
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8787)

    desk = sub.add_parser(
        "review-desk",
        help="serve the review desk of dead letters and quarantined records "
        "(users from $TRACELOOM_REVIEW_DESK_USERS)",
        description="See traceloom_pipelines/review_desk/ and README.md (Review desk).",
    )
    desk.add_argument("--host", default="127.0.0.1")
    desk.add_argument("--port", type=int, default=8790)
    desk.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password from standard input, print its scrypt hash and exit",
    )

    sub.add_parser(
        "mqtt-bridge",
        help="MES and sensor messages from an MQTT broker into drop files "
        "(settings: $TRACELOOM_MQTT_*)",
        description="See traceloom_pipelines/bridges/config.py for the variables and README.md.",
    )
    sub.add_parser(
        "opcua-bridge",
        help="machine status from an OPC-UA server into drop files (settings: $TRACELOOM_OPCUA_*)",
        description="See traceloom_pipelines/bridges/opcua_config.py for the variables and "
        "README.md.",
    )

    args = parser.parse_args(argv)
    data_dir = _data_dir(args)
    if args.command == "demo" and args.demo_command == "serve":
        return serve_demo(data_dir, args)
    if args.command == "demo" and args.demo_command == "mqtt-publish":
        return mqtt_publish(data_dir, args)
    if args.command == "demo" and args.demo_command == "opcua-serve":
        from traceloom_pipelines.demo.opcua_server import serve_cli

        return serve_cli(
            data_dir / "landing", args.tenant, args.host, args.port, args.interval, args.seed
        )
    if args.command in ("mqtt-bridge", "opcua-bridge"):
        if args.command == "mqtt-bridge":
            from traceloom_pipelines.bridges.mqtt import run_bridge
        else:
            from traceloom_pipelines.bridges.opcua import run_bridge

        problem = writable_data_dir(data_dir)
        try:
            if problem:
                raise ValueError(problem)
            run_bridge(data_dir)
        except (ValueError, RuntimeError) as error:
            print(f"traceloom {args.command}: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command in ("demo", "run", "gateway"):
        problem = writable_data_dir(data_dir)
        if problem:
            print(
                f"traceloom {args.command}: {problem} (set --data-dir or ${DATA_DIR_ENV})",
                file=sys.stderr,
            )
            return 2
    if args.command == "run":  # before a minute of demo generation, not after it
        home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
        problem = writable_data_dir(home, what="Dagster home")
        if problem:
            print(f"traceloom run: {problem} (set $DAGSTER_HOME)", file=sys.stderr)
            return 2
        if args.select is not None:
            from traceloom_pipelines.definitions import defs
            from traceloom_pipelines.jobs import main_job

            try:
                main_job_selection(defs, main_job.selection, args.select)
            except ValueError as error:
                print(f"traceloom run: {error}", file=sys.stderr)
                return 2
    if args.command == "demo":
        landing = data_dir / "landing"
        if landing.exists() and any(landing.iterdir()) and not args.force:
            print(f"{landing} is not empty; pass --force to replace it", file=sys.stderr)
            return 2
        generate(data_dir, args.seed, args.scale, force=args.force)
        install_public_samples(data_dir)
        return 0
    if args.command == "run":
        if not args.no_demo:
            if not (data_dir / "demo" / "answer_key.json").exists():
                generate(data_dir, args.seed, args.scale)
            install_public_samples(data_dir)
        return 0 if run_main_job(data_dir, everything=args.everything, select=args.select) else 1
    if args.command == "sql":
        import duckdb

        from traceloom_pipelines.sql import run_query

        try:
            run_query(data_dir, args.query, fmt=args.format, snapshot=args.snapshot)
        except (duckdb.Error, FileNotFoundError) as error:
            print(f"traceloom sql: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "dbt":
        from traceloom_pipelines.dbt_targets import run_dbt

        if args.dbt_args in ([], ["-h"], ["--help"]):
            dbt.print_help()
            dbt.exit()
        return run_dbt(data_dir, args.dbt_args).returncode
    if args.command == "contracts":
        return write_contracts(args.write_readme)
    if args.command == "gateway":
        from traceloom_pipelines.gateway.app import serve

        try:
            serve(data_dir, host=args.host, port=args.port)
        except ValueError as error:
            print(f"traceloom gateway: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "review-desk":
        return review_desk(data_dir, args)
    from traceloom_pipelines.summary import collect_summary, format_summary

    print(format_summary(collect_summary(data_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
