"""Prepare Superset's metadata database for ``make bi``, idempotently, in one process: schema
migrations (``superset db upgrade``), roles and permissions (``superset init``), the admin user
if missing, and the TraceLoom database connection, datasets, charts and dashboards imported from
the YAML under ``deploy/bi/assets/`` (``superset import-dashboards``, overwriting what an earlier
import left).

Run with ``.venv-bi/bin/python`` and ``SUPERSET_CONFIG_PATH=deploy/bi/superset_config.py`` (the
Makefile does). One process instead of four ``superset`` commands: each command builds the
whole Flask application first (seconds of CPU).

Usage: ``bootstrap.py [--template PATH] [--only-schema] [--assets DIR]``
    --template PATH: when the metadata database does not exist yet, start from a copy of PATH (a
        database prepared by ``--only-schema``: migrations run once at setup, not on each start).
    --only-schema: migrations and ``init`` only (no admin, no import): makes such a template.
    --assets DIR: the bundle to import (default ``deploy/bi/assets``).

Environment: ``TRACELOOM_BI_ADMIN_USER`` (default ``admin``) and ``TRACELOOM_BI_ADMIN_PASSWORD``
(default ``admin``, for a local machine only) create the admin when no user has that name; the
password is never printed. Exit status 1 with one line on stderr when the import fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
ADMIN_USER_ENV = "TRACELOOM_BI_ADMIN_USER"
ADMIN_PASSWORD_ENV = "TRACELOOM_BI_ADMIN_PASSWORD"


def asset_contents(assets: Path = ASSETS) -> dict[str, str]:
    """The import bundle as ``ImportDashboardsCommand`` takes it: ``{relative path: YAML text}``
    for every ``*.yaml`` under ``assets`` (``metadata.yaml``, ``databases/``, ``datasets/``,
    ``charts/``, ``dashboards/``)."""
    return {
        str(path.relative_to(assets)): path.read_text(encoding="utf-8")
        for path in sorted(assets.rglob("*.yaml"))
    }


# Superset's import commands, in dependency order, with the type their metadata.yaml must
# declare. A dashboard import alone never overwrites a chart, dataset or database that exists
# (it imports them with overwrite=False), so a changed chart would keep its first version: each
# kind is imported by its own command with overwrite.
IMPORT_COMMANDS = (
    ("Database", "superset.commands.database.importers.v1", "ImportDatabasesCommand"),
    ("SqlaTable", "superset.commands.dataset.importers.v1", "ImportDatasetsCommand"),
    ("Slice", "superset.commands.chart.importers.v1", "ImportChartsCommand"),
    ("Dashboard", "superset.commands.dashboard.importers.v1", "ImportDashboardsCommand"),
)


def import_bundle(contents: dict[str, str]) -> None:
    """Import (create or overwrite, by UUID) the database connection, datasets, charts and
    dashboards of ``contents`` (:func:`asset_contents`). Needs an app context and ``g.user``.

    Raises:
        superset.commands.exceptions.CommandException: a file is invalid or the import fails.
    """
    import importlib  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    metadata = yaml.safe_load(contents["metadata.yaml"])
    for type_, module, name in IMPORT_COMMANDS:
        command = getattr(importlib.import_module(module), name)
        bundle = {**contents, "metadata.yaml": yaml.safe_dump({**metadata, "type": type_})}
        command(bundle, overwrite=True).run()


def ensure_admin(security_manager, username: str, password: str) -> bool:
    """Create the user ``username`` with the Admin role unless a user of that name exists.
    Returns whether it was created."""
    if security_manager.find_user(username=username) is not None:
        return False
    user = security_manager.add_user(
        username,
        "TraceLoom",
        "Admin",
        f"{username}@traceloom.invalid",
        security_manager.find_role("Admin"),
        password=password,
    )
    if not user:
        raise RuntimeError(f"could not create the Superset admin {username!r}")
    return True


def _causes(exc: BaseException) -> str:
    """The exception and its causes in one line (Superset wraps the real error: "Import
    dashboard failed for an unknown reason" <- "No module named ...")."""
    chain = []
    while exc is not None:
        chain.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(chain)


def main(argv: list[str] | None = None) -> int:
    """Run the steps of the module docstring; returns the exit status (0, or 1 when the
    import fails)."""
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--template", type=Path)
    args.add_argument("--only-schema", action="store_true")
    args.add_argument("--assets", type=Path, default=ASSETS)
    options = args.parse_args(argv)

    # superset_config.py decides where the metadata database is; import it before Superset so
    # a template can be copied into place first.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import superset_config  # noqa: PLC0415

    metadata_db = superset_config.BI_HOME / "superset.db"
    if options.template and not metadata_db.exists() and options.template.exists():
        staging = metadata_db.with_name(f".{metadata_db.name}.{os.getpid()}")
        shutil.copyfile(options.template, staging)
        os.replace(staging, metadata_db)
        print(f"superset metadata: started from the template {options.template}")

    from flask import g  # noqa: PLC0415
    from flask_migrate import upgrade  # noqa: PLC0415
    from superset.app import create_app  # noqa: PLC0415

    app = create_app()
    with app.app_context():
        from superset.extensions import appbuilder, security_manager  # noqa: PLC0415

        upgrade()
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        if options.only_schema:
            print(f"superset metadata: schema and roles ready in {metadata_db}")
            return 0
        username = os.environ.get(ADMIN_USER_ENV) or "admin"
        password = os.environ.get(ADMIN_PASSWORD_ENV) or "admin"
        if ensure_admin(security_manager, username, password):
            print(f"superset metadata: admin user {username!r} created")
        g.user = security_manager.find_user(username=username)
        try:
            import_bundle(asset_contents(options.assets))
        except Exception as exc:  # noqa: BLE001 - one line, then the exit status
            print(f"superset import of {options.assets} failed: {_causes(exc)}", file=sys.stderr)
            return 1
        print(f"superset metadata: dashboards imported from {options.assets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
