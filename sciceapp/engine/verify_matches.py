"""The second stage of a search: verify a query's first matches geometrically and re-rank them.

For each query, the first ``verify_top_k`` matches of the global search are verified against
their stored local features (``verification.verify_pair``), in a thread pool (numpy's
matrix product and OpenCV release the GIL). Verified matches move to the front, most inliers
first; the others keep their first-stage order behind them. The threshold grows with the
number of pairs verified per query (``verification.min_inliers_for``), so verifying more
(up to the whole collection) does not let more false matches through.

While pairs are verified, BLAS libraries run one thread each (``threadpoolctl``): the pairs
already keep every core busy, and OpenBLAS's own threads on a 2000 x 2000 product cost 80%
more CPU time for no gain (27 against 15 ms on this 2-core machine).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from sciceapp.engine.verification import min_inliers_for, verify_pair

if TYPE_CHECKING:
    from sciceapp.engine.feature_store import FeatureStore
    from sciceapp.engine.local_features import LocalFeatures
    from sciceapp.engine.locate import Match

log = logging.getLogger(__name__)


def verify_matches(
    query: LocalFeatures,
    matches: Sequence[Match],
    store: FeatureStore,
    *,
    verify_top_k: int,
    pool: Executor,
) -> list[Match]:
    """Set ``inliers``/``verified`` on the first ``verify_top_k`` matches (those whose photo
    has stored features) and return all matches re-ranked (module docstring)."""
    candidates = [m for m in matches[:verify_top_k] if m.photo_id is not None]
    refs = store.get_many(m.photo_id for m in candidates)
    checked = [m for m in candidates if m.photo_id in refs]
    if len(checked) < len(candidates):
        log.info("%d matches have no local features yet", len(candidates) - len(checked))
    min_inliers = min_inliers_for(len(checked))
    with threadpool_limits(1, user_api="blas"):
        outcomes = list(
            pool.map(
                lambda m: verify_pair(query, refs[m.photo_id], min_inliers=min_inliers), checked
            )
        )
    for match, outcome in zip(checked, outcomes, strict=True):
        match.inliers, match.verified = outcome.inliers, outcome.verified
    return rerank(matches)


def rerank(matches: Sequence[Match]) -> list[Match]:
    """Verified matches first (most inliers first), then the rest in their given order."""
    verified = sorted((m for m in matches if m.verified), key=lambda m: -(m.inliers or 0))
    return verified + [m for m in matches if not m.verified]
