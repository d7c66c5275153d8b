"""What a newcomer sees in the console: early one-line errors, progress while the demo world is
generated (a bar on a terminal, plain lines in a log), the main job's step progress, help texts
without markup.

The CLI runs as a subprocess of the venv's ``traceloom`` (as ``make run`` starts it); the main
job itself is not run here (too slow): its progress is checked on fabricated step events and on
a three-op job.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from traceloom_pipelines.cli import main
from traceloom_pipelines.console import (
    PhaseProgress,
    RunWatcher,
    StepProgress,
    output_to_file,
)
from traceloom_pipelines.demo import generate_world
from traceloom_pipelines.demo.generator import TENANT_STAGES
from traceloom_pipelines.resources import PROJECT_ROOT

TRACELOOM = Path(sys.executable).with_name("traceloom")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PLAIN_LINE = re.compile(r"^demo world: \[(\d+)/(\d+)\] \S")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(DAGSTER_HOME=str(tmp_path / "dagster_home"), TERM="xterm-256color")
    env.pop("TRACELOOM_DATA_DIR", None)
    return env


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory that exists and in which no file can be created by this user."""
    if os.geteuid() == 0:  # root writes into any mode; /proc takes no new files
        return Path("/proc")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked


def _early_error_cases(tmp_path: Path) -> list[tuple[list[str], dict[str, str], str]]:
    """(arguments, extra environment, words the one line must hold)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data = str(tmp_path / "data")
    locked = _unwritable_dir(tmp_path)
    return [
        (["--data-dir", data, "demo", "generate", "--scale", "0"], {}, "--scale"),
        (["--data-dir", data, "demo", "generate", "--scale", "-1"], {}, "--scale"),
        (["--data-dir", data, "demo", "generate", "--scale", "lots"], {}, "not a number"),
        (["--data-dir", data, "demo", "generate", "--seed", "-1"], {}, "--seed"),
        (["--data-dir", data, "run", "--scale", "0"], {}, "--scale"),
        (["--data-dir", data, "run", "--scale", "nan"], {}, "--scale"),
        (["--data-dir", data, "run", "--seed", "-3"], {}, "--seed"),
        (["--data-dir", data, "run", "--seed", "1.5"], {}, "--seed"),
        (["--data-dir", data, "run", "--bogus"], {}, "unrecognized"),
        (["--data-dir", str(blocker / "data"), "run"], {}, "cannot create the data directory"),
        (
            ["--data-dir", str(blocker / "data"), "demo", "generate"],
            {},
            "cannot create the data directory",
        ),
        (["--data-dir", str(locked), "demo", "generate"], {}, "is not writable"),
        (["--data-dir", str(locked), "run"], {}, "is not writable"),
        (
            ["--data-dir", data, "run"],
            {"DAGSTER_HOME": str(blocker / "home")},
            "cannot create the Dagster home",
        ),
    ]


def test_every_early_error_is_one_line_with_exit_code_2_and_nothing_written(tmp_path):
    for args, extra, words in _early_error_cases(tmp_path):
        started = time.monotonic()
        done = subprocess.run(
            [str(TRACELOOM), *args],
            env={**_env(tmp_path), **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = done.stderr.splitlines()
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert len(lines) == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr, args
        assert words in lines[0], (args, lines[0])
        assert lines[0].startswith("traceloom"), lines[0]
        assert done.stdout == "", (args, done.stdout)
        assert time.monotonic() - started < 60, args  # before any generation or run
        data = tmp_path / "data"  # at most created empty (before a Dagster home is refused)
        assert not data.exists() or not any(data.iterdir()), args


@pytest.mark.parametrize(
    "python, says",
    [("py312", "is Python 3.12"), ("missing/python3.11", "is not found")],
)
def test_make_setup_refuses_a_python_other_than_3_11_before_creating_the_venv(
    tmp_path, python, says
):
    """The Makefile is copied next to an empty pyproject.toml, so no real venv is at stake."""
    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    fake = tmp_path / "py312"
    fake.write_text("#!/bin/sh\necho 3.12\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["make", "--no-print-directory", ".venv/.installed", f"PYTHON={tmp_path / python}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("make setup:")]
    assert len(ours) == 1 and "Python 3.11 is needed" in ours[0] and says in ours[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".venv").exists()


def _run_in_pty(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal of 120 columns;
    return its exit code and everything it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError as error:  # EIO: the child closed the terminal
                if error.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_demo_generate_on_a_terminal_draws_a_progress_bar(tmp_path):
    code, text = _run_in_pty(
        [
            str(TRACELOOM),
            "--data-dir",
            str(tmp_path / "data"),
            "demo",
            "generate",
            "--scale",
            "0.002",
        ],
        _env(tmp_path),
    )
    assert code == 0, text
    assert "\x1b[" in text, "no terminal control sequences: no live bar"
    screen = ANSI.sub("", text)
    total = 2 * TENANT_STAGES + 2
    assert "━" in screen, screen[-2000:]  # the bar
    assert f"{total}/{total}" in screen, screen[-2000:]
    assert "demo world" in screen
    assert "done" in screen  # the last label (rich redraws 10 times a second: maybe no other)
    assert not any(PLAIN_LINE.match(line) for line in screen.replace("\r", "\n").splitlines())
    assert "Traceback" not in screen
    assert (tmp_path / "data" / "demo" / "answer_key.json").exists()


def test_demo_generate_without_a_terminal_prints_one_plain_line_per_stage(tmp_path):
    done = subprocess.run(
        [
            str(TRACELOOM),
            "--data-dir",
            str(tmp_path / "data"),
            "demo",
            "generate",
            "--scale",
            "0.002",
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\r" not in done.stderr and "━" not in done.stderr
    lines = done.stderr.splitlines()
    total = 2 * TENANT_STAGES + 2
    assert all(PLAIN_LINE.match(line) for line in lines), lines
    assert [int(PLAIN_LINE.match(line)[1]) for line in lines] == list(range(total + 1))
    assert {int(PLAIN_LINE.match(line)[2]) for line in lines} == {total}
    assert lines[0].endswith("acme-apparel: masters, purchase orders, work orders")
    assert lines[-1].endswith("done")
    assert "demo world: seed 7, scale 0.002" in done.stdout


def test_the_generator_reports_stages_and_entities_through_its_callback(tmp_path):
    calls: list[tuple[str, int, int]] = []
    generate_world(
        tmp_path / "landing",
        tmp_path / "key.json",
        scale=0.002,
        tenants=("acme-apparel",),
        progress=lambda label, done, total: calls.append((label, done, total)),
    )
    total = TENANT_STAGES + 2
    assert {t for _, _, t in calls} == {total}
    dones = [d for _, d, _ in calls]
    assert dones == sorted(dones) and dones[0] == 0
    assert calls[-1] == ("done", total, total)
    labels = [label for label, _, _ in calls]
    assert "acme-apparel: writing mes/production_counts" in labels
    assert "acme-apparel: writing erp/purchase_orders" in labels


def _subcommands(argv: list[str], capsys) -> list[str]:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    found = re.search(r"\{([a-z0-9,-]+)\}", usage)
    return found[1].split(",") if found else []


def test_no_help_text_shows_a_backtick(capsys):
    commands = [[]]
    for name in _subcommands([], capsys):
        commands.append([name])
        commands += [[name, sub] for sub in _subcommands([name], capsys)]
    assert ["demo", "generate"] in commands and ["run"] in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
        text = capsys.readouterr().out
        assert text.startswith("usage:"), command
        assert "`" not in text, (command, [line for line in text.splitlines() if "`" in line])


def test_step_events_become_steps_finished_and_running():
    steps = StepProgress(total=4)
    events = [
        ("RUN_START", None),
        ("STEP_START", "land_erp__materials"),
        ("STEP_START", "land_mes__machines"),
        ("STEP_OUTPUT", "land_erp__materials"),
        ("STEP_START", "land_hr__employees"),
        ("STEP_SUCCESS", "land_erp__materials"),
        ("STEP_UP_FOR_RETRY", "land_hr__employees"),
        ("STEP_RESTARTED", "land_hr__employees"),
        ("STEP_FAILURE", "land_mes__machines"),
    ]
    changed = [steps.apply(kind, key) for kind, key in events]
    assert changed == [False, True, True, False, True, True, True, True, True]
    assert steps.done == 2 and steps.failed == 1
    assert list(steps.running) == ["land_hr__employees"]
    assert steps.label() == "land_hr__employees (1 failed)"
    assert steps.last == "land_mes__machines failed"
    assert steps.apply("STEP_START", "land_hr__employees") is False  # already running
    steps.apply("STEP_START", "traceloom_dbt_models")
    steps.apply("STEP_START", "integration_audit")
    assert steps.label() == "land_hr__employees, traceloom_dbt_models +1 (1 failed)"
    steps.apply("STEP_SUCCESS", "land_hr__employees")
    steps.apply("STEP_SKIPPED", "traceloom_dbt_models")
    assert steps.finished["traceloom_dbt_models"] == "skipped"
    assert steps.done == 4 and steps.label() == "integration_audit (1 failed)"


@dg.op
def _first() -> int:
    time.sleep(0.3)
    return 1


@dg.op
def _second(value: int) -> int:
    return value + 1


@dg.op
def _third(value: int) -> int:
    return value + 1


@dg.job(executor_def=dg.in_process_executor)
def _three_steps():
    _third(_second(_first()))


def test_the_run_watcher_follows_a_real_run_to_its_last_step(tmp_path):
    updates: list[tuple[int, int, str]] = []
    tags = {"traceloom/test-run": uuid.uuid4().hex}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        since = datetime.now(UTC) - timedelta(seconds=1)

        def record(steps: StepProgress) -> None:
            updates.append((steps.done, steps.total, steps.last))

        with RunWatcher(instance, tags, since, record, interval=0.05) as watcher:
            result = dg.execute_job(dg.reconstructable(_three_steps), instance=instance, tags=tags)
        assert result.success
    assert watcher.progress is not None
    assert watcher.progress.total == 3 and watcher.progress.done == 3
    assert updates[-1][:2] == (3, 3)
    dones = [done for done, _, _ in updates]
    assert dones == sorted(dones)
    assert {last for _, _, last in updates} >= {"_first started", "_third succeeded"}
    assert not watcher.is_alive()


def test_plain_phase_lines_print_once_per_finished_unit(tmp_path):
    log = tmp_path / "out.txt"
    with open(log, "w") as stream, PhaseProgress("main job", terminal=False, stream=stream) as show:
        show("a", 0, 2)
        show("a, b", 0, 2)  # a finer label: no line
        show("b", 1, 2, plain="a succeeded")
        show("", 2, 2, plain="b succeeded")
    assert log.read_text().splitlines() == [
        "main job: [0/2] a",
        "main job: [1/2] a succeeded",
        "main job: [2/2] b succeeded",
    ]


def test_output_of_the_run_and_its_children_goes_to_the_log_not_over_the_bar(tmp_path, capfd):
    log = tmp_path / "logs" / "run.log"
    with output_to_file(log) as terminal:
        print("to the bar", file=terminal, flush=True)
        subprocess.run(["sh", "-c", "echo child out; echo child err >&2"], check=True)
        # descriptors 1 and 2 themselves (under capfd, sys.stdout and sys.stderr bypass them)
        os.write(1, b"parent out\n")
        os.write(2, b"parent err\n")
    print("after", flush=True)
    seen = capfd.readouterr()
    assert seen.err == "to the bar\n"
    assert seen.out == "after\n"
    assert log.read_text().splitlines() == ["child out", "child err", "parent out", "parent err"]
