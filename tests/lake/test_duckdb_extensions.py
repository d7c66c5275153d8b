"""Extension signatures are checked once per installation, and again whenever a file changes.

A process must not load two copies of one extension from different paths (the second dlopen
crashes it), so signed loads use the wheels' own directory (with a cache folder of the test's
own); the tampered copy never gets past the signature check.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from traceloom_pipelines import duckdb_extensions
from traceloom_pipelines.duckdb_extensions import extension_directory, stamp_path, stamp_verified


def _copy_ducklake(directory: Path) -> Path:
    source = next(extension_directory().rglob("ducklake.duckdb_extension"))
    target = directory / source.relative_to(extension_directory())
    target.parent.mkdir(parents=True)
    shutil.copy2(source, target)
    return target


@pytest.fixture
def extensions(tmp_path, monkeypatch) -> Path:
    """The wheels' extension directory, with a fresh cache folder (no stamp yet)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return extension_directory()


def test_a_signed_extension_is_verified_once_and_stamped(extensions, monkeypatch):
    assert stamp_verified(extensions)
    stamp = json.loads(stamp_path(extensions).read_text())
    assert stamp["duckdb"] == duckdb.__version__
    names = sorted(str(p.relative_to(extensions)) for p in extensions.rglob("*.duckdb_extension"))
    assert sorted(stamp["files"]) == names
    assert any(name.endswith("ducklake.duckdb_extension") for name in names)
    verified = []
    monkeypatch.setattr(duckdb_extensions, "_verify", verified.append)
    assert stamp_verified(extensions)
    assert verified == [], "the stamp matched: no second signed load"


def test_a_changed_file_is_verified_again_and_a_tampered_one_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = tmp_path / "extensions"
    path = _copy_ducklake(directory)
    stamp = stamp_path(directory)
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps(duckdb_extensions._fingerprint(directory)))  # verified earlier
    assert stamp_verified(directory)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the binary
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(duckdb.Error, match="(?i)signature"):
        stamp_verified(directory)
    # the stamp still names the old file, so every later check verifies (and refuses) again
    with pytest.raises(duckdb.Error, match="(?i)signature"):
        stamp_verified(directory)


def test_without_a_writable_cache_every_load_is_verified(extensions, tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert stamp_verified(extensions) is False
