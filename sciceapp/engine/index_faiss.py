"""The faiss structures behind each index kind, and their training, step by step.

:func:`new_faiss_index` builds the untrained faiss index of a kind; :func:`structure_of`
tells a faiss index read from a file back apart (``flat``, ``pca``, ``ivfpq`` or ``ivfsq``);
:func:`train_ivf` trains an IVF index one k-means iteration (and one PQ sub-quantiser) at a
time so that a cancel stops it within seconds, which faiss' own ``train`` cannot;
:func:`faiss_search` searches with faiss' BLAS switch set for the batch's size.
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

from sciceapp.engine import index_fastscan, parallel
from sciceapp.engine.index_params import IndexParams
from sciceapp.errors import CancelledError
from sciceapp.progress import CancelToken

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


def search_in_parts(
    pre: faiss.IndexPreTransform, ivf: faiss.IndexIVF, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``pre.search(queries, k)`` with each query's ``nprobe`` lists split over the cores
    (``engine/parallel.py``): faiss scans one query's lists on one core. Each part is searched
    with faiss' own ``search_preassigned`` on its share of the lists (:func:`share_lists`),
    and the parts' results merged by distance: the same answer as faiss' search."""
    parts = min(parallel.cores(), ivf.nprobe)
    if parts < 2 or len(queries) >= parts:
        return faiss_search(pre, queries, k)  # faiss spreads the queries over the cores
    x = np.ascontiguousarray(queries, dtype=np.float32)
    for i in range(pre.chain.size()):
        x = faiss.downcast_VectorTransform(pre.chain.at(i)).apply(x)
    n = len(x)
    centroid_d, lists = ivf.quantizer.search(x, ivf.nprobe)
    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], np.int64)
    shares = share_lists(lists, sizes, parts)

    def part(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assign = np.ascontiguousarray(np.take_along_axis(lists, np.maximum(columns, 0), 1))
        assign[columns < 0] = -1  # faiss skips list -1
        dis = np.ascontiguousarray(np.take_along_axis(centroid_d, np.maximum(columns, 0), 1))
        distances, labels = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
        params = faiss.SearchParametersIVF()
        params.nprobe = assign.shape[1]
        ivf.search_preassigned_c(
            n, faiss.swig_ptr(x), k, faiss.swig_ptr(assign), faiss.swig_ptr(dis),
            faiss.swig_ptr(distances), faiss.swig_ptr(labels), False, params,
        )  # fmt: skip
        return distances, labels

    found = list(parallel.pool().map(part, shares))
    distances = np.concatenate([d for d, _ in found], axis=1)
    labels = np.concatenate([i for _, i in found], axis=1)
    distances = np.where(labels >= 0, distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), np.take_along_axis(labels, order, 1)


def share_lists(lists: np.ndarray, sizes: np.ndarray, parts: int) -> list[np.ndarray]:
    """For each part, the columns of ``lists [n, nprobe]`` (list numbers per query) it scans,
    ``[n, width]`` padded with -1: each query's non-empty lists dealt out biggest first to the
    part with the fewest photos so far, so the parts scan about as many codes each. (The
    lists a query is nearest to are not the same size: at 1M photos the nearest half of them
    held 60-83% of the codes, so halves by rank left one core with two thirds of the scan.)"""
    chosen: list[list[list[int]]] = [[[] for _ in range(parts)] for _ in range(len(lists))]
    for q, row in enumerate(lists):
        held = np.where(row >= 0, sizes[np.maximum(row, 0)], 0)
        load = np.zeros(parts, np.int64)
        for column in np.argsort(-held, kind="stable"):
            if held[column] == 0:
                break
            target = int(np.argmin(load))
            chosen[q][target].append(int(column))
            load[target] += held[column]
    width = max(1, max(len(c) for per_query in chosen for c in per_query))
    shares = []
    for p in range(parts):
        columns = np.full((len(lists), width), -1, np.int64)
        for q in range(len(lists)):
            columns[q, : len(chosen[q][p])] = chosen[q][p]
        shares.append(columns)
    return shares


KMEANS_ITERATIONS = 20
STRUCTURES = {"flat": ("flat",), "pca": ("pca",), "ivfpq": ("ivfpq",)}
STRUCTURES["twostage"] = ("ivfpq4", "ivfsq", "ivfpq")  # pq4, sq8; pq: the first files
CODE_OF_STRUCTURE = {"ivfpq4": "pq4", "ivfsq": "sq8", "ivfpq": "pq"}


def new_faiss_index(dim: int, kind: str, params: IndexParams) -> tuple[faiss.Index, tuple]:
    """``(index, parts)``: the untrained index, and the faiss objects it uses but does not own
    (the caller keeps them alive as long as the index)."""
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), ()
    reduced = params.effective_pca_dim(dim)
    if kind == "pca":
        pca = faiss.PCAMatrix(dim, reduced)
        return faiss.IndexIDMap2(faiss.IndexPreTransform(pca, faiss.IndexFlatL2(reduced))), (pca,)
    quantizer = faiss.IndexFlatL2(reduced)
    if params.uses_pq4(kind):
        pca = faiss.PCAMatrix(dim, reduced, 0, True)  # rotated, as for pq (below)
        ivf = index_fastscan.new_ivf(quantizer, reduced, params.nlist)
    elif params.uses_pq(kind):
        # PCA puts most of the variance into the first components, and so into the first of
        # PQ's sub-vectors; a random rotation after it spreads the variance evenly over them,
        # which the PQ codes then quantise better (recall@10 0.55 -> 0.66 on the benchmark's
        # data).
        pca = faiss.PCAMatrix(dim, reduced, 0, True)
        ivf = faiss.IndexIVFPQ(quantizer, reduced, params.nlist, params.pq_m, params.pq_bits)
    else:
        # The scalar quantiser has a range per dimension, so the unequal variances of the PCA
        # components cost it nothing: no rotation. It encodes the residual to the list's
        # centroid (faiss' default), which its 8 bits then resolve more finely.
        pca = faiss.PCAMatrix(dim, reduced)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, reduced, params.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2
        )
    ivf.nprobe = params.nprobe
    # The IVF keeps the ids it is given, so it needs no IDMap (whose remove would break).
    return faiss.IndexPreTransform(pca, ivf), (quantizer, ivf, pca)


def structure_of(index: faiss.Index) -> str | None:
    """``flat``, ``pca``, ``ivfpq``, ``ivfsq`` or ``ivfpq4`` from a faiss index's structure;
    None if it is not one sciceapp writes."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexFlatIP):
            return "flat"
        if isinstance(inner, faiss.IndexPreTransform):
            return "pca"
        return None
    if isinstance(index, faiss.IndexPreTransform):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexIVFPQ):
            return "ivfpq"
        if isinstance(inner, faiss.IndexIVFScalarQuantizer):
            return "ivfsq"
        if isinstance(inner, faiss.IndexIVFPQFastScan):
            return "ivfpq4"
    return None


def kind_of_structure(structure: str) -> str:
    """The kind a file of ``structure`` is read as when no kind is recorded for it."""
    return "twostage" if structure in ("ivfsq", "ivfpq4") else structure


def pre_transform(index: faiss.Index) -> faiss.IndexPreTransform:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return faiss.downcast_index(inner)


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise CancelledError("Training the index was cancelled; the exact index is kept.")


def kmeans(
    x: np.ndarray, k: int, cancel: CancelToken | None, seed: int, init: np.ndarray | None = None
) -> np.ndarray:
    """``k`` centroids of ``x`` by faiss' k-means, one iteration per call so ``cancel`` is
    checked between iterations."""
    centroids = init
    for step in range(KMEANS_ITERATIONS):
        check_cancel(cancel)
        km = faiss.Kmeans(x.shape[1], k, niter=1, seed=seed + step)
        km.cp.max_points_per_centroid = 256
        km.train(x, init_centroids=centroids)
        centroids = km.centroids.copy()
    return centroids


def train_ivf(ivf: faiss.IndexIVF, reduced: np.ndarray, cancel: CancelToken | None) -> None:
    """What ``ivf.train`` does (coarse k-means, then the codes on the residuals), step by
    step: PQ's codebooks one sub-quantiser at a time; the scalar quantiser's ranges (one pass
    over the residuals, seconds) and the fast-scan codebooks (sixteen centroids each: about
    2 s for 256 of them on 25k vectors) by faiss, which skips the coarse k-means done here."""
    reduced = np.ascontiguousarray(reduced, dtype=np.float32)
    coarse = kmeans(reduced, ivf.nlist, cancel, seed=1)
    quantizer = faiss.downcast_index(ivf.quantizer)
    quantizer.reset()
    quantizer.add(coarse)
    check_cancel(cancel)
    if not isinstance(ivf, faiss.IndexIVFPQ):
        ivf.train(reduced)
        return
    _, assigned = quantizer.search(reduced, 1)
    residuals = reduced - coarse[assigned[:, 0]]
    pq = ivf.pq
    ksub, dsub = 1 << pq.nbits, pq.dsub
    books = np.empty((pq.M, ksub, dsub), np.float32)
    for m in range(pq.M):
        books[m] = kmeans(
            np.ascontiguousarray(residuals[:, m * dsub : (m + 1) * dsub]),
            ksub,
            cancel,
            seed=100 + m,
        )
    faiss.copy_array_to_vector(books.ravel(), pq.centroids)
    ivf.is_trained = True
    ivf.precompute_table()
