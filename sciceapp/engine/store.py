"""A collection's descriptor store: fixed-size rows appended to files, memory-mapped to read.

Files in ``<collection>/store/``:

- ``store.json``: format version, descriptor size, row type (float32 or float16) and the
  uid of the collection it belongs to, written once when the store is created (a store
  copied from another collection or data folder is refused).
- ``vectors.bin``: one row of ``dim`` values per photo, in the order they were appended.
- ``ids.bin``: the catalogue id of each row (int64), the row map.
- ``deleted.bin``: ids whose rows no longer count (removed or replaced photos), int64.

Rows are only ever appended. A checkpoint appends a *segment* (the rows and deletions of one
generation), fsyncs the three files and returns a :class:`Segment` that the catalogue commits
together with the generation (``catalogue.commit_saved``): the catalogue's list of segments
says how much of each file is real. Bytes past the last committed segment are what a crash
left behind; the next writer cuts them off (:class:`StoreWriter` truncates to the committed
length when it opens), readers never look at them. Nothing already committed is rewritten,
so a kill -9 at any point leaves every committed row as it was. Each segment carries the
SHA-256 of its bytes, computed while they were written; :meth:`DescriptorStore.verify`
re-reads and checks them.

Reading maps the committed part of the files (``numpy.memmap``): opening a store costs the
row map (8 bytes per photo) and the deleted ids, not the vectors, which stay in the page
cache and are read where a search touches them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.atomic import fsync_dir, write_bytes_atomic
from sciceapp.errors import CollectionError

FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
STORE_DIR = "store"
META_FILE = "store.json"
VECTORS_FILE = "vectors.bin"
IDS_FILE = "ids.bin"
DELETED_FILE = "deleted.bin"
ID_TYPE = np.dtype("<i8")
CHUNK_BYTES = 64 * 2**20
"""Bytes of stored rows read per step of a streaming pass (exact search, iteration)."""
MISSING_SCORE = float("-inf")
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


def _ends(segments: list[Segment]) -> tuple[int, int]:
    """Committed row and deleted-id counts: the end of the last segment."""
    if not segments:
        return 0, 0
    last = max(segments, key=lambda s: s.gen)
    return last.end_row, last.end_deleted


def _row_type(dtype: str) -> np.dtype:
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
    _row_type(dtype)
    root = Path(folder) / STORE_DIR
    if (root / META_FILE).exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    for name in (VECTORS_FILE, IDS_FILE, DELETED_FILE):
        (root / name).touch()
    meta = {"format": FORMAT_VERSION, "dim": int(dim), "dtype": dtype, "collection": owner}
    write_bytes_atomic(root / META_FILE, json.dumps(meta).encode())


def _read_meta(root: Path, dim: int, dtype: str, owner: str | None, fix: str) -> None:
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


class _StoreFiles:
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
        self.row_type = _row_type(dtype)
        self.segments = sorted(segments, key=lambda s: s.gen)
        _read_meta(self.root, self.dim, dtype, owner, self.fix)
        self._open()

    def _open(self) -> None:
        raise NotImplementedError


class DescriptorStore(_StoreFiles):
    """The committed rows of a store, memory-mapped (read-only; any number of readers)."""

    def _open(self) -> None:
        self.rows, n_deleted = _ends(self.segments)
        self._check_lengths(n_deleted)
        self.vectors = self._map(VECTORS_FILE, self.row_type, (self.rows, self.dim))
        self.ids = np.array(self._map(IDS_FILE, ID_TYPE, (self.rows,)))  # the row map, in RAM
        deleted = self._map(DELETED_FILE, ID_TYPE, (n_deleted,))
        self.live = ~np.isin(self.ids, deleted) if n_deleted else np.ones(self.rows, bool)
        self._sorted = bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._order = None if self._sorted else np.argsort(self.ids, kind="stable")

    def _check_lengths(self, n_deleted: int) -> None:
        wanted = {
            VECTORS_FILE: self.rows * self.dim * self.row_type.itemsize,
            IDS_FILE: self.rows * ID_TYPE.itemsize,
            DELETED_FILE: n_deleted * ID_TYPE.itemsize,
        }
        for name, size in wanted.items():
            found = (self.root / name).stat().st_size if (self.root / name).exists() else -1
            if found < size:
                raise CollectionError(
                    f"The descriptor store {self.root} is truncated: {name} has {max(found, 0)} "
                    f"bytes where the catalogue has committed {size}. {self.fix}"
                )

    def _map(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        if 0 in shape:
            return np.empty(shape, dtype)
        return np.memmap(self.root / name, dtype=dtype, mode="r", shape=shape)

    @property
    def live_count(self) -> int:
        return int(self.live.sum())

    def live_ids(self) -> np.ndarray:
        return self.ids[self.live]

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of ``ids`` (int64); -1 where an id has no live row."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if self.rows == 0:
            return np.full(len(ids), -1, np.int64)
        keys = self.ids if self._sorted else self.ids[self._order]
        pos = np.clip(np.searchsorted(keys, ids), 0, self.rows - 1)
        rows = pos if self._sorted else self._order[pos]
        found = (keys[pos] == ids) & self.live[rows]
        return np.where(found, rows, -1)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` as float32 ``[n, dim]``; ``KeyError`` for an id
        without a live row."""
        rows = self.rows_of(ids)
        if np.any(rows < 0):
            raise KeyError(f"{int(np.sum(rows < 0))} ids have no stored vector")
        order = np.argsort(rows)  # read the file forwards
        out = np.empty((len(rows), self.dim), np.float32)
        out[order] = self.vectors[rows[order]]
        return out

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, float32 [n, dim])`` over every row (dead ones too), in file order."""
        step = chunk_rows or max(1, CHUNK_BYTES // (self.dim * self.row_type.itemsize))
        for start in range(0, self.rows, step):
            block = self.vectors[start : start + step]
            yield start, np.asarray(block, dtype=np.float32)

    def live_chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids [n], float32 vectors [n, dim])`` of the live rows, in file order."""
        for start, block in self.chunks(chunk_rows):
            keep = self.live[start : start + len(block)]
            yield self.ids[start : start + len(block)][keep], block[keep]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner-product top-``k`` over the live rows, streaming the mapped file:
        ``(scores float32 [Q, k], ids int64 [Q, k])``, best first; -1 / -inf past the end."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        best_s = np.full((len(queries), k), MISSING_SCORE, np.float32)
        best_r = np.full((len(queries), k), -1, np.int64)
        for start, block in self.chunks():
            scores = queries @ block.T
            scores[:, ~self.live[start : start + len(block)]] = MISSING_SCORE
            rows = np.broadcast_to(np.arange(start, start + len(block)), scores.shape)
            all_s = np.concatenate([best_s, scores], axis=1)
            all_r = np.concatenate([best_r, rows], axis=1)
            top = np.argpartition(-all_s, min(k, all_s.shape[1]) - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(all_s, top, 1)
            best_r = np.take_along_axis(all_r, top, 1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, 1)
        best_r = np.take_along_axis(best_r, order, 1)
        ids = np.where(np.isfinite(best_s) & (best_r >= 0), self.ids[np.maximum(best_r, 0)], -1)
        return best_s, ids.astype(np.int64)

    def rerank(
        self, queries: np.ndarray, shortlist: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores of each query against its ``shortlist`` ids ``[Q, S]`` (-1 ignored),
        the best ``k`` kept: ``(scores [Q, k], ids [Q, k])`` as :meth:`search`."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        out_s = np.full((len(queries), k), MISSING_SCORE, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for q, (query, wanted) in enumerate(zip(queries, shortlist, strict=True)):
            rows = self.rows_of(wanted[wanted >= 0])
            rows = np.unique(rows[rows >= 0])  # sorted: the file is read forwards
            if not len(rows):
                continue
            scores = np.asarray(self.vectors[rows], dtype=np.float32) @ query
            top = np.argsort(-scores, kind="stable")[:k]
            out_s[q, : len(top)] = scores[top]
            out_i[q, : len(top)] = self.ids[rows[top]]
        return out_s, out_i

    def verify(self) -> None:
        """Re-read every committed segment and check its SHA-256 (``CollectionError`` if not)."""
        row_bytes = self.dim * self.row_type.itemsize
        for seg in self.segments:
            digests = {}
            for name, first, count, size in (
                (VECTORS_FILE, seg.first_row, seg.rows, row_bytes),
                (IDS_FILE, seg.first_row, seg.rows, ID_TYPE.itemsize),
                (DELETED_FILE, seg.first_deleted, seg.deleted, ID_TYPE.itemsize),
            ):
                digests[name] = _hash_range(self.root / name, first * size, count * size)
            if _segment_digest(digests) != seg.sha256:
                raise CollectionError(
                    f"The descriptor store {self.root} is damaged: segment {seg.gen} does not "
                    f"match its checksum. {self.fix}"
                )


def _segment_digest(digests: dict) -> str:
    """A segment's checksum: SHA-256 over the SHA-256 digests of its vector, id and deleted
    bytes (each computed while streaming them)."""
    combined = hashlib.sha256()
    for name in (VECTORS_FILE, IDS_FILE, DELETED_FILE):
        combined.update(digests[name].digest())
    return combined.hexdigest()


def _hash_range(path: Path, offset: int, length: int):
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


class StoreWriter(_StoreFiles):
    """Appends one generation's rows and deletions at a time (hold the collection's lock).

    Opening cuts the files back to what ``segments`` committed (the leftovers of a crash).
    """

    CREATES = True

    def _open(self) -> None:
        self.rows, self.deleted = _ends(self.segments)
        self._files = {}
        self._committed = {
            VECTORS_FILE: self.rows * self.dim * self.row_type.itemsize,
            IDS_FILE: self.rows * ID_TYPE.itemsize,
            DELETED_FILE: self.deleted * ID_TYPE.itemsize,
        }
        self.rollback()
        self._files = {name: open(self.root / name, "ab") for name in self._committed}  # noqa: SIM115 - closed by close()
        self._start_pending()

    def _start_pending(self) -> None:
        self._digests = {name: hashlib.sha256() for name in self._committed}
        self.pending_rows = 0
        self.pending_deleted = 0

    def rollback(self) -> None:
        """Cut every file back to its committed length (drops what is pending)."""
        for handle in self._files.values():
            handle.flush()
        for name, size in self._committed.items():
            path = self.root / name
            if path.stat().st_size < size:
                raise CollectionError(
                    f"The descriptor store {self.root} is truncated ({name}). {self.fix}"
                )
            if path.stat().st_size > size:
                os.truncate(path, size)
        self._start_pending()

    @property
    def dirty(self) -> bool:
        return bool(self.pending_rows or self.pending_deleted)

    def _write(self, name: str, data: bytes) -> None:
        self._files[name].write(data)
        self._digests[name].update(data)

    def append(self, ids: object, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=ID_TYPE).reshape(-1)
        vectors = np.asarray(vectors).reshape(len(ids), -1)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must have {self.dim} columns, got {vectors.shape[1]}.")
        self._write(VECTORS_FILE, np.ascontiguousarray(vectors, dtype=self.row_type).tobytes())
        self._write(IDS_FILE, ids.tobytes())
        self.pending_rows += len(ids)

    def delete(self, ids: object) -> None:
        ids = np.asarray(ids, dtype=ID_TYPE).reshape(-1)
        if len(ids):
            self._write(DELETED_FILE, ids.tobytes())
            self.pending_deleted += len(ids)

    def flush(self, gen: int) -> Segment:
        """fsync what is pending and describe it as generation ``gen``'s segment (which the
        caller commits to the catalogue, then calls :meth:`committed`)."""
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
        return Segment(
            gen,
            self.rows,
            self.pending_rows,
            self.deleted,
            self.pending_deleted,
            _segment_digest(self._digests),
        )

    def committed(self, segment: Segment) -> None:
        """The catalogue holds ``segment`` now: it becomes part of the committed files."""
        self.segments.append(segment)
        self.rows, self.deleted = segment.end_row, segment.end_deleted
        self._committed = {
            VECTORS_FILE: self.rows * self.dim * self.row_type.itemsize,
            IDS_FILE: self.rows * ID_TYPE.itemsize,
            DELETED_FILE: self.deleted * ID_TYPE.itemsize,
        }
        self._start_pending()

    def reader(self, include_pending: Segment | None = None) -> DescriptorStore:
        """A reader of the committed rows (and of ``include_pending``, once flushed)."""
        segments = self.segments + ([include_pending] if include_pending else [])
        return DescriptorStore(
            self.root.parent, self.dim, self.dtype, segments, self.owner, self.name
        )

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}
        fsync_dir(self.root)
