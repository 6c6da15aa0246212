"""Geometric verification of a match: do two photos show the same 3-D scene?

For a query and a reference photo's local features (``local_features.py``):

1. *Tentative correspondences*: RootSIFT descriptors compared with one matrix product in
   numpy (unit vectors, so squared distance = 2 - 2 cos); a pair is kept when each is the
   other's nearest neighbour (mutual) and the nearest is clearly closer than the second
   nearest (Lowe's ratio test, ``RATIO``). Measured on this 2-core machine, the numpy matrix
   was faster than OpenCV's brute-force matcher for 2000 x 2000 keypoints.
2. *One-to-one in the image*: SIFT puts several keypoints (one per dominant orientation) at
   one position, and repeated texture (bricks, windows) makes many query keypoints look like
   one reference keypoint. Correspondences are kept one per query position and one per
   reference position, so no position counts twice as an inlier.
3. *Robust two-view fit*: OpenCV's USAC MAGSAC++ fundamental matrix (any static 3-D scene),
   in each photo's extraction frame (longer side ``frame_side_px``) so that the pixel
   threshold means the same for every photo size. The inlier count is the score.

A match is *verified* when its inliers reach ``VERIFIED_MIN_INLIERS``; ``docs/verification.md``
gives the evidence (inliers of different-place pairs on real photos) and why the rule holds as
a collection grows (the number of false alarms is bounded by the number of pairs verified per
query, not by the collection size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from sciceapp.engine.local_features import DEFAULT_MAX_SIDE_PX, LocalFeatures, rootsift_float

RATIO = 0.85
"""Lowe's ratio on RootSIFT distances: nearest / second nearest must be below this."""
REPROJ_THRESHOLD_PX = 2.0
"""Largest distance to the epipolar line (or homography transfer error), in pixels of a photo
whose longer side is ``DEFAULT_MAX_SIDE_PX``."""
CONFIDENCE = 0.999
MAX_ITERS = 2000
MIN_CORRESPONDENCES = {"fundamental": 8, "homography": 4}
MODELS = tuple(MIN_CORRESPONDENCES)
VERIFIED_MIN_INLIERS = 16
"""Inliers from which a match counts as verified when the default top 20 are verified
(calibrated on real photos: docs/verification.md); ``min_inliers_for`` raises it when more
pairs are verified per query."""
MAX_FALSE_ALARMS = 0.02
"""Expected false verifications per query that the threshold allows (a-contrario rule): by
the fitted tail, at most one query in 50 shows a wrong place as verified."""
FALSE_TAIL_ANCHOR = 14
FALSE_TAIL_AT_ANCHOR = 0.0034
FALSE_TAIL_DECAY = 0.24
"""P(different-place pair >= k inliers) = AT_ANCHOR * DECAY ** (k - ANCHOR): fitted to 2083
different-place pairs of ../shared/data (docs/verification.md)."""


@dataclass(frozen=True)
class PairVerification:
    """The outcome for one (query, reference) pair.

    ``query_points`` / ``ref_points``: float32 ``[M, 2]``, the ``M = inliers`` inlier
    correspondences in pixels of each upright original photo (row i of one matches row i of
    the other). ``tentative``: correspondences before the robust fit.
    """

    inliers: int
    verified: bool
    query_points: np.ndarray = field(repr=False)
    ref_points: np.ndarray = field(repr=False)
    model: str = "fundamental"
    tentative: int = 0


def mutual_matches(
    query_desc: np.ndarray, ref_desc: np.ndarray, *, ratio: float = RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(qi, ri)`` of mutual nearest neighbours that pass the ratio test."""
    if len(query_desc) < 2 or len(ref_desc) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sim = rootsift_float(query_desc) @ rootsift_float(ref_desc).T  # [N, M] cosines
    best_r = sim.argmax(axis=1)
    # Column maxima, not argmax along axis 0: numpy's strided argmax is 100x slower.
    column_best = sim.max(axis=0)
    rows = np.arange(sim.shape[0])
    s1 = sim[rows, best_r].copy()
    mutual = s1 >= column_best[best_r]
    sim[rows, best_r] = -np.inf
    s2 = sim.max(axis=1)
    d1 = np.sqrt(np.maximum(2.0 - 2.0 * s1, 0.0))
    d2 = np.sqrt(np.maximum(2.0 - 2.0 * s2, 0.0))
    keep = mutual & (d1 < ratio * d2)
    return rows[keep], best_r[keep]


def _one_per_position(q_pts: np.ndarray, r_pts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices (into the correspondences, in ``order``) keeping one per query position and one
    per reference position (positions rounded to whole pixels)."""
    kept: list[int] = []
    seen_q: set[tuple[int, int]] = set()
    seen_r: set[tuple[int, int]] = set()
    qr = np.rint(q_pts).astype(np.int64)
    rr = np.rint(r_pts).astype(np.int64)
    for i in order.tolist():
        a, b = (int(qr[i, 0]), int(qr[i, 1])), (int(rr[i, 0]), int(rr[i, 1]))
        if a in seen_q or b in seen_r:
            continue
        seen_q.add(a)
        seen_r.add(b)
        kept.append(i)
    return np.asarray(kept, dtype=np.int64)


def _frame_scale(features: LocalFeatures, frame_side_px: int) -> float:
    return frame_side_px / max(max(features.image_size), 1)


def verify_pair(
    query: LocalFeatures,
    ref: LocalFeatures,
    *,
    model: str = "fundamental",
    min_inliers: int = VERIFIED_MIN_INLIERS,
    ratio: float = RATIO,
    threshold_px: float = REPROJ_THRESHOLD_PX,
    frame_side_px: int = DEFAULT_MAX_SIDE_PX,
    seed: int = 0,
) -> PairVerification:
    """Verify one pair (module docstring). ``model``: ``fundamental`` or ``homography``."""
    if model not in MIN_CORRESPONDENCES:
        raise ValueError(f"unknown two-view model {model!r}; choose one of {', '.join(MODELS)}")
    qi, ri = mutual_matches(query.descriptors, ref.descriptors, ratio=ratio)
    q_pts, r_pts = query.keypoints[qi], ref.keypoints[ri]
    # Best descriptor matches first, so one-per-position keeps the most distinctive.
    keep = _one_per_position(q_pts, r_pts, np.arange(len(qi)))
    q_pts, r_pts = q_pts[keep], r_pts[keep]
    tentative = len(keep)
    none = np.zeros((0, 2), np.float32)
    if tentative < MIN_CORRESPONDENCES[model]:
        return PairVerification(0, False, none, none, model, tentative)
    q_frame = (q_pts * _frame_scale(query, frame_side_px)).astype(np.float64)
    r_frame = (r_pts * _frame_scale(ref, frame_side_px)).astype(np.float64)
    mask = _robust_fit(q_frame, r_frame, model, threshold_px, seed)
    if mask is None:
        return PairVerification(0, False, none, none, model, tentative)
    inlier = mask.ravel().astype(bool)
    count = int(inlier.sum())
    return PairVerification(
        count,
        count >= min_inliers,
        q_pts[inlier].astype(np.float32),
        r_pts[inlier].astype(np.float32),
        model,
        tentative,
    )


def _robust_fit(
    q_frame: np.ndarray, r_frame: np.ndarray, model: str, threshold_px: float, seed: int
) -> np.ndarray | None:
    """The inlier mask of the robust fit, or None when no model could be fitted."""
    cv2.setRNGSeed(seed)
    try:
        if model == "fundamental":
            _, mask = cv2.findFundamentalMat(
                q_frame, r_frame, cv2.USAC_MAGSAC, threshold_px, CONFIDENCE, MAX_ITERS
            )
        else:
            _, mask = cv2.findHomography(
                q_frame, r_frame, cv2.USAC_MAGSAC, threshold_px, maxIters=MAX_ITERS,
                confidence=CONFIDENCE,
            )  # fmt: skip
    except cv2.error:
        return None  # degenerate samples only (collinear, duplicate): nothing verifies
    return mask


def false_pair_tail(inliers: int) -> float:
    """P(a different-place pair reaches ``inliers``), the geometric tail fitted to the
    different-place pairs of the shared real photos (docs/verification.md)."""
    return min(1.0, FALSE_TAIL_AT_ANCHOR * FALSE_TAIL_DECAY ** (inliers - FALSE_TAIL_ANCHOR))


def expected_false_alarms(pairs_per_query: int, inliers: int) -> float:
    """A-contrario bound: expected false verifications per query when ``pairs_per_query``
    pairs are verified with the threshold ``inliers`` (docs/verification.md)."""
    return pairs_per_query * false_pair_tail(inliers)


def min_inliers_for(pairs_per_query: int, *, max_false_alarms: float = MAX_FALSE_ALARMS) -> int:
    """The smallest threshold, never below ``VERIFIED_MIN_INLIERS``, for which verifying
    ``pairs_per_query`` pairs a query gives at most ``max_false_alarms`` expected false
    verifications: it grows with the log of the pairs verified, not with the collection."""
    pairs = max(1, int(pairs_per_query))
    excess = math.log(max_false_alarms / (pairs * FALSE_TAIL_AT_ANCHOR)) / math.log(
        FALSE_TAIL_DECAY
    )
    return max(VERIFIED_MIN_INLIERS, FALSE_TAIL_ANCHOR + math.ceil(excess))
