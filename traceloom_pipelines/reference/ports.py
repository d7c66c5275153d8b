"""The port reference table (dbt seed ``reference.ports``), generated from the UN/LOCODE sea
ports that the ``searoute`` package ships with coordinates — not a hand-typed list.

Regenerate (after upgrading ``searoute`` or editing ``dbt_project/seeds/weather_zones.csv``)::

    .venv/bin/python -m traceloom_pipelines.reference.ports

which rewrites ``dbt_project/seeds/ports.csv``; ``dbt seed`` / ``dbt build`` loads it as
``reference.ports``. A test checks the committed file equals a fresh generation.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path

from traceloom_pipelines.resources import PROJECT_ROOT

SEEDS_DIR = PROJECT_ROOT / "dbt_project" / "seeds"
PORTS_CSV = SEEDS_DIR / "ports.csv"
WEATHER_ZONES_CSV = SEEDS_DIR / "weather_zones.csv"
COLUMNS = (
    "locode",
    "port_name",
    "country_code",
    "country_name",
    "latitude",
    "longitude",
    "weather_zone",
)
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


@dataclass(frozen=True)
class Port:
    """One sea port: UN/LOCODE, name, ISO 3166 country, WGS84 degrees, weather zone."""

    locode: str
    port_name: str
    country_code: str
    country_name: str
    latitude: float
    longitude: float
    weather_zone: str


def load_weather_zones(path: Path = WEATHER_ZONES_CSV) -> dict[str, str]:
    """UN/LOCODE → weather zone from the ``weather_zones`` seed (columns ``locode``,
    ``weather_zone``): ports whose area has its own warning service (``HKHKG`` → ``hk``:
    Hong Kong Observatory warnings).

    Raises:
        ValueError: a row names a malformed UN/LOCODE or an empty zone, or a locode twice.
    """
    zones: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            locode, zone = row["locode"].strip().upper(), row["weather_zone"].strip()
            if not _LOCODE.match(locode) or not zone or locode in zones:
                raise ValueError(f"{path}: bad or repeated weather zone row {row}")
            zones[locode] = zone
    return zones


def searoute_ports(zones: dict[str, str]) -> list[Port]:
    """Every sea port in searoute's ``data/ports.geojson``, one per UN/LOCODE, sorted by locode.

    The package's GeoJSON points carry ``port`` (UN/LOCODE), ``name``, ``cty`` (country name,
    ``_`` for spaces) and ``[longitude, latitude]``. A feature whose code is not a 5-character
    UN/LOCODE is skipped; when a locode appears twice, the feature searoute marks as a traffic
    port (``t`` set) wins, then the first in file order. ``weather_zone`` is the zone from
    ``zones``, else the port's own lower-case locode (its forecasts are taken at its point).
    """
    document = json.loads(resources.files("searoute").joinpath("data/ports.geojson").read_text())
    chosen: dict[str, tuple[bool, Port]] = {}
    for feature in document["features"]:
        props = feature.get("properties") or {}
        locode = str(props.get("port") or "").strip().upper()
        if not _LOCODE.match(locode):
            continue
        longitude, latitude = feature["geometry"]["coordinates"][:2]
        port = Port(
            locode=locode,
            port_name=str(props.get("name") or "").strip(),
            country_code=locode[:2],
            country_name=str(props.get("cty") or "").replace("_", " ").strip(),
            latitude=round(float(latitude), 6),
            longitude=round(float(longitude), 6),
            weather_zone=zones.get(locode, locode.lower()),
        )
        is_traffic = props.get("t") is not None
        if locode not in chosen or (is_traffic and not chosen[locode][0]):
            chosen[locode] = (is_traffic, port)
    return [chosen[code][1] for code in sorted(chosen)]


def ports_csv_text(ports: list[Port]) -> str:
    """The seed file's text: header :data:`COLUMNS`, one row per port, LF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for port in ports:
        writer.writerow([getattr(port, column) for column in COLUMNS])
    return out.getvalue()


def generate_ports_seed(target: Path = PORTS_CSV, zones_path: Path = WEATHER_ZONES_CSV) -> int:
    """Write the ports seed to ``target``; return the number of ports written.

    Raises:
        ValueError: from :func:`load_weather_zones`, or when a zoned locode is not a searoute
            port (a typo in the zones seed would otherwise silently map nothing).
    """
    zones = load_weather_zones(zones_path)
    ports = searoute_ports(zones)
    missing = sorted(set(zones) - {p.locode for p in ports})
    if missing:
        raise ValueError(f"weather zones name ports searoute does not know: {missing}")
    target.write_text(ports_csv_text(ports), encoding="utf-8")
    return len(ports)


def port_coordinates(path: Path = PORTS_CSV) -> dict[str, tuple[float, float]]:
    """UN/LOCODE → (latitude, longitude) in degrees, read from the generated ports seed."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["locode"]: (float(row["latitude"]), float(row["longitude"]))
            for row in csv.DictReader(handle)
        }


def main(argv: list[str] | None = None) -> None:
    """``python -m traceloom_pipelines.reference.ports [--target PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=PORTS_CSV)
    args = parser.parse_args(argv)
    count = generate_ports_seed(args.target)
    print(f"wrote {count} ports from searoute {version('searoute')} to {args.target}")


if __name__ == "__main__":
    main()
