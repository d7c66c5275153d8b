"""Where each dbt invocation writes its artifacts, and dbt's partial parse kept across them.

dagster-dbt gives each invocation a target folder of its own under ``dbt_project/target/`` and
seeds it with the ``partial_parse.msgpack`` that ``dbt parse`` left there at build time. dbt
rejects that file whenever a variable profiles.yml reads has another value (the lake's catalog,
data path, extension folder …), which is always the case for the pipeline's own environment: every
``dbt build`` re-parsed the whole project (~8 s of CPU for ~500 nodes), and the folders piled up
in the repository's ``dbt_project/target/`` forever.

Here the invocations of one data directory write under ``<data_dir>/dbt/target/`` and share
``<data_dir>/dbt/partial_parse.msgpack``: each invocation starts from the file the last one left
(so dbt only parses what changed since) and hands its own back when it ends. Only the newest
:data:`KEEP_TARGETS` target folders are kept (run results and compiled SQL for debugging).

A data directory's first invocation starts from the parse of the build
(``dbt_project/target/partial_parse.msgpack``, which ``make setup`` writes with :func:`parse`, in
the pipeline's own dbt environment). dbt accepts it because nothing it compares differs between
data directories: ``profiles.yml`` names the lake through a DuckLake secret, which dbt leaves out
of the connection settings it hashes. Before, each new data directory paid a full parse (~10 s of
CPU) on its first build.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

PARTIAL_PARSE = "partial_parse.msgpack"
KEEP_TARGETS = 20
DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
BUILD_PARSE = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE


def dbt_dir(data_dir: Path) -> Path:
    """``<data_dir>/dbt``: the dbt state of this data directory."""
    return Path(data_dir) / "dbt"


def new_target(data_dir: Path, name: str) -> Path:
    """A new, empty target folder ``<data_dir>/dbt/target/<name>-<random>`` holding a copy of
    the data directory's last ``partial_parse.msgpack``, or of the build's
    (:data:`BUILD_PARSE`) when the data directory has none yet (neither: dbt parses in full)."""
    target = dbt_dir(data_dir) / "target" / f"{name}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    _start_from_saved_parse(data_dir, target)
    return target


def docs_target(data_dir: Path) -> Path:
    """``<data_dir>/dbt/docs``: the one folder ``dbt docs generate`` writes and ``dbt docs
    serve`` reads (never pruned), holding a copy of the saved parse as :func:`new_target`'s."""
    target = dbt_dir(data_dir) / "docs"
    target.mkdir(parents=True, exist_ok=True)
    _start_from_saved_parse(data_dir, target)
    return target


def _start_from_saved_parse(data_dir: Path, target: Path) -> None:
    for saved in (dbt_dir(data_dir) / PARTIAL_PARSE, BUILD_PARSE):
        if saved.exists():
            shutil.copyfile(saved, target / PARTIAL_PARSE)
            return


def keep_partial_parse(target: Path) -> None:
    """Make ``target``'s ``partial_parse.msgpack`` (``target`` from :func:`new_target`) the one
    the next invocation of its data directory starts from (atomic replace: concurrent
    invocations never leave a half-written file), then remove all but the newest
    :data:`KEEP_TARGETS` target folders."""
    state = Path(target).parent.parent  # <data_dir>/dbt
    written = Path(target) / PARTIAL_PARSE
    if written.exists():
        staging = state / f".{PARTIAL_PARSE}.{os.getpid()}-{uuid.uuid4().hex[:7]}"
        shutil.copyfile(written, staging)
        os.replace(staging, state / PARTIAL_PARSE)
    prune_targets(state.parent)


def prune_targets(data_dir: Path, keep: int = KEEP_TARGETS) -> list[Path]:
    """Remove all but the ``keep`` most recently modified target folders; the removed paths."""
    root = dbt_dir(data_dir) / "target"
    if not root.is_dir():
        return []
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def run_dbt(data_dir: Path, args: list[str], **subprocess_kwargs) -> subprocess.CompletedProcess:
    """``dbt <args>`` on ``data_dir``'s lake as the pipeline runs it: the pipeline's dbt
    environment (``LakeConfig.dbt_env``), a new target folder of ``data_dir``
    (:func:`new_target`, logs in it too; :func:`docs_target` for ``docs``, so that ``docs serve``
    finds what ``docs generate`` wrote) that starts from the data directory's saved parse, and
    that parse kept for the next invocation (not after ``--vars``: dbt rejects a parse made
    with other variables). Commands that write the lake (all but ``parse``, ``compile``, ``ls``,
    ``list``, ``docs``, ``debug``) hold the lake's dbt lock, as a run's dbt step does, so a hand
    run and a run never rebuild the same models at once. ``traceloom dbt`` calls it; so do the
    tests that build part of the project.

    Args:
        data_dir: the data directory (``$TRACELOOM_DATA_DIR``) whose lake dbt reads and builds.
        args: dbt's arguments, e.g. ``["build", "--select", "+fct_work_orders"]``; no
            ``--target-path``/``--log-path`` (the target folder is chosen here).
        subprocess_kwargs: passed on to :func:`subprocess.run` (e.g. ``capture_output=True``).

    Returns:
        The finished dbt process (its return code is not checked).
    """
    from traceloom_pipelines.dbt_child import real_dbt
    from traceloom_pipelines.lake import LakeConfig, dbt_lock_name, lake_lock
    from traceloom_pipelines.resources import DATA_DIR_ENV

    data_dir = Path(data_dir).resolve()
    lake = LakeConfig.from_env(data_dir)
    env = {**os.environ, DATA_DIR_ENV: str(data_dir), **lake.dbt_env()}
    env.update(subprocess_kwargs.pop("env", None) or {})
    if not args or args[0].startswith("-"):  # no command: `dbt --version`, `dbt --help`
        return subprocess.run(
            [real_dbt(), *args], cwd=DBT_PROJECT_DIR, env=env, **subprocess_kwargs
        )
    if args[:1] == ["docs"]:
        target = docs_target(data_dir)
    else:
        target = new_target(data_dir, f"cli_{args[0]}")
    command = [real_dbt(), *args, "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(target), "--log-path", str(target)]
    writes = bool(args) and args[0] not in READ_ONLY_COMMANDS
    with lake_lock(lake, dbt_lock_name(lake)) if writes else contextlib.nullcontext():
        done = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, **subprocess_kwargs)
    if "--vars" not in args:
        keep_partial_parse(target)
    return done


READ_ONLY_COMMANDS = frozenset({"parse", "compile", "ls", "list", "docs", "debug"})


def parse() -> None:
    """``dbt parse`` of the project into ``dbt_project/target/`` (the manifest Dagster loads and
    :data:`BUILD_PARSE`) in the environment the pipeline gives dbt (``LakeConfig.dbt_env`` of
    ``$TRACELOOM_DATA_DIR``), so that dbt accepts the saved parse in every data directory.

    Raises:
        subprocess.CalledProcessError: dbt failed to parse the project (its output says why).
    """
    from traceloom_pipelines.dbt_child import real_dbt
    from traceloom_pipelines.lake import LakeConfig
    from traceloom_pipelines.resources import default_data_dir

    env = {**os.environ, **LakeConfig.from_env(default_data_dir()).dbt_env()}
    command = [real_dbt(), "parse", "--profiles-dir", ".", "--quiet"]
    subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, check=True)


if __name__ == "__main__":
    parse()
