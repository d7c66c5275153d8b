"""The port reference seed: generated from searoute's UN/LOCODE ports, never hand edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from traceloom_pipelines.reference.ports import (
    PORTS_CSV,
    generate_ports_seed,
    load_weather_zones,
    port_coordinates,
)


def test_committed_seed_is_a_fresh_generation(tmp_path: Path) -> None:
    fresh = tmp_path / "ports.csv"
    count = generate_ports_seed(fresh)
    assert fresh.read_text(encoding="utf-8") == PORTS_CSV.read_text(encoding="utf-8"), (
        "dbt_project/seeds/ports.csv is stale: run python -m traceloom_pipelines.reference.ports"
    )
    assert count == len(PORTS_CSV.read_text(encoding="utf-8").splitlines()) - 1 > 3000


def test_ports_have_coordinates_and_zones() -> None:
    coordinates = port_coordinates()
    hong_kong = coordinates["HKHKG"]
    assert abs(hong_kong[0] - 22.29) < 0.1 and abs(hong_kong[1] - 114.17) < 0.1
    assert abs(coordinates["NLRTM"][0] - 51.9) < 0.2
    rows = {line.split(",")[0]: line.split(",")[-1] for line in PORTS_CSV.read_text().splitlines()}
    assert (rows["HKHKG"], rows["SGSIN"]) == ("hk", "sgsin")


def test_bad_weather_zone_rows_are_refused(tmp_path: Path) -> None:
    zones = tmp_path / "zones.csv"
    zones.write_text("locode,weather_zone\nHKHKG,hk\nHKHKG,hk2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeated"):
        load_weather_zones(zones)
    zones.write_text("locode,weather_zone\nXXQQQ,nowhere\n", encoding="utf-8")
    with pytest.raises(ValueError, match="XXQQQ"):
        generate_ports_seed(tmp_path / "out.csv", zones)
