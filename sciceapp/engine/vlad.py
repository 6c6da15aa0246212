"""VLAD: one global descriptor from a photo's local descriptors and a small vocabulary.

Jegou, Douze, Schmid and Perez, "Aggregating local descriptors into a compact image
representation" (CVPR 2010), with the normalisations of Arandjelovic and Zisserman, "All
about VLAD" (CVPR 2013): each local descriptor is assigned to its nearest vocabulary word
and the residuals (descriptor - word) are summed per word, giving a ``[K, 128]`` matrix;
signed square root ("power normalisation" with alpha 0.5, which tames bursts of similar
descriptors such as repeated windows), then each word's row is L2-normalised
("intra-normalisation"), then the whole vector. Cosine similarity of two VLADs is then a
place-recognition score.

The vocabulary comes from k-means on a sample of the descriptors (k-means++ seeding, then
Lloyd iterations), written here in numpy so that a seed gives the same vocabulary on every
machine (OpenCV's k-means draws from a process-global random state).
"""

from __future__ import annotations

import numpy as np

KMEANS_ITERATIONS = 25
_EPS = 1e-12


def _squared_distances(points: np.ndarray, words: np.ndarray) -> np.ndarray:
    """``[N, D]`` x ``[K, D]`` -> ``[N, K]`` squared Euclidean distances."""
    cross = points @ words.T
    return np.maximum(
        (points * points).sum(axis=1)[:, None] - 2.0 * cross + (words * words).sum(axis=1)[None],
        0.0,
    )


def kmeans(
    points: np.ndarray, clusters: int, *, seed: int = 0, iterations: int = KMEANS_ITERATIONS
) -> np.ndarray:
    """Vocabulary of ``clusters`` words: float32 ``[N, D]`` -> float32 ``[clusters, D]``.

    Raises ``ValueError`` when there are fewer points than clusters.
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    if len(points) < clusters:
        raise ValueError(f"{len(points)} descriptors cannot make {clusters} clusters")
    rng = np.random.default_rng(seed)
    words = np.empty((clusters, points.shape[1]), dtype=np.float32)
    words[0] = points[rng.integers(len(points))]
    nearest = _squared_distances(points, words[:1])[:, 0]
    for i in range(1, clusters):  # k-means++: far points are likelier to seed a new word
        total = float(nearest.sum())
        pick = (
            rng.integers(len(points)) if total <= 0 else rng.choice(len(points), p=nearest / total)
        )
        words[i] = points[pick]
        nearest = np.minimum(nearest, _squared_distances(points, words[i : i + 1])[:, 0])
    for _ in range(iterations):
        assigned = _squared_distances(points, words).argmin(axis=1)
        sums = np.zeros_like(words)
        np.add.at(sums, assigned, points)
        counts = np.bincount(assigned, minlength=clusters)
        moved = words.copy()
        filled = counts > 0
        moved[filled] = sums[filled] / counts[filled, None]
        # An empty word restarts at the point worst served by the others.
        for word in np.flatnonzero(~filled):
            far = _squared_distances(points, moved).min(axis=1).argmax()
            moved[word] = points[far]
        if np.allclose(moved, words, atol=1e-6):
            words = moved
            break
        words = moved
    return words


def vlad(descriptors: np.ndarray, words: np.ndarray) -> np.ndarray:
    """float32 ``[N, D]`` local descriptors, ``[K, D]`` words -> float32 ``[K * D]``, unit norm.

    A photo without descriptors gets the zero vector (it matches nothing).
    """
    clusters, dim = words.shape
    residuals = np.zeros((clusters, dim), dtype=np.float32)
    if len(descriptors):
        points = np.asarray(descriptors, dtype=np.float32)
        assigned = _squared_distances(points, words).argmin(axis=1)
        np.add.at(residuals, assigned, points - words[assigned])
    residuals = np.sign(residuals) * np.sqrt(np.abs(residuals))
    residuals /= np.maximum(np.linalg.norm(residuals, axis=1, keepdims=True), _EPS)
    flat = residuals.ravel()
    norm = float(np.linalg.norm(flat))
    return flat / norm if norm > 0 else flat
