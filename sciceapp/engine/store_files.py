"""What the reader and the writer of a descriptor store share: the file names, the
:class:`Segment` a checkpoint commits, ``store.json`` (created once, checked on every open)
and the segments' checksums. ``store.py`` describes the format."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.atomic import write_bytes_atomic
from sciceapp.errors import CollectionError

FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
STORE_DIR = "store"
META_FILE = "store.json"
VECTORS_FILE = "vectors.bin"
IDS_FILE = "ids.bin"
DELETED_FILE = "deleted.bin"
ID_TYPE = np.dtype("<i8")
HASH_BLOCK = 2**20


@dataclass(frozen=True)
class Segment:
    """What one generation appended: rows ``[first_row, first_row + rows)`` of the vectors and
    ids files, ids ``[first_deleted, first_deleted + deleted)`` of the deleted file, and the
    SHA-256 of those vector, id and deleted bytes (in that order)."""

    gen: int
    first_row: int
    rows: int
    first_deleted: int
    deleted: int
    sha256: str

    @property
    def end_row(self) -> int:
        return self.first_row + self.rows

    @property
    def end_deleted(self) -> int:
        return self.first_deleted + self.deleted


def ends(segments: list[Segment]) -> tuple[int, int]:
    """Committed row and deleted-id counts: the end of the last segment."""
    if not segments:
        return 0, 0
    last = max(segments, key=lambda s: s.gen)
    return last.end_row, last.end_deleted


def row_type(dtype: str) -> np.dtype:
    if dtype not in DTYPES:
        raise CollectionError(f"Unknown descriptor row type {dtype!r}; use one of {DTYPES}.")
    return np.dtype(dtype).newbyteorder("<")


FIX = (
    "Rebuild it with `sciceapp collection rebuild {name}` (the catalogue keeps every photo), or "
    "restore the collection folder from a backup."
)
"""The way out of a damaged or foreign store, for the collection called ``name``."""


def create(folder: Path, dim: int, dtype: str = "float32", owner: str | None = None) -> None:
    """Create an empty store in ``folder / STORE_DIR`` for the collection whose uid is
    ``owner`` (nothing happens if it exists)."""
    row_type(dtype)
    root = Path(folder) / STORE_DIR
    if (root / META_FILE).exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    for name in (VECTORS_FILE, IDS_FILE, DELETED_FILE):
        (root / name).touch()
    meta = {"format": FORMAT_VERSION, "dim": int(dim), "dtype": dtype, "collection": owner}
    write_bytes_atomic(root / META_FILE, json.dumps(meta).encode())


def read_meta(root: Path, dim: int, dtype: str, owner: str | None, fix: str) -> None:
    try:
        meta = json.loads((root / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise CollectionError(
            f"The descriptor store {root} is missing or damaged ({exc}). {fix}"
        ) from exc
    if meta.get("format") != FORMAT_VERSION:
        raise CollectionError(
            f"The descriptor store {root} has format {meta.get('format')!r}; this sciceapp reads "
            f"format {FORMAT_VERSION}. Update sciceapp."
        )
    if (meta.get("dim"), meta.get("dtype")) != (dim, dtype):
        raise CollectionError(
            f"The descriptor store {root} holds {meta.get('dtype')} rows of {meta.get('dim')} "
            f"values, but its collection expects {dtype} rows of {dim}. {fix}"
        )
    if owner is not None and meta.get("collection") != owner:
        raise CollectionError(
            f"The descriptor store {root} belongs to another collection "
            f"({meta.get('collection')}, expected {owner}): it was copied or restored from "
            f"elsewhere. {fix}"
        )


class StoreFiles:
    """What a reader and a writer of a store share: where it is, its row type, the committed
    ``segments``, and whose it is (``owner``: the uid of the collection called ``name``),
    checked against ``store.json``. Subclasses open their files in ``_open``."""

    CREATES = False  # whether opening creates an empty store where there is none

    def __init__(
        self,
        folder: Path,
        dim: int,
        dtype: str,
        segments: list[Segment],
        owner: str | None = None,
        name: str = "NAME",
    ) -> None:
        if self.CREATES:
            create(folder, dim, dtype, owner)
        self.root = Path(folder) / STORE_DIR
        self.name = name
        self.fix = FIX.format(name=name)
        self.dim = int(dim)
        self.dtype = dtype
        self.owner = owner
        self.row_type = row_type(dtype)
        self.segments = sorted(segments, key=lambda s: s.gen)
        read_meta(self.root, self.dim, dtype, owner, self.fix)
        self._open()

    def _open(self) -> None:
        raise NotImplementedError

    @property
    def row_bytes(self) -> int:
        """Bytes of one stored descriptor."""
        return self.dim * self.row_type.itemsize

    def file_sizes(self, rows: int, deleted: int) -> dict[str, int]:
        """The byte length of each file when it holds ``rows`` rows and ``deleted`` deletions."""
        return {
            VECTORS_FILE: rows * self.row_bytes,
            IDS_FILE: rows * ID_TYPE.itemsize,
            DELETED_FILE: deleted * ID_TYPE.itemsize,
        }


def segment_digest(digests: dict) -> str:
    """A segment's checksum: SHA-256 over the SHA-256 digests of its vector, id and deleted
    bytes (each computed while streaming them)."""
    combined = hashlib.sha256()
    for name in (VECTORS_FILE, IDS_FILE, DELETED_FILE):
        combined.update(digests[name].digest())
    return combined.hexdigest()


def hash_range(path: Path, offset: int, length: int):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        while length > 0:
            block = handle.read(min(HASH_BLOCK, length))
            if not block:
                break
            digest.update(block)
            length -= len(block)
    return digest
