"""Where a photo's bytes come from: a local file (what ``collection add`` reads) or any
filesystem pyarrow reads (``s3://``, ``gs://``, ``hdfs://``; what ``cluster index`` reads).

:func:`sciceapp.engine.pipeline.describe_photo` takes one of these, so both paths describe a
photo with the same code; only the reading differs. Both refuse what the local reader refuses
(more than ``MAX_FILE_BYTES``; not a regular file) with the same ``OSError`` texts, so the skip
reasons are the same wherever a photo was described.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sciceapp.engine.geotag.sidecar import with_sidecar_position
from sciceapp.engine.images import MAX_FILE_BYTES
from sciceapp.reading import CHUNK_BYTES, read_regular, too_large

if TYPE_CHECKING:
    from sciceapp.engine.exif import PhotoMeta


class PhotoSource(Protocol):
    """One photo's bytes and identity."""

    name: str  # what the catalogue and the shards call it: a local path or a URI

    def read(self, hasher: hashlib._Hash) -> tuple[bytes, int, int]:
        """``(bytes, size, mtime_ns)``, the bytes fed to ``hasher``; ``OSError`` when the file
        cannot be read (its ``strerror`` is the skip reason)."""
        ...

    def with_sidecar(self, meta: PhotoMeta) -> PhotoMeta:
        """``meta`` with the position of the photo's XMP sidecar, when it has one."""
        ...


@dataclass(frozen=True)
class LocalFile:
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self, hasher: hashlib._Hash) -> tuple[bytes, int, int]:
        stat = self.path.stat()
        data = read_regular(self.path, MAX_FILE_BYTES, hasher)  # hashed while it is read
        return data, stat.st_size, stat.st_mtime_ns

    def with_sidecar(self, meta: PhotoMeta) -> PhotoMeta:
        return with_sidecar_position(self.path, meta)  # a sidecar's GPS wins


@dataclass(frozen=True)
class ArrowFile:
    """A file on a pyarrow filesystem, as listed (size and mtime from the listing)."""

    uri: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.uri

    def read(self, hasher: hashlib._Hash) -> tuple[bytes, int, int]:
        import pyarrow as pa
        import pyarrow.fs as pafs

        if self.size > MAX_FILE_BYTES:
            raise OSError(errno.EFBIG, too_large(self.size, MAX_FILE_BYTES), self.uri)
        chunks: list[bytes] = []
        total = 0
        try:
            filesystem, path = pafs.FileSystem.from_uri(self.uri)
            with filesystem.open_input_stream(path) as stream:
                while chunk := stream.read(CHUNK_BYTES):
                    total += len(chunk)
                    if total > MAX_FILE_BYTES:  # it grew after the listing
                        raise OSError(errno.EFBIG, too_large(total, MAX_FILE_BYTES), self.uri)
                    hasher.update(chunk)
                    chunks.append(chunk)
        except pa.ArrowException as exc:
            raise OSError(errno.EIO, str(exc), self.uri) from exc
        return b"".join(chunks), total, self.mtime_ns

    def with_sidecar(self, meta: PhotoMeta) -> PhotoMeta:
        return meta  # sidecars are looked for beside local files only (docs/cluster.md)


def source_for(name: str, size: int | None = None, mtime_ns: int | None = None) -> PhotoSource:
    """A local path -> :class:`LocalFile`; a URI with a scheme -> :class:`ArrowFile`."""
    if is_uri(name):
        return ArrowFile(name, size or 0, mtime_ns or 0)
    return LocalFile(Path(os.fspath(name)))


def is_uri(name: str) -> bool:
    return "://" in name
