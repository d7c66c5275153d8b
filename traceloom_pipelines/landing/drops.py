"""Writing drop files atomically: how pull connectors and the push gateway hand records to landing.

A drop file appears in ``landing/<tenant>/<system>/<entity>/`` only once it is complete: it is
written as ``<name>.part`` (which :func:`~traceloom_pipelines.landing.readers.list_drop_files`
and the drop sensors ignore), flushed to disk, then renamed into place. A crash at any point
leaves either no file or a complete one, never a half-written file that landing would read.

Folder names (tenant, system, entity) must match :data:`FOLDER_NAME`: the push gateway checks
its clients' tenant ids with it, and landing skips (and reports) tenant folders that do not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

# Names that are safe as one folder of the landing tree and as a log field: ASCII letters and
# digits first, then letters, digits, ``.``, ``_``, ``-``; 1 to 100 characters. Shared by the
# gateway (client and tenant ids) and landing (tenant folder names). Use :func:`is_folder_name`
# (a full match: ``$`` alone would accept a trailing newline).
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def is_folder_name(name: str) -> bool:
    """True when ``name`` is a valid tenant/system/entity folder name (matches :data:`FOLDER_NAME`).

    Rejected, e.g.: names with spaces or quotes, ``...``, ``-rf``, ``$(touch pwned)``, non-ASCII
    letters, a trailing newline, the empty string.
    """
    return FOLDER_NAME.fullmatch(name) is not None


def tenant_list(spec: str) -> tuple[str, ...] | None:
    """The tenant ids of ``tenant[+tenant...]`` (users' configuration: review desk, BI), or None
    when there is none or one is not a folder name."""
    tenants = tuple(t for t in spec.split("+") if t)
    return tenants if tenants and all(is_folder_name(t) for t in tenants) else None


def drop_folder(landing_root: Path, tenant_id: str, system: str, entity: str) -> Path:
    """``<landing_root>/<tenant_id>/<system>/<entity>`` (not created)."""
    return Path(landing_root) / tenant_id / system / entity


def write_drop_file(
    landing_root: Path,
    tenant_id: str,
    system: str,
    entity: str,
    file_name: str,
    lines: Iterable[str],
) -> Path:
    """Write ``lines`` (one JSON record per line, no trailing newline needed) as a JSONL drop file.

    The file is written as ``<file_name>.part``, fsynced, renamed to ``file_name`` and the folder
    fsynced, so the rename survives a power loss. An existing file of the same name is replaced
    (names should be unique per batch, e.g. carry a timestamp or request id).

    Returns:
        The final path of the drop file.

    Raises:
        ValueError: if ``file_name`` contains a path separator or starts with a dot.
        OSError: if the folder cannot be created or the file written.
    """
    if "/" in file_name or os.sep in file_name or file_name.startswith("."):
        raise ValueError(f"drop file name must be a plain file name, got {file_name!r}")
    folder = drop_folder(landing_root, tenant_id, system, entity)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name
    partial = folder / f"{file_name}.part"
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line.rstrip("\n"))
            handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final
