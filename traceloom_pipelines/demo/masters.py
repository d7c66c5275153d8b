"""Master data of one tenant's demo world: factories, suppliers, machines, materials, employees.

All draws come from per-purpose ``random.Random`` streams of :class:`TenantWorld`, so adding a
draw in one part never shifts the numbers of another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from traceloom_pipelines.demo.catalog import DEPARTMENTS, Profile
from traceloom_pipelines.demo.clock import DAY, date_of

# Scale-1 sizes of the whole world (all tenants together) and the per-tenant floor.
WORLD_SIZES = {
    "suppliers": (20, 2),
    "factories": (10, 2),
    "purchase_orders": (10_000, 8),
    "work_orders": (20_000, 12),
    "machines": (300, 4),
    "production_events": (1_000_000, 400),
    "employees": (500, 6),
    "materials": (2_000, 12),
}


def tenant_sizes(scale: float, n_tenants: int) -> dict[str, int]:
    """Per-tenant counts: scale-1 total × ``scale`` split evenly, never below the floor."""
    return {
        name: max(floor, round(total * scale / n_tenants))
        for name, (total, floor) in WORLD_SIZES.items()
    }


@dataclass
class Factory:
    code: str
    name: str
    port: str
    plant_no: int  # "Plant 1" in HR locations


@dataclass
class Machine:
    machine_id: str
    factory: Factory
    machine_type: str
    line: str
    ideal: float  # ideal cycle time, seconds per unit
    is_active: bool
    alt_vocabulary: bool  # its PLC reports "Producing"/"Down" instead of "Running"/"Faulted"


@dataclass
class Material:
    material_id: str
    part_number: str
    part_name: str
    category: str
    uom: str
    per_unit: tuple[float, float]
    standard_cost: float
    is_active: bool
    safety_stock: int
    description: str


@dataclass
class Employee:
    employee_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    department: str
    job_title: str
    hire_date: str
    is_active: bool
    plant_no: int
    zone: str
    shift: str
    skills: list[dict]


@dataclass
class TenantWorld:
    """One tenant's world: identity, clock, sizes and master data (filled by the builders)."""

    name: str
    index: int
    seed: int
    profile: Profile
    sizes: dict[str, int]
    as_of: int  # epoch ms, UTC
    machine_offset: int  # machine ids of this tenant start after the previous tenants'
    factories: list[Factory] = field(default_factory=list)
    suppliers: list[str] = field(default_factory=list)
    supplier_factories: dict[str, list[Factory]] = field(default_factory=dict)
    machines: list[Machine] = field(default_factory=list)
    materials: list[Material] = field(default_factory=list)
    employees: list[Employee] = field(default_factory=list)

    @property
    def window_start(self) -> int:
        """Start of the 30-day event history (epoch ms)."""
        return self.as_of - 30 * DAY

    def rng(self, stream: str) -> random.Random:
        """An independent, reproducible random stream for one purpose."""
        return random.Random(f"{self.seed}/{self.name}/{stream}")


def build_masters(world: TenantWorld) -> None:
    """Fill factories, suppliers, machines, materials and employees of ``world``."""
    _factories_and_suppliers(world)
    _machines(world)
    _materials(world)
    _employees(world)


def _factories_and_suppliers(world: TenantWorld) -> None:
    profile = world.profile
    for i in range(world.sizes["factories"]):
        code, name, port = profile.factories[i % len(profile.factories)]
        round_no = i // len(profile.factories)
        if round_no:
            code, name = f"{code}-{round_no + 1}", f"{name} Unit {round_no + 1}"
        world.factories.append(Factory(code, name, port, i + 1))
    for j in range(world.sizes["suppliers"]):
        name = profile.suppliers[j % len(profile.suppliers)]
        round_no = j // len(profile.suppliers)
        world.suppliers.append(f"{name} ({round_no + 1})" if round_no else name)
    n = len(world.factories)
    for j, supplier in enumerate(world.suppliers):
        picks = sorted({j % n, (j + 1) % n})
        world.supplier_factories[supplier] = [world.factories[k] for k in picks]


def _machines(world: TenantWorld) -> None:
    rng = world.rng("machines")
    per_line: dict[tuple[str, str], int] = {}
    for i in range(world.sizes["machines"]):
        factory = world.factories[i % len(world.factories)]
        mtype, prefix, (lo, hi) = world.profile.machine_types[
            rng.randrange(len(world.profile.machine_types))
        ]
        count = per_line.get((factory.code, prefix), 0) + 1
        per_line[(factory.code, prefix)] = count
        world.machines.append(
            Machine(
                machine_id=f"M-{101 + world.machine_offset + i}",
                factory=factory,
                machine_type=mtype,
                line=f"{prefix}-L{(count + 1) // 2}",
                ideal=float(rng.randint(lo, hi)),
                # the first four machines are always active; every fourth one runs the older PLC
                is_active=i < 4 or rng.random() >= 0.04,
                alt_vocabulary=i % 4 == 3,
            )
        )


def _materials(world: TenantWorld) -> None:
    rng = world.rng("materials")
    groups = world.profile.material_groups
    specs = world.profile.colors if world.profile.industry == "apparel" else world.profile.sizes
    base = 1000 + world.index * 5000
    for i in range(world.sizes["materials"]):
        letter, category, uom, per_unit, (clo, chi), names = groups[i % len(groups)]
        name = names[(i // len(groups)) % len(names)]
        spec = specs[(i // (len(groups) * len(names))) % len(specs)]
        part_name = f"{name} - {spec}"
        number = base + i
        safety = rng.randint(2, 40) * (25 if uom == "EA" else 5)
        world.materials.append(
            Material(
                material_id=f"MAT-{letter}-{number}",
                part_number=f"{letter}-{number}",
                part_name=part_name,
                category=category,
                uom=uom,
                per_unit=per_unit,
                standard_cost=round(rng.uniform(clo, chi), 2),
                is_active=i < 12 or rng.random() >= 0.03,
                safety_stock=safety,
                description=f"{category}: {part_name.lower()}",
            )
        )


def _department_pattern() -> list[str]:
    # Deterministic mix that has every department even in a six-person world.
    return [
        "Manufacturing",
        "Quality",
        "Manufacturing",
        "Maintenance",
        "Manufacturing",
        "Warehouse",
        "Manufacturing",
        "Manufacturing",
        "Manufacturing",
        "Manufacturing",
    ]


def _employees(world: TenantWorld) -> None:
    rng = world.rng("employees")
    profile = world.profile
    titles = {name: jobs for name, _, jobs in DEPARTMENTS}
    skill_by_dept = {
        "Quality": [s for s in profile.skills if s[0].startswith("QC")],
        "Warehouse": [s for s in profile.skills if s[0].startswith("FORK")],
        "Maintenance": [s for s in profile.skills if s[0].startswith(("MECH", "PLC", "ELEC"))],
    }
    domain = f"{world.name}.com"
    emails: dict[str, int] = {}
    as_of_year = int(date_of(world.as_of)[:4])
    pattern = _department_pattern()
    for i in range(world.sizes["employees"]):
        dept = pattern[i % len(pattern)]
        first = profile.first_names[rng.randrange(len(profile.first_names))]
        last = profile.last_names[rng.randrange(len(profile.last_names))]
        handle = f"{first}.{last}".lower()
        emails[handle] = emails.get(handle, 0) + 1
        if emails[handle] > 1:
            handle = f"{handle}{emails[handle]}"
        hire_year = rng.randint(as_of_year - 15, as_of_year - 1)
        hire_date = f"{hire_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        skills = _skills(rng, profile, skill_by_dept.get(dept, []), as_of_year)
        factory = world.factories[i % len(world.factories)]
        world.employees.append(
            Employee(
                employee_id=f"EMP-{hire_year}-{world.index * 5000 + i + 1:04d}",
                first_name=first,
                last_name=last,
                email=f"{handle}@{domain}",
                phone=f"{profile.phone_prefix}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                department=dept,
                job_title=titles[dept][rng.randrange(len(titles[dept]))],
                hire_date=hire_date,
                is_active=i < 6 or rng.random() >= 0.04,
                plant_no=factory.plant_no,
                zone="ABCD"[rng.randrange(4)],
                shift=rng.choices("ABC", weights=(45, 35, 20))[0],
                skills=skills,
            )
        )


def _skills(rng: random.Random, profile: Profile, preferred: list, year: int) -> list[dict]:
    pool = list(profile.skills)
    chosen = [preferred[0]] if preferred else []
    for skill in rng.sample(pool, rng.randint(1, 3)):
        if len(chosen) < 3 and skill not in chosen:
            chosen.append(skill)
    out = []
    for code, name in chosen:
        cert_year = rng.randint(year - 4, year - 1)
        cert = f"{cert_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        expiry = (
            f"{cert_year + rng.randint(2, 4)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
        out.append(
            {
                "skill_code": code,
                "skill_name": name,
                "proficiency_level": rng.randint(1, 5),
                "certification_date": cert,
                "certification_expiry": expiry,
            }
        )
    return out
