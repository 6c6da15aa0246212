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

Descriptors are L2-normalised, so for the reduced kinds the squared L2 distance ``d2`` in the
reduced space approximates ``2 - 2 * cosine``; their scores are reported as ``1 - d2 / 2`` so
that every kind returns cosine-like similarities (higher is better) on the same scale.
``VectorIndex.build`` falls back to ``flat`` when there are too few vectors to train on.

File format (``save``/``load``): a magic line, one JSON header line (kind, dim, parameters,
owner: the collection and generation it was saved for), a line with the SHA-256 of the header
line and the payload, then ``faiss.serialize_index`` bytes. A file that fails any check raises
:class:`CollectionError` before faiss sees it. (Files of format 1, whose checksum covered the
payload only, are refused: `collection rebuild` makes a new one from the catalogue.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.defaults import INDEX_PARAM_RANGES
from sciceapp.errors import CollectionError

log = logging.getLogger(__name__)

MAGIC = b"SCICEAPP-FAISS 2\n"
REBUILD_HINT = (
    "Rebuild it with `sciceapp collection rebuild NAME` (the catalogue keeps every photo)."
)
KINDS = ("flat", "pca", "ivfpq")
KMEANS_POINTS_PER_CENTROID = 39
# PCA is fitted on at most this many vectors per output dimension: faiss' PCA costs the cube
# of min(N, D) (minutes for D = 10752), and 4 x 1024 vectors already give a stable subspace.
PCA_TRAIN_PER_DIM = 4
MISSING_SCORE = float("-inf")

# faiss compares a batch of queries with the stored vectors either query by query with its own
# kernels or all at once with one BLAS matrix product, and picks by a rule tuned for servers
# with many threads (recent releases: BLAS once queries x dim >= 128000). Measured on this
# project's 2-core VM (100k stored): a batch of 8 base-size descriptors (D = 10752) took the
# query-by-query path at 67.8 ms per query against 19.1 with BLAS, and the pca kind's 100
# queries of 1024 dimensions 31.5 against 2.1 ms; a single query was as fast or faster without
# BLAS (331 vs 525 ms on one thread). So: one query goes query by query, two or more use BLAS.
NO_BLAS_THRESHOLD = 2**31 - 1
BLAS_FROM_TWO_QUERIES = 2  # under both of faiss' rules: queries < t, and queries x dim < t
_BLAS_SWITCH = threading.Lock()  # faiss keeps the threshold in one process-wide variable


def faiss_search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search(queries, k)`` with faiss' BLAS switch set for the size of this batch."""
    threshold = BLAS_FROM_TWO_QUERIES if len(queries) >= 2 else NO_BLAS_THRESHOLD
    with _BLAS_SWITCH:
        saved = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = threshold
        try:
            return index.search(queries, k)
        finally:
            faiss.cvar.distance_compute_blas_threshold = saved


@dataclass
class IndexParams:
    """Settings of the trained kinds (ignored by ``flat``)."""

    pca_dim: int = 1024
    nlist: int = 256  # 4k photos per list at 1M; suggested_nlist() for bigger collections
    pq_m: int = 128
    pq_bits: int = 8
    nprobe: int = 32

    def effective_pca_dim(self, dim: int) -> int:
        return min(self.pca_dim, dim)


def check_params(kind: str, dim: int, params: IndexParams) -> IndexParams:
    """``params`` if ``kind`` can be built with them at descriptor size ``dim``, else a
    ``ValueError`` naming the setting and its allowed range. The one check of index settings:
    ``create``, the catalogue reader, index files and :class:`VectorIndex` all call it."""
    _check_kind(kind)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"Descriptor size must be a positive integer, got {dim!r}.")
    for name, (low, high) in INDEX_PARAM_RANGES.items():
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    if kind == "ivfpq":
        reduced = params.effective_pca_dim(dim)
        if reduced % params.pq_m:
            raise ValueError(f"pq_m={params.pq_m} must divide the reduced size {reduced}.")
    return params


def params_from_dict(values: object) -> IndexParams:
    """``IndexParams`` from stored JSON values (``TypeError`` for unknown keys or a non-dict);
    the values themselves are checked by :func:`check_params`."""
    if not isinstance(values, dict):
        raise TypeError(f"index settings must be a JSON object, got {type(values).__name__}")
    return IndexParams(**values)


def min_training_vectors(kind: str, dim: int, params: IndexParams | None = None) -> int:
    """How many vectors ``kind`` needs to be trained (0 for ``flat``)."""
    _check_kind(kind)
    params = params or IndexParams()
    if kind == "flat":
        return 0
    pca_dim = params.effective_pca_dim(dim)
    if kind == "pca":
        return pca_dim
    return max(
        KMEANS_POINTS_PER_CENTROID * params.nlist,
        KMEANS_POINTS_PER_CENTROID * 2**params.pq_bits,
        pca_dim,
    )


def suggested_nlist(n_vectors: int) -> int:
    """A power of two near ``4 * sqrt(n)`` that ``n`` vectors can train (at least 16)."""
    target = max(16, int(4 * np.sqrt(max(n_vectors, 1))))
    nlist = 1 << round(np.log2(target))
    while nlist > 16 and KMEANS_POINTS_PER_CENTROID * nlist > n_vectors:
        nlist //= 2
    return nlist


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown index kind {kind!r}; choose one of {', '.join(KINDS)}.")


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
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        reduced = self.params.effective_pca_dim(self.dim)
        if self.kind == "pca":
            pca = faiss.PCAMatrix(self.dim, reduced)
            return faiss.IndexIDMap2(faiss.IndexPreTransform(pca, faiss.IndexFlatL2(reduced)))
        # PCA puts most of the variance into the first components, and so into the first of
        # PQ's sub-vectors; a random rotation after it spreads the variance evenly over them,
        # which the PQ codes then quantise better (recall@10 0.55 -> 0.66 on the benchmark's data).
        pca = faiss.PCAMatrix(self.dim, reduced, 0, True)
        quantizer = faiss.IndexFlatL2(reduced)
        ivf = faiss.IndexIVFPQ(
            quantizer, reduced, self.params.nlist, self.params.pq_m, self.params.pq_bits
        )
        ivf.nprobe = self.params.nprobe
        # The IVF keeps the ids it is given, so it needs no IDMap (whose remove would break).
        index = faiss.IndexPreTransform(pca, ivf)
        self._parts = (quantizer, ivf, pca)  # faiss does not own these: keep them alive
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

    def train(self, vectors: np.ndarray) -> None:
        """Train a ``pca`` or ``ivfpq`` index; ``CollectionError`` with too few vectors."""
        vectors = _as_matrix(vectors, self.dim, "training vectors")
        needed = min_training_vectors(self.kind, self.dim, self.params)
        if len(vectors) < needed:
            raise CollectionError(
                f"The {self.kind} index needs at least {needed} training vectors, got "
                f"{len(vectors)}. Index more photos first or use the flat (exact) kind."
            )
        if self.kind == "flat":
            return
        pca = faiss.downcast_VectorTransform(_pre_transform(self._index).chain.at(0))
        if not pca.is_trained:
            limit = PCA_TRAIN_PER_DIM * self.params.effective_pca_dim(self.dim)
            pca.train(vectors[:: max(1, -(-len(vectors) // limit))])  # an even subsample
        self._index.train(vectors)  # trains what is left (the IVF and PQ); PCA is kept

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
        return int(self._index.remove_ids(ids))

    # -- querying ---------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Every id in the index, ``int64 [ntotal]`` (sorted)."""
        if self.kind == "ivfpq":
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
        distances, ids = faiss_search(self._index, queries, k)
        scores = distances if self.kind == "flat" else 1.0 - distances / 2.0
        scores = np.where(ids >= 0, scores, MISSING_SCORE).astype(np.float32)
        return scores, ids.astype(np.int64)

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], owner: dict | None = None) -> None:
        """Write atomically: temp file in the same folder, fsync, ``os.replace``.

        ``owner`` (JSON values, e.g. the collection's uid and the generation) is stored in the
        checksummed header; :meth:`load` refuses the file for any other owner.
        """
        path = Path(path)
        payload = faiss.serialize_index(self._index).tobytes()
        header = json.dumps(
            {
                "kind": self.kind,
                "dim": self.dim,
                "params": asdict(self.params),
                "fallback_reason": self.fallback_reason,
                "owner": owner,
                "payload_bytes": len(payload),
            },
            sort_keys=True,
        ).encode()
        digest = _checksum(header, payload)
        write_bytes_atomic(path, MAGIC + header + b"\n" + digest + b"\n" + payload)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], owner: dict | None = None, fix: str = REBUILD_HINT
    ) -> VectorIndex:
        """Read a file written by :meth:`save`; ``CollectionError`` (ending with ``fix``) if it
        is missing, damaged, or (with ``owner``) written for another owner."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CollectionError(f"Cannot read the index file {path}: {exc}. {fix}") from exc
        if not data.startswith(MAGIC):
            raise CollectionError(f"{path} is not a sciceapp index file. {fix}")
        header_end = data.find(b"\n", len(MAGIC))
        digest_end = data.find(b"\n", header_end + 1) if header_end >= 0 else -1
        header_bytes = data[len(MAGIC) : header_end]
        payload = data[digest_end + 1 :]
        if digest_end < 0 or data[header_end + 1 : digest_end] != _checksum(header_bytes, payload):
            raise CollectionError(
                f"The index file {path} is truncated or corrupt (checksum mismatch). {fix}"
            )
        try:
            header = json.loads(header_bytes)
            kind, dim = header["kind"], header["dim"]
            params = check_params(kind, dim, params_from_dict(header["params"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CollectionError(
                f"The index file {path} has a damaged header ({exc}). {fix}"
            ) from exc
        if owner is not None and header.get("owner") != owner:
            raise CollectionError(
                f"The index file {path} belongs to another collection or generation "
                f"({header.get('owner')}, expected {owner}): it was copied or restored from "
                f"elsewhere. {fix}"
            )
        try:
            faiss_index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        except RuntimeError as exc:
            raise CollectionError(f"faiss cannot read the index file {path}: {exc}. {fix}") from exc
        if faiss_index.d != dim:
            raise CollectionError(
                f"The index file {path} holds {faiss_index.d}-d vectors, not {dim}. {fix}"
            )
        index = cls.__new__(cls)
        index.dim, index.kind, index.params = dim, kind, params
        index.fallback_reason = header.get("fallback_reason")
        index._index = faiss_index
        if kind == "ivfpq":
            faiss.extract_index_ivf(faiss_index).nprobe = params.nprobe
        return index


def _checksum(header: bytes, payload: bytes) -> bytes:
    """SHA-256 (hex) of the header line and the payload: neither can change unnoticed."""
    digest = hashlib.sha256(header)
    digest.update(b"\n")
    digest.update(payload)
    return digest.hexdigest().encode()


def _pre_transform(index: faiss.Index) -> faiss.IndexPreTransform:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return faiss.downcast_index(inner)


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's exact top-``k`` ids found in its approximate top-``k``.

    ``approx_ids``, ``exact_ids``: ``int64 [Q, >=k]``; -1 entries never count.
    """
    hits = 0
    total = 0
    for approx_row, exact_row in zip(approx_ids[:, :k], exact_ids[:, :k], strict=True):
        truth = set(int(i) for i in exact_row if i >= 0)
        hits += len(truth.intersection(int(i) for i in approx_row if i >= 0))
        total += len(truth)
    return hits / total if total else 1.0


def recall_vs_exact(
    index: VectorIndex, vectors: np.ndarray, ids: object, queries: np.ndarray, k: int = 10
) -> float:
    """Recall@k of ``index`` against exact inner-product search over the same ``vectors``.

    ``vectors [N, dim]`` and ``ids [N]`` must be what ``index`` holds; ``queries [Q, dim]``.
    """
    exact = VectorIndex(index.dim, "flat")
    exact.add(ids, vectors)
    _, exact_ids = exact.search(queries, k)
    _, approx_ids = index.search(queries, k)
    return recall_at_k(approx_ids, exact_ids, k)
