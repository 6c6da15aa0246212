"""Why does a reference photo match a query? The two photos and their inlier correspondences.

What the window's "Why this match?" view draws: both photos decoded upright and reduced to a
displayable size, and the correspondences that survived geometric verification
(``verification.py``) in the pixels of those reduced images. Computed in a worker (it
decodes two photos and runs SIFT on both: about a second), in steps between which it can be
cancelled.

The matched photo's features are read from its collection's store when it has them
(:func:`stored_features`): the view then shows the very correspondences that verification
counted when the match was ranked, and skips a SIFT extraction. Only a photo without stored
features (a collection made with them off, a photo changed since it was indexed) is
extracted again.
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.engine import catalogue
from sciceapp.engine.images import load_upright
from sciceapp.engine.local_features import DEFAULT_MAX_SIDE_PX, LocalFeatures, extract_features
from sciceapp.engine.verification import VERIFIED_MIN_INLIERS, verify_pair
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from sciceapp.engine.library import Collection

DISPLAY_SIDE_PX = 1024
STEPS = 5  # decode + features of each photo, then the verification


@dataclass(frozen=True)
class MatchExplanation:
    """``query_image`` / ``ref_image``: uint8 ``[H, W, 3]``, upright, longer side at most
    ``DISPLAY_SIDE_PX``; ``query_points`` / ``ref_points``: float32 ``[M, 2]``, the inlier
    correspondences in pixels of those images (row i of one matches row i of the other)."""

    query_path: str
    ref_path: str
    query_image: np.ndarray = field(repr=False)
    ref_image: np.ndarray = field(repr=False)
    query_points: np.ndarray = field(repr=False)
    ref_points: np.ndarray = field(repr=False)
    inliers: int
    verified: bool
    tentative: int
    model: str
    min_inliers: int = VERIFIED_MIN_INLIERS
    ref_features_stored: bool = False
    """True when the matched photo's features came from its collection's store."""


def stored_features(
    collection: Collection, photo_id: int | None, path: str | os.PathLike[str]
) -> LocalFeatures | None:
    """The features ``collection`` stores for its photo ``photo_id``, or None when it has none
    or that row is no longer the live, indexed ``path`` (removed, re-indexed since)."""
    if photo_id is None or not collection.local_features:
        return None
    with closing(collection.library.connect()) as conn:
        stored_path = catalogue.live_indexed_path(conn, collection.id, int(photo_id))
    if stored_path != str(path):
        return None
    return collection.features().get(int(photo_id))


def _photo(
    path: str | os.PathLike[str], features: LocalFeatures | None = None
) -> tuple[np.ndarray, LocalFeatures]:
    """The displayable image and the local features of one photo (one decode; ``features``,
    when given, are used instead of extracting them)."""
    image, size = load_upright(Path(path), min_side=DEFAULT_MAX_SIDE_PX)
    if features is None:
        features = extract_features(np.asarray(image), original_size=size)
    if max(image.size) > DISPLAY_SIDE_PX:
        image = image.copy()
        image.thumbnail((DISPLAY_SIDE_PX, DISPLAY_SIDE_PX))
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), features


def _to_display(points: np.ndarray, features: LocalFeatures, image: np.ndarray) -> np.ndarray:
    """Original-photo pixels -> pixels of the displayed image."""
    width, height = features.image_size
    scale = np.array([image.shape[1] / max(width, 1), image.shape[0] / max(height, 1)])
    return ((points + 0.5) * scale - 0.5).astype(np.float32)


def explain_match(
    query: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    reference_features: LocalFeatures | None = None,
) -> MatchExplanation:
    """Decode both photos, extract their features and verify the pair (module docstring).
    ``reference_features``: the matched photo's stored ones (:func:`stored_features`).

    Raises ``ImageError`` for a photo that cannot be decoded, ``CancelledError`` when
    cancelled between steps.
    """

    def step(done: int, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(done, STEPS, message)

    step(0, "reading the query photo")
    query_image, query_features = _photo(query)
    step(2, "reading the matched photo")
    ref_image, ref_features = _photo(reference, reference_features)
    step(4, "verifying the correspondences")
    outcome = verify_pair(query_features, ref_features)
    step(STEPS, "done")
    return MatchExplanation(
        query_path=str(query),
        ref_path=str(reference),
        query_image=query_image,
        ref_image=ref_image,
        query_points=_to_display(outcome.query_points, query_features, query_image),
        ref_points=_to_display(outcome.ref_points, ref_features, ref_image),
        inliers=outcome.inliers,
        verified=outcome.verified,
        tentative=outcome.tentative,
        model=outcome.model,
        ref_features_stored=reference_features is not None,
    )
