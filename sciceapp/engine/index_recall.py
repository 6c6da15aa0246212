"""Recall@k: how much of exact search's top-k an approximate index returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sciceapp.engine.index import VectorIndex


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
    from sciceapp.engine.index import VectorIndex  # which imports this module

    exact = VectorIndex(index.dim, "flat")
    exact.add(ids, vectors)
    _, exact_ids = exact.search(queries, k)
    _, approx_ids = index.search(queries, k)
    return recall_at_k(approx_ids, exact_ids, k)
