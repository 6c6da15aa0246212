"""Geotagging by time: where was the GPS track when the photo was taken?

- Track points come from GPX files (gpxpy; every track and segment, points without a time are
  left out), merged and sorted by time (UTC).
- A photo's capture time is its EXIF ``DateTimeOriginal`` (``exif.read_photo_meta``), in the
  zone its ``OffsetTimeOriginal`` records or, for cameras that record none, the zone the user
  gives (``camera_tz``). ``offset`` corrects the camera clock: true time = camera time + offset.
- The position is interpolated linearly (in time) between the two track points around the
  capture time when both are within ``max_gap`` of it; when only one is, it is that point.
  A photo farther than ``max_gap`` from every point is left alone, with the reason.
- The offset of a camera clock can be found from one photo whose place is known
  (:func:`find_offset`): the moment the track passed closest to that place, minus the photo's
  time.
"""

from __future__ import annotations

import bisect
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from sciceapp.engine.exif import read_photo_meta
from sciceapp.engine.geo import haversine_m
from sciceapp.errors import GeotagError

DEFAULT_MAX_GAP = timedelta(minutes=5)
MAX_GPX_BYTES = 512 * 1024 * 1024
_OFFSET = re.compile(r"^([+-]?)(\d{1,3}):([0-5]\d)(?::([0-5]\d))?$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h)?$")


@dataclass(frozen=True)
class TrackPoint:
    time: datetime  # aware, UTC
    lat: float
    lon: float
    alt: float | None = None


@dataclass
class Track:
    """Points of one or more GPX files, sorted by time."""

    points: list[TrackPoint]
    files: list[str]

    def __post_init__(self) -> None:
        self._times = [p.time for p in self.points]

    @property
    def name(self) -> str:
        return ", ".join(Path(f).name for f in self.files)

    def position_at(
        self, when: datetime, max_gap: timedelta = DEFAULT_MAX_GAP
    ) -> tuple[TrackPoint | None, str | None]:
        """The interpolated position at ``when`` (aware), or None and why not."""
        if not self.points:
            return None, "the track has no points with a time"
        index = bisect.bisect_left(self._times, when)
        before = self.points[index - 1] if index > 0 else None
        after = self.points[index] if index < len(self.points) else None
        if after is not None and after.time == when:
            return after, None
        near = [p for p in (before, after) if p is not None and abs(p.time - when) <= max_gap]
        if len(near) == 2:
            return _interpolate(before, after, when), None  # type: ignore[arg-type]
        if len(near) == 1:
            return TrackPoint(when, near[0].lat, near[0].lon, near[0].alt), None
        closest = min(
            (p for p in (before, after) if p is not None), key=lambda p: abs(p.time - when)
        )
        return None, (
            f"the nearest track point is {format_duration(abs(closest.time - when))} away "
            f"(more than the maximum gap of {format_duration(max_gap)})"
        )


def _interpolate(a: TrackPoint, b: TrackPoint, when: datetime) -> TrackPoint:
    share = (when - a.time) / (b.time - a.time)
    alt = None if a.alt is None or b.alt is None else a.alt + share * (b.alt - a.alt)
    lon_step = b.lon - a.lon
    if abs(lon_step) > 180:  # across the antimeridian: go the short way round
        lon_step -= math.copysign(360, lon_step)
    lon = (a.lon + share * lon_step + 540) % 360 - 180
    return TrackPoint(when, a.lat + share * (b.lat - a.lat), lon, alt)


def read_tracks(paths: Sequence[str | os.PathLike[str]]) -> Track:
    """Every timed track point of the GPX files ``paths`` (``GeotagError`` for a bad file)."""
    import gpxpy
    import gpxpy.gpx

    points: list[TrackPoint] = []
    for path in paths:
        try:
            if Path(path).stat().st_size > MAX_GPX_BYTES:
                raise GeotagError(
                    f"{path} is larger than {MAX_GPX_BYTES >> 20} MiB: not a GPX track."
                )
            with open(path, encoding="utf-8", errors="replace") as handle:
                parsed = gpxpy.parse(handle)
        except OSError as exc:
            raise GeotagError(f"Cannot read the GPX file {path}: {exc.strerror or exc}.") from exc
        except (gpxpy.gpx.GPXException, ValueError) as exc:
            raise GeotagError(f"{path} is not a valid GPX file ({exc}).") from exc
        for track in parsed.tracks:
            for segment in track.segments:
                for point in segment.points:
                    if point.time is None:
                        continue
                    when = point.time
                    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
                    points.append(
                        TrackPoint(when, point.latitude, point.longitude, point.elevation)
                    )
    points.sort(key=lambda p: p.time)
    if not points:
        shown = ", ".join(str(p) for p in paths)
        raise GeotagError(
            f"{shown}: no track points with a time, so photos cannot be matched by time."
        )
    return Track(points, [str(p) for p in paths])


def parse_offset(text: str) -> timedelta:
    """``"+01:00:30"``, ``"-0:05"`` (hours:minutes[:seconds]) -> a timedelta."""
    match = _OFFSET.match(text.strip())
    if not match:
        raise GeotagError(f"Offset {text!r} is not ±HH:MM:SS (for example -00:02:30 or +01:00).")
    sign, hours, minutes, seconds = match.groups()
    value = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
    return -value if sign == "-" else value


def parse_duration(text: str) -> timedelta:
    """``"5m"``, ``"90s"``, ``"1h"``, ``"30"`` (seconds) -> a timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise GeotagError(f"Duration {text!r} is not a number with s, m or h (for example 5m).")
    number, unit = float(match[1]), match[2] or "s"
    scale = {"s": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return timedelta(seconds=number * scale)


def parse_timezone(text: str) -> tzinfo:
    """``"Europe/Rome"`` (IANA), ``"UTC"`` or ``"+02:00"`` -> a tzinfo."""
    text = text.strip()
    if _OFFSET.match(text) and text[:1] in "+-":
        return timezone(parse_offset(text))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GeotagError(
            f"Unknown time zone {text!r}: give an IANA name such as Europe/Rome, or an offset "
            "such as +02:00."
        ) from exc


def format_duration(value: timedelta) -> str:
    seconds = abs(value.total_seconds())
    sign = "-" if value.total_seconds() < 0 else ""
    if seconds < 120:
        return f"{sign}{seconds:.0f} s"
    if seconds < 7200:
        return f"{sign}{seconds / 60:.0f} min"
    return f"{sign}{seconds / 3600:.1f} h"


def format_offset(value: timedelta) -> str:
    """A timedelta as ``±HH:MM:SS`` (what ``--offset`` takes)."""
    total = round(value.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def capture_time(
    photo: str | os.PathLike[str], camera_tz: tzinfo | None = None, offset: timedelta = timedelta()
) -> tuple[datetime | None, str | None]:
    """When ``photo`` was taken (aware, UTC, clock offset applied), or None and why not."""
    text = read_photo_meta(photo).capture_time
    if text is None:
        return None, "no capture time (DateTimeOriginal) in its EXIF"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        if camera_tz is None:
            return None, (
                "its EXIF records no time zone (OffsetTimeOriginal): give the camera's time zone"
            )
        when = when.replace(tzinfo=camera_tz)
    return (when + offset).astimezone(UTC), None


@dataclass
class GpxMatch:
    photo: str
    time: datetime | None  # the corrected capture time (UTC), when known
    point: TrackPoint | None  # where the track was then; None: left alone
    reason: str | None = None  # why the photo was left alone


def correlate(
    track: Track,
    photos: Sequence[str | os.PathLike[str]],
    camera_tz: tzinfo | None = None,
    offset: timedelta = timedelta(),
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> list[GpxMatch]:
    """Where the track was when each photo was taken (module docstring)."""
    matches = []
    for photo in photos:
        when, reason = capture_time(photo, camera_tz, offset)
        point = None
        if when is not None:
            point, reason = track.position_at(when, max_gap)
        matches.append(GpxMatch(str(photo), when, point, reason))
    return matches


def find_offset(
    track: Track,
    photo: str | os.PathLike[str],
    lat: float,
    lon: float,
    camera_tz: tzinfo | None = None,
) -> tuple[timedelta, float]:
    """The camera clock offset that puts ``photo`` where it was taken (``lat``, ``lon``).

    Returns the offset and how far (metres) the track passes from that place at its closest.
    """
    when, reason = capture_time(photo, camera_tz)
    if when is None:
        raise GeotagError(f"{photo}: {reason}.")
    best: tuple[float, datetime] | None = None
    for a, b in zip(track.points, track.points[1:] + track.points[-1:], strict=True):
        share = _closest_share(a, b, lat, lon)
        where = a if share == 0 else _interpolate(a, b, a.time + share * (b.time - a.time))
        distance = haversine_m(lat, lon, where.lat, where.lon)
        if best is None or distance < best[0]:
            best = (distance, where.time)
    assert best is not None  # read_tracks refuses an empty track
    return best[1] - when, best[0]


def _closest_share(a: TrackPoint, b: TrackPoint, lat: float, lon: float) -> float:
    """Where along a->b (0..1) lies closest to (lat, lon), on a local flat projection."""
    scale = math.cos(math.radians((a.lat + b.lat) / 2))
    dx, dy = (b.lon - a.lon) * scale, b.lat - a.lat
    length2 = dx * dx + dy * dy
    if length2 == 0 or b.time <= a.time:
        return 0.0
    share = ((lon - a.lon) * scale * dx + (lat - a.lat) * dy) / length2
    return min(1.0, max(0.0, share))
