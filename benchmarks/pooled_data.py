"""Cheap, streamed synthetic descriptors for the benchmarks at 100k to 1M base-size photos.

numpy draws normal values at about 17 ns each on this project's VM, so the 1.3e10 values of a
million base-size (D = 10752) "hard" photos cost an hour of one core; that, not the search,
was what kept the 1M benchmark from running. Here every part of a vector is a window of
``dim`` consecutive values of one pool of iid normal values (``2**POOL_LOG2`` of them, drawn
once), so a part costs a copy and a multiply (about 1 ns a value).

Each part gets its own window: part number ``g`` starts at ``(g * MULTIPLIER) mod 2**POOL_LOG2``
(an odd multiplier modulo a power of two is a bijection), and every part of a run (each
photo's view, each place, each street, of the database, the training set and the queries)
has its own ``g``. Two different windows hold different pool values at every position
(within a vector the values are iid; across vectors position ``j`` of one is never position
``j`` of the other), so the inner product of two parts is a sum of products of independent
normal values, with the mean and variance that independent draws give. ``PooledHardData``
then builds the same vectors as ``bench_search.HardData`` (street + place + view with a 1/j
spectrum along the axes); ``bench_twostage.py validate`` compares the two generators'
neighbourhoods (the closeness of the exact top-10 race).
"""

from __future__ import annotations

import numpy as np
from bench_search import (
    HARD_PHOTOS_PER_PLACE,
    PLACE_SHARE,
    PLACES_PER_STREET,
    SPECTRUM_EXPONENT,
    STREET_SHARE,
    VIEW_SHARE,
)

POOL_LOG2 = 26  # 67M float32 values: 256 MiB
MULTIPLIER = 2_654_435_761  # odd (Knuth's multiplicative hash constant)
PARTS_PER_ROW = 3  # g = 3 * index + (0 view, 1 place, 2 street)
DOMAIN_ROWS = 2**22  # rows (places, streets) per domain: g stays below 2**POOL_LOG2
DATABASE, TRAINING, QUERIES = 0, 1, 2  # domains: disjoint ranges of g


class PooledNormals:
    """Windows of ``dim`` iid normal values, one distinct window per part number ``g``."""

    def __init__(self, dim: int, seed: int) -> None:
        size = 2**POOL_LOG2
        pool = np.random.default_rng([seed, 9]).standard_normal(size + dim, np.float32)
        self.windows = np.lib.stride_tricks.sliding_window_view(pool, dim)
        self.mask = size - 1

    def parts(self, g: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """``float32 [len(g), dim]``: the windows of parts ``g``, times ``scale [dim]``."""
        if np.any(g >= self.mask + 1):
            raise ValueError("part number past the pool: raise POOL_LOG2")
        start = (g.astype(np.uint64) * np.uint64(MULTIPLIER)) & np.uint64(self.mask)
        x = self.windows[start.astype(np.int64)]  # fancy indexing copies
        x *= scale
        return x


def _g(domain: int, index: np.ndarray, part: int) -> np.ndarray:
    if np.any(index >= DOMAIN_ROWS):
        raise ValueError(f"more than {DOMAIN_ROWS} rows in one domain")
    return PARTS_PER_ROW * (domain * DOMAIN_ROWS + index) + part


class PooledHardData:
    """``bench_search.HardData``'s streets, places and views, from :class:`PooledNormals`.

    Row ``r`` of a domain shows place ``r // photos_per_place`` of that domain, place ``p``
    lies on street ``p // places_per_street``. Queries are new views (domain ``QUERIES``) of
    database places.
    """

    photos_per_place = HARD_PHOTOS_PER_PLACE
    places_per_street = PLACES_PER_STREET

    def __init__(self, dim: int, seed: int = 0, exponent: float = SPECTRUM_EXPONENT) -> None:
        variance = np.arange(1, dim + 1, dtype=np.float64) ** -exponent
        std = np.sqrt(variance / variance.sum())
        self.scale = {
            share: (np.sqrt(share) * std).astype(np.float32)
            for share in (STREET_SHARE, PLACE_SHARE, VIEW_SHARE)
        }
        self.normals = PooledNormals(dim, seed)

    def place_vectors(self, domain: int, places: np.ndarray) -> np.ndarray:
        """Street plus place parts ``[len(places), dim]`` of place numbers ``places``."""
        streets = places // self.places_per_street
        unique, inverse = np.unique(streets, return_inverse=True)
        out = self.normals.parts(_g(domain, places, 1), self.scale[PLACE_SHARE])
        out += self.normals.parts(_g(domain, unique, 2), self.scale[STREET_SHARE])[inverse]
        return out

    def _views(self, domain: int, rows: np.ndarray, places: np.ndarray) -> np.ndarray:
        x = self.normals.parts(_g(domain, rows, 0), self.scale[VIEW_SHARE])
        x += places
        x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
        return x

    def chunk(self, start: int, count: int, domain: int = DATABASE) -> np.ndarray:
        """Unit vectors ``float32 [count, dim]`` of rows ``start .. start + count``."""
        rows = np.arange(start, start + count)
        places = self.place_vectors(domain, rows // self.photos_per_place)
        return self._views(domain, rows, places)

    def queries(self, n: int, n_database: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` new photos ``[n, dim]`` of distinct database places picked at random over the
        whole database, and their place numbers ``[n]``."""
        n_places = n_database // self.photos_per_place
        picks = np.sort(np.random.default_rng([seed, 3]).choice(n_places, n, replace=False))
        return self._views(QUERIES, np.arange(n), self.place_vectors(DATABASE, picks)), picks
