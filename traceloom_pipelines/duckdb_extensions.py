"""DuckDB's extensions (ducklake, sqlite, postgres, httpfs) from the ``duckdb-ext-*`` wheels:
where they are, and checking their signatures once per installation instead of on every load.

DuckDB checks an extension's signature each time a database loads it, by hashing the whole
file: about 0.25 s of CPU per ~50 MB extension, so ~0.5 s for every new connection to the lake
(sqlite + ducklake), paid by every step, every dbt invocation and every BI query through
``traceloom sql``. The files do not change between loads, so :func:`signatures_verified` checks
them once with DuckDB's own verification (a signed load of each), then records what it checked
(DuckDB version, and each file's name, size, modification time and inode) in a stamp under the
user's cache folder. Later connections whose files still match the stamp load them with
``allow_unsigned_extensions`` (no second hash); any change to a file (a reinstall, an upgrade,
a tampered file) invalidates the stamp and the next connection verifies again. Nothing is ever
downloaded: autoinstall stays off and the directory is the wheels' only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

import duckdb

STAMP_VERSION = 1


def extension_directory() -> Path:
    """``<site-packages>/duckdb_ext/extensions``: the extensions installed as wheels, as a
    canonical path (symlinks resolved: every process names the same folder the same way, which
    dbt's saved parse needs, see :mod:`traceloom_pipelines.dbt_targets`).

    Raises:
        RuntimeError: if the ``duckdb-ext-*`` wheels are not installed.
    """
    for entry in sys.path:
        candidate = Path(entry) / "duckdb_ext" / "extensions"
        if candidate.is_dir():
            return candidate.resolve()
    raise RuntimeError(
        "duckdb_ext/extensions not found: install the duckdb-ext-ducklake, -sqlite, -postgres "
        "and -httpfs wheels of DuckDB's version (pyproject.toml pins them)"
    )


def _fingerprint(directory: Path) -> dict[str, object]:
    """What the stamp records: DuckDB's version and each extension file's identity."""
    files = {}
    for path in sorted(directory.rglob("*.duckdb_extension")):
        stat = path.stat()
        files[str(path.relative_to(directory))] = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    return {"stamp_version": STAMP_VERSION, "duckdb": duckdb.__version__, "files": files}


def stamp_path(directory: Path) -> Path:
    """The stamp of ``directory``: ``$XDG_CACHE_HOME`` (default ``~/.cache``)
    ``/traceloom/duckdb-extensions-<hash of the directory's path>.json``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    return cache / "traceloom" / f"duckdb-extensions-{key}.json"


def _verify(directory: Path) -> None:
    """Load every extension of ``directory`` with DuckDB's signature check on.

    Raises:
        duckdb.Error: an extension is unsigned, its signature is wrong, or it does not load.
    """
    con = duckdb.connect(
        config={
            "extension_directory": str(directory),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        for path in sorted(directory.rglob("*.duckdb_extension")):
            con.execute(f"load '{path}'").fetchall()
    finally:
        con.close()


def stamp_verified(directory: Path) -> bool:
    """True when every extension file in ``directory`` is one whose signature DuckDB verified:
    the stamp (:func:`stamp_path`) matches the files, or a signed load of each succeeds now and
    the stamp is written. False when the stamp cannot be written (a read-only home): then every
    load verifies, as DuckDB does by default.

    Raises:
        duckdb.Error: a file fails DuckDB's signature check (nothing is stamped).
    """
    fingerprint = _fingerprint(directory)
    try:
        stamp = stamp_path(directory)
    except RuntimeError:  # no home folder to put the stamp in (Path.home() cannot tell)
        _verify(directory)
        return False
    try:
        if json.loads(stamp.read_text(encoding="utf-8")) == fingerprint:
            return True
    except (OSError, ValueError):
        pass
    _verify(directory)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        staging = stamp.with_name(f".{stamp.name}.{os.getpid()}")
        staging.write_text(json.dumps(fingerprint), encoding="utf-8")
        os.replace(staging, stamp)
    except OSError:
        return False
    return True


@functools.cache
def signatures_verified() -> bool:
    """:func:`stamp_verified` of :func:`extension_directory`, once per process: whether
    connections may load the wheels' extensions with ``allow_unsigned_extensions``.

    Raises:
        duckdb.Error: an extension file fails DuckDB's signature check.
    """
    return stamp_verified(extension_directory())


def connect_config() -> dict[str, object]:
    """DuckDB ``config`` for a connection that loads extensions from the wheels only, never
    downloads, and skips the per-load signature hash once :func:`signatures_verified`."""
    return {
        "extension_directory": str(extension_directory()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
        "allow_unsigned_extensions": signatures_verified(),
    }
