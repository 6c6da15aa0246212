"""What a collection searches at one saved generation, and the process-wide cache of it.

:class:`OpenIndex` joins the collection's descriptor store (memory-mapped) and, for the
trained kinds, its faiss index file (read with ``IO_FLAG_MMAP_IFC``, so the flat parts stay in
the file's pages):

- ``flat``: exact search streams over the store; no index file exists.
- ``pca``, ``ivfpq``: the faiss index answers alone (approximate scores).
- ``twostage``: the faiss index (IVF-PQ) gives a shortlist of ``params.shortlist`` photos
  per query; their full vectors, read from the store, re-rank it exactly.

A long-lived process (the GUI) opens many jobs on one collection: :func:`opened` keeps the
last :data:`MAX_OPEN` opened collections, keyed by folder and generation, so a job on a
collection that did not change since the last one loads nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.engine.index import REBUILD_HINT, IndexParams, VectorIndex
from sciceapp.engine.store import DescriptorStore
from sciceapp.errors import CollectionError

MAX_OPEN = 2
INDEX_FILE = "index-{gen}.faiss"


@dataclass
class OpenIndex:
    gen: int
    kind: str  # the kind in use (``index_kind_used``)
    store: DescriptorStore
    index: VectorIndex | None  # None for flat
    params: IndexParams

    @property
    def ntotal(self) -> int:
        return self.index.ntotal if self.index is not None else self.store.live_count

    def ids(self) -> np.ndarray:
        """Every searchable id, sorted."""
        found = self.index.ids() if self.index is not None else self.store.live_ids()
        return np.sort(found)

    def stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored descriptors of the live photos, ``(ids int64 [N], float32 [N, dim])`` in
        store order, in memory (for evaluations and small collections; a search never needs
        them all at once)."""
        parts = list(self.store.live_chunks())
        if not parts:
            return np.empty(0, np.int64), np.empty((0, self.store.dim), np.float32)
        return (
            np.concatenate([ids for ids, _ in parts]).astype(np.int64),
            np.concatenate([vectors for _, vectors in parts]),
        )

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores [Q, k], ids [Q, k])``, best first (-1 / -inf past the end)."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if self.index is None:
            return self.store.search(queries, k)
        if self.kind == "twostage":
            _, shortlist = self.index.search(queries, max(k, self.params.shortlist))
            return self.store.rerank(queries, shortlist, k)
        return self.index.search(queries, k)


def load(
    folder: Path,
    gen: int,
    kind: str,
    params: IndexParams,
    store: DescriptorStore,
    index_sha256: str | None,
    fix: str = REBUILD_HINT,
) -> OpenIndex:
    """Open generation ``gen`` of the collection in ``folder`` for searching (``fix``: the way
    out, should its index file be missing, damaged or another's)."""
    index = None
    if kind != "flat":
        path = folder / INDEX_FILE.format(gen=gen)
        index = VectorIndex.load(path, kind, params, sha256=index_sha256, mmap=True, fix=fix)
        if index.dim != store.dim:
            raise CollectionError(
                f"The index file {path} holds {index.dim}-d vectors; its collection has "
                f"{store.dim}. {fix}"
            )
    return OpenIndex(gen, kind, store, index, params)


def check_rows(opened: OpenIndex, expected: set[int], fix: str = REBUILD_HINT) -> None:
    """``CollectionError`` unless what ``opened`` searches is exactly the catalogue's indexed
    rows ``expected`` (a store or index file edited, or a catalogue restored from elsewhere).
    The trained kinds answer from their index file; twostage needs the store's rows as well."""
    found = [opened.store.live_ids()] if opened.index is None else [opened.index.ids()]
    if opened.kind == "twostage":
        found.append(opened.store.live_ids())
    for ids in found:
        if len(ids) != len(expected) or set(ids.tolist()) != expected:
            raise CollectionError(
                f"The files of {opened.store.root.parent} do not match the catalogue ({len(ids)} "
                f"photos in them, {len(expected)} indexed in the catalogue). {fix}"
            )


_OPEN: OrderedDict[str, OpenIndex] = OrderedDict()
_OPEN_LOCK = threading.Lock()
loads = 0
"""How many times this process opened a collection's files (the cache's misses)."""


def opened(folder: Path, gen: int, open_fn: Callable[[], OpenIndex]) -> OpenIndex:
    """The open index of ``folder`` at ``gen``: the cached one, or ``open_fn()``'s."""
    global loads
    key = str(folder)
    with _OPEN_LOCK:
        found = _OPEN.get(key)
        if found is not None and found.gen == gen:
            _OPEN.move_to_end(key)
            return found
    fresh = open_fn()
    with _OPEN_LOCK:
        loads += 1
        _OPEN[key] = fresh
        _OPEN.move_to_end(key)
        while len(_OPEN) > MAX_OPEN:
            _OPEN.popitem(last=False)
    return fresh


def forget(folder: Path) -> None:
    """Drop ``folder``'s open index (its collection was removed)."""
    with _OPEN_LOCK:
        _OPEN.pop(str(folder), None)
