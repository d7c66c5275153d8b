"""Dagster resources shared across domains: where the data lives and how to open the warehouse.

One environment variable moves all data: ``TRACELOOM_DATA_DIR`` (default ``./data`` under the
project root). Under it: ``landing/`` (drops), ``lake/`` (the embedded lake: catalog and Parquet
data files, :mod:`traceloom_pipelines.lake`), ``marts/`` (Parquet for BI), ``demo/`` (the demo
world's answer key).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from traceloom_pipelines import lake
from traceloom_pipelines.landing.warehouse import lake_connection

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "TRACELOOM_DATA_DIR"


def default_data_dir() -> Path:
    """``$TRACELOOM_DATA_DIR`` as an absolute path (relative values resolve against the cwd),
    or ``<project>/data`` when unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).resolve() if value else PROJECT_ROOT / "data"


class WarehouseResource(dg.ConfigurableResource):
    """The data directory and the lake (DuckLake) its runs write.

    Attributes:
        data_dir: absolute path of the data directory.
    """

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def landing_root(self) -> Path:
        """``<data_dir>/landing``: drops as ``<tenant_id>/<system>/<entity>/<file>``."""
        return self.root / "landing"

    @property
    def lake(self) -> lake.LakeConfig:
        """The lake's catalog and data path (``TRACELOOM_LAKE_*`` environment, default embedded)."""
        return lake.LakeConfig.from_env(self.root)

    @property
    def marts_dir(self) -> Path:
        """``<data_dir>/marts``: one Parquet dataset per mart, hive-partitioned by tenant_id."""
        return self.root / "marts"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A lake connection for the duration of one asset; closed on exit
        (:func:`traceloom_pipelines.landing.warehouse.lake_connection`: readers never wait, a
        writer on the embedded catalog holds the lake's writer lock while it is open)."""
        with lake_connection(self.root, read_only=read_only) as con:
            yield con

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The lake-wide mutex ``name`` (:func:`traceloom_pipelines.lake.lake_lock`)."""
        with lake.lake_lock(self.lake, name):
            yield
