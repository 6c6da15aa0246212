"""Field survey review: do a folder of photos' own GPS tags agree with where they look taken?

For every photo: its recorded position (EXIF), where the collection places it (``locate``, not
counting the photo itself if it is also a reference photo), the distance between the two, and
``flagged`` when they are more than ``threshold_m`` apart. Photos without GPS are listed with
the reason; photos that cannot be read are listed with the error. Exports: CSV and GeoJSON
(RFC 7946: a FeatureCollection, coordinates ``[lon, lat]``; one Point feature per recorded
and per predicted position, tied together by a ``photo`` property).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.defaults import (
    DEFAULT_RADIUS_M,
    DEFAULT_THRESHOLD_M,
    DEFAULT_TOP_K,
    DEFAULT_VERIFY_TOP_K,
)
from sciceapp.engine.geo import LatLon
from sciceapp.engine.images import SUPPORTED_TEXT
from sciceapp.engine.locate import LocateResult, locate
from sciceapp.engine.pipeline import scan
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

CSV_COLUMNS = (
    "path",
    "status",
    "recorded_lat",
    "recorded_lon",
    "predicted_lat",
    "predicted_lon",
    "distance_m",
    "confidence",
    "flagged",
    "verified",
    "inliers",
    "note",
    "recorded_place",
    "predicted_place",
)


@dataclass
class ReviewRow:
    """One surveyed photo. ``status``: ``checked`` (it has GPS and a prediction), ``no_gps``,
    ``no_prediction`` (no geotagged match) or ``error`` (unreadable; ``note`` says why)."""

    path: str
    status: str
    recorded: LatLon | None
    predicted: LatLon | None
    distance_m: float | None
    confidence: float
    flagged: bool
    note: str | None = None
    result: LocateResult | None = None  # the full locate answer (matches), for the GUI and map

    @property
    def verified(self) -> bool:
        """The prediction rests on a geometrically verified match."""
        return self.result is not None and self.result.verified

    @property
    def inliers(self) -> int | None:
        """Verified correspondences of the best match (None: not verified)."""
        if self.result is None or not self.result.matches:
            return None
        return self.result.matches[0].inliers


def row_from_result(result: LocateResult, threshold_m: float) -> ReviewRow:
    """Turn one locate answer into a review row (``flagged`` when farther than the threshold)."""
    if result.error is not None:
        status, note = "error", result.error
    elif result.query_gps is None:
        status, note = "no_gps", result.query_gps_reason or "no GPS position in EXIF"
    elif result.predicted is None:
        status, note = "no_prediction", "none of the matches has a GPS position"
    else:
        status, note = "checked", None
    flagged = result.error_m is not None and result.error_m > threshold_m
    return ReviewRow(
        result.query,
        status,
        result.query_gps,
        result.predicted,
        result.error_m,
        result.confidence,
        flagged,
        note,
        result,
    )


def reread_position(result: LocateResult) -> LocateResult:
    """``result`` with its photo's position read again (a sidecar's wins, as when it was
    located) and the distance to the prediction recomputed: what a view shows after sciceapp
    wrote, or undid, the photo's location. The matches and the prediction stay."""
    from sciceapp.engine.exif import read_photo_meta
    from sciceapp.engine.geo import haversine_m
    from sciceapp.engine.geotag.sidecar import with_sidecar_position

    if result.error is not None:
        return result
    meta = with_sidecar_position(result.query, read_photo_meta(result.query))
    gps = (meta.gps.lat, meta.gps.lon) if meta.gps is not None else None
    error_m = None
    if gps is not None and result.predicted is not None:
        error_m = haversine_m(*result.predicted, *gps)
    return dataclasses.replace(
        result, query_gps=gps, error_m=error_m, query_gps_reason=meta.gps_reason
    )


def review(
    collection: Any,
    paths: Sequence[str | os.PathLike[str]],
    threshold_m: float = DEFAULT_THRESHOLD_M,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    top_k: int = DEFAULT_TOP_K,
    radius_m: float = DEFAULT_RADIUS_M,
    verify: bool = True,
    verify_top_k: int = DEFAULT_VERIFY_TOP_K,
) -> list[ReviewRow]:
    """Review the photos in ``paths`` (files, or folders searched recursively), sorted by path.

    Raises ``CollectionError`` for a path that does not exist or holds no photos,
    ``CancelledError`` if cancelled.
    """
    if threshold_m <= 0:
        raise ValueError(f"threshold_m must be positive, got {threshold_m}.")
    photos = scan(paths)
    if not photos:
        shown = ", ".join(str(p) for p in paths)
        raise CollectionError(
            f"No photos found in {shown} (supported: {SUPPORTED_TEXT}); choose a folder of "
            "survey photos."
        )
    results = locate(
        collection, photos, top_k=top_k, radius_m=radius_m,
        progress=progress, cancel=cancel, exclude_self=True,
        verify=verify, verify_top_k=verify_top_k,
    )  # fmt: skip
    return [row_from_result(result, threshold_m) for result in results]


def _csv_text(rows: Sequence[ReviewRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        recorded = row.recorded or (None, None)
        predicted = row.predicted or (None, None)
        cells = [
            row.path,
            row.status,
            *recorded,
            *predicted,
            None if row.distance_m is None else round(row.distance_m, 1),
            round(row.confidence, 4),
            int(row.flagged),
            int(row.verified),
            row.inliers,
            row.note,
            row.result.query_place if row.result is not None else None,
            row.result.place if row.result is not None else None,
        ]
        writer.writerow(["" if c is None else _csv_safe(c) for c in cells])
    return out.getvalue()


def _csv_safe(cell: object) -> object:
    # A file name starting with = + - @ would be run as a formula by spreadsheet programs.
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return "'" + cell
    return cell


def write_csv(rows: Sequence[ReviewRow], path: str | os.PathLike[str]) -> Path:
    """Write the rows as UTF-8 CSV (columns ``CSV_COLUMNS``), atomically."""
    write_bytes_atomic(path, _csv_text(rows).encode("utf-8"))
    return Path(path)


def geojson(rows: Sequence[ReviewRow]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: for each row a ``recorded`` and a ``predicted`` Point
    (when known), with the row's values as properties."""
    features = []
    for row in rows:
        common = {
            "photo": row.path,
            "status": row.status,
            "distance_m": row.distance_m,
            "confidence": row.confidence,
            "flagged": row.flagged,
            "verified": row.verified,
            "inliers": row.inliers,
            "note": row.note,
        }
        for role, point in (("recorded", row.recorded), ("predicted", row.predicted)):
            if point is not None:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [point[1], point[0]]},
                        "properties": {"role": role, **common},
                    }
                )
    return {"type": "FeatureCollection", "features": features}


def write_geojson(rows: Sequence[ReviewRow], path: str | os.PathLike[str]) -> Path:
    """Write :func:`geojson` of the rows, atomically."""
    text = json.dumps(geojson(rows), indent=1, ensure_ascii=False)
    write_bytes_atomic(path, text.encode("utf-8"))
    return Path(path)
