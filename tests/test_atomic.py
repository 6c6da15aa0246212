"""sciceapp.atomic: a file is replaced whole or not at all, and no temporary file stays behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sciceapp import atomic


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "out" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(b"old contents")
    return path


def test_write_replaces_the_file_and_creates_missing_folders(tmp_path: Path, old_file: Path):
    atomic.write_bytes_atomic(old_file, b"new contents")
    assert old_file.read_bytes() == b"new contents"
    assert names(old_file.parent) == ["data.bin"]
    fresh = tmp_path / "a" / "b" / "fresh.txt"
    with atomic.atomic_write(fresh, "w") as handle:
        handle.write("caffè\n")
    assert fresh.read_bytes() == "caffè\n".encode()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_mid_write_keeps_the_old_file(old_file: Path, error: BaseException):
    with pytest.raises(type(error)), atomic.atomic_write(old_file) as handle:
        handle.write(b"half of the new")
        handle.flush()
        assert len(names(old_file.parent)) == 2  # the temporary file, beside the target
        raise error
    assert old_file.read_bytes() == b"old contents"
    assert names(old_file.parent) == ["data.bin"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_full_disk_reaches_the_caller_with_its_errno(old_file: Path, monkeypatch, failing):
    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, no_space)
    with pytest.raises(OSError) as info:
        atomic.write_bytes_atomic(old_file, b"new contents" * 1000)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert old_file.read_bytes() == b"old contents"
    assert names(old_file.parent) == ["data.bin"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_real_full_device_raises_enospc(tmp_path: Path, monkeypatch):
    target = tmp_path / "full" / "x.bin"
    real_fdopen = os.fdopen

    def onto_dev_full(fd, mode, **kwargs):  # the temp file's writes land on /dev/full
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), mode, **kwargs)

    monkeypatch.setattr(os, "fdopen", onto_dev_full)
    with pytest.raises(OSError) as info:
        atomic.write_bytes_atomic(target, b"x" * 100_000)
    assert info.value.errno == errno.ENOSPC
    assert names(target.parent) == []


def test_copy_replaces_whole_and_a_missing_source_changes_nothing(tmp_path: Path, old_file):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 4000)
    atomic.copy_atomic(source, old_file)
    assert old_file.read_bytes() == source.read_bytes()
    with pytest.raises(FileNotFoundError):
        atomic.copy_atomic(tmp_path / "missing.bin", old_file)
    assert old_file.read_bytes() == source.read_bytes()
    assert names(old_file.parent) == ["data.bin"]


def test_replace_moves_a_finished_file_or_leaves_both(old_file: Path, monkeypatch):
    part = old_file.with_name("data.bin.part")
    part.write_bytes(b"downloaded")

    def crash(src, dst):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic.replace_atomic(part, old_file)
    monkeypatch.undo()
    assert (old_file.read_bytes(), part.read_bytes()) == (b"old contents", b"downloaded")
    atomic.replace_atomic(part, old_file)
    assert old_file.read_bytes() == b"downloaded"
    assert names(old_file.parent) == ["data.bin"]


def test_fsync_dir_tolerates_what_it_cannot_open(tmp_path: Path):
    atomic.fsync_dir(tmp_path / "not-there")  # no error: the rename is what matters
    atomic.fsync_dir(tmp_path)


def test_only_write_modes_are_accepted(old_file: Path):
    with pytest.raises(ValueError, match="writing only"), atomic.atomic_write(old_file, "ab"):
        pass
    assert names(old_file.parent) == ["data.bin"]


def test_importable_without_numpy_torch_or_qt():
    code = (
        "import sys, sciceapp.atomic; "
        "print(sorted(m for m in ('numpy', 'torch', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_disk_full_covers_quota_and_nothing_else():
    assert atomic.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert atomic.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not atomic.is_disk_full(OSError(errno.EIO, "I/O error"))
    assert not atomic.is_disk_full(ValueError("no errno"))


def test_new_files_respect_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    import os
    import stat

    from sciceapp.atomic import write_bytes_atomic

    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "map.html", b"<html>")
        assert stat.S_IMODE((tmp_path / "map.html").stat().st_mode) == 0o644  # not mkstemp's 0600
        os.umask(0o077)
        write_bytes_atomic(tmp_path / "private.csv", b"a,b")
        assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600
        (tmp_path / "map.html").chmod(0o640)
        write_bytes_atomic(tmp_path / "map.html", b"<html>again")
        assert stat.S_IMODE((tmp_path / "map.html").stat().st_mode) == 0o640
    finally:
        os.umask(old)
