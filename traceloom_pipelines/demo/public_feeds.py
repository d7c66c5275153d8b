"""The demo world's public weather and AIS drops (``landing/public/weather``, ``landing/public/
ais``), placed on the port calls of the shipments' vessels in the answer key."""

from __future__ import annotations

from pathlib import Path

from traceloom_pipelines.demo.ais import AIS_FOLDERS, ais_files
from traceloom_pipelines.demo.weather import WEATHER_FOLDERS, weather_files, write_files
from traceloom_pipelines.reference.ports import port_coordinates


def write_public_feeds(
    landing_dir: Path,
    seed: int,
    as_of_ms: int,
    vessels: list[dict],
    storm_at_ms: int | None = None,
) -> tuple[dict, dict]:
    """Write the weather and AIS drop files (their folders emptied first); return the
    answer-key entries ``(weather, ais)`` (see :func:`weather_files`, :func:`ais_files`).
    Coordinates come from the ports seed (``reference.ports``); ``storm_at_ms`` places the
    typhoon (:func:`weather_files`)."""
    coordinates = port_coordinates()
    weather, weather_key = weather_files(seed, as_of_ms, vessels, coordinates, storm_at_ms)
    ais, ais_key = ais_files(seed, as_of_ms, vessels, coordinates)
    write_files(landing_dir, weather, WEATHER_FOLDERS)
    write_files(landing_dir, ais, AIS_FOLDERS)
    return weather_key, ais_key
