"""The one way sciceapp opens a user's file for reading: regular files only, size checked
before reading, read (and hashed) in chunks.

A FIFO named ``p.jpg`` blocks a plain ``open`` for ever, a link to ``/dev/zero`` never ends,
and a sparse 3 GB ``.jpg`` costs 3 GB of memory per decoding thread. So a file is opened
without blocking, checked with ``fstat`` on the open descriptor (what was checked is what is
read: no race with a rename), refused unless it is a regular file of at most ``max_bytes``,
and read in chunks that stop at the limit even if the file grows meanwhile.

Refusals are ``OSError``\\ s with a readable ``strerror`` (``EINVAL``: not a regular file;
``EFBIG``: too large), so every caller's existing ``except OSError`` reports them. Standard
library only, for every layer.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((text for test, text in KINDS if test(mode)), "not a regular file")


@contextmanager
def open_regular(path: str | os.PathLike[str], max_bytes: int | None = None) -> Iterator[BinaryIO]:
    """``open(path, "rb")`` for a regular file of at most ``max_bytes`` (``OSError`` else)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file", str(path))
        if max_bytes is not None and info.st_size > max_bytes:
            raise OSError(errno.EFBIG, too_large(info.st_size, max_bytes), str(path))
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def too_large(size: int, limit: int) -> str:
    return f"too large ({size / 1e6:,.0f} MB; files over {limit / 1e6:,.0f} MB are not read)"


def read_regular(
    path: str | os.PathLike[str], max_bytes: int, hasher: hashlib._Hash | None = None
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, fed to ``hasher`` as they come."""
    chunks: list[bytes] = []
    total = 0
    with open_regular(path, max_bytes) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:  # it grew after the check
                raise OSError(errno.EFBIG, too_large(total, max_bytes), str(path))
            if hasher is not None:
                hasher.update(chunk)
            chunks.append(chunk)
    return b"".join(chunks)


def sha256_file(path: str | os.PathLike[str], max_bytes: int | None = None) -> str:
    """Hex SHA-256 of a regular file, streamed (memory: one chunk)."""
    digest = hashlib.sha256()
    with open_regular(path, max_bytes) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
