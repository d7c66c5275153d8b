"""Prepare Superset's metadata database for ``make bi``, idempotently, in one process: schema
migrations (``superset db upgrade``), roles and permissions (``superset init``), the admin user
if missing, and the TraceLoom database connection, datasets, charts and dashboards imported from
the YAML under ``deploy/bi/assets/`` (``superset import-dashboards``, overwriting what an earlier
import left).

Run with ``.venv-bi/bin/python`` and ``SUPERSET_CONFIG_PATH=deploy/bi/superset_config.py`` (the
Makefile does). One process instead of four ``superset`` commands: each command builds the
whole Flask application first (seconds of CPU).

Usage: ``bootstrap.py [--template PATH] [--only-schema] [--assets DIR]`` or
``bootstrap.py --hash-password`` (a Werkzeug hash of the password on standard input, for
``TRACELOOM_BI_USERS``; nothing else runs)
    --template PATH: when the metadata database does not exist yet, start from a copy of PATH (a
        database prepared by ``--only-schema``: migrations run once at setup, not on each start).
    --only-schema: migrations and ``init`` only (no admin, no import): makes such a template.
    --assets DIR: the bundle to import (default ``deploy/bi/assets``).

Environment: ``TRACELOOM_BI_ADMIN_USER`` (default ``admin``) and ``TRACELOOM_BI_ADMIN_PASSWORD``
(default ``admin``, for a local machine only) create the admin when no user has that name; the
password is never printed. ``TRACELOOM_BI_USERS`` (``traceloom_pipelines/bi_access.py``) are
created or updated on every run: password hash, and roles Gamma, sql_lab, ``TraceLoom reader``
(access to the TraceLoom database) plus ``TraceLoom tenant <t>`` per tenant or ``TraceLoom PII``;
a user no longer listed loses every TraceLoom role (and with it every row). Exit status 1 with
one line on stderr when the import fails or ``TRACELOOM_BI_USERS`` is malformed.
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


DATABASE_NAME = "TraceLoom lake"  # deploy/bi/dashboards.py's database


def sync_bi_users(security_manager, users, database) -> list[str]:
    """Make the Superset users and roles of ``users`` (:func:`bi_access.load_users`): the role
    ``TraceLoom reader`` with ``database_access`` on ``database``; per user its password hash
    and roles Gamma, sql_lab and :meth:`~bi_access.BiUser.roles`; every other user (the admin
    aside) loses its TraceLoom roles. Returns one line per change (names, never hashes)."""
    from traceloom_pipelines import bi_access  # noqa: PLC0415

    reader = security_manager.add_role(bi_access.READER_ROLE)
    access = security_manager.add_permission_view_menu("database_access", database.perm)
    security_manager.add_permission_role(reader, access)
    base = [security_manager.find_role("Gamma"), security_manager.find_role("sql_lab")]
    changes = []
    for bi_user in users:
        roles = base + [security_manager.add_role(name) for name in bi_user.roles()]
        user = security_manager.find_user(username=bi_user.name)
        if user is None:
            created = security_manager.add_user(
                bi_user.name,
                bi_user.name,
                "BI reader",
                f"{bi_user.name}@traceloom.invalid",
                roles,
                hashed_password=bi_user.password_hash,
            )
            if not created:
                raise RuntimeError(f"could not create the Superset user {bi_user.name!r}")
            changes.append(f"BI user {bi_user.name!r} created ({', '.join(bi_user.roles())})")
            continue
        user.roles = roles
        user.password = bi_user.password_hash
        security_manager.update_user(user)
        changes.append(f"BI user {bi_user.name!r} updated ({', '.join(bi_user.roles())})")
    listed = {u.name for u in users}
    for user in security_manager.get_all_users():
        traceloom = [r for r in user.roles if r.name.startswith("TraceLoom ")]
        if user.username in listed or not traceloom:
            continue
        user.roles = [r for r in user.roles if r not in traceloom]
        security_manager.update_user(user)
        changes.append(f"BI user {user.username!r} is no longer listed: TraceLoom roles removed")
    return changes


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
    args.add_argument("--hash-password", action="store_true")
    options = args.parse_args(argv)
    if options.hash_password:
        from werkzeug.security import generate_password_hash  # noqa: PLC0415

        password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("no password on standard input", file=sys.stderr)
            return 1
        print(generate_password_hash(password))
        return 0

    # superset_config.py decides where the metadata database is; import it before Superset so
    # a template can be copied into place first.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import superset_config  # noqa: PLC0415

    from traceloom_pipelines import bi_access  # noqa: PLC0415 - superset_config puts it on the path

    try:
        bi_users = bi_access.load_users()
    except ValueError as exc:
        print(f"superset users: {exc}", file=sys.stderr)
        return 1

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
        from superset import db  # noqa: PLC0415
        from superset.models.core import Database  # noqa: PLC0415

        database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one()
        for line in sync_bi_users(security_manager, bi_users, database):
            print(f"superset users: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
