"""The files a geotag write replaces (a photo, or its sidecar): checking before journalling that
they may be written, replacing one atomically with the original's mode and timestamps, removing
the temporary files a killed write left, and what an OS error means for the user."""

from __future__ import annotations

import errno
import glob
import os
from pathlib import Path

from sciceapp.atomic import TEMP_SUFFIX, is_disk_full, temp_prefix, write_bytes_atomic
from sciceapp.errors import GeotagError

READ_ONLY_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def os_message(exc: OSError, path: Path, doing: str) -> str:
    if exc.errno in READ_ONLY_ERRNOS:
        return (
            f"{path} is read-only (or on a read-only medium): {exc.strerror}. Nothing was "
            f"changed; make it writable to {doing} it."
        )
    if is_disk_full(exc):
        return f"The disk holding {path} is full. Nothing was changed; free some space."
    return f"Cannot {doing} {path}: {exc.strerror or exc}. Nothing was changed."


def check_writable(target: Path) -> None:
    """Refuse, before journalling, what the user marked read-only or what would fail at the
    rename. A file without write permission bits is refused even where the rename would work
    (a folder we may write, or root): read-only is the user's way of saying "leave it"."""
    folder = target.parent
    if not folder.is_dir():
        raise GeotagError(f"The folder {folder} does not exist.")
    if target.exists() and not (target.stat().st_mode & 0o222 and os.access(target, os.W_OK)):
        raise GeotagError(
            f"{target} is read-only (or on a read-only medium). Nothing was changed; make it "
            "writable first."
        )
    if not os.access(folder, os.W_OK):
        raise GeotagError(
            f"The folder {folder} is read-only (or on a read-only medium), so {target.name} "
            "cannot be replaced there. Nothing was changed."
        )


def replace_file(
    target: Path, data: bytes, mode: int | None, times: tuple[int, int] | None
) -> None:
    """Step 4 of ``writer.py``'s docstring: temp file with the original's mode and times, rename."""

    def finish(temp: Path) -> None:
        if mode is not None:
            os.chmod(temp, mode & 0o7777)
        if times is not None:
            os.utime(temp, ns=times)

    write_bytes_atomic(target, data, before_replace=finish)


def remove_temp_files(target: Path) -> None:
    """Temporary files a killed write left beside ``target`` (never the target itself)."""
    try:
        leftovers = list(target.parent.glob(f"{glob.escape(temp_prefix(target))}*{TEMP_SUFFIX}"))
    except OSError:
        return
    for path in leftovers:
        path.unlink(missing_ok=True)
