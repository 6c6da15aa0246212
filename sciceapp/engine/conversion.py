"""Turning a collection's exact (flat) index into the compressed kind it asked for.

A collection created with ``index_kind="pca"`` or ``"ivfpq"`` starts flat: those kinds must be
trained, and need :func:`sciceapp.engine.index.min_training_vectors` photos for it. At the first
save that has enough photos, :func:`convert` trains the kind on a sample of the descriptor
store, adds every stored vector, and measures recall@10 against exact search over the store
(queries: up to :data:`RECALL_QUERIES` of the stored vectors, each left out of its own
results). ``library.py`` saves the result like any other generation, so a crash during a
conversion leaves the last save in force, and a cancel (checked while faiss trains too)
keeps exact search.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from sciceapp.engine.defaults import AUTO_TWOSTAGE_FROM
from sciceapp.engine.index import (
    IndexParams,
    VectorIndex,
    check_params,
    min_training_vectors,
    recall_at_k,
)
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.store import DescriptorStore
from sciceapp.progress import CancelToken

log = logging.getLogger(__name__)

RECALL_K = 10
RECALL_QUERIES = 1000
"""Stored vectors used as queries when measuring recall at conversion time."""
MAX_TRAINING_VECTORS = 100_000
"""Training sample cap: k-means and PCA gain little beyond this, and take minutes more."""
TRAINING_BYTES = 2**30
"""And at most this much float32 of it (24 966 base-size descriptors): the sample is the one
copy of vectors a conversion holds in memory."""
TRAINED_KINDS = ("pca", "ivfpq", "twostage")
AUTO = "auto"
"""The collection kind that chooses by size: exact search below :data:`AUTO_TWOSTAGE_FROM`
photos, the two-stage kind from there on (the default for new collections)."""
COLLECTION_KINDS = (AUTO, "flat", *TRAINED_KINDS)


def trained_kind(kind: str) -> str:
    """The index a collection asking for ``kind`` converts to (``flat``: none)."""
    return "twostage" if kind == AUTO else kind


def checked_kind(kind: str) -> str:
    """The kind whose rules a collection's settings must follow: ``auto`` follows only the
    ranges (``flat``'s check), since a model whose descriptors the two-stage kind cannot
    divide into its codes simply stays exact (:func:`flat_reason` says so)."""
    return "flat" if kind == AUTO else kind


def flat_reason(kind: str, dim: int, params: IndexParams, n_vectors: int) -> str | None:
    """Why a collection asking for ``kind`` must still use exact search, or None if it need not."""
    if kind == "flat":
        return None
    if kind == AUTO:
        try:
            check_params("twostage", dim, params)
        except ValueError as exc:
            return (
                f"chosen automatically: the two-stage kind cannot be built for this model's "
                f"{dim}-value descriptors with these settings ({exc}), so search stays exact"
            )
        if n_vectors < AUTO_TWOSTAGE_FROM:
            return (
                f"chosen automatically: below {AUTO_TWOSTAGE_FROM} photos exact search is "
                f"faster than the two-stage kind (benchmarks/RESULTS.md); this collection has "
                f"{n_vectors}, and converts to twostage at the first add or update that "
                f"reaches {AUTO_TWOSTAGE_FROM}"
            )
        kind = "twostage"
    needed = min_training_vectors(kind, dim, params)
    if n_vectors >= needed:
        return None
    return (
        f"the {kind} index needs at least {needed} indexed photos to train, this collection has "
        f"{n_vectors}; it converts itself at the first add or update that reaches {needed}"
    )


def kind_reason(kind: str, kind_used: str, n_vectors: int) -> str:
    """Why a collection asking for ``kind`` searches with ``kind_used`` (when that is not
    exact search still waiting to train, which :func:`flat_reason` explains)."""
    if kind == AUTO:
        return (
            f"chosen automatically: from {AUTO_TWOSTAGE_FROM} photos the two-stage kind is faster "
            f"than exact search (benchmarks/RESULTS.md); this collection has {n_vectors}"
        )
    return "as chosen"


def training_sample(store: DescriptorStore, seed: int = 0) -> np.ndarray:
    """Up to :data:`MAX_TRAINING_VECTORS` live vectors (and at most :data:`TRAINING_BYTES` of
    them), picked evenly at random, as float32: the only copy of vectors conversion makes."""
    live = store.live_ids()
    cap = min(MAX_TRAINING_VECTORS, max(1, TRAINING_BYTES // (4 * store.dim)))
    if len(live) > cap:
        live = np.sort(np.random.default_rng(seed).choice(live, cap, replace=False))
    return store.vectors_of(live)


def convert(
    store: DescriptorStore,
    kind: str,
    params: IndexParams,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> tuple[VectorIndex, float]:
    """A trained ``kind`` index holding every live vector of ``store``, and its recall@10
    against exact search over the store.

    Trains on :func:`training_sample`, then adds the store's rows chunk by chunk, checking
    ``cancel`` between steps (faiss' training too: ``VectorIndex.train``). Raises
    ``ValueError`` when there are too few vectors (check :func:`flat_reason` first); never
    drops a vector: the result is checked to hold exactly the store's live ids.
    """
    if kind not in TRAINED_KINDS:
        raise ValueError(f"Can only convert to {', '.join(TRAINED_KINDS)}, not {kind}.")
    reason = flat_reason(kind, store.dim, params, store.live_count)
    if reason is not None:
        raise ValueError(reason)
    started = time.monotonic()
    converted = VectorIndex(store.dim, kind, params)
    converted.train(training_sample(store, seed), cancel)
    for ids, block in store.live_chunks():
        if cancel is not None:
            cancel.raise_if_cancelled()
        converted.add(ids, block)
    live = np.sort(store.live_ids())
    if not np.array_equal(converted.ids(), live):
        raise RuntimeError(f"The {kind} index lost photos while converting; keeping exact search.")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(live, min(RECALL_QUERIES, len(live)), replace=False))
    queries = store.vectors_of(picked)
    k = min(RECALL_K, len(live) - 1)
    # Each query is a stored photo, which both searches find first: leave it out of both
    # lists, or the recall reads high (as if a new photo were one of the collection's own).
    _, exact_ids = store.search(queries, k + 1)
    searcher = OpenIndex(0, kind, store, converted, params)
    _, approx_ids = searcher.search(queries, k + 1)
    recall = recall_at_k(_others(approx_ids, picked, k), _others(exact_ids, picked, k), k)
    log.info(
        "converted %d vectors to %s in %.1f s: recall@%d %.3f against exact search",
        len(live),
        kind,
        time.monotonic() - started,
        k,
        recall,
    )
    return converted, recall


def _others(rows: np.ndarray, own_ids: np.ndarray, k: int) -> np.ndarray:
    """``rows [Q, k+1]`` without each query's own id, cut to ``[Q, k]`` (-1 padded)."""
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, (row, own) in enumerate(zip(rows, own_ids, strict=True)):
        kept = [int(x) for x in row if x != own][:k]
        out[i, : len(kept)] = kept
    return out
