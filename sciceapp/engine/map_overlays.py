"""What the map draws over a collection's photos, as plain JSON data, and where it looks.

The GUI loads one page per collection (``mapview.render_map``) and then pushes these overlays
into it (``window.sciceapp.setOverlay(name, items)``): the selected query (``queries``), a
survey review (``review``) and a GPX track's line (``track``, the GPX dialog's map). ``focus_bounds`` and ``robust_bounds`` decide the view: the query's
neighbourhood, or the bulk of the photos, never stretched to world scale by one far photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sciceapp.engine.defaults import DEFAULT_RADIUS_M
from sciceapp.engine.geo import LatLon, haversine_m

if TYPE_CHECKING:  # the window imports this module; keep it free of the pipeline
    from datetime import timedelta

    from sciceapp.engine.geotag.gpx import Track
    from sciceapp.engine.locate import LocateResult

MIN_CIRCLE_M = 25.0
FOCUS_MIN_SPAN_M = 1_000.0  # a query's view holds matches this far from its prediction
FOCUS_CIRCLE_FACTOR = 4.0  # ... or this many consensus circles, if farther
OUTLIER_FACTOR = 6.0  # robust_bounds: farther than this many median distances is an outlier
OUTLIER_MIN_SPAN_M = 2_000.0  # ... but points this close to the centre are always kept
MAX_TRACK_VERTICES = 5_000  # a day at 1 Hz is 86 400 points: drawn thinned to this many

Bounds = list[list[float]]  # [[south, west], [north, east]]


def circle_m(result: LocateResult, radius_m: float = DEFAULT_RADIUS_M) -> float:
    """Radius spanning the geotagged matches that agree with the prediction."""
    if result.predicted is None:
        return 0.0
    lat, lon = result.predicted
    spread = [haversine_m(lat, lon, m.lat, m.lon) for m in result.matches if m.has_gps]
    return max([MIN_CIRCLE_M, *(d for d in spread if d <= radius_m)])


def _bounds(points: Sequence[LatLon]) -> Bounds | None:
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _grown(bounds: Bounds, centre: LatLon, span_m: float) -> Bounds:
    """``bounds`` widened to hold a square of half-width ``span_m`` around ``centre``."""
    dlat = math.degrees(span_m / 6_371_000.0)
    dlon = dlat / max(math.cos(math.radians(centre[0])), 1e-6)
    (south, west), (north, east) = bounds
    return [
        [max(-90.0, min(south, centre[0] - dlat)), min(west, centre[1] - dlon)],
        [min(90.0, max(north, centre[0] + dlat)), max(east, centre[1] + dlon)],
    ]


def robust_bounds(points: Sequence[LatLon]) -> Bounds | None:
    """Bounds of ``points`` without the far outliers (a photo on another continent): points
    farther from the median position than ``OUTLIER_FACTOR`` times the median distance (and
    farther than ``OUTLIER_MIN_SPAN_M``) are left out."""
    if len(points) < 3:
        return _bounds(points)
    array = np.asarray(points, dtype=np.float64)
    centre = tuple(np.median(array, axis=0))
    distances = np.array([haversine_m(*centre, *p) for p in points])
    limit = max(OUTLIER_FACTOR * float(np.median(distances)), OUTLIER_MIN_SPAN_M)
    return _bounds([p for p, d in zip(points, distances, strict=True) if d <= limit])


def focus_bounds(result: LocateResult, radius_m: float = DEFAULT_RADIUS_M) -> Bounds | None:
    """The view for one query: its prediction, consensus circle, the matches that agreed and
    every other match or the query's own GPS within a sensible span; far outliers are left to
    their lines. None when the query has nothing on the map."""
    if result.predicted is None:
        return _bounds([result.query_gps] if result.query_gps else [])
    centre = result.predicted
    circle = circle_m(result, radius_m)
    span_m = max(FOCUS_MIN_SPAN_M, FOCUS_CIRCLE_FACTOR * circle)
    points = [centre]
    agreed = set(result.cluster)
    for i, match in enumerate(result.matches):
        if match.has_gps and (i in agreed or haversine_m(*centre, match.lat, match.lon) <= span_m):
            points.append((match.lat, match.lon))
    if result.query_gps and haversine_m(*centre, *result.query_gps) <= span_m:
        points.append(result.query_gps)
    return _grown(_bounds(points), centre, max(circle, FOCUS_MIN_SPAN_M / 2))


def _place(value: Any) -> str | None:
    return getattr(value, "place", None)


def query_item(result: LocateResult, radius_m: float = DEFAULT_RADIUS_M) -> dict[str, Any]:
    """One query for the ``queries`` overlay: its prediction, circle, own GPS and geotagged
    matches as ``[photo_id, path, score, lat, lon, rank, place, verified, inliers]``."""
    matches = [
        [m.photo_id, m.path, m.score, m.lat, m.lon, rank, _place(m), bool(m.verified), m.inliers]
        for rank, m in enumerate(result.matches)
        if m.has_gps
    ]
    return {
        "query": result.query,
        "predicted": list(result.predicted) if result.predicted else None,
        "place": _place(result),
        "confidence": result.confidence,
        "circle_m": circle_m(result, radius_m),
        "query_gps": list(result.query_gps) if result.query_gps else None,
        "error_m": result.error_m,
        "matches": matches,
    }


def query_overlay(
    results: Sequence[LocateResult], radius_m: float = DEFAULT_RADIUS_M
) -> list[dict[str, Any]]:
    """The ``queries`` overlay: every result that did not fail."""
    return [query_item(r, radius_m) for r in results if r.error is None]


def bearing_deg(start: LatLon, end: LatLon) -> float:
    """Initial compass bearing from ``start`` to ``end`` (0 = north, 90 = east)."""
    lat1, lat2 = math.radians(start[0]), math.radians(end[0])
    dlon = math.radians(end[1] - start[1])
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360.0


def review_overlay(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The ``review`` overlay: per checked survey photo one arrow, recorded -> predicted."""
    items = []
    for row in rows:
        if row.recorded is None or row.predicted is None:
            continue
        items.append(
            {
                "photo": row.path,
                "recorded": list(row.recorded),
                "predicted": list(row.predicted),
                "distance_m": row.distance_m,
                "confidence": row.confidence,
                "flagged": bool(row.flagged),
                "bearing": bearing_deg(row.recorded, row.predicted),
                "place": _place(row.result) if row.result is not None else None,
                "recorded_place": getattr(row.result, "query_place", None),
            }
        )
    return items


def review_bounds(rows: Sequence[Any]) -> Bounds | None:
    """The view for a survey: the bulk of its recorded and predicted positions."""
    points = [p for row in rows for p in (row.recorded, row.predicted) if p is not None]
    return robust_bounds(points)


def track_overlay(
    track: Track, max_gap: timedelta, max_vertices: int = MAX_TRACK_VERTICES
) -> list[dict[str, Any]]:
    """The ``track`` overlay: the track as lines ``{"points": [[lat, lon], ...], "start",
    "end"}``, broken where two successive points are more than ``max_gap`` apart in time (no
    photo is placed across such a gap, so no line is drawn over it), thinned evenly to at
    most ``max_vertices`` vertices in all (each line keeps its two ends)."""
    runs: list[list[Any]] = []
    for point in track.points:
        if not runs or point.time - runs[-1][-1].time > max_gap:
            runs.append([])
        runs[-1].append(point)
    total = sum(len(run) for run in runs)
    items = []
    for run in runs:
        keep = max(2, round(len(run) * max_vertices / max(total, 1)))
        if len(run) > keep:
            picks = np.unique(np.linspace(0, len(run) - 1, keep).round().astype(int))
            run = [run[i] for i in picks]
        items.append(
            {
                "points": [[p.lat, p.lon] for p in run],
                "start": run[0].time.isoformat(),
                "end": run[-1].time.isoformat(),
            }
        )
    return items
