"""A collection's faiss index: descriptors keyed by catalogue row ids.

Kinds (one table, :data:`KINDS`):

- ``flat``: exact inner product over the full descriptors (the default). Memory is
  ``4 * D`` bytes per photo: 43 KB at D = 10752, so about 43 GB per million photos.
- ``pca``: PCA to ``pca_dim`` dimensions (1024 by default), then exact L2 search in the
  reduced space. ``4 * pca_dim`` bytes per photo. Needs at least ``pca_dim`` training vectors.
- ``ivfpq``: PCA to ``pca_dim``, then an inverted file with ``nlist`` lists and product
  quantisation to ``pq_m`` bytes per photo (128 by default), searching ``nprobe`` lists.
  Needs ``max(39 * nlist, 39 * 2**pq_bits, pca_dim)`` training vectors (faiss' k-means rule
  of thumb of 39 points per centroid).
- ``twostage``: an IVF index of the PCA-reduced vectors as a shortlist of ``shortlist``
  photos per query, which the collection re-ranks exactly with the full vectors of its
  descriptor store (``store.DescriptorStore.rerank``); this module holds the shortlist part.
  Its code (``params.code``, ``index_params.py``): ``pq4``, 4-bit fast-scan codes
  (``index_fastscan.py``); ``sq8``, 8 bits per reduced value; or ``pq``, the ``ivfpq``
  index's codes (the first two-stage files).

Descriptors are L2-normalised, so for the reduced kinds the squared L2 distance ``d2`` in the
reduced space approximates ``2 - 2 * cosine``; their scores are reported as ``1 - d2 / 2`` so
that every kind returns cosine-like similarities (higher is better) on the same scale.
``VectorIndex.build`` falls back to ``flat`` when there are too few vectors to train on.
Files are faiss' own format (``index_files.py``); the faiss structures, their step-by-step
training and the BLAS switch are in ``index_faiss.py``, recall@k in ``index_recall.py``. The
files of sciceapp before the descriptor store (a magic line and a JSON header before the
faiss bytes) are read by ``migration.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field

import faiss
import numpy as np

from sciceapp.engine import index_fastscan, index_files
from sciceapp.engine.index_faiss import (  # noqa: F401 - faiss_search, re-exported
    CODE_OF_STRUCTURE,
    check_cancel,
    faiss_search,
    new_faiss_index,
    pre_transform,
    search_in_parts,
    structure_of,
    train_ivf,
)
from sciceapp.engine.index_params import (  # noqa: F401 - the settings' names, re-exported
    CODES,
    IVF_KINDS,
    KINDS,
    IndexParams,
    check_params,
    min_training_vectors,
    params_from_dict,
    suggested_nlist,
)
from sciceapp.engine.index_recall import recall_at_k, recall_vs_exact  # noqa: F401
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken

log = logging.getLogger(__name__)

REBUILD_HINT = (
    "Rebuild it with `sciceapp collection rebuild NAME` (the catalogue keeps every photo)."
)
# PCA is fitted on at most this many vectors per output dimension: faiss' PCA costs the cube
# of min(N, D) (minutes for D = 10752), and 4 x 1024 vectors already give a stable subspace.
PCA_TRAIN_PER_DIM = 4
MISSING_SCORE = float("-inf")


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"{what} must have shape [N, {dim}], got {list(np.shape(vectors))}.")
    return array


def _as_ids(ids: object) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    if array.size and array.min() < 0:
        raise ValueError("Index ids are catalogue row ids and must not be negative.")
    return array


@dataclass
class VectorIndex:
    """Descriptors ``[N, dim]`` stored under catalogue ids; see the module docstring for kinds."""

    dim: int
    kind: str = "flat"
    params: IndexParams = field(default_factory=IndexParams)
    fallback_reason: str | None = None
    _index: faiss.Index = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_params(self.kind, self.dim, self.params)
        self._index = self._new_faiss_index()

    def _new_faiss_index(self) -> faiss.Index:
        index, self._parts = new_faiss_index(self.dim, self.kind, self.params)
        if self.kind in IVF_KINDS:
            self._ivf = self._parts[1]
        return index

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        dim: int,
        ids: object,
        vectors: np.ndarray,
        kind: str = "flat",
        params: IndexParams | None = None,
        max_training_vectors: int | None = None,
        seed: int = 0,
    ) -> VectorIndex:
        """Train (on up to ``max_training_vectors`` of ``vectors``) and add everything.

        Falls back to ``flat`` (with ``fallback_reason`` set and logged) when ``vectors`` has
        fewer rows than the kind needs.
        """
        params = params or IndexParams()
        vectors = _as_matrix(vectors, dim, "vectors")
        needed = min_training_vectors(kind, dim, params)
        reason = None
        if len(vectors) < needed:
            reason = (
                f"The {kind} index needs at least {needed} vectors to train, got {len(vectors)}; "
                "using exact (flat) search instead."
            )
            log.warning(reason)
            kind = "flat"
        index = cls(dim, kind, params, fallback_reason=reason)
        if kind != "flat":
            sample = vectors
            if max_training_vectors is not None and len(vectors) > max_training_vectors:
                rng = np.random.default_rng(seed)
                pick = np.sort(rng.choice(len(vectors), max_training_vectors, replace=False))
                sample = vectors[pick]
            index.train(sample)
        index.add(ids, vectors)
        return index

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, vectors: np.ndarray, cancel: CancelToken | None = None) -> None:
        """Train a ``pca``, ``ivfpq`` or ``twostage`` index; ``CollectionError`` with too few
        vectors. ``cancel`` is checked between the steps of training (each k-means
        iteration, each PQ sub-quantiser), so a cancelled training stops within seconds."""
        vectors = _as_matrix(vectors, self.dim, "training vectors")
        needed = min_training_vectors(self.kind, self.dim, self.params)
        if len(vectors) < needed:
            raise CollectionError(
                f"The {self.kind} index needs at least {needed} training vectors, got "
                f"{len(vectors)}. Index more photos first or use the flat (exact) kind."
            )
        if self.kind == "flat":
            return
        pca = faiss.downcast_VectorTransform(pre_transform(self._index).chain.at(0))
        if not pca.is_trained:
            check_cancel(cancel)
            limit = PCA_TRAIN_PER_DIM * self.params.effective_pca_dim(self.dim)
            pca.train(vectors[:: max(1, -(-len(vectors) // limit))])  # an even subsample
            # faiss keeps the eigenvectors of the whole fit besides the projection it applies
            # (at D = 10752: 150 MB or more in the file and in memory at every open): drop them.
            pca.PCAMat.clear()
        if self.kind == "pca":
            self._index.train(vectors)  # nothing left to train but faiss' flag; PCA is kept
            return
        check_cancel(cancel)
        reduced = pca.apply(vectors)
        train_ivf(self._ivf, reduced, cancel)
        faiss.downcast_index(self._index).is_trained = True

    def add(self, ids: object, vectors: np.ndarray) -> None:
        """Add ``vectors [N, dim]`` under ``ids [N]``; an id already present is replaced."""
        ids = _as_ids(ids)
        vectors = _as_matrix(vectors, self.dim, "vectors")
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors.")
        if not np.isfinite(vectors).all():
            raise ValueError("A descriptor holds NaN or infinity; it cannot enter an index.")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("The same id appears twice in one add().")
        if not self.is_trained:
            raise CollectionError(
                f"This {self.kind} index is not trained yet; train it (or build it with "
                "VectorIndex.build) before adding photos."
            )
        if len(ids) == 0:
            return
        self.remove(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: object) -> int:
        """Remove ``ids`` (missing ones are ignored); returns how many were removed."""
        ids = _as_ids(ids)
        if len(ids) == 0 or self.ntotal == 0:
            return 0
        if self.params.uses_pq4(self.kind):
            removed = index_fastscan.remove_ids(self._ivf, ids)  # not faiss': see there
            self._index.ntotal = self._ivf.ntotal
            return removed
        return int(self._index.remove_ids(ids))

    # -- querying ---------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Every id in the index, ``int64 [ntotal]`` (sorted)."""
        if self.kind in IVF_KINDS:
            ivf = faiss.extract_index_ivf(self._index)
            lists = [
                faiss.rev_swig_ptr(ivf.invlists.get_ids(i), ivf.invlists.list_size(i)).copy()
                for i in range(ivf.nlist)
                if ivf.invlists.list_size(i)
            ]
            found = np.concatenate(lists) if lists else np.empty(0, np.int64)
        else:
            found = faiss.vector_to_array(self._index.id_map)
        return np.sort(found.astype(np.int64))

    def stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """A ``flat`` index's content: ``(ids int64 [N], vectors float32 [N, dim])``, in
        insertion order. This is what a compressed index is trained on when a collection
        converts; the reduced kinds cannot give their vectors back exactly, so they refuse.
        """
        if self.kind != "flat":
            raise ValueError(f"A {self.kind} index does not keep its vectors exactly.")
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if len(ids) == 0:
            return ids, np.empty((0, self.dim), np.float32)
        flat = faiss.downcast_index(self._index.index)
        return ids, flat.reconstruct_n(0, len(ids)).astype(np.float32, copy=False)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``queries [Q, dim] -> (scores float32 [Q, k], ids int64 [Q, k])``, best first.

        Scores are cosine-like similarities (see module docstring); slots past the number of
        stored photos have id -1 and score ``-inf``.
        """
        queries = _as_matrix(queries, self.dim, "queries")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}.")
        if self.ntotal == 0:
            shape = (len(queries), k)
            return np.full(shape, MISSING_SCORE, np.float32), np.full(shape, -1, np.int64)
        if self.kind == "twostage":
            distances, ids = search_in_parts(self._index, self._ivf, queries, k)
        else:
            distances, ids = faiss_search(self._index, queries, k)
        scores = distances if self.kind == "flat" else 1.0 - distances / 2.0
        scores = np.where(ids >= 0, scores, MISSING_SCORE).astype(np.float32)
        return scores, ids.astype(np.int64)

    # -- files (index_files.py) -------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        """Write faiss' format atomically, returning the bytes' SHA-256 (``index_files.save``)."""
        return index_files.save(self._index, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        kind: str | None = None,
        params: IndexParams | None = None,
        sha256: str | None = None,
        mmap: bool = False,
        fix: str = REBUILD_HINT,
    ) -> VectorIndex:
        """A file written by :meth:`save` (``index_files.read``, which checks ``sha256``)."""
        faiss_index, kind = index_files.read(path, kind, sha256, mmap, fix)
        return cls._wrap(faiss_index, kind, params or IndexParams())

    @classmethod
    def _wrap(cls, faiss_index: faiss.Index, kind: str, params: IndexParams) -> VectorIndex:
        index = cls.__new__(cls)
        if kind == "twostage":  # the file tells its code (files before sq8 hold pq codes)
            code = CODE_OF_STRUCTURE[structure_of(faiss_index)]
            params = dataclasses.replace(params, code=code)
        index.dim, index.kind, index.params = int(faiss_index.d), kind, params
        index.fallback_reason = None
        index._index = faiss_index
        if kind in IVF_KINDS:
            index._ivf = faiss.extract_index_ivf(faiss_index)
            index._ivf.nprobe = params.nprobe
        return index
