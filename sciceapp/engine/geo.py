"""Distances and weighted consensus of positions on the Earth (spherical model, metres).

Positions are ``(lat, lon)`` in degrees (WGS84 read as a sphere: errors below 0.5 %, far
less than photo GPS noise for the distances that matter here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius

LatLon = tuple[float, float]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two positions given in degrees."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlambda = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return float(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def pairwise_distances_m(points: Sequence[LatLon]) -> np.ndarray:
    """``[N, N]`` great-circle distances in metres between ``points``."""
    coords = np.radians(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    lat, lon = coords[:, :1], coords[:, 1:]
    a = (
        np.sin((lat - lat.T) / 2) ** 2
        + np.cos(lat) * np.cos(lat.T) * np.sin((lon - lon.T) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def weighted_mean_position(points: Sequence[LatLon], weights: Sequence[float]) -> LatLon:
    """The weighted centre of ``points`` (through 3-D unit vectors, so it is right across the
    antimeridian and near the poles). Weights must be non-negative with a positive sum."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(points) or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError("Need one non-negative weight per point and a positive total.")
    coords = np.radians(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    lat, lon = coords[:, 0], coords[:, 1]
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    x, y, z = (w[:, None] * xyz).sum(axis=0) / w.sum()
    mean_lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    mean_lon = np.degrees(np.arctan2(y, x))
    return float(mean_lat), float(mean_lon)


def heaviest_cluster(
    points: Sequence[LatLon], weights: Sequence[float], radius_m: float
) -> list[int]:
    """Indices of the points within ``radius_m`` of the seed point whose neighbourhood carries
    the most weight (ties go to the earlier seed, i.e. the better-ranked match).

    Every point is a candidate seed, so a lone point is a cluster of one: with no agreement
    at all the result is the single heaviest point.
    """
    if len(points) == 0:
        return []
    w = np.asarray(weights, dtype=np.float64)
    near = pairwise_distances_m(points) <= radius_m  # [N, N]
    mass = near.astype(np.float64) @ w
    seed = int(np.argmax(mass))  # argmax returns the first maximum
    return [int(i) for i in np.flatnonzero(near[seed])]
