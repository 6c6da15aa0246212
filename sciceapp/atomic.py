"""Replacing files all at once, so a crash, a kill or a full disk leaves the old file or the
new one, never a mix: write a temporary file in the target's folder, fsync it, ``os.replace``
it over the target, then fsync the folder so the rename itself survives a power cut.

Standard library only, so every layer (engine, model, export, ui) can use it. Errors
(``OSError``, including ``ENOSPC`` for a full disk) reach the caller unchanged after the
temporary file is removed; each caller turns them into its own message.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota on it) is full."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def temp_prefix(path: Path) -> str:
    """Temporary files for ``path`` are named ``.<name>.<random>.tmp`` (hidden, beside it)."""
    return f".{path.name}."


@contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "wb",
    before_replace: Callable[[Path], None] | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file to fill; on a clean exit it replaces ``path`` (fsynced).

    ``mode``: ``"wb"`` or ``"w"`` (text, UTF-8). If the block raises (anything, including
    ``KeyboardInterrupt``), the temporary file is deleted and ``path`` is left as it was.
    ``before_replace(temp_path)`` runs once the data is written and before the fsync and rename
    (to give the file its final mode and timestamps, which then appear with it).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write opens files for writing only ('wb' or 'w'), not {mode!r}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp_name, _mode_for(path))  # mkstemp's 0600 is for secrets, not maps and CSVs
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if before_replace is not None:
                before_replace(Path(tmp_name))
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _mode_for(path: Path) -> int:
    """The mode of the file being replaced, else what ``open`` would give a new one."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so no thread sees it changed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    before_replace: Callable[[Path], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` all at once (see :func:`atomic_write`)."""
    with atomic_write(path, "wb", before_replace) as handle:
        handle.write(data)


def copy_atomic(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy ``source`` over ``target`` all at once (see :func:`atomic_write`)."""
    with atomic_write(target, "wb") as handle, open(source, "rb") as original:
        shutil.copyfileobj(original, handle)


def replace_atomic(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move a finished file ``source`` (in ``target``'s folder) over ``target``, durably.

    For files written elsewhere first (a download's ``.part``, an export's work file): fsync
    ``source``, ``os.replace`` it, fsync the folder. On failure ``source`` stays for the caller.
    """
    fsync_file(source)
    os.replace(source, target)
    fsync_dir(Path(target).parent)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush ``path``'s bytes to the disk."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush ``folder``'s entries (a rename in it) to the disk, where the platform can."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open folders; os.replace is atomic there anyway.
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to fsync a folder; the rename still happened
    finally:
        os.close(fd)
