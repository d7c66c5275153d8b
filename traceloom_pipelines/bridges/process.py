"""What every bridge process shares: one process per data directory, and its drop file names.

A bridge holds ``<data_dir>/bridges/<bridge>/bridge.lock`` while it runs (the OS releases it when
the process dies, even by ``kill -9``), and names its drop files
``<prefix><UTC yyyymmddThhmmssffffff>Z-<pid>-<n>.jsonl``: unique per process and batch, sorted
by time.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from traceloom_pipelines.bridges.health import health_path


def hold_lock(data_dir: Path, bridge: str) -> int:
    """Take ``<data_dir>/bridges/<bridge>/bridge.lock``; return its file descriptor (close it to
    release the lock; the OS releases it when the process dies).

    Raises:
        RuntimeError: another ``<bridge>`` bridge process holds it.
        OSError: the folder cannot be created or the file opened.
    """
    path = health_path(data_dir, bridge).with_name("bridge.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"another {bridge} bridge is running for {data_dir}") from None
    return fd


def drop_file_name(prefix: str, number: int) -> str:
    """``<prefix><UTC now yyyymmddThhmmssffffff>Z-<pid>-<number, 6 digits>.jsonl``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{prefix}{stamp}Z-{os.getpid()}-{number:06d}.jsonl"
