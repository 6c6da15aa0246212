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

This module reads (:class:`DescriptorStore`); ``store_writer.py`` appends
(:class:`StoreWriter`, re-exported here); ``store_files.py`` holds what both share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import faiss
import numpy as np

from sciceapp.engine import parallel
from sciceapp.engine.store_files import (  # noqa: F401 - the format's names, re-exported
    DELETED_FILE,
    DTYPES,
    FIX,
    FORMAT_VERSION,
    ID_TYPE,
    IDS_FILE,
    META_FILE,
    STORE_DIR,
    VECTORS_FILE,
    Segment,
    StoreFiles,
    create,
    ends,
    hash_range,
    segment_digest,
)
from sciceapp.errors import CollectionError

CHUNK_BYTES = 64 * 2**20
"""Bytes of stored rows read per step of a streaming pass (exact search, iteration)."""
MISSING_SCORE = float("-inf")


def top_inner_products(
    rows: np.ndarray, queries: np.ndarray, k: int, live: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores [Q, k], positions [Q, k])``: the best ``k`` of ``rows [n, dim]`` (those where
    ``live`` is true) by inner product with each of ``queries [Q, dim]``, best first; -inf /
    -1 past the end. float16 rows are scored by faiss' half-precision scanner (converted in
    SIMD registers as they are read): numpy's float16 to float32 conversion of 256 base-size
    rows alone took 30-90 ms, faiss' whole search about 1 ms; streaming exact search over a
    float16 store was 10x slower than over a float32 one (benchmarks/RESULTS.md)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    dead = 0 if live is None else int(len(live) - np.count_nonzero(live))
    if rows.dtype == np.float16:
        scanner = faiss.IndexScalarQuantizer(
            rows.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        scanner.add_sa_codes(np.ascontiguousarray(rows).view(np.uint8).reshape(len(rows), -1))
        scores, top = scanner.search(queries, min(k + dead, len(rows)))
        if dead:  # the dead rows found among the first k + dead are dropped
            scores = np.where(live[np.maximum(top, 0)] & (top >= 0), scores, MISSING_SCORE)
    else:
        scores = queries @ np.asarray(rows, dtype=np.float32).T
        if dead:
            scores[:, ~live] = MISSING_SCORE
        top = np.argsort(-scores, axis=1, kind="stable")[:, : k + dead]
        scores = np.take_along_axis(scores, top, 1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    scores, top = np.take_along_axis(scores, order, 1), np.take_along_axis(top, order, 1)
    return scores.astype(np.float32), np.where(np.isfinite(scores), top, -1).astype(np.int64)


_SCANNER = threading.local()
RERANK_BLOCK_BYTES = 3 * 2**20
"""float16 rows are re-ranked a block of about this many bytes at a time (128 base-size rows),
so that each block is scored while it is still in the cache it was copied through."""


def top_of_rows(
    vectors: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_inner_products` of ``vectors[rows]`` (``query``: ``[Q, dim]``; positions
    into ``rows``). float16 rows are copied straight into the code buffer of a faiss
    half-precision scanner kept per thread, one block (:data:`RERANK_BLOCK_BYTES`) at a time.
    Measured on 1024 base-size rows in the page cache, one core: copying them into a new
    array and that into a new scanner (what :func:`top_inner_products` must do) 32 ms, into
    the kept scanner at once 11-13 ms, by blocks of 128 rows 7-8 ms (RESULTS.md, "Fourth
    session")."""
    if not len(rows):
        empty = (len(np.atleast_2d(query)), 0)
        return np.empty(empty, np.float32), np.empty(empty, np.int64)
    if vectors.dtype != np.float16:
        return top_inner_products(vectors[rows], query, k)
    dim = vectors.shape[1]
    scanner = getattr(_SCANNER, "index", None)
    if scanner is None or scanner.d != dim:
        scanner = faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        _SCANNER.index = scanner
    query = np.ascontiguousarray(query, dtype=np.float32)
    block = max(1, RERANK_BLOCK_BYTES // scanner.code_size)
    found_s, found_at = [], []
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        size = len(part) * scanner.code_size
        scanner.codes.resize(size)
        scanner.ntotal = len(part)
        codes = faiss.rev_swig_ptr(scanner.codes.data(), size)
        codes.view(np.float16).reshape(len(part), dim)[:] = vectors[part]
        scores, top = scanner.search(query, min(k, len(part)))
        found_s.append(scores)
        found_at.append(np.where(top >= 0, top + start, -1))
    scores, at = np.concatenate(found_s, axis=1), np.concatenate(found_at, axis=1)
    scores = np.where(at >= 0, scores, MISSING_SCORE).astype(np.float32)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, best, 1), np.take_along_axis(at, best, 1).astype(np.int64)


class DescriptorStore(StoreFiles):
    """The committed rows of a store, memory-mapped (read-only; any number of readers)."""

    def _open(self) -> None:
        self.rows, n_deleted = ends(self.segments)
        self._check_lengths(n_deleted)
        self.vectors = self._map(VECTORS_FILE, self.row_type, (self.rows, self.dim))
        self.ids = np.array(self._map(IDS_FILE, ID_TYPE, (self.rows,)))  # the row map, in RAM
        deleted = self._map(DELETED_FILE, ID_TYPE, (n_deleted,))
        self.live = ~np.isin(self.ids, deleted) if n_deleted else np.ones(self.rows, bool)
        self._sorted = bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._order = None if self._sorted else np.argsort(self.ids, kind="stable")

    def _check_lengths(self, n_deleted: int) -> None:
        wanted = self.file_sizes(self.rows, n_deleted)
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
        step = chunk_rows or max(1, CHUNK_BYTES // self.row_bytes)
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
        step = max(1, CHUNK_BYTES // self.row_bytes)
        for start in range(0, self.rows, step):
            block = self.vectors[start : start + step]
            live = self.live[start : start + len(block)]
            if block.dtype == np.float16:  # faiss' scanner, a cache-sized block at a time
                held = np.flatnonzero(live) + start
                scores, pos = top_of_rows(self.vectors, held, queries, k)
                rows = np.where(pos >= 0, held[np.maximum(pos, 0)], -1)
            else:
                scores, pos = top_inner_products(block, queries, k, live)
                rows = np.where(pos >= 0, pos + start, -1)
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
        the best ``k`` kept: ``(scores [Q, k], ids [Q, k])`` as :meth:`search`.

        The rows are asked of the kernel before they are read (:meth:`prefetch`), so that a
        cold store reads them in parallel instead of one page fault at a time: all at once for
        one query; for a batch, those of the first queries at once, the rest while the first
        are scored."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        out_s = np.full((len(queries), k), MISSING_SCORE, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        wanted_rows = []
        for wanted in shortlist:
            rows = self.rows_of(wanted[wanted >= 0])
            wanted_rows.append(np.unique(rows[rows >= 0]))  # sorted: read the file forwards

        def score(q: int) -> None:
            rows = wanted_rows[q]
            if not len(rows):
                return
            scores, top = top_of_rows(self.vectors, rows, queries[q : q + 1], k)
            found = top[0] >= 0
            out_s[q, : found.sum()] = scores[0][found]
            out_i[q, : found.sum()] = self.ids[rows[top[0][found]]]

        every = np.unique(np.concatenate(wanted_rows)) if wanted_rows else np.empty(0, np.int64)
        cores = parallel.cores()
        if len(queries) == 1 or cores < 2:
            self.prefetch(every)
            for q in range(len(queries)):
                score(q)
            return out_s, out_i
        # Each query's rows on a core of its own (engine/parallel.py). The rows of the queries
        # scored first are asked for first; the others' requests (about 2 us a row even when
        # cached: 15-30 ms for 8 x 1024 rows) are made while those are scored.
        first = np.unique(np.concatenate(wanted_rows[:cores]))
        self.prefetch(first)
        scoring = [parallel.pool().submit(score, q) for q in range(len(queries))]
        self.prefetch(np.setdiff1d(every, first, assume_unique=True))
        for done in scoring:
            done.result()
        return out_s, out_i

    def prefetch(self, rows: np.ndarray) -> None:
        """Start reading ``rows`` (sorted row numbers) into the page cache, all at once
        (``posix_fadvise WILLNEED``; where the system has none, the reads fault one by one).
        Measured on a cold 1M-photo float16 store: 256 rows in 60-80 ms this way, 4.5-6 s
        touched through the map unasked (benchmarks/RESULTS.md, "Two-stage latency")."""
        if not len(rows) or not hasattr(os, "posix_fadvise"):
            return
        row_bytes = self.row_bytes
        fd = os.open(self.root / VECTORS_FILE, os.O_RDONLY)
        try:
            for row in rows:
                os.posix_fadvise(fd, int(row) * row_bytes, row_bytes, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def verify(self) -> None:
        """Re-read every committed segment and check its SHA-256 (``CollectionError`` if not)."""
        row_bytes = self.row_bytes
        for seg in self.segments:
            digests = {}
            for name, first, count, size in (
                (VECTORS_FILE, seg.first_row, seg.rows, row_bytes),
                (IDS_FILE, seg.first_row, seg.rows, ID_TYPE.itemsize),
                (DELETED_FILE, seg.first_deleted, seg.deleted, ID_TYPE.itemsize),
            ):
                digests[name] = hash_range(self.root / name, first * size, count * size)
            if segment_digest(digests) != seg.sha256:
                raise CollectionError(
                    f"The descriptor store {self.root} is damaged: segment {seg.gen} does not "
                    f"match its checksum. {self.fix}"
                )


from sciceapp.engine.store_writer import StoreWriter  # noqa: E402, F401 - re-exported
