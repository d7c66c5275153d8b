"""``traceloom demo opcua-serve``: the demo world's machines on an OPC-UA server (003 §4.2.1).

An asyncua server (no security, anonymous) whose address space holds, for every machine of one
tenant's registry (``landing/<tenant>/mes/machines/*.json``, as the demo generator writes it)::

    Objects/MES/Machines/<machine id>/Status          object   ns=2;s=MES.Machines.<id>.Status
        CurrentStatus            String     "Running" | "Idle" | "Stopped" | "Faulted"
        UtilizationPercentage    Double     percent
        CurrentWorkOrderId       String     "" when the machine has no job
        UnitsProducedThisCycle   UInt32
        CycleTimeSeconds         Double     seconds
        DowntimeSeconds          Double     seconds since the machine stopped
        LastUpdateTimestamp      DateTime   UTC

(variable node ids ``ns=2;s=MES.Machines.<id>.Status.<field>``). Every ``--interval`` seconds
(the seed's 30 s by default) each machine takes a step of a random walk between the statuses and
all its variables are written at once, ``LastUpdateTimestamp`` = now. Work order ids are the
machine's jobs in the world's MES work orders (``mes/work_orders``), if there are any.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Server, ua

from traceloom_pipelines.demo.mqtt_publish import machine_lines

log = logging.getLogger("traceloom.demo.opcua")

NAMESPACE = "urn:traceloom:demo:mes"
# status → (next status, weight) of the random walk
_WALK = {
    "Running": (("Running", 85), ("Idle", 7), ("Stopped", 5), ("Faulted", 3)),
    "Idle": (("Running", 60), ("Idle", 35), ("Stopped", 5)),
    "Stopped": (("Running", 50), ("Stopped", 50)),
    "Faulted": (("Running", 40), ("Faulted", 60)),
}
_TYPES = {
    "CurrentStatus": ua.VariantType.String,
    "UtilizationPercentage": ua.VariantType.Double,
    "CurrentWorkOrderId": ua.VariantType.String,
    "UnitsProducedThisCycle": ua.VariantType.UInt32,
    "CycleTimeSeconds": ua.VariantType.Double,
    "DowntimeSeconds": ua.VariantType.Double,
    "LastUpdateTimestamp": ua.VariantType.DateTime,
}


def tenants_with_machines(landing: Path) -> list[str]:
    """Tenants under ``landing`` with a machine registry (``<tenant>/mes/machines/*.json``)."""
    if not landing.is_dir():
        return []
    return sorted(p.name for p in landing.iterdir() if any(p.glob("mes/machines/*.json")))


def machine_jobs(landing: Path, tenant: str) -> dict[str, list[str]]:
    """``machine id → JobNumbers`` of the tenant's MES work orders (``mes/work_orders/*.json``,
    JSON arrays as the demo generator writes them); unreadable files are skipped."""
    jobs: dict[str, list[str]] = {}
    for path in sorted((landing / tenant / "mes" / "work_orders").glob("*.json")):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict) and record.get("MachineId") and record.get("JobNumber"):
                known = jobs.setdefault(str(record["MachineId"]), [])
                if str(record["JobNumber"]) not in known:
                    known.append(str(record["JobNumber"]))
    return jobs


@dataclass
class _Machine:
    """One simulated machine: its status and what it is working on."""

    machine_id: str
    jobs: list[str]
    status: str = "Idle"
    job: str = ""
    down_since: datetime | None = None

    def step(self, rng: random.Random, now: datetime) -> dict[str, object]:
        """Take a step of the walk; return the status object's new values."""
        choices, weights = zip(*_WALK[self.status], strict=True)
        self.status = rng.choices(choices, weights)[0]
        if self.status == "Running":
            self.down_since = None
            if not self.job or rng.random() < 0.1:
                self.job = rng.choice(self.jobs) if self.jobs else ""
            utilization = rng.uniform(65, 98)
            units, cycle = rng.randint(1, 20), rng.uniform(30, 60)
        elif self.status == "Idle":
            self.job, self.down_since = "", None
            utilization, units, cycle = rng.uniform(0, 35), 0, 0.0
        else:
            self.down_since = self.down_since or now
            utilization, units, cycle = rng.uniform(0, 40), 0, 0.0
        downtime = (now - self.down_since).total_seconds() if self.down_since else 0.0
        return {
            "CurrentStatus": self.status,
            "UtilizationPercentage": round(utilization, 1),
            "CurrentWorkOrderId": self.job,
            "UnitsProducedThisCycle": units,
            "CycleTimeSeconds": round(cycle, 1),
            "DowntimeSeconds": round(downtime, 1),
            "LastUpdateTimestamp": now,
        }


async def serve_machines(
    landing: Path,
    tenant: str,
    port: int = 4840,
    interval: float = 30.0,
    host: str = "127.0.0.1",
    seed: int = 7,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve ``tenant``'s machines at ``opc.tcp://<host>:<port>/`` until ``stop`` is set (or
    forever), updating every machine every ``interval`` seconds.

    ``on_ready(endpoint, machines)`` is called once the server listens.

    Raises:
        LookupError: the tenant has no machine registry under ``landing``.
        OSError: the port cannot be bound.
    """
    ids = sorted(machine_lines(landing, tenant))
    if not ids:
        raise LookupError(f"no machine registry under {landing / tenant / 'mes' / 'machines'}")
    jobs = machine_jobs(landing, tenant)
    rng = random.Random(seed)
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://{host}:{port}/"
    server.set_endpoint(endpoint)
    server.set_server_name(f"TraceLoom demo MES ({tenant})")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)

    def node_id(name: str) -> ua.NodeId:
        return ua.NodeId(name, idx)

    mes = await server.nodes.objects.add_folder(node_id("MES"), ua.QualifiedName("MES", idx))
    folder = await mes.add_folder(node_id("MES.Machines"), ua.QualifiedName("Machines", idx))
    machines = [_Machine(machine_id, jobs.get(machine_id, [])) for machine_id in ids]
    variables: dict[str, dict[str, ua.NodeId]] = {}
    now = datetime.now(UTC)
    for machine in machines:
        base = f"MES.Machines.{machine.machine_id}"
        parent = await folder.add_object(node_id(base), ua.QualifiedName(machine.machine_id, idx))
        status = await parent.add_object(node_id(f"{base}.Status"), ua.QualifiedName("Status", idx))
        variables[machine.machine_id] = {}
        for name, value in machine.step(rng, now).items():
            variable = await status.add_variable(
                node_id(f"{base}.Status.{name}"),
                ua.QualifiedName(name, idx),
                ua.Variant(value, _TYPES[name]),
            )
            variables[machine.machine_id][name] = variable.nodeid
    stop = stop or asyncio.Event()
    async with server:
        if on_ready is not None:
            on_ready(endpoint, len(machines))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
                break
            now = datetime.now(UTC)
            for machine in machines:
                for name, value in machine.step(rng, now).items():
                    data_value = ua.DataValue(
                        ua.Variant(value, _TYPES[name]), SourceTimestamp=now, ServerTimestamp=now
                    )
                    await server.write_attribute_value(
                        variables[machine.machine_id][name], data_value
                    )


def serve_cli(
    landing: Path, tenant: str | None, host: str, port: int, interval: float, seed: int
) -> int:
    """``traceloom demo opcua-serve``: serve until SIGTERM or SIGINT; 0 when stopped, 2 when
    there is nothing to serve (no registry, several tenants and no ``tenant``), 1 when the port
    cannot be bound. Prints the endpoint once it listens."""
    tenants = [tenant] if tenant else tenants_with_machines(landing)
    if len(tenants) != 1:
        problem = "name one --tenant" if tenants else f"no machine registry under {landing}"
        print(f"traceloom demo opcua-serve: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)

    def ready(endpoint: str, machines: int) -> None:
        print(f"serving {machines} machines of {tenants[0]} at {endpoint}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await serve_machines(landing, tenants[0], port, interval, host, seed, stop, ready)

    try:
        asyncio.run(main())
    except LookupError as error:
        print(f"traceloom demo opcua-serve: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"traceloom demo opcua-serve: {error}", file=sys.stderr)
        return 1
    return 0
