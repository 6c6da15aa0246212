"""Worker jobs for writing locations: plain functions over ``engine.geotag``, no Qt.

Each takes ``progress`` and ``cancel`` keywords (the worker supplies them) and returns plain
data; the engine is imported inside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sciceapp.progress import CancelToken, ProgressFn


def _journal(data_dir: Path) -> Any:
    from sciceapp.engine.geotag.writer import Journal

    return Journal(data_dir)


def write_locations(
    data_dir: Path, requests: list[Any], summary: str, *, progress: ProgressFn, cancel: CancelToken
) -> Any:
    """Write the requests as one journalled change; returns the ``BatchReport``."""
    return _journal(data_dir).write(requests, summary, progress=progress, cancel=cancel)


def undo_changes(
    data_dir: Path, count: int | None, *, progress: ProgressFn, cancel: CancelToken
) -> list[Any]:
    """Undo the last ``count`` changes (None: all); returns the ``WriteOutcome``s."""
    return _journal(data_dir).undo(count, progress=progress)


def reread_positions(results: list[Any], *, progress: ProgressFn, cancel: CancelToken) -> list[Any]:
    """The ``LocateResult``s with their photos' positions read again (after a write or undo)."""
    from sciceapp.engine.review import reread_position

    return [reread_position(r) for r in results]


def load_history(data_dir: Path, *, progress: ProgressFn, cancel: CancelToken) -> list[Any]:
    return _journal(data_dir).history()


@dataclass
class GpxResult:
    track: Any  # engine.geotag.gpx.Track
    matches: list[Any]  # GpxMatch per photo
    lines: list[Any]  # the track's lines for the map (``map_overlays.track_overlay``)


def match_gpx(
    tracks: list[str],
    photos: list[str],
    camera_tz: str,
    offset: str,
    max_gap: str,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> GpxResult:
    """Read the tracks and place every photo (folders searched) on them."""
    from sciceapp.engine.geotag import gpx
    from sciceapp.engine.locate import query_photos
    from sciceapp.engine.map_overlays import track_overlay

    track = gpx.read_tracks(tracks)
    files = query_photos(photos)
    zone = gpx.parse_timezone(camera_tz) if camera_tz.strip() else None
    gap = gpx.parse_duration(max_gap)
    matches = gpx.correlate(track, files, zone, gpx.parse_offset(offset or "0:00"), gap)
    return GpxResult(track, matches, track_overlay(track, gap))


def find_gpx_offset(
    track: Any,
    photo: str,
    lat: float,
    lon: float,
    camera_tz: str,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> tuple[timedelta, float]:
    from sciceapp.engine.geotag import gpx

    zone = gpx.parse_timezone(camera_tz) if camera_tz.strip() else None
    return gpx.find_offset(track, photo, lat, lon, zone)


def render_gpx_map(
    result: GpxResult,
    output_html: Path,
    tile_url: str,
    tile_attribution: str | None = None,
    *,
    progress: ProgressFn,
    cancel: CancelToken,
) -> Path:
    """A map of the photos the track placed (the bridge on, so clicks come back); the track's
    line is pushed over it as the ``track`` overlay."""
    from sciceapp.engine.mapview import MapData, MapPoint, render_map

    points = [
        MapPoint(i, m.photo, m.point.lat, m.point.lon, m.time.isoformat() if m.time else None)
        for i, m in enumerate(result.matches)
        if m.point is not None
    ]
    data = MapData(points, [], f"GPX: {result.track.name}")
    return render_map(
        data, output_html, tile_url=tile_url or None, bridge=True, tile_attribution=tile_attribution
    )
