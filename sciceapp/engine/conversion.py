"""Turning a collection's exact (flat) index into the compressed kind it asked for.

A collection created with ``index_kind="pca"`` or ``"ivfpq"`` starts flat: those kinds must be
trained, and need :func:`sciceapp.engine.index.min_training_vectors` photos for it. At the first
save that has enough photos, :func:`convert` trains the kind on the flat index's own vectors,
adds every one of them, and measures recall@10 against the flat index it replaces (queries:
up to :data:`RECALL_QUERIES` of the stored vectors, each left out of its own results). ``library.py`` saves the result like any
other generation, so a crash during a conversion leaves the last flat save in force.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from sciceapp.engine.index import IndexParams, VectorIndex, min_training_vectors, recall_at_k

log = logging.getLogger(__name__)

RECALL_K = 10
RECALL_QUERIES = 1000
"""Stored vectors used as queries when measuring recall at conversion time."""
MAX_TRAINING_VECTORS = 100_000
"""Training sample cap: k-means and PCA gain little beyond this, and take minutes more."""


def flat_reason(kind: str, dim: int, params: IndexParams, n_vectors: int) -> str | None:
    """Why a collection asking for ``kind`` must still use exact search, or None if it need not."""
    if kind == "flat":
        return None
    needed = min_training_vectors(kind, dim, params)
    if n_vectors >= needed:
        return None
    return (
        f"the {kind} index needs at least {needed} indexed photos to train, this collection has "
        f"{n_vectors}; it converts itself at the first add or update that reaches {needed}"
    )


def convert(
    flat: VectorIndex, kind: str, params: IndexParams, seed: int = 0
) -> tuple[VectorIndex, float]:
    """A trained ``kind`` index holding every vector of ``flat``, and its recall@10 against it.

    Raises ``ValueError`` when ``flat`` has too few vectors (check :func:`flat_reason` first);
    never drops a vector: the result is checked to hold exactly ``flat``'s ids.
    """
    if kind == "flat" or flat.kind != "flat":
        raise ValueError(f"Can only convert a flat index to pca or ivfpq, not {flat.kind}->{kind}.")
    reason = flat_reason(kind, flat.dim, params, flat.ntotal)
    if reason is not None:
        raise ValueError(reason)
    started = time.monotonic()
    ids, vectors = flat.stored_vectors()
    converted = VectorIndex.build(
        flat.dim, ids, vectors, kind, params, max_training_vectors=MAX_TRAINING_VECTORS, seed=seed
    )
    if not np.array_equal(converted.ids(), np.sort(ids)):
        raise RuntimeError(f"The {kind} index lost photos while converting; keeping exact search.")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(vectors), min(RECALL_QUERIES, len(vectors)), replace=False))
    queries, own_ids = vectors[picked], np.asarray(ids)[picked]
    k = min(RECALL_K, len(ids) - 1)
    # Each query is a stored photo, which both indexes find first: leave it out of both lists,
    # or the recall reads high (as if a new photo were one of the collection's own).
    _, exact_ids = flat.search(queries, k + 1)
    _, approx_ids = converted.search(queries, k + 1)
    recall = recall_at_k(_others(approx_ids, own_ids, k), _others(exact_ids, own_ids, k), k)
    log.info(
        "converted %d vectors to %s in %.1f s: recall@%d %.3f against exact search",
        len(ids),
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
